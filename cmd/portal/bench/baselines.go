package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// fsyncBlock is what each fsync baseline write appends.
const fsyncBlock = 4096

// measureFsync appends 4 KiB and fsyncs, in a loop, for d in dir: the
// disk's durable-write rate on the filesystem the stores use.
func measureFsync(ctx context.Context, dir string, d time.Duration) (Latency, error) {
	f, err := os.CreateTemp(dir, "fsync-baseline-*")
	if err != nil {
		return Latency{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, fsyncBlock)
	var lat []time.Duration
	start := time.Now()
	for time.Since(start) < d && ctx.Err() == nil {
		t0 := time.Now()
		if _, err := f.Write(buf); err != nil {
			return Latency{}, err
		}
		if err := f.Sync(); err != nil {
			return Latency{}, err
		}
		lat = append(lat, time.Since(t0))
	}
	return summarize(lat, time.Since(start)), ctx.Err()
}

// ginNoop serves a Gin engine whose one handler binds the invitation body
// and answers a small JSON document: the HTTP and framework cost of a
// command with no work behind it. It runs in the harness's process, on
// loopback, and is stopped by the returned function.
func ginNoop() (url string, stop func(), err error) {
	gin.SetMode(gin.ReleaseMode) // no per-route debug lines on stdout
	engine := gin.New()
	engine.POST("/noop", func(c *gin.Context) {
		var body struct {
			Emails []string `json:"emails"`
			Role   string   `json:"role"`
		}
		if err := c.ShouldBindJSON(&body); err != nil {
			c.JSON(http.StatusBadRequest, gin.H{"code": "malformed_json"})
			return
		}
		c.JSON(http.StatusOK, gin.H{"results": []gin.H{}, "position": 0})
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: engine, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends with Close below
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// rawAppend appends one small JSON event per call to a fresh stream with
// expected revision NoStream, as a command's first write does, through the
// official client.
type rawAppend struct {
	client *esdb.Client
	tag    string
}

// rawEventType is the type of the baseline's events; no projection or
// reactor subscribes to it.
const rawEventType = "BenchRawAppended"

var rawPayload = []byte(`{"invitationId":"3f1c9a52-8d0e-4b7a-9c1e-2a6f5d4b8e10","email":"someone@example.org","role":"member"}`)

func newRawAppend(connectionString, tag string) (*rawAppend, error) {
	conf, err := esdb.ParseConnectionString(connectionString)
	if err != nil {
		return nil, fmt.Errorf("event store connection string: %w", err)
	}
	conf.Logger = esdb.NoopLogging() // its discovery chatter would interleave with the table
	client, err := esdb.NewClient(conf)
	if err != nil {
		return nil, fmt.Errorf("event store client: %w", err)
	}
	return &rawAppend{client: client, tag: tag}, nil
}

func (a *rawAppend) op(ctx context.Context, seq int) error {
	stream := fmt.Sprintf("benchraw-%s-%d", a.tag, seq)
	_, err := a.client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}},
		esdb.EventData{EventID: uuid.New(), EventType: rawEventType, ContentType: esdb.ContentTypeJson, Data: rawPayload})
	if err != nil {
		return esdbFailure("append", err)
	}
	return nil
}

// countEvents reads $all from the start and counts the events that are not
// the store's own ($-prefixed types): what a rebuild replays.
func (a *rawAppend) countEvents(ctx context.Context) (int, error) {
	const page = 1 << 62 // one read to the end; the client streams it
	rs, err := a.client.ReadAll(ctx, esdb.ReadAllOptions{From: esdb.Start{}, Direction: esdb.Forwards}, page)
	if err != nil {
		return 0, esdbFailure("read $all", err)
	}
	defer rs.Close()
	n := 0
	for {
		ev, err := rs.Recv()
		if err != nil {
			if isEOF(err) {
				return n, nil
			}
			return n, esdbFailure("read $all", err)
		}
		if ev.Event != nil && (ev.Event.EventType == "" || ev.Event.EventType[0] != '$') {
			n++
		}
	}
}

func (a *rawAppend) close() { _ = a.client.Close() }

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// esdbFailure names an event store error by its code: the message may be
// long, and the code is what tells cases apart.
func esdbFailure(what string, err error) error {
	var e *esdb.Error
	if errors.As(err, &e) {
		return failure(fmt.Sprintf("%s: esdb error code %d", what, e.Code()))
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return failure(what + ": " + truncate(err.Error(), 80))
}

// rawMongo writes to a scratch collection of the read-model database, the
// server under the projections, and drops it afterwards.
type rawMongo struct {
	coll *mongo.Collection
	seq  int
}

// mongoDoc is the size and shape of a Users row.
func mongoDoc(id string, i int) bson.D {
	now := time.Now().UTC()
	return bson.D{
		{Key: "_id", Value: id}, {Key: "orgId", Value: "org-bench"},
		{Key: "email", Value: fmt.Sprintf("someone%d@example.org", i)},
		{Key: "normalizedEmail", Value: fmt.Sprintf("someone%d@example.org", i)},
		{Key: "name", Value: ""}, {Key: "nameFold", Value: ""},
		{Key: "status", Value: "invited"}, {Key: "role", Value: "member"},
		{Key: "invitedBy", Value: bson.D{{Key: "userId", Value: "user-bench"}, {Key: "email", Value: "owner@example.org"}}},
		{Key: "invitedAt", Value: now}, {Key: "invitationId", Value: "inv-" + id},
		{Key: "updatedAt", Value: now}, {Key: "position", Value: int64(i)},
	}
}

// insertOne inserts documents one by one for d; the ids are kept for
// updateByID.
func (m *rawMongo) insertOne(ctx context.Context, d time.Duration) (loadResult, []string) {
	var ids []string
	res := runLoad(ctx, loadSpec{Concurrency: 1, Duration: d}, func(ctx context.Context, _ int) error {
		m.seq++
		id := fmt.Sprintf("doc-%d", m.seq)
		if _, err := m.coll.InsertOne(ctx, mongoDoc(id, m.seq)); err != nil {
			return mongoFailure("insertOne", err)
		}
		ids = append(ids, id)
		return nil
	})
	return res, ids
}

// updateByID updates documents by _id, the projections' hot path, for d.
func (m *rawMongo) updateByID(ctx context.Context, ids []string, d time.Duration) loadResult {
	return runLoad(ctx, loadSpec{Concurrency: 1, Duration: d}, func(ctx context.Context, seq int) error {
		if len(ids) == 0 {
			return failure("updateOne: nothing inserted to update")
		}
		_, err := m.coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: ids[seq%len(ids)]}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "active"}, {Key: "position", Value: int64(seq)}}}})
		if err != nil {
			return mongoFailure("updateOne", err)
		}
		return nil
	})
}

// insertManyBatch is the batch size of the insertMany baseline, that of
// a rebuild.
const insertManyBatch = 500

// insertMany inserts batches of insertManyBatch for d; each operation is
// one batch.
func (m *rawMongo) insertMany(ctx context.Context, d time.Duration) loadResult {
	return runLoad(ctx, loadSpec{Concurrency: 1, Duration: d}, func(ctx context.Context, _ int) error {
		docs := make([]any, insertManyBatch)
		for i := range docs {
			m.seq++
			docs[i] = mongoDoc(fmt.Sprintf("doc-%d", m.seq), m.seq)
		}
		if _, err := m.coll.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
			return mongoFailure("insertMany", err)
		}
		return nil
	})
}

// mongoFailure keeps a Mongo error short; the driver's messages name the
// server's address, never the credentials.
func mongoFailure(what string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return failure(fmt.Sprintf("%s: mongo error %d %s", what, ce.Code, ce.Name))
	}
	return failure(what + ": " + truncate(err.Error(), 80))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
