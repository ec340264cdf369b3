package bench

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ResultsVersion is the version of the JSON format; bump it when a field
// changes meaning.
const ResultsVersion = 1

// Stage statuses.
const (
	StatusOK           = "ok"
	StatusNotAvailable = "not_available" // the API under it is not there (yet); not a failure
	StatusFailed       = "failed"
)

// Results is everything a run measured; it is written as JSON.
type Results struct {
	Version    int       `json:"version"`
	Tool       string    `json:"tool"`
	Profile    string    `json:"profile"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	Machine    Machine   `json:"machine"`
	Target     Target    `json:"target"`
	Settings   Settings  `json:"settings"`
	Stages     []Stage   `json:"stages"`
	Process    *Process  `json:"process,omitempty"`
	Goals      []Goal    `json:"goals"`
	Ratios     []Ratio   `json:"ratios"`
}

// Target says what was measured.
type Target struct {
	Mode       string `json:"mode"` // "child" (embedded stack started by the harness) or "url"
	URL        string `json:"url"`
	PID        int    `json:"pid,omitempty"`
	DataDir    string `json:"dataDir,omitempty"`
	EventStore bool   `json:"eventStoreReachable"`
	Mongo      bool   `json:"mongoReachable"`
	Pprof      bool   `json:"pprof"`
	// Projects says, for a portal given by URL, whether it runs any
	// projection (nil: it did not say). One that runs none (a replica of
	// role api, or a standby) leaves the background work to another
	// process, which the settle wait after each stage does not watch.
	Projects *bool `json:"projects,omitempty"`
	// Topology is how the harness started the product: TopologyOne or
	// TopologySplit. A portal given by URL counts as TopologyOne whatever
	// runs beside it (Projects tells more). In a split run the target is
	// the replica of role api and Background lists the other processes.
	Topology         string              `json:"topology"`
	Background       []BackgroundProcess `json:"background,omitempty"`
	BackgroundNice   int                 `json:"backgroundNice,omitempty"`
	BackgroundCPUs   []int               `json:"backgroundCPUs,omitempty"`
	BackgroundPaused bool                `json:"backgroundPausedDuringCommands,omitempty"`
}

// Roles of the background processes of a split run.
const (
	RoleAll   = "all"   // the replica of role all: projections and mail
	RoleMongo = "mongo" // `portal mongo`: the read-model database
)

// BackgroundProcess is a process of a split run besides the target.
type BackgroundProcess struct {
	Role string `json:"role"`
	PID  int    `json:"pid"`
	// CPUSeconds is its CPU time over the run.
	CPUSeconds float64 `json:"cpuSeconds"`
}

// Settings are the options the figures depend on.
type Settings struct {
	Concurrency       int     `json:"concurrency"`
	Rate              float64 `json:"rate"` // 0: closed loop
	DurationS         float64 `json:"durationS"`
	Count             int     `json:"count"`
	LagRate           float64 `json:"lagRate"`
	LagDurationS      float64 `json:"lagDurationS"`
	Members           int     `json:"members"`
	Queries           int     `json:"queries"`
	MemoryRate        float64 `json:"memoryRate"`
	MemoryDurationS   float64 `json:"memoryDurationS"`
	BaselineDurationS float64 `json:"baselineDurationS"`
	SettleTimeoutS    float64 `json:"settleTimeoutS"`
}

// Stage is one measured step. Baselines are stages of kind "baseline".
type Stage struct {
	Name        string             `json:"name"`
	Kind        string             `json:"kind"` // "product" or "baseline"
	Status      string             `json:"status"`
	Reason      string             `json:"reason,omitempty"`
	Concurrency int                `json:"concurrency,omitempty"`
	Rate        float64            `json:"rate,omitempty"` // open loop requests/s
	Latency     *Latency           `json:"latency,omitempty"`
	Figures     map[string]float64 `json:"figures,omitempty"`
	// CPUSeconds is the portal's CPU time from the start of the stage to
	// the end of its settle wait, so background work the commands caused
	// (projections, mail) is included.
	CPUSeconds float64 `json:"cpuSeconds,omitempty"`
	// CPUPer1000 is CPUSeconds per 1,000 requests sent in the stage.
	CPUPer1000 float64  `json:"cpuSecondsPer1000Commands,omitempty"`
	SettleS    float64  `json:"settleS,omitempty"`
	Notes      []string `json:"notes,omitempty"`
}

func (s *Stage) figure(name string, v float64) {
	if s.Figures == nil {
		s.Figures = map[string]float64{}
	}
	s.Figures[name] = v
}

func (s *Stage) note(format string, args ...any) {
	s.Notes = append(s.Notes, fmt.Sprintf(format, args...))
}

// Process is the portal process's memory and CPU over the run.
type Process struct {
	PID         int     `json:"pid"`
	RSSStartMiB float64 `json:"rssStartMiB"`
	RSSMidMiB   float64 `json:"rssMidMiB"`
	RSSEndMiB   float64 `json:"rssEndMiB"`
	PeakRSSMiB  float64 `json:"peakRssMiB"` // VmHWM
	CPUSeconds  float64 `json:"cpuSeconds"`
	// Commands and CPUPer1000 cover the command stages only.
	Commands   int          `json:"commands"`
	CPUPer1000 float64      `json:"cpuSecondsPer1000Commands"`
	Samples    []ProcessRow `json:"samples"`
}

// ProcessRow is one sample of the portal process.
type ProcessRow struct {
	TS         float64 `json:"tS"`
	RSSMiB     float64 `json:"rssMiB"`
	CPUSeconds float64 `json:"cpuSeconds"`
}

// Goal is one of the goals, evaluated on this run. Met is nil
// when a figure it needs is not available.
type Goal struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
	Target string  `json:"target"`
	Met    *bool   `json:"met"`
	Basis  string  `json:"basis"`
	Note   string  `json:"note,omitempty"`
}

// Ratio is a figure set against its baseline from the same run.
type Ratio struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Basis string  `json:"basis"`
}

// stage returns the stage named name, or nil.
func (r *Results) stage(name string) *Stage {
	for i := range r.Stages {
		if r.Stages[i].Name == name {
			return &r.Stages[i]
		}
	}
	return nil
}

// writeJSON writes r to path through a temporary file, so that a reader
// never sees half a file.
func (r *Results) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bench-results-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
