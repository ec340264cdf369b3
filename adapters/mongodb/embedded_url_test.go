package mongodb

import (
	"net/url"
	"slices"
	"testing"
)

// The SQLite URL carries synchronous(normal) (one fsync per WAL
// checkpoint, not per write) and temp_store(memory) (statement journals in
// memory; see sqlitePragmas) after the busy handler and WAL, and still
// escapes the directory.
func TestSQLiteURLPragmas(t *testing.T) {
	dir := "/data/read models/a?b#c"
	u, err := url.Parse(sqliteURL(dir))
	if err != nil {
		t.Fatal(err)
	}
	if u.Scheme != "file" || u.Path != dir+"/" {
		t.Fatalf("scheme %q path %q, want file and %q", u.Scheme, u.Path, dir+"/")
	}
	got := u.Query()["_pragma"]
	want := []string{"busy_timeout(10000)", "journal_mode(wal)", "synchronous(normal)", "temp_store(memory)"}
	if !slices.Equal(got, want) {
		t.Fatalf("_pragma = %q, want %q (in this order)", got, want)
	}
}
