package esdbserver

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgportal/onboarding/adapters/esdbserver/store"
)

// defaultCheckpointWindow is the filter window when the client asks for
// "count" instead of a maximum.
const defaultCheckpointWindow = 32

// Read handles Streams.Read: a bounded read (count) or a subscription.
func (s *streamsService) Read(req *streams.ReadReq, call streams.Streams_ReadServer) error {
	o := req.GetOptions()
	if o == nil {
		return status.Error(codes.InvalidArgument, "read: options are missing")
	}
	filter, interval, err := buildFilter(o)
	if err != nil {
		return err
	}
	r := &reader{
		store:        s.store,
		call:         call,
		uuidAsString: o.GetUuidOption().GetString_() != nil,
		resolveLinks: o.ResolveLinks,
		filter:       filter,
	}
	switch c := o.CountOption.(type) {
	case *streams.ReadReq_Options_Count:
		return r.readCount(o, c.Count)
	case *streams.ReadReq_Options_Subscription:
		ctx, cancel := context.WithCancel(call.Context())
		defer cancel()
		stop := context.AfterFunc(s.shutdown, cancel)
		defer stop()
		err := r.subscribe(ctx, o, interval)
		if s.shutdown.Err() != nil && errors.Is(err, context.Canceled) {
			err = store.ErrClosed
		}
		return statusFor(err, call)
	default:
		return status.Error(codes.InvalidArgument, "read: neither count nor subscription was given")
	}
}

type reader struct {
	store        *store.Store
	call         streams.Streams_ReadServer
	uuidAsString bool
	resolveLinks bool
	filter       func(*store.Record) bool
	msg          eventMessage
}

func (r *reader) readCount(o *streams.ReadReq_Options, count uint64) error {
	backwards := o.ReadDirection == streams.ReadReq_Options_Backwards
	switch so := o.StreamOption.(type) {
	case *streams.ReadReq_Options_Stream:
		name, err := streamName(so.Stream.GetStreamIdentifier())
		if err != nil {
			return err
		}
		from := uint64(0)
		switch rev := so.Stream.RevisionOption.(type) {
		case *streams.ReadReq_Options_StreamOptions_Revision:
			from = rev.Revision
		case *streams.ReadReq_Options_StreamOptions_End:
			from = store.End
		}
		err = r.store.ReadStream(name, from, backwards, count, r.sendEvent)
		if errors.Is(err, store.ErrStreamNotFound) {
			// Not an error on the wire: a message, then OK.
			return r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_StreamNotFound_{
				StreamNotFound: &streams.ReadResp_StreamNotFound{StreamIdentifier: so.Stream.StreamIdentifier},
			}})
		}
		return statusFor(err, r.call)
	case *streams.ReadReq_Options_All:
		from, err := allStart(so.All)
		if err != nil {
			return err
		}
		send := r.sendEvent
		if r.filter != nil {
			send = func(rec *store.Record) error {
				if !r.filter(rec) {
					return nil
				}
				return r.sendEvent(rec)
			}
		}
		return statusFor(r.store.ReadAll(from, backwards, count, send), r.call)
	default:
		return status.Error(codes.InvalidArgument, "read: name a stream or $all")
	}
}

func allStart(a *streams.ReadReq_Options_AllOptions) (uint64, error) {
	switch p := a.GetAllOption().(type) {
	case *streams.ReadReq_Options_AllOptions_End:
		return store.End, nil
	case *streams.ReadReq_Options_AllOptions_Position:
		if p.Position.CommitPosition != p.Position.PreparePosition {
			return 0, status.Errorf(codes.InvalidArgument, "position C:%d/P:%d is not a record position: commit and prepare are equal on this server", p.Position.CommitPosition, p.Position.PreparePosition)
		}
		return p.Position.CommitPosition, nil
	default:
		return 0, nil
	}
}

func (r *reader) subscribe(ctx context.Context, o *streams.ReadReq_Options, interval int) error {
	if o.ReadDirection == streams.ReadReq_Options_Backwards {
		return status.Error(codes.InvalidArgument, "subscriptions read forwards only")
	}
	sub := &subscriber{r: r}
	switch so := o.StreamOption.(type) {
	case *streams.ReadReq_Options_Stream:
		name, err := streamName(so.Stream.GetStreamIdentifier())
		if err != nil {
			return err
		}
		from := store.End
		switch rev := so.Stream.RevisionOption.(type) {
		case *streams.ReadReq_Options_StreamOptions_Start:
			from = 0
		case *streams.ReadReq_Options_StreamOptions_Revision:
			from = rev.Revision + 1 // subscription starts are exclusive
		}
		if err := sub.confirm(); err != nil {
			return err
		}
		return r.store.SubscribeStream(ctx, name, from, sub)
	case *streams.ReadReq_Options_All:
		after, err := allStart(so.All)
		if err != nil {
			return err
		}
		if err := r.store.CheckPosition(after); err != nil {
			return err
		}
		if err := sub.confirm(); err != nil {
			return err
		}
		return r.store.SubscribeAll(ctx, store.AllSubscription{After: after, Filter: r.filter, CheckpointInterval: interval}, sub)
	default:
		return status.Error(codes.InvalidArgument, "subscribe: name a stream or $all")
	}
}

