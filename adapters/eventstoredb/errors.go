package eventstoredb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/orgportal/onboarding/commands"
)

// permanent marks an error that retrying cannot fix (a record that does not
// decode).
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// errorCode returns the client's error code for err. The client's
// esdb.FromError reports ok only for nil errors, so unwrap instead; and
// some calls (opening a read) return bare gRPC status errors, which are
// mapped the way the client maps them elsewhere.
func errorCode(err error) esdb.ErrorCode {
	var esErr *esdb.Error
	if errors.As(err, &esErr) {
		return esErr.Code()
	}
	st, ok := status.FromError(err)
	if !ok {
		return esdb.ErrorCodeUnknown
	}
	switch st.Code() {
	case codes.Unavailable:
		return esdb.ErrorUnavailable
	case codes.DeadlineExceeded:
		return esdb.ErrorCodeDeadlineExceeded
	case codes.NotFound:
		return esdb.ErrorCodeResourceNotFound
	case codes.Aborted:
		return esdb.ErrorAborted
	case codes.Unauthenticated:
		return esdb.ErrorCodeUnauthenticated
	case codes.PermissionDenied:
		return esdb.ErrorCodeAccessDenied
	}
	return esdb.ErrorCodeUnknown
}

// unreachable reports failures that mean "the store cannot be reached now"
// rather than "the request is wrong".
//
// io.EOF belongs here: a gRPC Send fails with io.EOF when the stream was
// torn down before the request was complete (a broken connection, a server
// shutting down), and the client passes that on as ErrorCodeUnknown with
// the real status lost. An incomplete append request is never written, so
// retrying it is safe. (Stream reads handle their own io.EOF, the end of
// the stream, before errors get here.)
func unreachable(err error) bool {
	switch errorCode(err) {
	case esdb.ErrorUnavailable, esdb.ErrorCodeNotLeader, esdb.ErrorCodeDeadlineExceeded,
		esdb.ErrorCodeConnectionClosed:
		return true
	}
	return errors.Is(err, errConnClosed) || errors.Is(err, errClientReplaced) || errors.Is(err, io.EOF)
}

// clientGaveUp reports that the client that returned err has stopped for
// good: it closed itself (ErrorCodeConnectionClosed), or this very call
// ran its discovery out, after which it closes itself without answering
// the calls queued behind that discovery. The client reports the latter
// only in the message (its code is that of the last attempt's failure).
func clientGaveUp(err error) bool {
	return errorCode(err) == esdb.ErrorCodeConnectionClosed ||
		err != nil && strings.Contains(err.Error(), "maximum discovery attempt count reached")
}

// retryable reports failures after which the same call may succeed soon.
func retryable(err error) bool {
	var p permanent
	if errors.As(err, &p) || errors.Is(err, errConnClosed) {
		return false
	}
	return unreachable(err)
}

// classify wraps err with what was being done. Unreachability, including
// the caller's deadline running out, wraps commands.ErrUnavailable (the
// HTTP layer answers 503); the caller cancelling wraps context.Canceled.
func classify(ctx context.Context, what string, err error) error {
	switch {
	case unreachable(err), errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("eventstoredb: %s: %w: %w", what, commands.ErrUnavailable, err)
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		return fmt.Errorf("eventstoredb: %s: %w: %w", what, ctx.Err(), err)
	}
	return fmt.Errorf("eventstoredb: %s: %w", what, err)
}
