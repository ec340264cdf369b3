package mongodb_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

// FerretDB's own _id index does not serve its _id lookups; IndexIDs adds
// one that does (SQLite's query plan says so), and the collection keeps
// working through FerretDB.
func TestEmbeddedIndexIDs(t *testing.T) {
	if !server.embedded {
		t.Skipf("about the embedded FerretDB; %s is set", envTestMongoURL)
	}
	ctx := testContext(t)
	db := testDB(t)
	coll := db.Collection("rows")
	var docs []any
	for i := range 200 {
		docs = append(docs, bson.D{{Key: "_id", Value: fmt.Sprintf("org/%03d", i)}, {Key: "n", Value: i}})
	}
	if _, err := coll.InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}

	plan := func() string { return lookupPlan(t, coll) }
	if p := plan(); !strings.Contains(p, "SCAN") {
		t.Fatalf("before IndexIDs the lookup should scan (FerretDB's own index does not match); plan: %s", p)
	}
	for range 2 { // a second call changes nothing
		if err := server.e.IndexIDs(ctx, coll); err != nil {
			t.Fatal(err)
		}
	}
	if p := plan(); !strings.Contains(p, "USING INDEX") || !strings.Contains(p, "_portal_id_lookup") {
		t.Fatalf("after IndexIDs the lookup should use the index; plan: %s", p)
	}

	var got struct{ N int }
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "org/007"}}).Decode(&got); err != nil || got.N != 7 {
		t.Fatalf("find by _id: %+v %v", got, err)
	}
	if _, err := coll.ReplaceOne(ctx, bson.D{{Key: "_id", Value: "org/007"}}, bson.D{{Key: "n", Value: 70}}, options.Replace().SetUpsert(true)); err != nil {
		t.Fatal(err)
	}
	if err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: "org/007"}}).Decode(&got); err != nil || got.N != 70 {
		t.Fatalf("after replace: %+v %v", got, err)
	}
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "org/007"}}); err == nil {
		t.Error("duplicate _id accepted")
	}
	if res, err := coll.DeleteOne(ctx, bson.D{{Key: "_id", Value: "org/007"}}); err != nil || res.DeletedCount != 1 {
		t.Fatalf("delete: %+v %v", res, err)
	}
	if n, err := coll.CountDocuments(ctx, bson.D{}); err != nil || n != 199 {
		t.Errorf("%d documents left, %v", n, err)
	}
	if err := server.e.IndexIDs(ctx, db.Collection("nosuch")); err == nil || !strings.Contains(err.Error(), "no such collection") {
		t.Errorf("unknown collection: %v", err)
	}
}

// lookupPlan asks SQLite, on a connection of its own (one opened before
// an index may plan with the schema it knew), how FerretDB's lookup by _id
// in coll runs.
func lookupPlan(t *testing.T, coll *mongo.Collection) string {
	t.Helper()
	ctx := testContext(t)
	sqlite, err := sql.Open("sqlite", "file:"+filepath.Join(server.e.Dir(), coll.Database().Name()+".sqlite")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer sqlite.Close()
	var table string
	if err := sqlite.QueryRowContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE name = ?`, coll.Name()).Scan(&table); err != nil {
		t.Fatal(err)
	}
	rows, err := sqlite.QueryContext(ctx, fmt.Sprintf(`EXPLAIN QUERY PLAN SELECT _ferretdb_sjson FROM %q WHERE _ferretdb_sjson->'$._id' = ?`, table), `"org/007"`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, detail)
	}
	return strings.Join(steps, "; ")
}

// IndexAllIDs indexes every collection of every database that lacks the
// index, once: what `portal mongo` runs for clients that reach it by URL.
func TestEmbeddedIndexAllIDs(t *testing.T) {
	if !server.embedded {
		t.Skipf("about the embedded FerretDB; %s is set", envTestMongoURL)
	}
	ctx := testContext(t)
	first, second := testDB(t), testDB(t)
	colls := []*mongo.Collection{first.Collection("a"), first.Collection("b"), second.Collection("c")}
	for _, c := range colls {
		if _, err := c.InsertOne(ctx, bson.D{{Key: "_id", Value: "org/007"}}); err != nil {
			t.Fatal(err)
		}
		if p := lookupPlan(t, c); !strings.Contains(p, "SCAN") {
			t.Fatalf("%s: before IndexAllIDs the lookup should scan; plan: %s", c.Name(), p)
		}
	}
	n, err := server.e.IndexAllIDs(ctx)
	if err != nil || n < len(colls) { // other tests' collections may be indexed too
		t.Fatalf("IndexAllIDs: %d indexed, %v; want at least %d", n, err, len(colls))
	}
	for _, c := range colls {
		if p := lookupPlan(t, c); !strings.Contains(p, "USING INDEX") {
			t.Errorf("%s: after IndexAllIDs the lookup should use the index; plan: %s", c.Name(), p)
		}
	}
	if n, err := server.e.IndexAllIDs(ctx); err != nil || n != 0 {
		t.Errorf("a second IndexAllIDs indexed %d, %v; want none", n, err)
	}
	var got struct {
		ID string `bson:"_id"`
	}
	if err := colls[2].FindOne(ctx, bson.D{{Key: "_id", Value: "org/007"}}).Decode(&got); err != nil || got.ID != "org/007" {
		t.Errorf("find by _id after indexing: %+v %v", got, err)
	}
}

func TestIsFerretDB(t *testing.T) {
	ctx := testContext(t)
	ferret, err := mongodbIsFerretDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ferret != server.embedded {
		t.Errorf("IsFerretDB = %v against the %s server", ferret, map[bool]string{true: "embedded", false: "MongoDB"}[server.embedded])
	}
}

func mongodbIsFerretDB(ctx context.Context) (bool, error) {
	return mongodb.IsFerretDB(ctx, server.client.Database("admin"))
}
