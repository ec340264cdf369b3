package esdbserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/orgportal/onboarding/adapters/esdbserver/store"
)

// Limits the real server enforces (or that keep our keys bounded).
const (
	// MaxAppendSize caps the data and metadata of one append, as
	// EventStoreDB's default MaxAppendSize does.
	MaxAppendSize = 1 << 20
	// MaxStreamNameLength keeps index keys bounded; EventStoreDB has no
	// documented limit, and no sane stream name comes close.
	MaxStreamNameLength = 2048
)

const (
	contentTypeJSON   = "application/json"
	contentTypeBinary = "application/octet-stream"
)

// Trailer keys and values the official client interprets.
const (
	trailerException       = "exception"
	trailerStreamName      = "stream-name"
	trailerExpectedVersion = "expected-version"
	trailerActualVersion   = "actual-version"

	exceptionStreamDeleted        = "stream-deleted"
	exceptionWrongExpectedVersion = "wrong-expected-version"
	exceptionInvalidArgument      = "invalid-argument"
)

// trailerSetter is satisfied by server streams; unary handlers use
// grpc.SetTrailer through unaryTrailer.
type trailerSetter interface{ SetTrailer(metadata.MD) }

func streamName(id *shared.StreamIdentifier) (string, error) {
	if id == nil || len(id.StreamName) == 0 {
		return "", status.Error(codes.InvalidArgument, "stream name is empty: name the stream to read or write")
	}
	if len(id.StreamName) > MaxStreamNameLength {
		return "", status.Errorf(codes.InvalidArgument, "stream name is %d bytes long; the limit is %d", len(id.StreamName), MaxStreamNameLength)
	}
	return string(id.StreamName), nil
}

func parseUUID(id *shared.UUID) ([16]byte, error) {
	var out [16]byte
	switch v := id.GetValue().(type) {
	case *shared.UUID_Structured_:
		binary.BigEndian.PutUint64(out[:8], uint64(v.Structured.GetMostSignificantBits()))
		binary.BigEndian.PutUint64(out[8:], uint64(v.Structured.GetLeastSignificantBits()))
		return out, nil
	case *shared.UUID_String_:
		u, err := uuid.Parse(v.String_)
		if err != nil {
			return out, fmt.Errorf("event id %q is not a UUID", v.String_)
		}
		return u, nil
	default:
		return out, errors.New("event id is missing")
	}
}

func wireUUID(id [16]byte, asString bool) *shared.UUID {
	if asString {
		return &shared.UUID{Value: &shared.UUID_String_{String_: uuid.UUID(id).String()}}
	}
	return &shared.UUID{Value: &shared.UUID_Structured_{Structured: &shared.UUID_Structured{
		MostSignificantBits:  int64(binary.BigEndian.Uint64(id[:8])),
		LeastSignificantBits: int64(binary.BigEndian.Uint64(id[8:])),
	}}}
}

// recordedMessage is a RecordedEvent with everything it points to, kept
// for reuse: a reader sends one message per event and gRPC marshals it
// before Send returns, so the same structs can carry the next event.
// Reuse takes the allocation of about ten objects and a map out of every
// event of a catch-up read.
type recordedMessage struct {
	msg        streams.ReadResp_ReadEvent_RecordedEvent
	id         shared.UUID
	structured shared.UUID_Structured
	asStruct   shared.UUID_Structured_
	asString   shared.UUID_String_
	stream     shared.StreamIdentifier
	metadata   map[string]string
}

func (m *recordedMessage) fill(rec *store.Record, uuidString bool) *streams.ReadResp_ReadEvent_RecordedEvent {
	if uuidString {
		m.asString.String_ = uuid.UUID(rec.ID).String()
		m.id.Value = &m.asString
	} else {
		m.structured.MostSignificantBits = int64(binary.BigEndian.Uint64(rec.ID[:8]))
		m.structured.LeastSignificantBits = int64(binary.BigEndian.Uint64(rec.ID[8:]))
		m.asStruct.Structured = &m.structured
		m.id.Value = &m.asStruct
	}
	m.stream.StreamName = append(m.stream.StreamName[:0], rec.Stream...)
	if m.metadata == nil {
		m.metadata = make(map[string]string, 3)
	}
	ct := contentTypeBinary
	if rec.JSON {
		ct = contentTypeJSON
	}
	m.metadata["type"] = rec.Type
	m.metadata["content-type"] = ct
	// The client exits the process when "created" is missing.
	m.metadata["created"] = strconv.FormatInt(rec.Created, 10)

	m.msg.Id = &m.id
	m.msg.StreamIdentifier = &m.stream
	m.msg.StreamRevision = rec.Revision
	m.msg.PreparePosition = rec.Position
	m.msg.CommitPosition = rec.Position
	m.msg.Metadata = m.metadata
	m.msg.CustomMetadata = rec.Metadata
	m.msg.Data = rec.Data
	return &m.msg
}

// statusFor maps a store error onto the status (and trailers) the real
// server gives for it.
func statusFor(err error, trailers trailerSetter) error {
	var deleted *store.StreamDeletedError
	var wev *store.WrongExpectedVersionError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &deleted):
		trailers.SetTrailer(metadata.Pairs(trailerException, exceptionStreamDeleted, trailerStreamName, deleted.Stream))
		return status.Errorf(codes.FailedPrecondition, "Event stream '%s' is deleted.", deleted.Stream)
	case errors.As(err, &wev):
		trailers.SetTrailer(metadata.Pairs(
			trailerException, exceptionWrongExpectedVersion,
			trailerStreamName, wev.Stream,
			trailerExpectedVersion, strconv.FormatInt(legacyExpectedVersion(wev.Expected), 10),
			trailerActualVersion, strconv.FormatInt(wev.Current, 10),
		))
		return status.Errorf(codes.FailedPrecondition, "Wrong expected version: expected %s, actual %d.", wev.Expected, wev.Current)
	case errors.Is(err, store.ErrInvalidPosition):
		trailers.SetTrailer(metadata.Pairs(trailerException, exceptionInvalidArgument))
		return status.Errorf(codes.InvalidArgument, "%v: resume from a position the server returned (an event's or a checkpoint's)", err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	case errors.Is(err, store.ErrClosed):
		return status.Error(codes.Unavailable, "the event store is shutting down; retry against the restarted server")
	default:
		if s, ok := status.FromError(err); ok {
			return s.Err()
		}
		return status.Errorf(codes.Internal, "event store error: %v", err)
	}
}

// legacyExpectedVersion encodes an expectation as EventStoreDB's numeric
// ExpectedVersion constants.
func legacyExpectedVersion(e store.ExpectedRevision) int64 {
	switch e.Kind {
	case store.ExpectNoStream:
		return -1
	case store.ExpectStreamExists:
		return -4
	case store.ExpectRevision:
		return int64(e.Revision)
	default:
		return -2
	}
}
