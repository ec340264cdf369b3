// Package mongotest gives a package's tests one read-model database
// server for the whole test binary: an embedded FerretDB in a temporary
// directory, or the MongoDB named by PORTAL_TEST_MONGO_URL, e.g.
//
//	docker run -d --rm -p 27017:27017 mongo:8
//	PORTAL_TEST_MONGO_URL=mongodb://127.0.0.1:27017 go test ./projections/...
//
// Use it from TestMain:
//
//	var srv *mongotest.Server
//	func TestMain(m *testing.M) { os.Exit(mongotest.Run(m, &srv)) }
package mongotest

import (
	"context"
	"flag"
	"fmt"
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

// EnvURL points the tests at a real MongoDB instead of an embedded FerretDB.
const EnvURL = "PORTAL_TEST_MONGO_URL"

// Server is the database server of a test binary.
type Server struct {
	URI string
	// Embedded is the embedded FerretDB; nil when EnvURL is set.
	Embedded *mongodb.Embedded
	// Client is connected for the whole run; tests may connect their own.
	Client *mongo.Client
	seq    atomic.Int64
}

// Run starts the server, stores it in *srv, runs the tests and stops it.
// It returns the exit code for os.Exit.
func Run(m *testing.M, srv **Server) int {
	flag.Parse()
	s := &Server{URI: os.Getenv(EnvURL)}
	if s.URI == "" {
		dir, err := os.MkdirTemp("", "mongotest-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		e, err := mongodb.StartEmbedded(mongodb.EmbeddedConfig{Dir: dir, Logger: Logger()})
		if err != nil {
			fmt.Fprintln(os.Stderr, "start embedded FerretDB:", err)
			return 1
		}
		defer e.Close()
		s.URI, s.Embedded = e.URI(), e
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongodb.Connect(ctx, s.URI, Logger())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s.Client = client
	// Disconnect before the embedded server closes, or it waits 3 s for
	// the open connections.
	defer client.Disconnect(context.Background())
	*srv = s
	return m.Run()
}

// Logger is quiet unless the tests run with -v (warnings and up then).
func Logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.DiscardHandler)
}

var unsafeDBChars = regexp.MustCompile(`[^A-Za-z0-9_]+`)

// DB returns a database of its own for t, dropped when t ends.
func (s *Server) DB(t testing.TB) *mongo.Database {
	t.Helper()
	name := strings.ToLower(unsafeDBChars.ReplaceAllString(t.Name(), "_"))
	// MongoDB limits database names to 63 bytes.
	if len(name) > 40 {
		name = name[:40]
	}
	name = fmt.Sprintf("t%d_%s", s.seq.Add(1), name)
	db := s.Client.Database(name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := db.Drop(ctx); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	return db
}

// PrepareCollection is what the composition root passes to the read
// models for this server: the embedded FerretDB's IndexIDs, or nil.
func (s *Server) PrepareCollection() func(context.Context, *mongo.Collection) error {
	if s.Embedded == nil {
		return nil
	}
	return s.Embedded.IndexIDs
}
