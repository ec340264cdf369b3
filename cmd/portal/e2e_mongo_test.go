package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

var mongoURLAttr = regexp.MustCompile(`url="?(mongodb://[^"\s]+)`)

// TestE2EMongoCommand runs the read-model database alone, writes through
// the mongo driver, restarts it on the same files and reads the document
// back: the standalone server is the embedded one, with its data kept.
func TestE2EMongoCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("starts FerretDB twice; runs without -short")
	}
	data := filepath.Join(t.TempDir(), "readmodels")
	start := func() (*child, string) {
		p := startPortal(t, nil, "mongo", "--listen", "127.0.0.1:0", "--data", data)
		line := p.waitLine(startTimeout, func(l string) bool { return strings.Contains(l, "read-model database listening") })
		m := mongoURLAttr.FindStringSubmatch(line)
		if m == nil || strings.Contains(m[1], ":0/") {
			t.Fatalf("listening line has no bound mongodb:// url: %q", line)
		}
		return p, m[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	p, url := start()
	client, err := mongodb.Connect(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	coll := client.Database("portal").Collection("drill")
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "kept"}, {Key: "n", Value: 7}}); err != nil {
		t.Fatal(err)
	}
	_ = client.Disconnect(ctx)
	// The server indexes the new collection's _id lookups on its own,
	// within about a second (portals reaching it by URL cannot).
	p.waitLine(startTimeout, func(l string) bool { return strings.Contains(l, "indexed _id lookups of new collections") })
	if err := p.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v, want code 0", err)
	}

	_, url = start()
	client, err = mongodb.Connect(ctx, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	var got struct {
		N int `bson:"n"`
	}
	if err := client.Database("portal").Collection("drill").FindOne(ctx, bson.D{{Key: "_id", Value: "kept"}}).Decode(&got); err != nil || got.N != 7 {
		t.Fatalf("after a restart: %+v, %v; want the document written before", got, err)
	}
}

func TestE2EMongoRefusesNonLoopback(t *testing.T) {
	p := startPortal(t, nil, "mongo", "--listen", "0.0.0.0:0", "--data", t.TempDir())
	if err := p.wait(startTimeout); err == nil {
		t.Fatal("mongo on 0.0.0.0 without --allow-non-loopback exited 0")
	}
	if out := p.output(); !strings.Contains(out, "--allow-non-loopback") {
		t.Errorf("error does not say how to allow it: %s", out)
	}
}
