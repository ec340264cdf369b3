package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo"
)

// Checkpoints are written to MongoDB as they are taken, so that other
// replicas see progress at once; FerretDB keeps the runner's spacing, and
// the embedded one is never even asked what it is.
func TestCheckpointSaveEvery(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	embedded := readModelsDB{prepare: func(context.Context, *mongo.Collection) error { return nil }}
	byURL := readModelsDB{}
	answer := func(ferret bool, err error) func(context.Context) (bool, error) {
		return func(context.Context) (bool, error) { return ferret, err }
	}
	never := func(context.Context) (bool, error) {
		t.Error("the embedded database was asked what it is")
		return true, nil
	}
	tests := []struct {
		name   string
		rm     readModelsDB
		ferret func(context.Context) (bool, error)
		want   time.Duration
	}{
		{"embedded FerretDB", embedded, never, 0},
		{"FerretDB by URL", byURL, answer(true, nil), 0},
		{"MongoDB", byURL, answer(false, nil), saveEveryCheckpoint},
		{"unknown", byURL, answer(false, errors.New("buildInfo refused")), 0},
	}
	for _, tt := range tests {
		if got := checkpointSaveEvery(t.Context(), tt.rm, tt.ferret, logger); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
