package commandstest

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/adapters/eventstoredb"
)

// EventStore is the embedded event store in a temporary directory, with
// the official client and the domain's codec and store on it. A package's
// TestMain starts one for all its tests, which stay apart by working in
// organizations (and email domains) of their own.
type EventStore struct {
	Conn  *eventstoredb.Conn
	Codec *eventstoredb.Codec
	Store *eventstoredb.Store

	srv *esdbserver.Server
	dir string
}

// StartEventStore starts the server and connects to it; Close undoes it.
func StartEventStore(ctx context.Context) (*EventStore, error) {
	dir, err := os.MkdirTemp("", "eventstore-test-")
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.DiscardHandler)
	es := &EventStore{dir: dir}
	es.srv, err = esdbserver.Start(ctx, esdbserver.Config{DataDir: dir, ListenAddr: "127.0.0.1:0", Logger: quiet})
	if err != nil {
		es.Close()
		return nil, fmt.Errorf("start embedded event store: %w", err)
	}
	if es.Conn, err = eventstoredb.Dial(ctx, es.srv.ConnectionString(), quiet); err != nil {
		es.Close()
		return nil, err
	}
	if es.Codec, es.Store, err = eventstoredb.ForDomain(es.Conn); err != nil {
		es.Close()
		return nil, err
	}
	return es, nil
}

// Close disconnects, stops the server and removes its data.
func (es *EventStore) Close() {
	if es.Conn != nil {
		_ = es.Conn.Close()
	}
	if es.srv != nil {
		_ = es.srv.Close()
	}
	_ = os.RemoveAll(es.dir)
}
