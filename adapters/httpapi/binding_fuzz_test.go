package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/orgportal/onboarding/adapters/httpapi"
	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/commands/commandstest"
	"github.com/orgportal/onboarding/domain"
)

// The JSON binding fuzz targets send arbitrary bodies to the real Gin
// handler, in process, as a signed-in owner (or anonymously for the public
// endpoints), with the real command handlers over the package's embedded
// event store. Whatever the body, the answer is never a 5xx (a panic would
// be a 500 from the recover middleware), and it is either a complete
// problem+json document or the endpoint's success JSON.

// fuzzAPI is one organization and an API handler over it, built like
// newEnv builds its server, but once per fuzz target (newEnv needs a
// *testing.T) and with limits no fuzzer reaches.
type fuzzAPI struct {
	h      http.Handler
	org    string
	domain string
	owner  string // session token of the owner
}

func newFuzzAPI(f *testing.F) *fuzzAPI {
	f.Helper()
	fatal := func(err error) {
		f.Helper()
		if err != nil {
			f.Fatal(err)
		}
	}
	signers := commandstest.TokenService(f, time.Now())
	hasher := commandstest.Hasher(f)
	h, err := commands.New(commands.Deps{Store: sharedStore, Clock: time.Now, Tokens: signers, Passwords: hasher,
		Config: commands.Config{PublicURL: publicURL}})
	fatal(err)
	suffix := randomHex(6)
	a := &fuzzAPI{org: "org-" + suffix, domain: "d" + suffix + ".test"}
	res, err := h.Bootstrap(context.Background(), commands.Request{}, commands.BootstrapInput{
		OrgID: domain.OrgID(a.org), OrgName: "Fuzz " + suffix, Email: "owner@" + a.domain, OwnerName: "Olivia Owner", Password: ownerPassword,
	})
	if err != nil || !res.Created {
		f.Fatalf("bootstrap: %+v %v", res, err)
	}
	api, err := httpapi.New(httpapi.Deps{Commands: h, Clock: time.Now, Logger: slog.New(slog.DiscardHandler),
		Config: httpapi.Config{SecureCookie: true}})
	fatal(err)
	a.h = api.Handler()

	body, _ := json.Marshal(map[string]string{"email": "owner@" + a.domain, "password": ownerPassword})
	rec := a.serve("POST", "/session", "", body)
	var signedIn struct{ Token string }
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &signedIn) != nil || signedIn.Token == "" {
		f.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
	}
	a.owner = signedIn.Token
	return a
}

func (a *fuzzAPI) serve(method, path, token string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, httpapi.BasePath+path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	a.h.ServeHTTP(rec, r)
	return rec
}

// checkAnswer checks the properties every answer has and returns the
// decoded success body (nil for a problem).
func checkAnswer(t *testing.T, rec *httptest.ResponseRecorder, body []byte, okStatuses ...int) map[string]any {
	t.Helper()
	status, ct, raw := rec.Code, rec.Header().Get("Content-Type"), rec.Body.Bytes()
	if status >= 500 {
		t.Fatalf("status %d for body %q: %s", status, body, raw)
	}
	if rec.Header().Get(httpapi.RequestIDHeader) == "" {
		t.Errorf("no %s header", httpapi.RequestIDHeader)
	}
	if status >= 400 {
		if !strings.HasPrefix(ct, "application/problem+json") {
			t.Fatalf("status %d with Content-Type %q for body %q", status, ct, body)
		}
		var p httpapi.Problem
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("status %d: problem is not a problem document (%v): %s", status, err, raw)
		}
		if p.Status != status || p.Code == "" || p.Type != "urn:orgportal:problem:"+p.Code ||
			p.Title != http.StatusText(status) || p.Detail == "" {
			t.Fatalf("status %d: incomplete problem document: %s", status, raw)
		}
		return nil
	}
	ok := false
	for _, s := range okStatuses {
		ok = ok || s == status
	}
	if !ok {
		t.Fatalf("status %d, want one of %v or a problem, for body %q: %s", status, okStatuses, body, raw)
	}
	if !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("status %d with Content-Type %q", status, ct)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("status %d: success answer is not a JSON object (%v): %s", status, err, raw)
	}
	return out
}

// bindingSeeds are bodies every JSON endpoint must survive.
var bindingSeeds = []string{
	``, ` `, `{}`, `[]`, `null`, `true`, `"x"`, `0`, `{`, `}`, `{"`, `{}{}`, `{} x`, `{}  `,
	`{"a":1}`, `{"emails":1e999}`, `{"role":{"$ne":null}}`, `{"__proto__":{}}`,
	"\xef\xbb\xbf{}", "{\"role\":\"\xff\"}", `{"role":"\u0000"}`,
	strings.Repeat("[", 10_000), strings.Repeat(`{"a":`, 1000),
}

