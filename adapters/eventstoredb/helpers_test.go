package eventstoredb_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"google.golang.org/grpc"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

// env is one embedded server with the official client and our store on it.
type env struct {
	srv     *esdbserver.Server
	dataDir string
	conn    *eventstoredb.Conn
	client  *esdb.Client // the conn's client, for raw reads and writes
	codec   *eventstoredb.Codec
	store   *eventstoredb.Store
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newEnv(t *testing.T, grpcOpts ...grpc.ServerOption) *env {
	t.Helper()
	ctx := context.Background()
	dataDir := t.TempDir()
	srv, err := esdbserver.Start(ctx, esdbserver.Config{
		DataDir:     dataDir,
		ListenAddr:  "127.0.0.1:0",
		Logger:      quietLogger(),
		GRPCOptions: grpcOpts,
	})
	if err != nil {
		t.Fatalf("start embedded event store: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	conn, err := eventstoredb.Dial(ctx, srv.ConnectionString(), quietLogger())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	codec := newCodec(t, newRegistry(t))
	store, err := eventstoredb.NewStore(conn, codec)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, dataDir: dataDir, conn: conn, client: conn.Client(), codec: codec, store: store}
}

func newRegistry(t *testing.T) *domain.Registry {
	t.Helper()
	r, err := domain.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newCodec(t *testing.T, r *domain.Registry) *eventstoredb.Codec {
	t.Helper()
	c, err := eventstoredb.NewCodec(r)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testStream returns a fresh stream name in a category of its own.
func testStream(prefix string) domain.StreamName {
	return domain.NewStreamName(domain.Category("test"+prefix), uuid.NewString())
}

func testMeta() commands.Metadata {
	return commands.Metadata{
		Actor:         "user-7f0c",
		CorrelationID: "corr-" + uuid.NewString(),
		CausationID:   "cause-" + uuid.NewString(),
		// Not UTC and with nanoseconds: the codec must keep the instant.
		RequestTime: time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.FixedZone("CET", 3600)),
	}
}

// sampleEvent builds an event of the registered type name with every field
// set to a non-zero value, so that a round trip proves each field survives.
func sampleEvent(t *testing.T, r *domain.Registry, name string) domain.Event {
	t.Helper()
	zero, err := r.Decode(name, domain.InitialSchemaVersion, []byte("{}"))
	if err != nil {
		t.Fatalf("instantiate %s: %v", name, err)
	}
	v := reflect.New(reflect.TypeOf(zero)).Elem()
	fill(t, v, name)
	return v.Interface().(domain.Event)
}

var sampleTime = time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)

func fill(t *testing.T, v reflect.Value, name string) {
	t.Helper()
	typ := v.Type()
	for i := range v.NumField() {
		f := v.Field(i)
		sf := typ.Field(i)
		switch {
		case sf.Type == reflect.TypeOf(time.Time{}):
			f.Set(reflect.ValueOf(sampleTime.Add(time.Duration(i) * time.Hour)))
		case sf.Type == reflect.TypeOf(&time.Time{}):
			ts := sampleTime.Add(time.Duration(i) * time.Minute)
			f.Set(reflect.ValueOf(&ts))
		case f.Kind() == reflect.String:
			f.SetString(sf.Name + "-value-" + name)
		case f.Kind() == reflect.Int:
			f.SetInt(int64(i + 2))
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Slice && sf.Type.Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf([]string{"example.com", "*.example.org"}).Convert(sf.Type))
		default:
			t.Fatalf("%s.%s: the test does not know how to fill a %s; teach fill()", name, sf.Name, sf.Type)
		}
	}
}

// readRaw reads a stream with the client directly, bypassing the store.
func readRaw(t *testing.T, client *esdb.Client, stream domain.StreamName) []*esdb.RecordedEvent {
	t.Helper()
	rs, err := client.ReadStream(context.Background(), string(stream), esdb.ReadStreamOptions{From: esdb.Start{}}, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	var out []*esdb.RecordedEvent
	for {
		ev, err := rs.Recv()
		if err != nil {
			var esErr *esdb.Error
			if errors.Is(err, io.EOF) || errors.As(err, &esErr) && esErr.IsErrorCode(esdb.ErrorCodeResourceNotFound) {
				return out
			}
			t.Fatalf("raw read of %s: %v", stream, err)
		}
		out = append(out, ev.Event)
	}
}
