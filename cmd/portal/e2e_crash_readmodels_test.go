package main

// Comparing the read models the live projections built (across crashes)
// with a fresh rebuild of the same history.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// rebuildIgnoredFields are the document fields a rebuild may legitimately
// write differently from the live projection, per collection base (and
// its lookup collection). Every other field is derived from the events
// (times are the events' request times, positions their commit
// positions), so a live read model that went through crashes and
// redeliveries must equal the rebuild field for field. A field added here
// needs a reason next to it.
var rebuildIgnoredFields = map[string][]string{
	// The org stamp's list of recently changed rows is a hint for the
	// Users page cache: a redelivery after a crash restarts it (readers
	// behind it reload), under a new number (seq), so it holds fewer rows
	// than a rebuild's. The stamp's position is still compared.
	readmodels.UsersBase: {"recent", "seq"},
}

// rebuildIgnoredDoc tells the documents a rebuild may legitimately write
// where the live projection did not, or not: the archived change lists
// ("changes:<org>#<slot>"), hints like the lists above, which a list
// restarted after a crash never filled.
func rebuildIgnoredDoc(id string) bool {
	return strings.HasPrefix(id, "changes:") && strings.Contains(id, "#")
}

// replayAll runs `portal replay --projection all` on env's data directory
// (the portal must be stopped) and returns its output.
func replayAll(t *testing.T, env map[string]string) string {
	t.Helper()
	replay := exec.Command(portalBinary(t), "replay", "--projection", "all", "--progress", "lines")
	replay.Env = append(envList(env), "PORTAL_LOG_FORMAT=text")
	out, err := replay.CombinedOutput()
	if err != nil {
		t.Fatalf("portal replay: %v\n%s", err, out)
	}
	return string(out)
}

// readModelDiff is the comparison of one collection's live and rebuilt
// versions.
type readModelDiff struct {
	collection string // base name, e.g. users or users_lookup
	live       int    // version numbers
	rebuilt    int
	docs       int // documents in the rebuilt version
	diffs      []string
}

// compareLiveWithRebuild opens the stopped portal's embedded read-model
// database and compares, for every read model and its lookup collection,
// the version the live projections wrote with the active one a replay
// has just built from the whole history (the replay keeps the version
// before the active one). Documents are matched by _id and compared field
// for field, minus rebuildIgnoredFields. It also counts the rebuilt Users
// rows by status.
func compareLiveWithRebuild(t *testing.T, dataDir string) ([]readModelDiff, map[string]int) {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := mongodb.StartEmbedded(mongodb.EmbeddedConfig{Dir: filepath.Join(dataDir, "readmodels"), Logger: quiet})
	if err != nil {
		t.Fatalf("open the read-model database: %v", err)
	}
	defer e.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	client, err := mongodb.Connect(ctx, e.URI(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	// Disconnect before Close, or the server waits for the connections.
	defer client.Disconnect(context.Background())
	db := client.Database(readModelsDatabase)

	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	versions := mongodb.NewVersions(db, time.Now)
	var out []readModelDiff
	usersByStatus := map[string]int{}
	for _, base := range readmodels.Names() {
		active, found, err := versions.Active(ctx, base)
		if err != nil || !found {
			t.Fatalf("active version of %s: found %v, %v", base, found, err)
		}
		for _, coll := range []string{base, base + "_lookup"} {
			live := 0
			for _, name := range names {
				if v, ok := mongodb.ParseCollectionName(coll, name); ok && v < active.Version && v > live {
					live = v
				}
			}
			if live == 0 {
				t.Fatalf("%s: no version before the rebuilt %d in %v", coll, active.Version, names)
			}
			d := readModelDiff{collection: coll, live: live, rebuilt: active.Version}
			liveDocs := readCollection(ctx, t, db.Collection(mongodb.CollectionName(coll, live)), rebuildIgnoredFields[base])
			rebuiltDocs := readCollection(ctx, t, db.Collection(mongodb.CollectionName(coll, active.Version)), rebuildIgnoredFields[base])
			d.docs = len(rebuiltDocs)
			d.diffs = diffDocuments(liveDocs, rebuiltDocs)
			out = append(out, d)
			if coll == readmodels.UsersBase {
				for _, doc := range rebuiltDocs {
					status, _ := doc["status"].(string)
					usersByStatus[status]++
				}
			}
		}
	}
	return out, usersByStatus
}

// readCollection returns every document of coll by _id, without ignore.
func readCollection(ctx context.Context, t *testing.T, coll *mongo.Collection, ignore []string) map[string]bson.M {
	t.Helper()
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatalf("read %s: %v", coll.Name(), err)
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatalf("read %s: %v", coll.Name(), err)
	}
	out := make(map[string]bson.M, len(docs))
	for _, d := range docs {
		id := fmt.Sprint(d["_id"])
		if rebuildIgnoredDoc(id) {
			continue
		}
		for _, f := range ignore {
			delete(d, f)
		}
		out[id] = d
	}
	return out
}

// diffDocuments describes every document that is missing on one side or
// differs, sorted by _id.
func diffDocuments(live, rebuilt map[string]bson.M) []string {
	var diffs []string
	for id, want := range rebuilt {
		got, ok := live[id]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("%s: missing in the live version; rebuilt: %v", id, want))
		case !reflect.DeepEqual(normalizeDoc(got), normalizeDoc(want)):
			diffs = append(diffs, fmt.Sprintf("%s: live %v, rebuilt %v", id, got, want))
		}
	}
	for id, got := range live {
		if _, ok := rebuilt[id]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: only in the live version: %v", id, got))
		}
	}
	sort.Strings(diffs)
	return diffs
}

// normalizeDoc turns nested documents, which decode as ordered
// primitive.D, into maps: a live update and a bulk insert may write the
// fields of a subdocument in different orders, which no reader sees.
// Arrays keep their order (it is part of the read model).
func normalizeDoc(v any) any {
	switch x := v.(type) {
	case bson.M:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeDoc(e)
		}
		return out
	case bson.D:
		out := make(map[string]any, len(x))
		for _, e := range x {
			out[e.Key] = normalizeDoc(e.Value)
		}
		return out
	case bson.A:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeDoc(e)
		}
		return out
	}
	return v
}

// summarizeDiffs lists at most n differences.
func summarizeDiffs(diffs []string, n int) string {
	if len(diffs) <= n {
		return strings.Join(diffs, "\n  ")
	}
	return strings.Join(diffs[:n], "\n  ") + fmt.Sprintf("\n  … and %d more", len(diffs)-n)
}
