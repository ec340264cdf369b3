package eventstoredb_test

import (
	"os"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
)

// Watermill's universal Pub/Sub suite against the embedded event store,
// with the server restarted underneath the reconnect test.
//
// The suite's own TestReconnect runs only with ESDB_WATERMILL_RECONNECT=1
// (and never under -race). In watermill v1.5.1 it records each published
// message in a separate collector goroutine
// (pubsub/tests/test_pubsub.go:1084-1088) and compares that slice with what
// was received as soon as the last message arrives (line 1120), without
// waiting for the collector: the detector reports the race, and without it
// the comparison fails now and then with "received 10000, sent 9999" and
// the last message listed as extra (seen in CI here). That is a failure of
// the suite, not of the Pub/Sub under test, so it must not fail CI;
// TestWatermillSubscriberSurvivesServerRestart covers a restart under the
// server in every run.
func TestWatermillPubSub(t *testing.T) {
	h := newESDBHarness(t)
	var restart []string
	if !raceDetector && os.Getenv("ESDB_WATERMILL_RECONNECT") == "1" {
		restart = h.restartCommand(t, time.Second)
	}
	tests.TestPubSub(t, watermillFeatures(restart), h.pubSub, h.groupPubSub)
}

// The suite's stress variant: the whole suite ten times in parallel
// (STRESS_TEST_COUNT changes that) on one server. It runs with the suite's
// ForceShort: its point is ten suites at once, and the full message
// volumes (ten times 10,000 published messages and 250,000 deliveries to
// 50 subscribers each) would keep two shared cores busy for five minutes;
// TestWatermillPubSub runs those volumes once. The reconnect test is left
// out here: ten of them restarting one shared server at random moments
// would test the harness rather than the adapter, and TestWatermillPubSub
// runs it.
func TestWatermillPubSubStress(t *testing.T) {
	h := newESDBHarness(t)
	features := watermillFeatures(nil)
	features.ForceShort = true
	tests.TestPubSubStressTest(t, features, h.pubSub, h.groupPubSub)
}
