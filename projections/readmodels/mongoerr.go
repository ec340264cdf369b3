package readmodels

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/x/mongo/driver/topology"

	"github.com/orgportal/onboarding/projections"
)

// unreachable reports errors that say the database cannot be reached
// right now, as opposed to errors about the request or the data.
func unreachable(err error) bool {
	var sel topology.ServerSelectionError
	return mongo.IsNetworkError(err) || mongo.IsTimeout(err) ||
		errors.As(err, &sel) || errors.Is(err, topology.ErrServerSelectionTimeout) ||
		errors.Is(err, mongo.ErrClientDisconnected) || errors.Is(err, context.DeadlineExceeded)
}

// classify marks a write-side failure the runner should retry rather than
// stall on.
func classify(err error) error {
	if err != nil && unreachable(err) {
		return fmt.Errorf("%w: %w", projections.ErrUnavailable, err)
	}
	return err
}

// readErr wraps a reader's failure for the query API: unreachable becomes
// ErrUnavailable (503).
func readErr(what string, err error) error {
	if unreachable(err) {
		return fmt.Errorf("%w: %s: %w", ErrUnavailable, what, err)
	}
	return fmt.Errorf("readmodels: %s: %w", what, err)
}

func isNoDocuments(err error) bool { return errors.Is(err, mongo.ErrNoDocuments) }
