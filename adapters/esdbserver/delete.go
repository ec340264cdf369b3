package esdbserver

import (
	"context"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/orgportal/onboarding/adapters/esdbserver/store"
)

// unaryTrailer lets unary handlers share statusFor with streaming ones.
type unaryTrailer struct{ ctx context.Context }

func (u unaryTrailer) SetTrailer(md metadata.MD) { _ = grpc.SetTrailer(u.ctx, md) }

// Delete soft-deletes a stream (Streams.Delete).
func (s *streamsService) Delete(ctx context.Context, req *streams.DeleteReq) (*streams.DeleteResp, error) {
	o := req.GetOptions()
	if o == nil {
		return nil, status.Error(codes.InvalidArgument, "delete: options are missing")
	}
	name, err := streamName(o.StreamIdentifier)
	if err != nil {
		return nil, err
	}
	var expected store.ExpectedRevision
	switch e := o.ExpectedStreamRevision.(type) {
	case *streams.DeleteReq_Options_Revision:
		expected = store.ExpectedRevision{Kind: store.ExpectRevision, Revision: e.Revision}
	case *streams.DeleteReq_Options_NoStream:
		expected = store.ExpectedRevision{Kind: store.ExpectNoStream}
	case *streams.DeleteReq_Options_StreamExists:
		expected = store.ExpectedRevision{Kind: store.ExpectStreamExists}
	}
	res, err := s.store.Delete(ctx, name, expected)
	if err != nil {
		s.logWriteError("delete", name, err)
		return nil, statusFor(err, unaryTrailer{ctx})
	}
	return &streams.DeleteResp{PositionOption: &streams.DeleteResp_Position_{Position: &streams.DeleteResp_Position{
		CommitPosition: res.Position, PreparePosition: res.Position,
	}}}, nil
}

// Tombstone deletes a stream for good (Streams.Tombstone).
func (s *streamsService) Tombstone(ctx context.Context, req *streams.TombstoneReq) (*streams.TombstoneResp, error) {
	o := req.GetOptions()
	if o == nil {
		return nil, status.Error(codes.InvalidArgument, "tombstone: options are missing")
	}
	name, err := streamName(o.StreamIdentifier)
	if err != nil {
		return nil, err
	}
	var expected store.ExpectedRevision
	switch e := o.ExpectedStreamRevision.(type) {
	case *streams.TombstoneReq_Options_Revision:
		expected = store.ExpectedRevision{Kind: store.ExpectRevision, Revision: e.Revision}
	case *streams.TombstoneReq_Options_NoStream:
		expected = store.ExpectedRevision{Kind: store.ExpectNoStream}
	case *streams.TombstoneReq_Options_StreamExists:
		expected = store.ExpectedRevision{Kind: store.ExpectStreamExists}
	}
	res, err := s.store.Tombstone(ctx, name, expected)
	if err != nil {
		s.logWriteError("tombstone", name, err)
		return nil, statusFor(err, unaryTrailer{ctx})
	}
	return &streams.TombstoneResp{PositionOption: &streams.TombstoneResp_Position_{Position: &streams.TombstoneResp_Position{
		CommitPosition: res.Position, PreparePosition: res.Position,
	}}}, nil
}

// BatchAppend is not used by the Go client and not advertised.
func (s *streamsService) BatchAppend(streams.Streams_BatchAppendServer) error {
	return status.Error(codes.Unimplemented, "batch append is not supported by this server; use Append")
}
