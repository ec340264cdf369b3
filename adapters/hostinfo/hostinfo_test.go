package hostinfo_test

import (
	"os"
	"runtime"
	"testing"

	"github.com/orgportal/onboarding/adapters/hostinfo"
)

func TestParseStatus(t *testing.T) {
	rss, peak, err := hostinfo.ParseStatus([]byte("Name:\tportal\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\nThreads:\t12\n"))
	if err != nil || rss != 102400 || peak != 204800 {
		t.Errorf("rss %d peak %d err %v, want 102400 204800", rss, peak, err)
	}
	if _, _, err := hostinfo.ParseStatus([]byte("Name:\tzombie\n")); err == nil {
		t.Error("a status without VmRSS: no error")
	}
	if _, _, err := hostinfo.ParseStatus([]byte("VmRSS:\tlots kB\nVmHWM:\t1 kB\n")); err == nil {
		t.Error("a status with an unreadable VmRSS: no error")
	}
}

func TestOfThisProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc, Linux only")
	}
	rss, peak, err := hostinfo.Memory(0)
	if err != nil || rss <= 0 || peak < rss {
		t.Errorf("Memory(0) = %d, %d, %v: want 0 < rss <= peak", rss, peak, err)
	}
	if _, _, err := hostinfo.Memory(os.Getpid()); err != nil {
		t.Errorf("Memory(own pid): %v", err)
	}
	if fs := hostinfo.FSType("/proc/self"); fs != "proc" {
		t.Errorf("FSType(/proc/self) = %q, want proc", fs)
	}
	if fs := hostinfo.FSType(t.TempDir()); fs == "unknown" || fs == "" {
		t.Errorf("FSType(a temporary directory) = %q", fs)
	}
}
