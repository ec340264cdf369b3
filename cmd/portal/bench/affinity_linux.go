package bench

import "golang.org/x/sys/unix"

// confineThread lets the calling thread, and every thread or process it
// creates from now on, run only on cpus.
func confineThread(cpus []int) error {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return unix.SchedSetaffinity(0, &set)
}
