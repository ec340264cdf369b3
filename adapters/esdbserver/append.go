package esdbserver

import (
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/orgportal/onboarding/adapters/esdbserver/store"
)

// Append handles Streams.Append: an options message, then one message per
// event, then the client half-closes and waits for one AppendResp.
func (s *streamsService) Append(call streams.Streams_AppendServer) error {
	req, err := s.readAppend(call)
	if err != nil {
		return err
	}
	res, err := s.store.Append(call.Context(), req.stream, req.expected, req.events)
	var wev *store.WrongExpectedVersionError
	switch {
	case errors.As(err, &wev):
		// Wrong expected version is a normal answer, not a gRPC error: the
		// client only recognises it in the response body.
		return call.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_WrongExpectedVersion_{
			WrongExpectedVersion: wrongExpectedVersion(wev),
		}})
	case err != nil:
		s.logWriteError("append", req.stream, err)
		return statusFor(err, call)
	}
	success := &streams.AppendResp_Success{}
	if res.Revision < 0 {
		success.CurrentRevisionOption = &streams.AppendResp_Success_NoStream{NoStream: &shared.Empty{}}
	} else {
		success.CurrentRevisionOption = &streams.AppendResp_Success_CurrentRevision{CurrentRevision: uint64(res.Revision)}
	}
	if res.Position == 0 {
		success.PositionOption = &streams.AppendResp_Success_NoPosition{NoPosition: &shared.Empty{}}
	} else {
		success.PositionOption = &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{
			CommitPosition: res.Position, PreparePosition: res.Position,
		}}
	}
	return call.SendAndClose(&streams.AppendResp{Result: &streams.AppendResp_Success_{Success: success}})
}

type appendRequest struct {
	stream   string
	expected store.ExpectedRevision
	events   []store.ProposedEvent
}

// readAppend reads the whole request before deciding anything: a server that
// answers early makes the client's next Send fail with io.EOF and the real
// status is lost. After the first problem it keeps reading but stops
// keeping events, so an oversized append costs no memory.
func (s *streamsService) readAppend(call streams.Streams_AppendServer) (appendRequest, error) {
	var req appendRequest
	var problem error
	size := 0
	first := true
	for {
		msg, err := call.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return req, err
		}
		if problem != nil {
			continue
		}
		if first {
			first = false
			problem = req.setOptions(msg.GetOptions())
			continue
		}
		pm := msg.GetProposedMessage()
		if pm == nil {
			problem = status.Error(codes.InvalidArgument, "append: expected a proposed message after the options")
			continue
		}
		size += len(pm.Data) + len(pm.CustomMetadata)
		if size > MaxAppendSize {
			req.events = nil
			call.SetTrailer(metadata.Pairs(trailerException, "maximum-append-size-exceeded", "maximum-append-size", strconv.Itoa(MaxAppendSize)))
			problem = status.Errorf(codes.InvalidArgument, "append to %q is larger than the maximum append size of %d bytes: split it into several appends", req.stream, MaxAppendSize)
			continue
		}
		ev, err := proposedEvent(pm, len(req.events))
		if err != nil {
			if errors.Is(err, errMissingMetadata) {
				call.SetTrailer(metadata.Pairs(trailerException, "missing-required-metadata-property", "required-metadata-properties", "type,content-type"))
			}
			problem = err
			continue
		}
		req.events = append(req.events, ev)
	}
	if first && problem == nil {
		problem = status.Error(codes.InvalidArgument, "append: the request had no options message")
	}
	return req, problem
}

