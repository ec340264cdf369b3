// Package porttest picks loopback ports for test servers that must come
// back on the same address after a restart.
package porttest

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreeLoopbackPort returns a loopback port that was free a moment ago, for
// a server a test starts on a port of its choosing and may restart on the
// same address (Mailpit, the embedded event store of the subscriber tests,
// the portal and its stores in cmd/portal).
//
// The port lies below the kernel's ephemeral range, from which it picks the
// ports of listeners on port 0 (every embedded server and Mailpit of the
// tests: go test ./... runs packages at once). A port from that range was
// taken, while a killed event store was down, by a server of a test running
// in parallel; the portal reconnected to that stranger, found neither its
// sessions nor its organization, and answered 401 and 404 (a CI failure of
// cmd/portal's TestE2EEventStoreOutage).
func FreeLoopbackPort(t testing.TB) int {
	t.Helper()
	const lowest = 10_000
	top := EphemeralPortsFrom()
	if top <= lowest+1_000 {
		// An unusual range leaves no room below it: take any free port.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().(*net.TCPAddr).Port
	}
	for range 100 {
		port := lowest + rand.IntN(top-lowest)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken: try another
		}
		ln.Close()
		return port
	}
	t.Fatalf("no free loopback port between %d and %d after 100 tries", lowest, top)
	return 0
}

// EphemeralPortsFrom is the first port of the kernel's ephemeral range
// (Linux: /proc/sys/net/ipv4/ip_local_port_range; 32768, its default, where
// that cannot be read).
func EphemeralPortsFrom() int {
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	fields := strings.Fields(string(raw))
	if len(fields) != 2 {
		return 32768
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return 32768
	}
	return low
}
