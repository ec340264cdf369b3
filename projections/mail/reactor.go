// Package mail is the mail reactor: a Watermill handler that sends the
// invitation, verification, already-a-member, set-password and
// password-reset mails when their events arrive, and records each delivery
// as an event in the aggregate's own stream.
//
// # Exactly once, in practice
//
// The reactor never trusts the event it was handed: it loads the
// aggregate's stream and asks the domain (MailDue) whether a mail is due
// for the current token generation: not expired, revoked or superseded, and
// not already recorded as sent or failed. After the send it appends
// …EmailSent (or …EmailFailed) with the revision it loaded; a conflict
// reloads and lets the domain decide again, and the domain ignores a
// generation already recorded. So redeliveries, restarts, a second reactor
// and replays over old history send nothing twice and nothing stale.
//
// Three cases that would otherwise send a mail twice are closed: a server
// that accepted the mail but broke the connection at RSET or QUIT counts
// as sent (adapters/smtp); when the event store cannot be reached to
// record a delivery, the handler fails and its retry records the outcome
// the reactor kept in memory instead of sending again; and the record is
// not cut short when the handler's context ends (shutdown, lost lease)
// after the send.
//
// One window is left: the process dies (SIGKILL, OOM, power) after the
// mail server accepted the mail and before the delivery event was appended
// (per mail, a few milliseconds: the SMTP RSET and QUIT, then one append;
// the reactor's memory dies with it). The mail
// is then sent again on redelivery, with the same Message-ID (and, in the
// outbox, into the same file), so it can be recognized as a duplicate. As
// the reactor handles one event at a time, a crash duplicates at most the
// one mail in flight. cmd/portal's TestE2EMailCrashWhileSending… kills
// the portal while it sends 1000 invitations to Mailpit and reports the
// duplicates: 0 or 1 per kill, so at most 0.1 % of that run.
//
// Tokens are derived by the token service from the aggregate id and the
// generation; they never come from an event and are never logged.
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// EventTypes are the events the reactor reacts to; the subscriber should
// deliver these and no others.
func EventTypes() []string {
	return []string{
		domain.TypeUserInvited, domain.TypeInvitationResent,
		domain.TypeRegistrationStarted, domain.TypeRegistrationAttemptedByMember,
		domain.TypePasswordSetupRequested, domain.TypePasswordResetRequested,
	}
}

// Deps are the reactor's dependencies; all but Templates, Logger and
// MessageIDDomain are required.
type Deps struct {
	Store  commands.EventStore
	Tokens commands.TokenService
	Mailer Mailer
	Clock  func() time.Time
	// PublicURL is the base of every link ("https://portal.example.com").
	PublicURL string
	// Templates; the embedded defaults when nil.
	Templates *Templates
	// MessageIDDomain is the right-hand side of Message-IDs; the public
	// URL's host when empty.
	MessageIDDomain string
	Logger          *slog.Logger
}

// Reactor sends the mails. It is safe for concurrent use; the portal's
// subscriber hands it events of different streams at once, never two of
// one stream (eventstoredb.SubscriberConfig.MaxInFlight), so that two
// deliveries of one aggregate never race to send the same mail.
type Reactor struct {
	store     commands.EventStore
	tokens    commands.TokenService
	mailer    Mailer
	clock     func() time.Time
	publicURL string
	templates *Templates
	idDomain  string
	logger    *slog.Logger

	// unrecorded holds, per stream, a delivery whose outcome is known but
	// could not be appended (the event store was unreachable), so that
	// the retry records it instead of sending the mail again. Only a
	// crash forgets it.
	mu         sync.Mutex
	unrecorded map[domain.StreamName]outcome

	orgNames *nameCache[domain.OrgID]
	people   *nameCache[domain.UserID]
}

// New checks the dependencies and returns a reactor.
func New(d Deps) (*Reactor, error) {
	t := d.Tokens
	switch {
	case d.Store == nil:
		return nil, errors.New("mail: an event store is required")
	case d.Mailer == nil:
		return nil, errors.New("mail: a mailer is required")
	case d.Clock == nil:
		return nil, errors.New("mail: a clock is required")
	case t.Invitation == nil || t.Verification == nil || t.PasswordSetup == nil || t.PasswordReset == nil:
		return nil, errors.New("mail: token signers for invitations, verification and passwords are required")
	}
	u, err := url.Parse(d.PublicURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("mail: public URL %q is not an absolute http(s) URL", d.PublicURL)
	}
	if d.Templates == nil {
		if d.Templates, err = LoadTemplates(nil); err != nil {
			return nil, err
		}
	}
	idDomain := d.MessageIDDomain
	if idDomain == "" {
		idDomain = u.Hostname()
	}
	logger := d.Logger
	if logger == nil {
		logger = slog.Default()
	}
	return &Reactor{
		store: d.Store, tokens: t, mailer: d.Mailer, clock: d.Clock,
		publicURL: strings.TrimRight(d.PublicURL, "/"), templates: d.Templates,
		idDomain: idDomain, logger: logger, unrecorded: make(map[domain.StreamName]outcome),
		orgNames: newNameCache[domain.OrgID](nameCacheCapacity),
		people:   newNameCache[domain.UserID](nameCacheCapacity),
	}, nil
}

