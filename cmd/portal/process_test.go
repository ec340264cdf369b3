package main

import (
	"fmt"
	"net"
	"runtime/debug"
	"testing"

	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
)

// The portal collects at defaultGCPercent unless GOGC is set, and then
// leaves the runtime's value alone.
func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	tuneGC(func(string) (string, bool) { return "", false })
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("GOGC unset: GC percent %d, want %d", got, defaultGCPercent)
	}
	tuneGC(func(name string) (string, bool) { return "50", name == "GOGC" })
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set: GC percent changed to %d, want it left at 100", got)
	}
}

// The tests restart servers on ports from freeLoopbackPort; the kernel
// never hands those to a listener on port 0 of a test running in parallel.
func TestFreeLoopbackPortIsBelowTheEphemeralRange(t *testing.T) {
	top := smtptest.EphemeralPortsFrom()
	for range 20 {
		port := freeLoopbackPort(t)
		if top > 11_000 && (port < 10_000 || port >= top) {
			t.Fatalf("port %d, want one in [10000, %d)", port, top)
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatalf("port %d is not free: %v", port, err)
		}
		ln.Close()
	}
}
