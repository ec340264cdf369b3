// Package hostinfo reads facts about the machine a process runs on from
// Linux's /proc: which filesystem holds a directory (fsync costs nothing
// on tmpfs, so disk figures need it beside them) and a process's resident
// memory. The benchmarks of the event store and the portal's load harness
// report both; elsewhere the answers are "unknown" and an error.
package hostinfo

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FSType names the filesystem dir is on: the type of the longest mount
// point of /proc/self/mounts that contains it, "unknown" where that cannot
// be read.
func FSType(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "unknown"
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		abs = real
	}
	f, err := os.Open("/proc/self/mounts")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	best, typ := -1, "unknown"
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		mp := fields[1]
		inside := abs == mp || strings.HasPrefix(abs, strings.TrimSuffix(mp, "/")+"/")
		if inside && len(mp) > best {
			best, typ = len(mp), fields[2]
		}
	}
	return typ
}

// Memory returns the resident set (VmRSS) and its peak so far (VmHWM) of
// process pid in KiB, pid 0 meaning this process.
func Memory(pid int) (rssKiB, peakKiB int64, err error) {
	path := "/proc/self/status"
	if pid != 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	status, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	return ParseStatus(status)
}

// ParseStatus returns VmRSS and VmHWM in KiB from the text of a
// /proc/<pid>/status file.
func ParseStatus(status []byte) (rssKiB, peakKiB int64, err error) {
	found := 0
	for line := range strings.SplitSeq(string(status), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc status %s: %w", key, err)
		}
		if key == "VmRSS" {
			rssKiB = n
		} else {
			peakKiB = n
		}
		found++
	}
	if found != 2 {
		return 0, 0, errors.New("/proc status: no VmRSS/VmHWM (a zombie process?)")
	}
	return rssKiB, peakKiB, nil
}
