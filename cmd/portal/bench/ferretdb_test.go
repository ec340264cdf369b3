package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

// withFerretDB gives r an embedded FerretDB, the read-model database of
// the embedded stack, so the raw query and the rebuild's switch detection
// run against the store they are meant for.
func withFerretDB(t *testing.T, r *runner) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an embedded FerretDB; skipped with -short")
	}
	e, err := mongodb.StartEmbedded(mongodb.EmbeddedConfig{Dir: t.TempDir(), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongodb.Connect(ctx, e.URI(), discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Disconnect(context.Background()) })
	r.mongo, r.mongoDB, r.mongoErr = client, client.Database(readModelsDB), nil
}

func TestRawUsersQueryOnFerretDB(t *testing.T) {
	r := fakeRunner(t)
	withFerretDB(t, r)
	ctx := context.Background()
	db := r.mongoDB
	if _, err := db.Collection(readModelsColl).InsertOne(ctx, bson.D{{Key: "_id", Value: "users"}, {Key: "version", Value: 2}}); err != nil {
		t.Fatal(err)
	}
	var docs []any
	for k := range 40 {
		email := r.seedEmail(k)
		status := "invited"
		if k%4 == 0 {
			status = "active"
		}
		docs = append(docs, bson.D{
			{Key: "_id", Value: "org-1/" + email}, {Key: "orgId", Value: "org-1"}, {Key: "email", Value: email},
			{Key: "normalizedEmail", Value: email}, {Key: "nameFold", Value: ""}, {Key: "status", Value: status},
		})
	}
	// A stale version and another organization must not count.
	docs = append(docs, bson.D{{Key: "_id", Value: "org-2/x"}, {Key: "orgId", Value: "org-2"}, {Key: "email", Value: r.seedEmail(3)},
		{Key: "normalizedEmail", Value: r.seedEmail(3)}, {Key: "status", Value: "invited"}})
	if _, err := db.Collection("users_v2").InsertMany(ctx, docs); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection("users_v1").InsertOne(ctx, bson.D{{Key: "_id", Value: "org-1/old"}, {Key: "orgId", Value: "org-1"}}); err != nil {
		t.Fatal(err)
	}

	s := Stage{Name: stageUsersRaw}
	r.rawUsersQuery(ctx, &s, r.seedQueryPrefix())
	// Seeds 3, 13, 23, 33 match the prefix; none is a multiple of 4.
	if s.Status != "" || s.Latency == nil || s.Latency.Count != r.o.Queries || s.Figures["rows"] != 4 {
		t.Errorf("raw query: %+v, figures %v", s, s.Figures)
	}
}

func TestRebuildTimesTheSwitch(t *testing.T) {
	r := fakeRunner(t)
	withFerretDB(t, r)
	r.adminToken = "admin-token"
	coll := r.mongoDB.Collection(readModelsColl)
	ctx := context.Background()
	if _, err := coll.InsertOne(ctx, bson.D{{Key: "_id", Value: "users"}, {Key: "version", Value: 1}}); err != nil {
		t.Fatal(err)
	}
	auth := make(chan string, 1)
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/api/v1/admin/projections/users/rebuild" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"code":"route_not_found"}`)
			return
		}
		select {
		case auth <- req.Header.Get("Authorization"):
		default:
		}
		go func() { // the rebuild switches a little later
			time.Sleep(200 * time.Millisecond)
			_, _ = coll.UpdateOne(context.Background(), bson.D{{Key: "_id", Value: "users"}}, bson.D{{Key: "$set", Value: bson.D{{Key: "version", Value: 2}}}})
		}()
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprint(w, `{}`)
	}))
	defer admin.Close()
	r.api.base = admin.URL

	r.stageRebuild(ctx)
	s := r.res.stage(StageRebuild)
	if s == nil || s.Status != StatusOK || s.Figures["versionAfter"] != 2 || s.Figures["seconds"] < 0.2 {
		t.Fatalf("rebuild: %+v", s)
	}
	if got := <-auth; got != "Bearer admin-token" {
		t.Errorf("Authorization %q", got)
	}
	if _, ok := s.Figures["eventsPerS"]; ok {
		t.Error("events/s without an event store to count them")
	}
}
