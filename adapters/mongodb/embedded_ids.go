package mongodb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"go.mongodb.org/mongo-driver/mongo"
	// The SQLite driver FerretDB itself uses, for IndexIDs.
	_ "modernc.org/sqlite"
)

// IndexIDs makes lookups by _id in coll, a collection of this server,
// use an index.
//
// FerretDB v1 on SQLite answers {_id: value} with the SQL condition
// `_ferretdb_sjson->'$._id' = ?`, but the unique index it creates for _id
// is on `_ferretdb_sjson->"_id"`, an expression SQLite does not consider
// the same; so every lookup, update and delete by _id reads and parses the
// whole table (about 70 ms per lookup at 20,000 documents on a small
// machine). IndexIDs adds an index on exactly the expression FerretDB
// queries with, after which a lookup costs well under a millisecond. It
// talks to the collection's SQLite file directly, which WAL mode and
// FerretDB's busy timeout allow next to FerretDB's own connections;
// FerretDB does not list the index and drops it with the table.
//
// The collection must exist (create it first). Calling IndexIDs again is
// harmless. Only collections a projection reads and writes by _id at
// volume need it.
func (e *Embedded) IndexIDs(ctx context.Context, coll *mongo.Collection) error {
	return IndexIDsIn(ctx, e.dir, coll)
}

// IndexIDsIn is IndexIDs for the embedded server whose data directory is
// dir, run by another process on this machine (portal bench indexes its
// scratch collection in the files of the portal it started, so that its
// raw _id baseline runs as the projections' own lookups do).
func IndexIDsIn(ctx context.Context, dir string, coll *mongo.Collection) error {
	dbName, name := coll.Database().Name(), coll.Name()
	file := filepath.Join(dir, dbName+".sqlite")
	if _, err := os.Stat(file); err != nil {
		return fmt.Errorf("mongodb: index _id of %s.%s: %w", dbName, name, err)
	}
	// mode=rw: never create a database file FerretDB does not know.
	dsn := (&url.URL{Scheme: "file", Path: file, RawQuery: "mode=rw&_pragma=busy_timeout(10000)"}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("mongodb: index _id of %s.%s: %w", dbName, name, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	var table string
	err = db.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, name).Scan(&table)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("mongodb: index _id of %s.%s: no such collection (create it first)", dbName, name)
	}
	if err != nil {
		return fmt.Errorf("mongodb: index _id of %s.%s: %w", dbName, name, err)
	}
	q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, table+"_portal_id_lookup", table)
	if _, err := db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("mongodb: index _id of %s.%s: %w", dbName, name, err)
	}
	return nil
}
