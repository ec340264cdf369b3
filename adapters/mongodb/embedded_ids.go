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
	db, err := openSQLite(file)
	if err != nil {
		return fmt.Errorf("mongodb: index _id of %s.%s: %w", dbName, name, err)
	}
	defer db.Close()

	var table string
	err = db.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, name).Scan(&table)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("mongodb: index _id of %s.%s: no such collection (create it first)", dbName, name)
	}
	if err != nil {
		return fmt.Errorf("mongodb: index _id of %s.%s: %w", dbName, name, err)
	}
	if err := indexIDsOf(ctx, db, table); err != nil {
		return fmt.Errorf("mongodb: index _id of %s.%s: %w", dbName, name, err)
	}
	return nil
}

// openSQLite opens one of FerretDB's database files next to FerretDB's
// own connections, with one connection of its own.
func openSQLite(file string) (*sql.DB, error) {
	// mode=rw: never create a database file FerretDB does not know.
	dsn := (&url.URL{Scheme: "file", Path: file, RawQuery: "mode=rw&_pragma=busy_timeout(10000)"}).String()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// indexIDsOf adds the _id lookup index to a collection's table.
func indexIDsOf(ctx context.Context, db *sql.DB, table string) error {
	q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, table+idLookupSuffix, table)
	_, err := db.ExecContext(ctx, q)
	return err
}

// idLookupSuffix ends the name of the index IndexIDs adds to a table.
const idLookupSuffix = "_portal_id_lookup"

// IndexAllIDs is IndexIDs for every collection of every database of the
// server that lacks the index yet, for a server whose clients cannot call
// IndexIDs themselves because they reach it by URL (`portal mongo`, which
// calls it every second). It reports how many collections it indexed.
func (e *Embedded) IndexAllIDs(ctx context.Context) (int, error) {
	files, err := filepath.Glob(filepath.Join(e.dir, "*.sqlite"))
	if err != nil {
		return 0, err
	}
	var indexed int
	var errs []error
	for _, file := range files {
		n, err := indexAllIDsIn(ctx, file)
		indexed += n
		if err != nil {
			errs = append(errs, fmt.Errorf("mongodb: index _id in %s: %w", filepath.Base(file), err))
		}
	}
	return indexed, errors.Join(errs...)
}

// indexAllIDsIn indexes the collections of one database file that lack
// the _id lookup index.
func indexAllIDsIn(ctx context.Context, file string) (int, error) {
	db, err := openSQLite(file)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var known int // a file FerretDB has not set up yet has no list of collections
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_ferretdb_collections'`).Scan(&known); err != nil || known == 0 {
		return 0, err
	}
	rows, err := db.QueryContext(ctx, `SELECT c.table_name FROM _ferretdb_collections c
		WHERE NOT EXISTS (SELECT 1 FROM sqlite_master m WHERE m.type = 'index' AND m.name = c.table_name || ?)`, idLookupSuffix)
	if err != nil {
		return 0, err
	}
	var tables []string
	for rows.Next() {
		var table string
		if err := rows.Scan(&table); err != nil {
			rows.Close()
			return 0, err
		}
		tables = append(tables, table)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	for i, table := range tables {
		if err := indexIDsOf(ctx, db, table); err != nil {
			return i, err
		}
	}
	return len(tables), nil
}
