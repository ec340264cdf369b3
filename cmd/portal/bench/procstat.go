package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/orgportal/onboarding/adapters/hostinfo"
)

// clockTicksPerSecond is USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat. It is 100 on every Linux architecture Go supports;
// reading it needs sysconf (cgo), which the portal does without.
const clockTicksPerSecond = 100

// procSample is one reading of a process's memory and CPU.
type procSample struct {
	At         time.Duration // since the sampler started
	RSSKiB     int64         // VmRSS
	HWMKiB     int64         // VmHWM: peak RSS so far
	CPUSeconds float64       // utime + stime
}

// readProc reads /proc/<pid>/status and /proc/<pid>/stat.
func readProc(pid int) (procSample, error) {
	var s procSample
	var err error
	if s.RSSKiB, s.HWMKiB, err = hostinfo.Memory(pid); err != nil {
		return procSample{}, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	if s.CPUSeconds, err = parseStatCPU(stat); err != nil {
		return procSample{}, err
	}
	return s, nil
}

// parseStatCPU returns utime + stime in seconds. The command name (field
// 2) may hold spaces and parentheses, so fields are counted after the last
// ')': state is field 3, utime 14, stime 15.
func parseStatCPU(stat []byte) (float64, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: malformed")
	}
	fields := strings.Fields(string(stat[i+1:]))
	if len(fields) < 13 {
		return 0, errors.New("/proc stat: too few fields")
	}
	utime, err1 := strconv.ParseInt(fields[14-3], 10, 64)
	stime, err2 := strconv.ParseInt(fields[15-3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: %w", err)
	}
	return float64(utime+stime) / clockTicksPerSecond, nil
}

// sampler reads a process's figures at a fixed interval in the background,
// so that the peak and the shape over time are known, not just the ends.
type sampler struct {
	pid   int
	start time.Time
	stop  chan struct{}
	done  chan struct{}

	mu      sync.Mutex
	samples []procSample
	err     error
}

func startSampler(pid int, every time.Duration) *sampler {
	s := &sampler{pid: pid, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	s.take()
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				s.take()
			}
		}
	}()
	return s
}

// take records one sample now and returns it.
func (s *sampler) take() (procSample, bool) {
	p, err := readProc(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		if s.err == nil {
			s.err = err
		}
		return procSample{}, false
	}
	p.At = time.Since(s.start)
	s.samples = append(s.samples, p)
	return p, true
}

// close stops sampling after a last sample.
func (s *sampler) close() {
	close(s.stop)
	<-s.done
	s.take()
}

func (s *sampler) snapshot() []procSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]procSample(nil), s.samples...)
}

// between returns the samples taken in [from, to].
func between(samples []procSample, from, to time.Duration) []procSample {
	var out []procSample
	for _, p := range samples {
		if p.At >= from && p.At <= to {
			out = append(out, p)
		}
	}
	return out
}
