//go:build !linux

package bench

import "errors"

// confineThread is Linux only: elsewhere --background-cpus is refused.
func confineThread([]int) error {
	return errors.New("confining a process to CPUs works on Linux only")
}