func (r *appendRequest) setOptions(o *streams.AppendReq_Options) error {
	if o == nil {
		return status.Error(codes.InvalidArgument, "append: the first message must carry the options (stream and expected revision)")
	}
	name, err := streamName(o.StreamIdentifier)
	if err != nil {
		return err
	}
	r.stream = name
	switch e := o.ExpectedStreamRevision.(type) {
	case *streams.AppendReq_Options_Revision:
		r.expected = store.ExpectedRevision{Kind: store.ExpectRevision, Revision: e.Revision}
	case *streams.AppendReq_Options_NoStream:
		r.expected = store.ExpectedRevision{Kind: store.ExpectNoStream}
	case *streams.AppendReq_Options_StreamExists:
		r.expected = store.ExpectedRevision{Kind: store.ExpectStreamExists}
	default:
		r.expected = store.ExpectedRevision{Kind: store.ExpectAny}
	}
	return nil
}

func proposedEvent(pm *streams.AppendReq_ProposedMessage, index int) (store.ProposedEvent, error) {
	id, err := parseUUID(pm.Id)
	if err != nil {
		return store.ProposedEvent{}, status.Errorf(codes.InvalidArgument, "event %d: %v", index, err)
	}
	typ, ok := pm.Metadata["type"]
	if !ok || typ == "" {
		return store.ProposedEvent{}, missingMetadata(index, "type")
	}
	ct, ok := pm.Metadata["content-type"]
	if !ok {
		return store.ProposedEvent{}, missingMetadata(index, "content-type")
	}
	return store.ProposedEvent{
		ID:       id,
		Type:     typ,
		JSON:     ct == contentTypeJSON,
		Metadata: pm.CustomMetadata,
		Data:     pm.Data,
	}, nil
}

var errMissingMetadata = errors.New("missing required metadata property")

// missingMetadata is an InvalidArgument status that errors.Is recognises.
type missingMetadataError struct {
	index int
	key   string
}

func missingMetadata(index int, key string) error { return &missingMetadataError{index, key} }

func (e *missingMetadataError) Error() string {
	return fmt.Sprintf("event %d has no %q in its metadata", e.index, e.key)
}
func (e *missingMetadataError) Is(target error) bool { return target == errMissingMetadata }
func (e *missingMetadataError) GRPCStatus() *status.Status {
	return status.New(codes.InvalidArgument, e.Error())
}

func wrongExpectedVersion(e *store.WrongExpectedVersionError) *streams.AppendResp_WrongExpectedVersion {
	w := &streams.AppendResp_WrongExpectedVersion{}
	if e.Current < 0 {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentNoStream{CurrentNoStream: &shared.Empty{}}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_NoStream_20_6_0{NoStream_20_6_0: &shared.Empty{}}
	} else {
		w.CurrentRevisionOption = &streams.AppendResp_WrongExpectedVersion_CurrentRevision{CurrentRevision: uint64(e.Current)}
		w.CurrentRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_CurrentRevision_20_6_0{CurrentRevision_20_6_0: uint64(e.Current)}
	}
	switch e.Expected.Kind {
	case store.ExpectRevision:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision{ExpectedRevision: e.Expected.Revision}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: e.Expected.Revision}
	case store.ExpectNoStream:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedNoStream{ExpectedNoStream: &shared.Empty{}}
		// The legacy fields had no "no stream" case; -1 encoded it.
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_ExpectedRevision_20_6_0{ExpectedRevision_20_6_0: ^uint64(0)}
	case store.ExpectStreamExists:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedStreamExists{ExpectedStreamExists: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_StreamExists_20_6_0{StreamExists_20_6_0: &shared.Empty{}}
	default:
		w.ExpectedRevisionOption = &streams.AppendResp_WrongExpectedVersion_ExpectedAny{ExpectedAny: &shared.Empty{}}
		w.ExpectedRevisionOption_20_6_0 = &streams.AppendResp_WrongExpectedVersion_Any_20_6_0{Any_20_6_0: &shared.Empty{}}
	}
	return w
}

func (s *streamsService) logWriteError(op, stream string, err error) {
	var deleted *store.StreamDeletedError
	var wev *store.WrongExpectedVersionError
	if errors.As(err, &deleted) || errors.As(err, &wev) {
		return // an answer, not a fault
	}
	s.log.Warn(fmt.Sprintf("%s failed", op), "stream", stream, "err", err)
}
