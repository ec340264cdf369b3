package mongodb_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/mongo"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

// envTestMongoURL points the tests at a real MongoDB instead of the
// embedded FerretDB (see the package documentation).
const envTestMongoURL = "PORTAL_TEST_MONGO_URL"

// server is what every test talks to: one embedded FerretDB for the whole
// package, or the MongoDB named by PORTAL_TEST_MONGO_URL.
var server struct {
	uri      string
	embedded bool
	e        *mongodb.Embedded // when embedded
	client   *mongo.Client
}

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(run(m))
}

func run(m *testing.M) int {
	server.uri = os.Getenv(envTestMongoURL)
	if server.uri == "" {
		dir, err := os.MkdirTemp("", "mongodb-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		e, err := mongodb.StartEmbedded(mongodb.EmbeddedConfig{Dir: dir, Logger: quietLogger()})
		if err != nil {
			fmt.Fprintln(os.Stderr, "start embedded FerretDB:", err)
			return 1
		}
		defer e.Close()
		server.uri, server.embedded, server.e = e.URI(), true, e
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongodb.Connect(ctx, server.uri, quietLogger())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	server.client = client
	// Disconnect before the embedded server closes, or it waits 3 s for
	// the open connections.
	defer client.Disconnect(context.Background())
	return m.Run()
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

var dbSeq atomic.Int64

var unsafeDBChars = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// testDB returns a database of its own for t, dropped when t ends.
func testDB(t *testing.T) *mongo.Database {
	t.Helper()
	name := strings.ToLower(unsafeDBChars.ReplaceAllString(t.Name(), "_"))
	// MongoDB limits database names to 63 bytes.
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("t%d_%s", dbSeq.Add(1), name)
	db := server.client.Database(name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return db
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fakeClock is a clock the test moves by hand; safe for concurrent use.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock() *fakeClock {
	c := &fakeClock{}
	c.ns.Store(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
