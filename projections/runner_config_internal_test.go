package projections

import (
	"testing"
	"time"
)

// CheckpointDelays overrides the delay of the projections it names, with
// a positive duration; the others keep CheckpointDelay.
func TestRunnerCheckpointDelayPerProjection(t *testing.T) {
	cfg := RunnerConfig{CheckpointDelay: 25 * time.Millisecond,
		CheckpointDelays: map[string]time.Duration{"audit": 100 * time.Millisecond, "invitations": 0}}
	for name, want := range map[string]time.Duration{"audit": 100 * time.Millisecond, "invitations": 25 * time.Millisecond, "users": 25 * time.Millisecond} {
		if got := cfg.checkpointDelay(name); got != want {
			t.Errorf("checkpointDelay(%q) = %v, want %v", name, got, want)
		}
	}
}
