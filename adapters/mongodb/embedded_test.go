package mongodb_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

func TestEmbeddedRestartKeepsData(t *testing.T) {
	if !server.embedded {
		t.Skipf("about the embedded FerretDB; %s is set, so the tests use that server instead", envTestMongoURL)
	}
	ctx := testContext(t)
	dir := filepath.Join(t.TempDir(), "read models") // a space must survive the SQLite URI

	start := func() (*mongodb.Embedded, *mongo.Client, func()) {
		t.Helper()
		e, err := mongodb.StartEmbedded(mongodb.EmbeddedConfig{Dir: dir, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(e.URI(), "mongodb://127.0.0.1:") {
			t.Errorf("URI %q: want a loopback mongodb:// address", e.URI())
		}
		client, err := mongodb.Connect(ctx, e.URI(), quietLogger())
		if err != nil {
			_ = e.Close()
			t.Fatal(err)
		}
		return e, client, func() {
			t.Helper()
			if err := client.Disconnect(ctx); err != nil {
				t.Error(err)
			}
			began := time.Now()
			if err := e.Close(); err != nil {
				t.Error(err)
			}
			if took := time.Since(began); took > 2*time.Second {
				t.Errorf("Close took %v with no client connected", took)
			}
		}
	}

	e, client, stop := start()
	store := mongodb.NewCheckpointStore(client.Database("portal"))
	if err := store.Save(ctx, "users", 42); err != nil {
		t.Fatal(err)
	}

	// A second server on the same directory would keep its own catalogue
	// of the same SQLite files.
	if _, err := mongodb.StartEmbedded(mongodb.EmbeddedConfig{Dir: dir, Logger: quietLogger()}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second server on one directory: err = %v, want 'in use'", err)
	}
	stop()
	if _, err := os.Stat(filepath.Join(dir, "portal.sqlite")); err != nil {
		t.Errorf("data not under the given directory: %v", err)
	}
	// The closed server is gone from its port.
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := mongodb.Connect(short, e.URI()+"&serverSelectionTimeoutMS=300", nil); err == nil {
		t.Error("connected to a closed server")
	}

	_, client, stop = start()
	defer stop()
	pos, ok, err := mongodb.NewCheckpointStore(client.Database("portal")).Load(ctx, "users")
	if err != nil || !ok || pos != 42 {
		t.Fatalf("after restart: Load = %d, %v, %v; want 42, true, nil", pos, ok, err)
	}
	n, err := client.Database("portal").Collection(mongodb.CheckpointsCollection).CountDocuments(ctx, bson.D{})
	if err != nil || n != 1 {
		t.Errorf("checkpoints after restart: %d documents, %v", n, err)
	}
}
