package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"

	"github.com/orgportal/onboarding/adapters/esdbserver"
	"github.com/orgportal/onboarding/adapters/eventstoredb"
	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/commandstest"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// world is the write side on an embedded event store, a read-model
// database, and what a runner needs between the two.
type world struct {
	t        testing.TB
	ctx      context.Context
	conn     *eventstoredb.Conn
	codec    *eventstoredb.Codec
	types    []string
	handlers *commands.Handlers
	signers  commands.TokenService
	db       *mongo.Database
	reader   *readmodels.MongoReader

	decodeMu sync.Mutex
	decode   projections.Decoder // replaceable: the "fix" of a poison event
}

// worldTimeout bounds everything a world does; the large rebuild
// benchmark raises it.
var worldTimeout = 3 * time.Minute

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), worldTimeout)
	t.Cleanup(cancel)
	es, err := esdbserver.Start(ctx, esdbserver.Config{DataDir: t.TempDir(), ListenAddr: "127.0.0.1:0", Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = es.Close() })
	conn, err := eventstoredb.Dial(ctx, es.ConnectionString(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	codec, store, err := eventstoredb.ForDomain(conn)
	if err != nil {
		t.Fatal(err)
	}
	registry, err := domain.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	clock := commandstest.NewClock()
	signers := commandstest.TokenService(t, clock.Now())
	handlers, err := commands.New(commands.Deps{Store: store, Clock: clock.Now, Tokens: signers, Passwords: commandstest.Hasher(t),
		Config: commands.Config{PublicURL: "http://portal.test", PasswordResetMinDuration: time.Nanosecond}})
	if err != nil {
		t.Fatal(err)
	}
	db := srv.DB(t)
	w := &world{t: t, ctx: ctx, conn: conn, codec: codec, types: registry.Types(), handlers: handlers, signers: signers, db: db,
		reader: readmodels.NewReader(db, readmodels.ReaderOptions{PositionTTL: time.Nanosecond})}
	w.decode = codec.DecodeMessage
	return w
}

func (w *world) decodeMessage(msg *message.Message) (domain.Event, commands.Metadata, error) {
	w.decodeMu.Lock()
	d := w.decode
	w.decodeMu.Unlock()
	return d(msg)
}

func (w *world) setDecoder(d projections.Decoder) {
	w.decodeMu.Lock()
	defer w.decodeMu.Unlock()
	w.decode = d
}

func (w *world) source() projections.Source {
	return projections.Source{Conn: w.conn, Decode: w.decodeMessage, EventTypes: w.types}
}

// runner starts a runner of all three read models as replica owner; stop
// ends it and waits.
func (w *world) runner(owner string, db *mongo.Database) (r *projections.Runner, stop func()) {
	w.t.Helper()
	return w.runnerOf(owner, db, readmodels.Projections(db, readmodels.Options{PrepareCollection: srv.PrepareCollection()}))
}

// runnerOf is runner with the projections given; configure, when given,
// changes the configuration before the runner is made.
func (w *world) runnerOf(owner string, db *mongo.Database, projs []projections.Projection, configure ...func(*projections.RunnerConfig)) (r *projections.Runner, stop func()) {
	w.t.Helper()
	cfg := projections.RunnerConfig{
		Source:      w.source(),
		Projections: projs,
		Checkpoints: mongodb.NewCheckpointStore(db), Versions: mongodb.NewVersions(db, time.Now),
		Leases: mongodb.NewLeases(db, time.Now, quiet()), Owner: owner, LeaseTTL: 3 * time.Second,
		Retry:       projections.Retry{MaxRetries: 2, InitialInterval: 10 * time.Millisecond, MaxInterval: 20 * time.Millisecond},
		VersionPoll: 100 * time.Millisecond, StatusEvery: 100 * time.Millisecond, NackDelay: 10 * time.Millisecond,
		Logger: quiet().With("replica", owner),
	}
	for _, f := range configure {
		f(&cfg)
	}
	r, err := projections.NewRunner(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(w.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			w.t.Errorf("runner %s: %v", owner, err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				w.t.Errorf("runner %s did not stop", owner)
			}
		})
	}
	w.t.Cleanup(stop)
	return r, stop
}

