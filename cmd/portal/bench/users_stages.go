package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Read-model names (projections/readmodels, adapters/mongodb): the Users
// rows live in "users_v<N>", and the "readmodels" collection says which N
// serves reads.
const (
	usersBase           = "users"
	readModelsColl      = "readmodels"
	usersPageLimit      = 50
	seedClients         = 8
	visibleTimeoutFloor = 60 * time.Second
)

// seedPrefix starts every seeded address: "s<tag>-<k mod 10>-<k>@...", so
// that the query's q prefix "s<tag>-3" matches a tenth of this run's
// members and nothing from earlier runs.
func (r *runner) seedEmail(k int) string {
	return fmt.Sprintf("s%s-%d-%d@example.org", r.tag, k%10, k)
}

func (r *runner) seedQueryPrefix() string { return "s" + r.tag + "-3" }

// usersPage is the part of GET /orgs/{orgId}/users the harness reads.
type usersPage struct {
	Items []struct {
		Email string `json:"email"`
	} `json:"items"`
	Counts map[string]int `json:"counts"`
}

// getUsers sends GET /orgs/{orgId}/users?query, with a consistency token
// when one is given, and returns the page and the X-Consistency answer.
func (r *runner) getUsers(ctx context.Context, query url.Values, token string) (usersPage, string, error) {
	var header map[string]string
	if token != "" {
		header = map[string]string{consistencyToken: token}
	}
	resp, err := r.api.call(ctx, http.MethodGet, apiBase+"/orgs/"+r.api.org+"/users?"+query.Encode(), "GET /orgs/{orgId}/users", nil, header)
	if err != nil {
		return usersPage{}, "", err
	}
	var page usersPage
	if err := json.Unmarshal(resp.body, &page); err != nil {
		return usersPage{}, "", failure("GET /users: the answer is not the documented JSON")
	}
	return page, resp.header.Get(consistencyHeader), nil
}

// stageSeed invites --members people (50 per request, 8 clients) and
// waits until the Users page shows them all. The write rate and the rate
// at which rows became visible are its figures; the latter is the
// projection's throughput, bounded below by the write rate (rows cannot be
// shown before they are written).
func (r *runner) stageSeed(ctx context.Context) {
	s := Stage{Name: StageSeed, Kind: "product"}
	m := r.o.Members
	requests := (m + inviteBatch - 1) / inviteBatch
	r.logf("%s: inviting %d members, %d per request, %d clients, then waiting until the Users page shows them", s.Name, m, inviteBatch, seedClients)
	var mu sync.Mutex
	var maxPos uint64
	start := time.Now()
	cpu0 := r.cpuNow()
	res := r.load(ctx, &s, loadSpec{Concurrency: min(seedClients, r.o.Concurrency), Count: requests}, func(ctx context.Context, seq int) error {
		emails := make([]string, 0, inviteBatch)
		for k := seq * inviteBatch; k < min((seq+1)*inviteBatch, m); k++ {
			emails = append(emails, r.seedEmail(k))
		}
		token, _, err := r.api.invite(ctx, inviteBody(emails))
		if err != nil {
			return err
		}
		if pos, err := strconv.ParseUint(token, 10, 64); err == nil {
			mu.Lock()
			maxPos = max(maxPos, pos)
			mu.Unlock()
		}
		return nil
	})
	writeS := time.Since(start).Seconds()
	cpuLoad := r.cpuNow()
	s.figure("members", float64(m))
	s.figure("writeS", writeS)
	s.figure("addressesPerS", float64(m)/writeS)
	if res.Errors > 0 {
		s.Status, s.Reason = StatusFailed, fmt.Sprintf("%d of %d seed requests failed%s", res.Errors, requests, errorSummary(res.ErrorKinds))
		r.account(ctx, &s, cpu0, cpuLoad, res)
		r.add(s)
		return
	}

	token := strconv.FormatUint(maxPos, 10)
	visible, err := r.waitSeedVisible(ctx, token, m)
	switch {
	case err != nil && routeMissing(err):
		s.note("the Users page is not available yet (%v): projection throughput not measured", err)
	case err != nil:
		s.Status, s.Reason = StatusFailed, "waiting for the seeded members on the Users page: "+err.Error()
	default:
		visibleS := visible.Sub(start).Seconds()
		s.figure("visibleAfterS", visibleS)
		s.figure("projectionRowsPerS", float64(m)/visibleS)
		if visibleS-writeS < 1 {
			s.note("the projection kept up with the writes: projectionRowsPerS is the write rate, a lower bound")
		}
		r.seedToken = token
	}
	r.account(ctx, &s, cpu0, cpuLoad, res)
	r.add(s)
}

