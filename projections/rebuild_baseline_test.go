package projections_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

// rebuiltDocs lists the collections of the active version of each base
// (the main collection and its side collections, "<base>…_v<N>") and how
// many documents they hold.
func rebuiltDocs(ctx context.Context, b *testing.B, db *mongo.Database, bases []string) (colls []string, docs int64) {
	b.Helper()
	names, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		b.Fatal(err)
	}
	versions := mongodb.NewVersions(db, time.Now)
	for _, base := range bases {
		a, found, err := versions.Active(ctx, base)
		if err != nil || !found {
			b.Fatalf("active version of %s: found %v, %v", base, found, err)
		}
		suffix := fmt.Sprintf("_v%d", a.Version)
		for _, n := range names {
			if strings.HasPrefix(n, base) && strings.HasSuffix(n, suffix) {
				c, err := db.Collection(n).CountDocuments(ctx, bson.D{})
				if err != nil {
					b.Fatal(err)
				}
				colls, docs = append(colls, n), docs+c
			}
		}
	}
	return colls, docs
}

// rawInsertRate copies the documents of colls into scratch collections
// with insertMany, in the batches and with the concurrency a rebuild
// writes with (1,000 documents, two batches at a time), and returns the
// documents per second of the copy alone: the raw rate of the database
// for exactly the documents the rebuild wrote, measured in the same run.
func rawInsertRate(ctx context.Context, b *testing.B, db *mongo.Database, colls []string) float64 {
	b.Helper()
	type job struct {
		coll *mongo.Collection
		docs []any
	}
	var jobs []job
	total := 0
	for _, name := range colls {
		cur, err := db.Collection(name).Find(ctx, bson.D{})
		if err != nil {
			b.Fatal(err)
		}
		var batch []any
		dst := db.Collection("raw_" + name)
		for cur.Next(ctx) {
			batch = append(batch, bson.Raw(append([]byte(nil), cur.Current...)))
			if len(batch) == 1000 {
				jobs, batch = append(jobs, job{dst, batch}), nil
			}
			total++
		}
		if err := cur.Err(); err != nil {
			b.Fatal(err)
		}
		_ = cur.Close(ctx)
		if len(batch) > 0 {
			jobs = append(jobs, job{dst, batch})
		}
	}
	work := make(chan job)
	var (
		wg      sync.WaitGroup
		errOnce sync.Once
		failure error
	)
	start := time.Now()
	for range 2 {
		wg.Go(func() {
			for j := range work {
				if _, err := j.coll.InsertMany(ctx, j.docs, options.InsertMany().SetOrdered(false)); err != nil {
					errOnce.Do(func() { failure = err })
				}
			}
		})
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	if failure != nil {
		b.Fatal(failure)
	}
	for _, name := range colls {
		if err := db.Collection("raw_" + name).Drop(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return float64(total) / elapsed.Seconds()
}
