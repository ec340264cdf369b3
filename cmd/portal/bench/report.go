package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// commandStages are the stages whose requests are commands, for the CPU
// per 1,000 commands of the whole run.
var commandStages = []string{StageSeed, stageInvite1Solo, StageInvite1, StageInvite50, StageRegister, StageLag, StageMemory}

// maxProcessRows bounds the samples kept in the JSON file.
const maxProcessRows = 600

// processSummary condenses the portal's samples: RSS at the start, the
// middle and the end of the run (flat is good), the peak, and CPU.
func processSummary(pid int, samples []procSample, stages []Stage) *Process {
	if len(samples) == 0 {
		return nil
	}
	start, mid, end := samples[0], samples[len(samples)/2], samples[len(samples)-1]
	p := &Process{
		PID: pid, RSSStartMiB: mib(start.RSSKiB), RSSMidMiB: mib(mid.RSSKiB), RSSEndMiB: mib(end.RSSKiB),
		CPUSeconds: end.CPUSeconds - start.CPUSeconds,
	}
	for _, s := range samples {
		p.PeakRSSMiB = max(p.PeakRSSMiB, mib(s.HWMKiB))
	}
	var cpu float64
	for _, s := range stages {
		if slices.Contains(commandStages, s.Name) && s.Latency != nil {
			p.Commands += s.Latency.Count + s.Latency.Errors
			cpu += s.CPUSeconds
		}
	}
	if p.Commands > 0 {
		p.CPUPer1000 = cpu / float64(p.Commands) * 1000
	}
	step := max(1, (len(samples)+maxProcessRows-1)/maxProcessRows)
	for i := 0; i < len(samples); i += step {
		s := samples[i]
		p.Samples = append(p.Samples, ProcessRow{TS: s.At.Seconds(), RSSMiB: mib(s.RSSKiB), CPUSeconds: s.CPUSeconds})
	}
	return p
}