// FuzzBindInviteRequest drives POST /orgs/{org}/invitations.
func FuzzBindInviteRequest(f *testing.F) {
	a := newFuzzAPI(f)
	for _, s := range bindingSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"emails":["ada@` + a.domain + `"],"role":"member"}`))
	f.Add([]byte(`{"emails":"bob@` + a.domain + `, BOB@` + a.domain + `; not-an-address","role":"admin"}`))
	f.Add([]byte(`{"emails":"x@example.com","role":"owner"}`))
	f.Add([]byte(`{"emails":null}`))
	f.Add([]byte(`{"emails":[]}`))
	f.Add([]byte(`{"emails":[1,2]}`))
	f.Add([]byte(`{"emails":["a@b.co"],"role":5}`))
	f.Add([]byte(`{"emails":["a@b.co"],"Emails":["c@d.co"]}`))
	f.Add([]byte(`{"emails":["a@b.co"],"unknown":true}`))
	f.Add([]byte(`{"emails":"` + strings.Repeat("u@x.io ", domain.MaxAddressesPerRequest+1) + `"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := a.serve("POST", "/orgs/"+a.org+"/invitations", a.owner, body)
		out := checkAnswer(t, rec, body, http.StatusOK)
		if out == nil {
			return
		}
		results, ok := out["results"].([]any)
		if !ok || len(results) == 0 || len(results) > domain.MaxAddressesPerRequest {
			t.Fatalf("invite answer without 1..%d results: %s", domain.MaxAddressesPerRequest, rec.Body)
		}
		for _, r := range results {
			m, _ := r.(map[string]any)
			switch m["status"] {
			case string(commands.InviteInvited), string(commands.InviteAlreadyInvited),
				string(commands.InviteAlreadyMember), string(commands.InviteInvalidAddress):
			default:
				t.Fatalf("result with unknown status: %s", rec.Body)
			}
			if _, ok := m["email"].(string); !ok {
				t.Fatalf("result without email: %s", rec.Body)
			}
		}
		if _, ok := out["position"].(float64); !ok {
			t.Fatalf("invite answer without position: %s", rec.Body)
		}
	})
}

// FuzzBindConfigureLinkRequest drives PUT /orgs/{org}/self-service-link
// (booleans, a list of domain patterns, a time and a number).
func FuzzBindConfigureLinkRequest(f *testing.F) {
	a := newFuzzAPI(f)
	for _, s := range bindingSeeds {
		f.Add([]byte(s))
	}
	future := time.Now().Add(30 * 24 * time.Hour).UTC().Format(time.RFC3339Nano)
	f.Add([]byte(`{"enabled":true,"allowedDomains":["` + a.domain + `","*.example.com"],"defaultRole":"member","expiresAt":"` + future + `","maxUses":10}`))
	f.Add([]byte(`{"enabled":false}`))
	f.Add([]byte(`{"enabled":true,"allowedDomains":null}`))
	f.Add([]byte(`{"enabled":"yes"}`))
	f.Add([]byte(`{"enabled":true,"allowedDomains":["evil-example.com.","EXAMPLE.com","exаmple.com","*.*.x.io",""]}`))
	f.Add([]byte(`{"enabled":true,"expiresAt":"2000-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"enabled":true,"expiresAt":"9999-12-31T23:59:59.999999999+23:59"}`))
	f.Add([]byte(`{"enabled":true,"expiresAt":"not a time"}`))
	f.Add([]byte(`{"enabled":true,"maxUses":-1}`))
	f.Add([]byte(`{"enabled":true,"maxUses":9223372036854775807}`))
	f.Add([]byte(`{"enabled":true,"maxUses":1.5}`))
	f.Add([]byte(`{"enabled":true,"defaultRole":"owner"}`))
	f.Add([]byte(`{"enabled":true,"allowedDomains":[` + strings.Repeat(`"a.io",`, domain.MaxAllowedDomains) + `"b.io"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := a.serve("PUT", "/orgs/"+a.org+"/self-service-link", a.owner, body)
		out := checkAnswer(t, rec, body, http.StatusOK)
		if out == nil {
			return
		}
		if _, ok := out["enabled"].(bool); !ok {
			t.Fatalf("link answer without enabled: %s", rec.Body)
		}
		if d, ok := out["allowedDomains"].([]any); ok && len(d) > domain.MaxAllowedDomains {
			t.Fatalf("link answer with %d domains", len(d))
		}
	})
}

// FuzzBindSignInRequest drives the public POST /session.
func FuzzBindSignInRequest(f *testing.F) {
	a := newFuzzAPI(f)
	for _, s := range bindingSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"email":"owner@` + a.domain + `","password":"` + ownerPassword + `"}`))
	f.Add([]byte(`{"email":"OWNER@` + strings.ToUpper(a.domain) + `.","password":"wrong"}`))
	f.Add([]byte(`{"email":"nobody@example.com","password":"x"}`))
	f.Add([]byte(`{"email":"","password":""}`))
	f.Add([]byte(`{"email":["a@b.co"],"password":1}`))
	f.Add([]byte(`{"email":"a@b.co","password":"` + strings.Repeat("p", 100_000) + `"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := a.serve("POST", "/session", "", body)
		out := checkAnswer(t, rec, body, http.StatusOK)
		if out == nil {
			return
		}
		if tok, _ := out["token"].(string); tok == "" {
			t.Fatalf("sign-in answer without token: %s", rec.Body)
		}
	})
}
