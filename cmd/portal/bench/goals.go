package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The goals (issue 7) and PERFORMANCE.md's ratios.
const (
	goalOverheadMs      = 1.0
	goalCommandsPerS    = 3000.0
	goalClients         = 64
	goalLagP99Ms        = 250.0
	goalLagRate         = 200.0
	goalLagDuration     = 5 * time.Minute
	goalRebuildPerS     = 20000.0
	goalRebuildOfInsert = 0.70
	goalQueryRatio      = 3.0
	goalMembers         = 5000
	goalMemoryDuration  = 10 * time.Minute
	goalRateAchieved    = 0.95 // of the asked rate, for the lag goal
)

// view reads figures out of Results; a missing one reads as not ok.
type view struct{ res *Results }

// lat is the latency of an ok stage that measured something.
func (v view) lat(name string) (*Latency, bool) {
	s := v.res.stage(name)
	if s == nil || s.Status != StatusOK || s.Latency == nil || s.Latency.Count == 0 {
		return nil, false
	}
	return s.Latency, true
}

func (v view) fig(name, key string) (float64, bool) {
	s := v.res.stage(name)
	if s == nil || s.Status != StatusOK {
		return 0, false
	}
	f, ok := s.Figures[key]
	return f, ok
}

// level is the stage name at one client ("-c1" unless the run used one
// client throughout).
func (v view) one(name string) string {
	return levelName(name, 1, v.res.Settings.Concurrency)
}

func verdict(ok bool) *bool { return &ok }

// topologyNote qualifies a command goal measured on a split run's api
// replica; "" for one process.
func topologyNote(t Target) string {
	switch {
	case t.Topology != TopologySplit:
		return ""
	case t.BackgroundPaused:
		return "api replica, background paused: as if it ran on CPUs of its own"
	case len(t.BackgroundCPUs) > 0:
		return fmt.Sprintf("api replica on every CPU, background confined to %s at nice %d", cpuList(t.BackgroundCPUs), t.BackgroundNice)
	default:
		return fmt.Sprintf("api replica, background on the same CPUs at nice %d", t.BackgroundNice)
	}
}

// cpuList names CPUs as "CPU 1" or "CPUs 0, 2".
func cpuList(cpus []int) string {
	names := make([]string, len(cpus))
	for i, c := range cpus {
		names[i] = strconv.Itoa(c)
	}
	if len(cpus) == 1 {
		return "CPU " + names[0]
	}
	return "CPUs " + strings.Join(names, ", ")
}

