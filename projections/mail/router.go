package mail

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// HandlerName is the reactor's Watermill handler and consumer group name.
// It is the durable identity of its checkpoint: renaming it makes the
// reactor start over from the beginning of history (which sends nothing
// already recorded, but reads everything again).
const HandlerName = "mail-reactor"

// Topic names the reactor's subscription (the subscriber filters by event
// type, so the topic only names the checkpoint).
const Topic = "mail"

// Retry is the backoff for transient failures. After MaxRetries the
// handler fails, the message is nacked and delivered again, so a mail is
// never skipped: the reactor stalls loudly (errors in the log) until the
// mail server is back.
type Retry struct {
	MaxRetries      int
	InitialInterval time.Duration
	MaxInterval     time.Duration
}

// DefaultRetry retries for about a minute per round.
var DefaultRetry = Retry{MaxRetries: 8, InitialInterval: 500 * time.Millisecond, MaxInterval: 15 * time.Second}

// Decoder turns a delivered message back into its event and metadata
// (eventstoredb.Codec.DecodeMessage).
type Decoder func(*message.Message) (domain.Event, commands.Metadata, error)

// RouterConfig configures NewRouter.
type RouterConfig struct {
	// Subscriber delivers the EventTypes durably under the consumer group
	// HandlerName, each stream's in commit order and one at a time
	// (events of different streams may be handled at once).
	Subscriber message.Subscriber
	Decode     Decoder
	Retry      Retry // DefaultRetry when zero
	Logger     *slog.Logger
	// CloseTimeout bounds the wait for a running handler at Close; 30 s
	// when zero.
	CloseTimeout time.Duration
	// Yield, when set, is called with each message before its event is
	// handled; it may wait (priority.Gate.Yield: the commands the process
	// serves go first), and must return when the message's context ends.
	Yield func(*message.Message)
}

// NewRouter returns a Watermill router with the reactor as its only
// handler, behind panic recovery and retry with exponential backoff. Run it
// with Run(ctx); it stops when ctx ends or Close is called.
func NewRouter(r *Reactor, cfg RouterConfig) (*message.Router, error) {
	if cfg.Subscriber == nil || cfg.Decode == nil {
		return nil, errors.New("mail: a subscriber and a decoder are required")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	retry := cfg.Retry
	if retry == (Retry{}) {
		retry = DefaultRetry
	}
	closeTimeout := cfg.CloseTimeout
	if closeTimeout == 0 {
		closeTimeout = 30 * time.Second
	}
	wlog := watermill.NewSlogLogger(logger)
	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: closeTimeout}, wlog)
	if err != nil {
		return nil, err
	}
	router.AddMiddleware(
		middleware.Recoverer,
		middleware.Retry{
			MaxRetries: retry.MaxRetries, InitialInterval: retry.InitialInterval,
			MaxInterval: retry.MaxInterval, Multiplier: 2, RandomizationFactor: 0.2,
			ResetContextOnRetry: true, Logger: wlog,
		}.Middleware,
	)
	router.AddConsumerHandler(HandlerName, Topic, cfg.Subscriber, func(msg *message.Message) error {
		event, meta, err := cfg.Decode(msg)
		if err != nil {
			// Never skip silently: an event of ours that does not decode
			// stops the reactor until it is fixed.
			return fmt.Errorf("mail: decode message %s: %w", msg.UUID, err)
		}
		if cfg.Yield != nil {
			cfg.Yield(msg)
		}
		return r.Handle(msg.Context(), event, Cause{EventID: msg.UUID, CorrelationID: meta.CorrelationID})
	})
	return router, nil
}