// subscriber turns store callbacks into ReadResp messages.
type subscriber struct{ r *reader }

func (s *subscriber) confirm() error {
	return s.r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_Confirmation{
		Confirmation: &streams.ReadResp_SubscriptionConfirmation{SubscriptionId: uuid.NewString()},
	}})
}

func (s *subscriber) Event(rec *store.Record) error { return s.r.sendEvent(rec) }

func (s *subscriber) Checkpoint(pos uint64) error {
	return s.r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_Checkpoint_{
		Checkpoint: &streams.ReadResp_Checkpoint{CommitPosition: pos, PreparePosition: pos},
	}})
}

func (s *subscriber) CaughtUp() error {
	return s.r.call.Send(&streams.ReadResp{Content: &streams.ReadResp_CaughtUp_{CaughtUp: &streams.ReadResp_CaughtUp{}}})
}

// eventMessage is the reusable envelope of one event on a read stream.
type eventMessage struct {
	resp        streams.ReadResp
	content     streams.ReadResp_Event
	ev          streams.ReadResp_ReadEvent
	pos         streams.ReadResp_ReadEvent_CommitPosition
	event, link recordedMessage
}

// sendEvent sends one record, resolving it first when it is a link and the
// client asked for that.
func (r *reader) sendEvent(rec *store.Record) error {
	m := &r.msg
	m.pos.CommitPosition = rec.Position
	m.ev.Position = &m.pos
	m.ev.Event, m.ev.Link = nil, nil
	if r.resolveLinks && rec.Type == store.TypeLink {
		m.ev.Link = m.link.fill(rec, r.uuidAsString)
		if target, ok := r.store.ResolveLink(rec); ok {
			m.ev.Event = m.event.fill(&target, r.uuidAsString)
		}
	} else {
		m.ev.Event = m.event.fill(rec, r.uuidAsString)
	}
	m.content.Event = &m.ev
	m.resp.Content = &m.content
	return r.call.Send(&m.resp)
}

// buildFilter compiles the $all filter, if any, and returns the checkpoint
// interval in scanned events.
func buildFilter(o *streams.ReadReq_Options) (func(*store.Record) bool, int, error) {
	f := o.GetFilter()
	if f == nil {
		return nil, 0, nil
	}
	if _, ok := o.StreamOption.(*streams.ReadReq_Options_All); !ok {
		return nil, 0, status.Error(codes.InvalidArgument, "filters apply to $all only")
	}
	var expr *streams.ReadReq_Options_FilterOptions_Expression
	var field func(*store.Record) string
	switch e := f.Filter.(type) {
	case *streams.ReadReq_Options_FilterOptions_EventType:
		expr, field = e.EventType, func(r *store.Record) string { return r.Type }
	case *streams.ReadReq_Options_FilterOptions_StreamIdentifier:
		expr, field = e.StreamIdentifier, func(r *store.Record) string { return r.Stream }
	default:
		return nil, 0, status.Error(codes.InvalidArgument, "filter: choose event type or stream name")
	}
	match, err := compileExpression(expr)
	if err != nil {
		return nil, 0, err
	}
	window := defaultCheckpointWindow
	if m, ok := f.Window.(*streams.ReadReq_Options_FilterOptions_Max); ok && m.Max > 0 {
		window = int(m.Max)
	}
	multiplier := max(int(f.CheckpointIntervalMultiplier), 1)
	return func(r *store.Record) bool { return match(field(r)) }, window * multiplier, nil
}

func compileExpression(e *streams.ReadReq_Options_FilterOptions_Expression) (func(string) bool, error) {
	hasRegex, hasPrefix := e.GetRegex() != "", len(e.GetPrefix()) > 0
	switch {
	case hasRegex && hasPrefix:
		return nil, status.Error(codes.InvalidArgument, "filter: give a regex or prefixes, not both")
	case hasRegex:
		re, err := regexp.Compile(e.Regex)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "filter: invalid regex %q: %v (the server uses RE2 syntax: no look-arounds or back-references)", e.Regex, err)
		}
		return re.MatchString, nil
	case hasPrefix:
		prefixes := e.Prefix
		return func(s string) bool {
			for _, p := range prefixes {
				if strings.HasPrefix(s, p) {
					return true
				}
			}
			return false
		}, nil
	default:
		return nil, status.Error(codes.InvalidArgument, "filter: give a regex or at least one prefix")
	}
}
