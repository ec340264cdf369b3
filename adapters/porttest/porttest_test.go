package porttest

import (
	"fmt"
	"net"
	"testing"
)

// A port from FreeLoopbackPort is free and below the kernel's ephemeral
// range, which listeners on port 0 of tests running in parallel draw from.
func TestFreeLoopbackPortIsBelowTheEphemeralRange(t *testing.T) {
	top := EphemeralPortsFrom()
	for range 20 {
		port := FreeLoopbackPort(t)
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