// waitSeedVisible polls the Users page, given the seed's last consistency
// token, until it is fresh or counts every seeded member.
func (r *runner) waitSeedVisible(ctx context.Context, token string, members int) (time.Time, error) {
	timeout := max(visibleTimeoutFloor, time.Duration(members/50)*time.Second)
	deadline := time.Now().Add(timeout)
	q := url.Values{"q": {"s" + r.tag + "-"}, "status": {"invited"}, "limit": {"1"}}
	for {
		page, consistency, err := r.getUsers(ctx, q, token)
		now := time.Now()
		if err != nil {
			var se *statusError
			if routeMissing(err) || !errors.As(err, &se) || se.status != http.StatusServiceUnavailable {
				return now, err
			}
		} else if n, ok := page.Counts["invited"]; ok && n >= members || !ok && consistency == "fresh" {
			return now, nil
		}
		if now.After(deadline) {
			return now, fmt.Errorf("not all %d seeded members visible within %v", members, timeout)
		}
		select {
		case <-ctx.Done():
			return now, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stageUsersQuery measures a Users page query of an organization of
// --members members through the API, and the same filter as a raw find on
// the read model's collection, one query at a time.
func (r *runner) stageUsersQuery(ctx context.Context) {
	s := Stage{Name: StageUsersQuery, Kind: "product", Concurrency: 1}
	raw := Stage{Name: stageUsersRaw, Kind: "baseline", Concurrency: 1}
	if r.seedToken == "" {
		s.Status, s.Reason = StatusNotAvailable, "the seeded members never showed on the Users page (see the seed stage)"
		raw.Status, raw.Reason = StatusNotAvailable, s.Reason
		r.add(s)
		r.add(raw)
		return
	}
	prefix := r.seedQueryPrefix()
	q := url.Values{"status": {"invited"}, "q": {prefix}, "sort": {"email"}, "order": {"asc"}, "limit": {strconv.Itoa(usersPageLimit)}}
	r.logf("%s: GET /users?%s, %d queries, one at a time, then the same filter as a raw find", s.Name, q.Encode(), r.o.Queries)
	var rows int
	res := runLoad(ctx, loadSpec{Concurrency: 1, Count: r.o.Queries}, func(ctx context.Context, _ int) error {
		page, _, err := r.getUsers(ctx, q, "")
		rows = len(page.Items)
		return err
	})
	s.Latency = &res.Latency
	s.figure("rows", float64(rows))
	s.figure("members", float64(r.o.Members))
	if res.Count == 0 {
		s.Status, s.Reason = StatusFailed, "no query succeeded"+errorSummary(res.ErrorKinds)
	}
	s.note("filter: status=invited, q=%s (a tenth of the members), sort=email, limit=%d", prefix, usersPageLimit)
	r.add(s)

	r.rawUsersQuery(ctx, &raw, prefix)
	r.add(raw)
}

// rawUsersQuery runs the Users page's filter as a find on the active
// users_v<N> collection: the store's own speed for the same question.
func (r *runner) rawUsersQuery(ctx context.Context, s *Stage, prefix string) {
	if r.mongo == nil {
		s.Status, s.Reason = StatusNotAvailable, r.mongoErr.Error()
		return
	}
	coll, err := r.usersCollection(ctx)
	if err != nil {
		s.Status, s.Reason = StatusNotAvailable, err.Error()
		return
	}
	re := "^" + regexp.QuoteMeta(prefix)
	filter := bson.D{
		{Key: "orgId", Value: r.api.org},
		{Key: "status", Value: "invited"},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "normalizedEmail", Value: bson.D{{Key: "$regex", Value: re}}}},
			bson.D{{Key: "nameFold", Value: bson.D{{Key: "$regex", Value: re}}}},
		}},
	}
	opts := options.Find().SetSort(bson.D{{Key: "email", Value: 1}}).SetLimit(usersPageLimit)
	var rows int
	res := runLoad(ctx, loadSpec{Concurrency: 1, Count: r.o.Queries}, func(ctx context.Context, _ int) error {
		cur, err := coll.Find(ctx, filter, opts)
		if err != nil {
			return mongoFailure("find", err)
		}
		var docs []bson.Raw
		if err := cur.All(ctx, &docs); err != nil {
			return mongoFailure("find", err)
		}
		rows = len(docs)
		return nil
	})
	s.Latency = &res.Latency
	s.figure("rows", float64(rows))
	s.note("find on %s.%s: orgId, status=invited, $or of ^prefix regexes on normalizedEmail and nameFold, sort email, limit %d", r.mongoDB.Name(), coll.Name(), usersPageLimit)
	if res.Count == 0 {
		s.Status, s.Reason = StatusFailed, "no find succeeded"+errorSummary(res.ErrorKinds)
	}
}

var usersVersion = regexp.MustCompile(`^` + usersBase + `_v([1-9][0-9]*)$`)

// usersCollection is the active version of the Users read model: the one
// the "readmodels" document names, else the highest users_v<N>.
func (r *runner) usersCollection(ctx context.Context) (*mongo.Collection, error) {
	if v, found, err := r.activeVersion(ctx, usersBase); err != nil {
		return nil, err
	} else if found {
		return r.mongoDB.Collection(fmt.Sprintf("%s_v%d", usersBase, v)), nil
	}
	names, err := r.mongoDB.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, mongoFailure("listCollections", err)
	}
	best := 0
	for _, n := range names {
		if m := usersVersion.FindStringSubmatch(n); m != nil {
			v, _ := strconv.Atoi(m[1]) // digits only
			best = max(best, v)
		}
	}
	if best == 0 {
		return nil, fmt.Errorf("no %s_v<N> collection in database %s (the read models are not there yet)", usersBase, r.mongoDB.Name())
	}
	return r.mongoDB.Collection(fmt.Sprintf("%s_v%d", usersBase, best)), nil
}

// activeVersion reads {_id: base, version} from the readmodels collection.
func (r *runner) activeVersion(ctx context.Context, base string) (int, bool, error) {
	var doc struct {
		Version int `bson:"version"`
	}
	err := r.mongoDB.Collection(readModelsColl).FindOne(ctx, bson.D{{Key: "_id", Value: base}}).Decode(&doc)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return 0, false, nil
	case err != nil:
		return 0, false, mongoFailure("find readmodels", err)
	}
	return doc.Version, doc.Version > 0, nil
}

// hasEmail reports whether a page lists email (case-insensitively).
func (p usersPage) hasEmail(email string) bool {
	for _, it := range p.Items {
		if strings.EqualFold(it.Email, email) {
			return true
		}
	}
	return false
}