// Cause identifies the event that triggered a delivery, for the metadata
// of the delivery event.
type Cause struct {
	EventID       string
	CorrelationID string
}

// Handle reacts to one event. It returns nil when the mail was sent and
// recorded, permanently failed and recorded, or not due; an error means a
// transient failure (nothing recorded): handle the event again later.
func (r *Reactor) Handle(ctx context.Context, event domain.Event, cause Cause) error {
	switch e := event.(type) {
	case domain.UserInvited:
		return r.deliver(ctx, domain.InvitationStream(e.InvitationID), r.invitationJob(), cause)
	case domain.InvitationResent:
		return r.deliver(ctx, domain.InvitationStream(e.InvitationID), r.invitationJob(), cause)
	case domain.RegistrationStarted:
		return r.deliver(ctx, domain.RegistrationStream(e.RegistrationID), r.registrationJob(), cause)
	case domain.RegistrationAttemptedByMember:
		return r.deliver(ctx, domain.RegistrationStream(e.RegistrationID), r.registrationJob(), cause)
	case domain.PasswordSetupRequested:
		return r.deliver(ctx, domain.UserStream(e.UserID), r.accountJob(), cause)
	case domain.PasswordResetRequested:
		return r.deliver(ctx, domain.UserStream(e.UserID), r.accountJob(), cause)
	}
	return nil // not a mail event: nothing to do
}

// draft is a mail that is due: what to render and for which generation.
type draft struct {
	kind        string
	aggregateID string
	generation  int
	to, toName  string
	data        Data
}

// outcome is a delivery result to record.
type outcome struct {
	generation int
	messageID  string
	failure    string
}

// job is one kind of aggregate that gets mail: plan says which mail is due
// given its history (nil: none), record decides the delivery event.
type job struct {
	plan   func(ctx context.Context, history []domain.Event, now time.Time) (*draft, error)
	record func(history []domain.Event, o outcome, now time.Time) ([]domain.Event, error)
}

// maxRecordAttempts bounds the reload-and-decide loop of one record.
const maxRecordAttempts = 10

// recordTimeout bounds recording a delivery, which goes on after the
// handler's context ended.
const recordTimeout = 10 * time.Second

func (r *Reactor) deliver(ctx context.Context, stream domain.StreamName, j job, cause Cause) error {
	loaded, err := r.store.Load(ctx, stream)
	if err != nil {
		return fmt.Errorf("mail: load %s: %w", stream, err)
	}
	now := r.clock()
	d, err := j.plan(ctx, loaded.Events, now)
	if err != nil {
		return err
	}
	if d == nil {
		r.forget(stream)
		return nil
	}
	o, known := r.remembered(stream, d.generation)
	if known {
		r.logger.Info("mail delivery known, recording it", "kind", d.kind, "stream", stream, "generation", d.generation)
	} else {
		msg, err := r.render(d)
		if err != nil {
			return fmt.Errorf("mail: render %s for %s: %w", d.kind, stream, err)
		}
		o = outcome{generation: d.generation, messageID: msg.MessageID}
		if err := r.mailer.Send(ctx, msg); err != nil {
			if !IsPermanent(err) {
				r.logger.Warn("mail delivery failed; will retry", "kind", d.kind, "stream", stream, "generation", d.generation, "err", err)
				return fmt.Errorf("mail: send %s for %s: %w", d.kind, stream, err)
			}
			o.failure = failureReason(err)
			r.logger.Warn("mail delivery failed permanently", "kind", d.kind, "stream", stream, "generation", d.generation, "err", err)
		}
	}
	// Once the mail is out, its record must not be cut short by the end
	// of ctx (a shutdown, a lost lease): an unrecorded mail is sent again
	// by the next reactor.
	recordCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if err := r.record(recordCtx, stream, loaded, j, o, cause); err != nil {
		r.remember(stream, o)
		return err
	}
	r.forget(stream)
	if o.failure == "" {
		r.logger.Info("mail sent", "kind", d.kind, "stream", stream, "generation", d.generation, "message_id", o.messageID)
	}
	return nil
}

// remembered returns the unrecorded outcome of this stream's delivery of
// generation, if there is one.
func (r *Reactor) remembered(stream domain.StreamName, generation int) (outcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o, ok := r.unrecorded[stream]
	return o, ok && o.generation == generation
}

func (r *Reactor) remember(stream domain.StreamName, o outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.unrecorded[stream] = o
}

// forget drops a stream's unrecorded outcome once it is recorded or no
// longer due (recorded by another reactor, expired, superseded).
func (r *Reactor) forget(stream domain.StreamName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.unrecorded, stream)
}

