package eventstoredb

import "time"

// Workers is the pool untilDone's calls run on, for the external tests.
type Workers struct{ w workers }

func NewWorkers(idle time.Duration) Workers { return Workers{newWorkers(idle)} }

func (p Workers) Run(f func()) { p.w.run(f) }

// Live counts the pool's workers, idle or not.
func (p Workers) Live() int32 { return p.w.live.Load() }