func joinNotes(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// evaluate computes the goals and the ratios of a run.
func evaluate(res *Results) ([]Goal, []Ratio) {
	v := view{res}
	n := res.Settings.Concurrency
	var goals []Goal

	g := Goal{Name: "InviteUsers p50 overhead over a raw append, 1 client", Unit: "ms",
		Target: fmt.Sprintf("≤ %.0f ms", goalOverheadMs), Basis: v.one(StageInvite1) + " p50 − " + v.one(StageRawAppend) + " p50"}
	if inv, ok := v.lat(v.one(StageInvite1)); ok {
		if raw, ok := v.lat(v.one(StageRawAppend)); ok {
			g.Value = inv.P50Ms - raw.P50Ms
			g.Met = verdict(g.Value <= goalOverheadMs)
			g.Note = topologyNote(res.Target)
		}
	}
	goals = append(goals, g)

	g = Goal{Name: fmt.Sprintf("InviteUsers throughput, %d clients", n), Unit: "commands/s",
		Target: fmt.Sprintf("≥ %.0f/s at %d clients", goalCommandsPerS, goalClients), Basis: StageInvite1 + " throughput"}
	if inv, ok := v.lat(StageInvite1); ok {
		g.Value = inv.PerS
		g.Met = verdict(inv.PerS >= goalCommandsPerS)
		g.Note = topologyNote(res.Target)
		if n != goalClients {
			g.Note = joinNotes(g.Note, fmt.Sprintf("the goal is for %d clients; this run used %d", goalClients, n))
		}
	}
	goals = append(goals, g)

	goals = append(goals, lagGoal(v))

	g = Goal{Name: "Rebuild rate", Unit: "events/s", Target: fmt.Sprintf("≥ %.0f events/s", goalRebuildPerS), Basis: "rebuild eventsPerS"}
	if r, ok := v.fig(StageRebuild, "eventsPerS"); ok {
		g.Value = r
		g.Met = verdict(r >= goalRebuildPerS)
		if ev, _ := v.fig(StageRebuild, "events"); ev < 100_000 {
			g.Note = fmt.Sprintf("only %.0f events: start-up and the switch weigh heavily", ev)
		}
	}
	goals = append(goals, g)

	g = Goal{Name: "Rebuild rate ÷ raw insertMany rate", Unit: "×", Target: fmt.Sprintf("≥ %.2f", goalRebuildOfInsert),
		Basis: "rebuild eventsPerS ÷ " + stageMongoInsertMany + " docsPerS"}
	if r, ok := v.fig(StageRebuild, "eventsPerS"); ok {
		if ins, ok := v.fig(stageMongoInsertMany, "docsPerS"); ok && ins > 0 {
			g.Value = r / ins
			g.Met = verdict(g.Value >= goalRebuildOfInsert)
		}
	}
	goals = append(goals, g)

	g = Goal{Name: "Users page query p99 ÷ raw query p99", Unit: "×", Target: fmt.Sprintf("≤ %.0f×", goalQueryRatio),
		Basis: StageUsersQuery + " p99 ÷ " + stageUsersRaw + " p99"}
	if api, ok := v.lat(StageUsersQuery); ok {
		if raw, ok := v.lat(stageUsersRaw); ok && raw.P99Ms > 0 {
			g.Value = api.P99Ms / raw.P99Ms
			g.Met = verdict(g.Value <= goalQueryRatio)
			if res.Settings.Members != goalMembers {
				g.Note = fmt.Sprintf("the goal is at %d members; this run had %d", goalMembers, res.Settings.Members)
			}
		}
	}
	goals = append(goals, g)

	goals = append(goals, memoryGoal(v))

	return goals, ratios(v)
}

// memoryGoal: memory flat over the second half of the memory run, but for
// the caches. Judged by the live heap's growth less the Users page
// cache's (memoryBeyondCaches); by RSS, caches and collector's headroom
// included, when the portal does not export the live heap.
func memoryGoal(v view) Goal {
	g := Goal{Name: "Memory flat beyond the caches (growth over the second half of the memory run)", Unit: "MiB",
		Target: fmt.Sprintf("≤ max(%.0f MiB, %.0f %% of the middle)", flatGrowthMiB, flatGrowthFraction*100),
		Basis:  "memory (heapLiveEnd − heapLiveMid) − (usersCacheEnd − usersCacheMid); rssEnd − rssMid without the live heap"}
	growth, ok := v.fig(StageMemory, "beyondCachesGrowthMiB")
	allowed, _ := v.fig(StageMemory, "allowedBeyondCachesMiB")
	var notes []string
	if !ok {
		if growth, ok = v.fig(StageMemory, "secondHalfGrowthMiB"); !ok {
			return g
		}
		allowed, _ = v.fig(StageMemory, "allowedGrowthMiB")
		notes = append(notes, "judged by RSS (the portal exports no live heap)")
	} else if rss, ok := v.fig(StageMemory, "secondHalfGrowthMiB"); ok {
		notes = append(notes, fmt.Sprintf("RSS grew %.0f MiB over the second half", rss))
	}
	g.Value = growth
	g.Met = verdict(growth <= allowed)
	if d := time.Duration(v.res.Settings.MemoryDurationS * float64(time.Second)); d < goalMemoryDuration {
		notes = append(notes, fmt.Sprintf("the goal is over %v (--profile soak); this run lasted %v", goalMemoryDuration, d))
	}
	g.Note = strings.Join(notes, "; ")
	return g
}

// lagGoal: p99 within the bound, at the asked rate, without a backlog
// that grows.
func lagGoal(v view) Goal {
	g := Goal{Name: fmt.Sprintf("Command → visible lag p99 at %.0f/s, no growing backlog", v.res.Settings.LagRate), Unit: "ms",
		Target: fmt.Sprintf("≤ %.0f ms at %.0f/s for %v", goalLagP99Ms, goalLagRate, goalLagDuration), Basis: "lag p99, achievedRate, backlogGrowing"}
	lag, ok := v.lat(StageLag)
	if !ok {
		return g
	}
	g.Value = lag.P99Ms
	var why []string
	if lag.P99Ms > goalLagP99Ms {
		why = append(why, "p99 over the bound")
	}
	if achieved, _ := v.fig(StageLag, "achievedRate"); achieved < goalRateAchieved*v.res.Settings.LagRate {
		why = append(why, fmt.Sprintf("only %.0f/s sent", achieved))
	}
	if growing, _ := v.fig(StageLag, "backlogGrowing"); growing > 0 {
		why = append(why, "backlog growing (last third slower, or ticks missed)")
	}
	if lag.Errors > 0 {
		why = append(why, fmt.Sprintf("%d commands failed or never showed", lag.Errors))
	}
	g.Met = verdict(len(why) == 0)
	notes := why
	if d := time.Duration(v.res.Settings.LagDurationS * float64(time.Second)); v.res.Settings.LagRate != goalLagRate || d < goalLagDuration {
		notes = append(notes, fmt.Sprintf("the goal is %.0f/s for %v (--profile soak)", goalLagRate, goalLagDuration))
	}
	g.Note = strings.Join(notes, "; ")
	return g
}

// ratios are the run's figures set against their baselines, without a
// goal of their own.
func ratios(v view) []Ratio {
	var out []Ratio
	add := func(name, unit, basis string, value float64, ok bool) {
		if ok {
			out = append(out, Ratio{Name: name, Value: value, Unit: unit, Basis: basis})
		}
	}
	n := v.res.Settings.Concurrency
	inv1, ok1 := v.lat(v.one(StageInvite1))
	invN, okN := v.lat(StageInvite1)
	if gin1, ok := v.lat(v.one(StageGinNoop)); ok && ok1 {
		add("InviteUsers p50 − Gin no-op p50, 1 client", "ms", v.one(StageInvite1)+" p50 − "+v.one(StageGinNoop)+" p50", inv1.P50Ms-gin1.P50Ms, true)
	}
	if raw, ok := v.lat(StageRawAppend); ok && okN && n != 1 {
		add(fmt.Sprintf("InviteUsers p50 − raw append p50, %d clients", n), "ms", "invite1 p50 − raw-append p50", invN.P50Ms-raw.P50Ms, true)
		add(fmt.Sprintf("InviteUsers throughput ÷ raw append rate, %d clients", n), "×", "invite1 ÷ raw-append throughput", invN.PerS/raw.PerS, raw.PerS > 0)
	}
	if gin, ok := v.lat(StageGinNoop); ok && okN {
		add(fmt.Sprintf("InviteUsers throughput ÷ Gin no-op throughput, %d clients", n), "×", "invite1 ÷ gin-noop throughput", invN.PerS/gin.PerS, gin.PerS > 0)
	}
	if raw, ok := v.lat(StageRawAppend); ok {
		if fs, ok := v.lat(StageFsync); ok && fs.PerS > 0 {
			add(fmt.Sprintf("Raw appends per fsync, %d clients", n), "appends/fsync", "raw-append throughput ÷ fsync syncs/s", raw.PerS/fs.PerS, true)
		}
	}
	if proj, ok := v.fig(StageSeed, "projectionRowsPerS"); ok {
		if upd, ok := v.lat(stageMongoUpdateID); ok && upd.PerS > 0 {
			add("Projection throughput ÷ raw Mongo _id update rate", "×", "seed projectionRowsPerS ÷ mongo-update-id throughput", proj/upd.PerS, true)
		}
		if ins, ok := v.fig(stageMongoInsertMany, "docsPerS"); ok && ins > 0 {
			add("Projection throughput ÷ raw insertMany rate", "×", "seed projectionRowsPerS ÷ mongo-insertmany docsPerS", proj/ins, true)
		}
	}
	if api, ok := v.lat(StageUsersQuery); ok {
		if raw, ok := v.lat(stageUsersRaw); ok && raw.P50Ms > 0 {
			add("Users page query p50 ÷ raw query p50", "×", "users-query p50 ÷ users-query-raw p50", api.P50Ms/raw.P50Ms, true)
		}
	}
	if addrs, ok := v.fig(StageInvite50, "addressesPerS"); ok && okN && invN.PerS > 0 {
		add("Addresses/s with 50 per request ÷ with 1 per request", "×", "invite50 addressesPerS ÷ invite1 throughput", addrs/invN.PerS, true)
	}
	// With --concurrency 1 the one-client stage is invite1 itself: list it once.
	for _, name := range slices.Compact([]string{v.one(StageInvite1), StageInvite1, StageInvite50, StageRegister, StageLag}) {
		if s := v.res.stage(name); s != nil && s.Status == StatusOK && s.CPUPer1000 > 0 {
			add("Portal CPU per 1,000 requests: "+name, "CPU s", name+" cpuSeconds (load + settle) ÷ requests × 1000", s.CPUPer1000, true)
		}
	}
	return out
}
