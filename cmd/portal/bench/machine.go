package bench

import (
	"bufio"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where the run happened: absolute figures only mean
// something next to it.
type Machine struct {
	GOOS         string `json:"goos"`
	GOARCH       string `json:"goarch"`
	GoVersion    string `json:"goVersion"`
	NumCPU       int    `json:"numCPU"`
	GOMAXPROCS   int    `json:"gomaxprocs"`
	CPUModel     string `json:"cpuModel,omitempty"`
	MemTotalMiB  int64  `json:"memTotalMiB,omitempty"`
	Kernel       string `json:"kernel,omitempty"`
	LoadAvgStart string `json:"loadAvgStart,omitempty"`
	LoadAvgEnd   string `json:"loadAvgEnd,omitempty"`
	// CPUPressure is /proc/pressure/cpu "some avg60" at the end: the share
	// of time something waited for a CPU, i.e. how loaded the machine was.
	CPUPressure string `json:"cpuPressureSomeAvg60,omitempty"`
	DataFS      string `json:"dataFilesystem,omitempty"`
}

func describeMachine() Machine {
	m := Machine{
		GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version(),
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
		LoadAvgStart: loadAvg(),
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb, err := strconv.ParseInt(strings.TrimSuffix(procField("/proc/meminfo", "MemTotal"), " kB"), 10, 64); err == nil {
		m.MemTotalMiB = kb / 1024
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// finish records the figures taken at the end of the run.
func (m *Machine) finish() {
	m.LoadAvgEnd = loadAvg()
	if b, err := os.ReadFile("/proc/pressure/cpu"); err == nil {
		for f := range strings.FieldsSeq(string(b)) {
			if v, ok := strings.CutPrefix(f, "avg60="); ok {
				m.CPUPressure = v + " %"
				break
			}
		}
	}
}

// loadAvg is the 1, 5 and 15 minute load average.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// procField returns the value of the first "key: value" line of a /proc
// file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