// record appends the delivery event with the revision loaded before the
// send. On a conflict it reloads and lets the domain decide again: when
// another reactor recorded this generation meanwhile, nothing is appended.
func (r *Reactor) record(ctx context.Context, stream domain.StreamName, loaded commands.Loaded, j job, o outcome, cause Cause) error {
	meta := commands.Metadata{
		Actor: string(domain.ActorSystem), CorrelationID: cause.CorrelationID,
		CausationID: cause.EventID,
	}
	if meta.CorrelationID == "" {
		meta.CorrelationID = cause.EventID
	}
	for attempt := 1; ; attempt++ {
		now := r.clock()
		meta.RequestTime = now.UTC()
		events, err := j.record(loaded.Events, o, now)
		if err != nil {
			return fmt.Errorf("mail: record delivery in %s: %w", stream, err)
		}
		if len(events) == 0 {
			return nil
		}
		_, err = r.store.Append(ctx, stream, loaded.Revision, meta, events...)
		if err == nil {
			return nil
		}
		if !isConflict(err) || attempt >= maxRecordAttempts {
			return fmt.Errorf("mail: record delivery in %s: %w", stream, err)
		}
		if loaded, err = r.store.Load(ctx, stream); err != nil {
			return fmt.Errorf("mail: reload %s: %w", stream, err)
		}
	}
}

func isConflict(err error) bool {
	var de *domain.Error
	return errors.As(err, &de) && de.Code == commands.CodeConcurrentChange
}

func (r *Reactor) render(d *draft) (Message, error) {
	subject, text, html, err := r.templates.Render(DefaultLanguage, d.kind, d.data)
	if err != nil {
		return Message{}, err
	}
	key := fmt.Sprintf("%s-%s-g%d", d.kind, d.aggregateID, d.generation)
	return Message{
		Key:       key,
		MessageID: key + "@" + r.idDomain,
		To:        d.to, ToName: d.toName,
		Subject: subject, Text: text, HTML: html,
	}, nil
}

// link builds {PublicURL}{path}/{token}.
func (r *Reactor) link(path, token string) string {
	return r.publicURL + path + "/" + url.PathEscape(token)
}

// expiry formats an expiry for people (UTC until people have time zones).
func expiry(t time.Time) string {
	return t.UTC().Format("Monday, 2 January 2006, 15:04 MST")
}

// orgName and personName add context to a mail; a missing organization or
// person yields an empty name, which the templates leave out. Names are
// cached (see nameTTL). The organization's stream grows with every
// member, so once its cached name is due for a new read, only what was
// written after the cached revision is read.
func (r *Reactor) orgName(ctx context.Context, id domain.OrgID) (string, error) {
	stream := domain.OrganizationStream(id)
	now := r.clock()
	if cached, ok := r.orgNames.get(id); ok {
		if cached.fresh(now) {
			return cached.name, nil
		}
		loaded, err := r.store.LoadFrom(ctx, stream, cached.revision)
		switch {
		case err == nil:
			name := nameAfter(cached.name, loaded.Events)
			r.orgNames.put(id, cachedName{name: name, revision: loaded.Revision, readAt: now})
			return name, nil
		case !errors.Is(err, commands.ErrHistoryChanged):
			return "", fmt.Errorf("mail: load organization: %w", err)
		}
		r.orgNames.drop(id)
	}
	loaded, err := r.store.Load(ctx, stream)
	if err != nil {
		return "", fmt.Errorf("mail: load organization: %w", err)
	}
	name := nameAfter("", loaded.Events)
	if loaded.Revision != commands.NoStream {
		r.orgNames.put(id, cachedName{name: name, revision: loaded.Revision, readAt: now})
	}
	return name, nil
}

// nameAfter is an organization's name after events, given its name before
// them. Only the name is folded: the roster those events build is not
// needed (Evolve works on a state whose roster was never built).
func nameAfter(name string, events []domain.Event) string {
	return domain.Fold(domain.OrganizationState{Name: name}, domain.EvolveOrganization, events...).Name
}

// personName is a person's name; their stream is short, so it is read
// whole when the cached name is due for a new read.
func (r *Reactor) personName(ctx context.Context, id domain.UserID) (string, error) {
	if id == "" {
		return "", nil
	}
	now := r.clock()
	if cached, ok := r.people.get(id); ok && cached.fresh(now) {
		return cached.name, nil
	}
	loaded, err := r.store.Load(ctx, domain.UserStream(id))
	if err != nil {
		return "", fmt.Errorf("mail: load user: %w", err)
	}
	name := domain.Fold(domain.AccountState{}, domain.EvolveAccount, loaded.Events...).Name
	if loaded.Revision != commands.NoStream {
		r.people.put(id, cachedName{name: name, revision: loaded.Revision, readAt: now})
	}
	return name, nil
}