// eventually polls cond until it holds.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 60 s: %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// caughtUp waits until every read model has passed pos.
func (w *world) caughtUp(pos commands.Position) {
	w.t.Helper()
	eventually(w.t, fmt.Sprintf("read models at position %d", pos), func() bool {
		p, err := w.reader.Position(w.ctx)
		return err == nil && p >= uint64(pos)
	})
}

// org is a bootstrapped organization with some history: invitations (one
// accepted, one revoked), a manual add, a role change and a removal.
type org struct {
	id       domain.OrgID
	owner    domain.UserID
	ann      domain.UserID // accepted an invitation
	dave     domain.UserID // added by hand, then removed
	revoked  domain.InvitationID
	pending  domain.InvitationID
	position commands.Position
}

func (w *world) bootstrap(name, email string) org {
	w.t.Helper()
	res, err := w.handlers.Bootstrap(w.ctx, commands.Request{Actor: domain.ActorSystem},
		commands.BootstrapInput{OrgName: name, Email: email, Password: "a long enough password"})
	if err != nil {
		w.t.Fatal(err)
	}
	return org{id: res.OrgID, owner: res.OwnerID}
}

func (w *world) history(o org) org {
	w.t.Helper()
	as := commands.Request{Actor: domain.UserActor(o.owner)}
	inv, err := w.handlers.InviteUsers(w.ctx, as, commands.InviteUsersInput{OrgID: o.id, Emails: []string{"ann@example.org", "bob@example.org", "cy@example.org"}})
	if err != nil {
		w.t.Fatal(err)
	}
	ids := map[string]domain.InvitationID{}
	for _, r := range inv.Results {
		ids[r.Email] = r.InvitationID
	}
	o.revoked, o.pending = ids["bob@example.org"], ids["cy@example.org"]
	if _, err := w.handlers.RevokeInvitation(w.ctx, as, o.id, o.revoked); err != nil {
		w.t.Fatal(err)
	}
	token, err := w.signers.Invitation.Issue(string(ids["ann@example.org"]), 1)
	if err != nil {
		w.t.Fatal(err)
	}
	joined, err := w.handlers.AcceptInvitation(w.ctx, commands.Request{}, commands.AcceptInput{Token: token, Name: "Ann Example", Password: "ann's long passphrase"})
	if err != nil {
		w.t.Fatal(err)
	}
	o.ann = joined.UserID
	if _, err := w.handlers.ChangeMemberRole(w.ctx, as, o.id, o.ann, "admin"); err != nil {
		w.t.Fatal(err)
	}
	dave, err := w.handlers.AddMemberManually(w.ctx, commands.Request{Actor: domain.UserActor(o.ann)},
		commands.AddMemberInput{OrgID: o.id, Email: "dave@example.org", Name: "Dave", Role: "member"})
	if err != nil {
		w.t.Fatal(err)
	}
	o.dave = dave.UserID
	removed, err := w.handlers.RemoveMember(w.ctx, as, o.id, o.dave)
	if err != nil {
		w.t.Fatal(err)
	}
	o.position = removed.Position
	return o
}

// appendRaw writes an event with the official client directly, past the
// codec, as a buggy or older writer might have.
func (w *world) appendRaw(stream, eventType string, data []byte, meta map[string]any) (uuid.UUID, uint64) {
	w.t.Helper()
	id := uuid.New()
	md, err := json.Marshal(meta)
	if err != nil {
		w.t.Fatal(err)
	}
	res, err := w.conn.Client().AppendToStream(w.ctx, stream, esdb.AppendToStreamOptions{},
		esdb.EventData{EventID: id, EventType: eventType, ContentType: esdb.ContentTypeJson, Data: data, Metadata: md})
	if err != nil {
		w.t.Fatal(err)
	}
	return id, res.CommitPosition
}

// dump reads a collection sorted by _id.
func dump(t *testing.T, ctx context.Context, coll *mongo.Collection) []bson.M {
	t.Helper()
	cur, err := coll.Find(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []bson.M
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(docs, func(a, b bson.M) int {
		return cmpString(fmt.Sprint(a["_id"]), fmt.Sprint(b["_id"]))
	})
	return docs
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
