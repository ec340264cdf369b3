package projections

import "time"

// State is what a projection is doing in this replica.
type State string

const (
	// StateStandby: another replica holds the projection's lease (or this
	// one is starting); this replica does not write.
	StateStandby State = "standby"
	// StateRunning: this replica applies events as they come.
	StateRunning State = "running"
	// StateRebuilding: the first version is being built from history
	// before live apply starts. (A rebuild of a projection that already
	// serves runs next to it: the state stays running and Rebuild shows
	// the progress.)
	StateRebuilding State = "rebuilding"
	// StateStalled: one event keeps failing; the projection stopped at it,
	// without skipping it, and waits for a resume (admin API, or a
	// restart) after the cause is fixed.
	StateStalled State = "stalled"
)

// Status is a projection's state as this replica sees it; the admin API,
// /readyz and the metrics show it.
type Status struct {
	Name  string `json:"name"`
	State State  `json:"state"`
	// Version is the collection version it writes (and readers read).
	Version int `json:"version"`
	// Position is the commit position of the last event it processed.
	// Live appliers keep their writes until the next checkpoint (within
	// CheckpointDelay), so the read model may still be behind it; the
	// checkpoint is what consistency tokens wait for.
	Position uint64 `json:"position"`
	// CaughtUp: it has processed everything the event store held when it
	// last said so.
	CaughtUp bool `json:"caughtUp"`
	// EventsApplied counts the events that changed the read model, and
	// Failures the failed attempts at an event, since the process started.
	EventsApplied uint64 `json:"eventsApplied"`
	Failures      uint64 `json:"failures"`
	// LastEventAt is when the last processed event was written.
	LastEventAt *time.Time `json:"lastEventAt,omitempty"`
	// LagEvents and LagSeconds are how many domain events wait (counted up
	// to a cap) and how old the oldest of them is; sampled every few
	// seconds while this replica runs the projection.
	LagEvents  int     `json:"lagEvents"`
	LagSeconds float64 `json:"lagSeconds"`
	// Failing is the event a stalled projection stopped at.
	Failing *Failure `json:"failing,omitempty"`
	// LastError is the latest failure that is retried without stalling
	// (the database unreachable); cleared by the next success.
	LastError string `json:"lastError,omitempty"`
	// Rebuild is the latest rebuild started by this replica.
	Rebuild *RebuildStatus `json:"rebuild,omitempty"`
}

// Failure is the event a projection is stuck on.
type Failure struct {
	EventID   string    `json:"eventId"`
	EventType string    `json:"eventType"`
	Stream    string    `json:"stream"`
	Position  uint64    `json:"position"`
	Error     string    `json:"error"`
	Since     time.Time `json:"since"`
}

// RebuildState is where a rebuild is.
type RebuildState string

const (
	RebuildRunning  RebuildState = "running"
	RebuildDone     RebuildState = "done"
	RebuildFailed   RebuildState = "failed"
	RebuildCanceled RebuildState = "canceled"
)

// RebuildStatus is the progress of a rebuild.
type RebuildStatus struct {
	State RebuildState `json:"state"`
	// Version is the version being built (and switched to when done).
	Version int `json:"version"`
	// Events counts the events read from $all so far, Applied those that
	// changed the read model.
	Events  uint64 `json:"events"`
	Applied uint64 `json:"applied"`
	// Position is how far in $all it has read; Head the last position when
	// it started (0 when unknown).
	Position   uint64     `json:"position"`
	Head       uint64     `json:"head,omitempty"`
	StartedAt  time.Time  `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// Rate is events read per second; ETASeconds the estimated time left
	// (0 when unknown).
	Rate       float64 `json:"rate"`
	ETASeconds float64 `json:"etaSeconds,omitempty"`
	Error      string  `json:"error,omitempty"`
}

// Fraction is how much of $all has been read (0 when unknown, 1 when done).
func (r RebuildStatus) Fraction() float64 {
	switch {
	case r.State == RebuildDone:
		return 1
	case r.Head == 0:
		return 0
	}
	return min(1, float64(r.Position)/float64(r.Head))
}