// printReport writes the human-readable summary: stages, goals, ratios,
// memory.
func printReport(out io.Writer, res *Results, jsonPath string) {
	m := res.Machine
	fmt.Fprintf(out, "\nportal bench · profile %s · %s\n", res.Profile, res.StartedAt.Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(out, "machine: %d CPUs (%s), GOMAXPROCS %d, %d MiB, Linux %s, %s; load %s → %s; CPU pressure %s\n",
		m.NumCPU, orDash(m.CPUModel), m.GOMAXPROCS, m.MemTotalMiB, orDash(m.Kernel), m.GoVersion, orDash(m.LoadAvgStart), orDash(m.LoadAvgEnd), orDash(m.CPUPressure))
	t := res.Target
	fmt.Fprintf(out, "target: %s %s, pid %d, data on %s; event store %s, read models %s\n",
		t.Mode, t.URL, t.PID, orDash(m.DataFS), reach(t.EventStore), reach(t.Mongo))
	if t.Topology == TopologySplit {
		fmt.Fprintf(out, "topology split: the target is a replica of role api that embeds the event store; %s at nice %d do the background work",
			describeBackground(t.Background), t.BackgroundNice)
		if len(t.BackgroundCPUs) > 0 {
			fmt.Fprintf(out, ", on %s only (the api replica may use every CPU)", cpuList(t.BackgroundCPUs))
		}
		fmt.Fprintln(out, ".")
		if t.BackgroundPaused {
			fmt.Fprintln(out, "The background was paused (SIGSTOP) during the loads of raw-append and the command stages: "+
				"their figures are those of an api replica whose background work runs on CPUs of its own.")
		}
	}
	if t.Projects != nil && !*t.Projects {
		fmt.Fprintln(out, "The target runs no projection (a replica of role api, or a standby): another process does the background work, "+
			"and the settle wait after each stage watches only the target's CPU.")
	}
	fmt.Fprintln(out, "Absolute figures depend on the machine and its load; compare the ratios, which are measured in the same run.")

	fmt.Fprintln(out)
	// Left-aligned columns; numbers right-aligned within fixed widths.
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "stage\tkind\t%7s\t%7s\t%7s\t%6s\t%7s\t%8s\t%8s\t%8s\t%8s\t%8s\n",
		"clients", "load", "ok", "errors", "per s", "p50 ms", "p95 ms", "p99 ms", "max ms", "CPU s/1k")
	for _, s := range res.Stages {
		if s.Latency == nil {
			fmt.Fprintf(w, "%s\t%s\t%s\n", s.Name, s.Kind, strings.ReplaceAll(s.Status, "_", " "))
			continue
		}
		l := s.Latency
		load := "closed"
		if s.Rate > 0 {
			load = fmt.Sprintf("%.0f/s", s.Rate)
		}
		cpu := ""
		if s.CPUPer1000 > 0 {
			cpu = fmt.Sprintf("%.2f", s.CPUPer1000)
		}
		fmt.Fprintf(w, "%s\t%s\t%7d\t%7s\t%7d\t%6d\t%7.0f\t%8.2f\t%8.2f\t%8.2f\t%8.2f\t%8s\n",
			s.Name, s.Kind, s.Concurrency, load, l.Count, l.Errors, l.PerS, l.P50Ms, l.P95Ms, l.P99Ms, l.MaxMs, cpu)
	}
	_ = w.Flush()

	var notes []string
	for _, s := range res.Stages {
		if s.Status != StatusOK {
			notes = append(notes, fmt.Sprintf("%s: %s — %s", s.Name, strings.ReplaceAll(s.Status, "_", " "), firstLine(s.Reason)))
		}
		if len(s.Figures) > 0 {
			notes = append(notes, fmt.Sprintf("%s: %s", s.Name, figures(s.Figures)))
		}
		if len(s.Latency.kinds()) > 0 {
			notes = append(notes, fmt.Sprintf("%s errors: %s", s.Name, strings.TrimPrefix(errorSummary(s.Latency.ErrorKinds), ": ")))
		}
		for _, n := range s.Notes {
			notes = append(notes, fmt.Sprintf("%s: %s", s.Name, n))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(out, "\nfigures and notes:")
		for _, n := range notes {
			fmt.Fprintln(out, "  "+n)
		}
	}

	fmt.Fprintln(out, "\ngoals:")
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "  goal\tvalue\ttarget\tmet\tnote")
	for _, g := range res.Goals {
		value, met := "n/a", "n/a (not measured)"
		if g.Met != nil {
			value = fmt.Sprintf("%s %s", small(g.Value), g.Unit)
			met = map[bool]string{true: "met", false: "NOT MET"}[*g.Met]
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\t%s\t%s\n", g.Name, value, g.Target, met, g.Note)
	}
	_ = w.Flush()

	if len(res.Ratios) > 0 {
		fmt.Fprintln(out, "\nratios (same run):")
		w = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		for _, r := range res.Ratios {
			fmt.Fprintf(w, "  %s\t%s %s\t%s\n", r.Name, small(r.Value), r.Unit, r.Basis)
		}
		_ = w.Flush()
	}

	if p := res.Process; p != nil {
		name, whose := "portal process", ""
		if t.Topology == TopologySplit {
			name, whose = "api replica process", " (all three processes)"
		}
		fmt.Fprintf(out, "\n%s %d: RSS start %.1f MiB, middle %.1f, end %.1f, peak (VmHWM) %.1f; CPU %.1f s; %.2f CPU s per 1,000 commands%s (%d commands)\n",
			name, p.PID, p.RSSStartMiB, p.RSSMidMiB, p.RSSEndMiB, p.PeakRSSMiB, p.CPUSeconds, p.CPUPer1000, whose, p.Commands)
	}
	fmt.Fprintf(out, "\nresults: %s\n", jsonPath)
}

// describeBackground names a split run's background processes, with the
// CPU each spent over the run.
func describeBackground(bg []BackgroundProcess) string {
	parts := make([]string, len(bg))
	for i, b := range bg {
		name := "the replica of role all"
		if b.Role == RoleMongo {
			name = "portal mongo"
		}
		parts[i] = fmt.Sprintf("%s (pid %d, %.1f CPU s)", name, b.PID, b.CPUSeconds)
	}
	return strings.Join(parts, " and ")
}

func (l *Latency) kinds() map[string]int {
	if l == nil {
		return nil
	}
	return l.ErrorKinds
}

func figures(f map[string]float64) string {
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %s", k, trimFloat(f[k]))
	}
	return strings.Join(parts, " · ")
}

// small prints v with two decimals, or two significant digits when that
// would print a ratio such as 0.0033 as 0.00.
func small(v float64) string {
	if v != 0 && math.Abs(v) < 0.1 {
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
	return fmt.Sprintf("%.2f", v)
}

func trimFloat(v float64) string {
	switch {
	case v == float64(int64(v)):
		return fmt.Sprintf("%d", int64(v))
	case v >= 100 || v <= -100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func reach(ok bool) string {
	if ok {
		return "reachable"
	}
	return "not reachable"
}
