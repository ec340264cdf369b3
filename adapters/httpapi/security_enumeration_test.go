package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/commands"
)

// enumerationTries is how many answers of each kind the timing comparison
// takes; enumerationSlack is how far apart their medians may be.
const (
	enumerationTries = 200
	enumerationSlack = 5 * time.Millisecond
)

// The public endpoints that take an address answer the same for an
// address that has an account and one that has none: same status, same
// headers, same body up to the ids every request gets anew, and the same
// time (median over interleaved tries). The tests use the cheap argon2id
// parameters of commandstest: the property is that both paths do the same
// work (one verification, one append), which does not depend on the cost.
func TestSecurityNoAccountEnumeration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	owner := e.ownerToken()
	link := strings.TrimPrefix(e.want(e.do(req{Method: "GET", Path: "/orgs/" + e.org + "/self-service-link", Token: owner}), 200, "").str("url"), publicURL+"/join/")
	member := e.addr("owner")

	t.Run("sign-in", func(t *testing.T) {
		try := func(email string) reply {
			return e.do(req{Method: "POST", Path: "/session", Body: map[string]string{"email": email, "password": "not the password at all"}})
		}
		sameAnswers(t, try(member), try(e.addr("nobody")))
		sameTiming(t, func(i int) { try(member) }, func(i int) { try(e.addr("nobody")) })
	})

	t.Run("join", func(t *testing.T) {
		try := func(email string) reply {
			return e.do(req{Method: "POST", Path: "/join/" + link, Body: map[string]string{"email": email, "name": "Someone", "password": goodPassword}})
		}
		existing, fresh := try(member), try(e.addr("newcomer"))
		if existing.Status != http.StatusAccepted {
			t.Fatalf("join: %d %s", existing.Status, existing.Raw)
		}
		sameAnswers(t, existing, fresh, "registrationId", "position")
		sameTiming(t, func(i int) { try(member) }, func(i int) { try(e.addr("newcomer")) })

		// Verifying: the attacker knows the registration id (it is in the
		// answer) but not the mailed token; a token forged for either
		// registration gets the same answer.
		forged := func(r reply) reply {
			return e.do(req{Method: "POST", Path: "/verify/" + forgeToken(t, r.str("registrationId"))})
		}
		sameAnswers(t, forged(existing), forged(fresh))
		e.want(forged(existing), http.StatusNotFound, "registration_not_found")
		sameTiming(t, func(i int) { forged(existing) }, func(i int) { forged(fresh) })
	})

	t.Run("password reset", func(t *testing.T) {
		// Only a known address makes the command append (a reset token for
		// each account), which costs a durable write; the command pads
		// every answer to a floor so that the write does not show.
		const floor = 10 * time.Millisecond
		padded := e.withCommands(commands.Config{PasswordResetMinDuration: floor})
		try := func(email string) reply {
			return padded.do(req{Method: "POST", Path: "/password-reset", Body: map[string]string{"email": email}})
		}
		sameAnswers(t, try(member), try(e.addr("nobody")))
		ma, mb := sameTiming(t, func(i int) { try(member) }, func(i int) { try(e.addr("nobody")) })
		if ma < floor || mb < floor {
			t.Errorf("password reset answered in %v and %v, under the floor of %v", ma, mb, floor)
		}
	})
}

// sameAnswers compares two answers: status, header names, and the JSON
// body with the fields named in perRequest (ids each request gets anew)
// present in both but not compared.
func sameAnswers(t *testing.T, a, b reply, perRequest ...string) {
	t.Helper()
	if a.Status != b.Status {
		t.Errorf("status %d vs %d: %s / %s", a.Status, b.Status, a.Raw, b.Raw)
	}
	if ha, hb := headerNames(a.Header), headerNames(b.Header); !slices.Equal(ha, hb) {
		t.Errorf("headers %v vs %v", ha, hb)
	}
	strip := func(r reply) string {
		m := map[string]any{}
		for k, v := range r.Body {
			m[k] = v
		}
		for _, k := range perRequest {
			if _, ok := m[k]; !ok {
				t.Errorf("the answer has no %s: %s", k, r.Raw)
			}
			m[k] = "(per request)"
		}
		out, _ := json.Marshal(m)
		return string(out)
	}
	if sa, sb := strip(a), strip(b); sa != sb {
		t.Errorf("bodies differ:\n%s\n%s", sa, sb)
	}
}

func headerNames(h http.Header) []string {
	var names []string
	for k := range h {
		switch k {
		case "Date", "Content-Length":
			continue
		}
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}

// sameTiming runs a and b enumerationTries times each, interleaved (so
// that load on the machine hits both alike), and compares the medians.
// It is a property of the code paths, measured within one run; it says
// nothing about absolute speed.
func sameTiming(t *testing.T, a, b func(i int)) (medianA, medianB time.Duration) {
	t.Helper()
	if testing.Short() {
		t.Skip("timing comparison skipped in -short mode")
	}
	da := make([]time.Duration, 0, enumerationTries)
	db := make([]time.Duration, 0, enumerationTries)
	for i := range 2 * enumerationTries {
		start := time.Now()
		if i%2 == 0 {
			a(i / 2)
			da = append(da, time.Since(start))
		} else {
			b(i / 2)
			db = append(db, time.Since(start))
		}
	}
	ma, mb := median(da), median(db)
	t.Logf("medians: %v vs %v", ma, mb)
	if diff := (ma - mb).Abs(); diff > enumerationSlack {
		t.Errorf("median answer times differ by %v (%v vs %v), more than %v", diff, ma, mb, enumerationSlack)
	}
	return ma, mb
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}

// forgeToken builds a well-formed token for id with a wrong MAC under an
// unknown key: what an attacker who knows an id can send.
func forgeToken(t *testing.T, id string) string {
	t.Helper()
	if id == "" {
		t.Fatal("no id to forge a token for")
	}
	// Format version 1, a key id, generation 1, the id, a zero MAC: the
	// layout adapters/tokens documents.
	raw := append([]byte{1, 0xde, 0xad, 0xbe, 0xef, 1, byte(len(id))}, id...)
	return base64.RawURLEncoding.EncodeToString(append(raw, make([]byte, 16)...))
}
