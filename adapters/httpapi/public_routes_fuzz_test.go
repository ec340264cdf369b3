package httpapi_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orgportal/onboarding/adapters/httpapi"
)

// publicRoutes are the endpoints anyone on the network can call, with the
// statuses their success has; %s is the token in the path.
var publicRoutes = []struct {
	method, path string
	ok           []int
}{
	{"GET", "/invitations/%s", []int{http.StatusOK}},
	{"POST", "/invitations/%s/accept", []int{http.StatusCreated}},
	{"GET", "/join/%s", []int{http.StatusOK}},
	{"POST", "/join/%s", []int{http.StatusAccepted}},
	{"POST", "/verify/%s", []int{http.StatusCreated}},
	{"POST", "/password-reset", []int{http.StatusAccepted}},
	{"POST", "/password-reset/%s", []int{http.StatusOK}},
	{"POST", "/set-password/%s", []int{http.StatusOK}},
}

// FuzzPublicRoutes sends an arbitrary token (in the path, escaped as a
// client would) and an arbitrary body to every public endpoint of the real
// handler, over the real commands and event store: token parsing and
// verification on the HTTP path, and the JSON binding of the bodies the
// other binding targets do not cover (accept, join, passwords). Whatever
// the input: never a 5xx, always a complete problem document or the
// endpoint's success JSON, and never the token echoed in a problem.
func FuzzPublicRoutes(f *testing.F) {
	a := newFuzzAPI(f)
	rec := a.serve("GET", "/orgs/"+a.org+"/self-service-link", a.owner, nil)
	var view struct{ URL string }
	_ = json.Unmarshal(rec.Body.Bytes(), &view)
	link, ok := strings.CutPrefix(view.URL, publicURL+"/join/")
	if rec.Code != http.StatusOK || !ok {
		f.Fatalf("link: %d %s", rec.Code, rec.Body)
	}
	forged := base64.RawURLEncoding.EncodeToString(append([]byte{1, 0, 0, 0, 0, 1, 3, 'a', 'b', 'c'}, make([]byte, 16)...))
	bodies := []string{
		`{"name":"Ann","password":"` + goodPassword + `"}`,
		`{"email":"ann@` + a.domain + `","name":"Ann","password":"` + goodPassword + `"}`,
		`{"email":"owner@` + a.domain + `","name":"Olivia","password":"` + goodPassword + `"}`,
		`{"email":"ann@` + a.domain + `"}`,
		`{"password":"short"}`,
		`{"password":"` + strings.Repeat("ü", 300) + `"}`,
		`{"email":"a@b.co","name":"` + strings.Repeat("n", 10_000) + `","password":"x"}`,
		`{"name":{"$gt":""},"password":[]}`,
		``, `{}`, `null`, `{"password":"\u0000\ud800"}`,
	}
	for i := range publicRoutes {
		for _, tok := range []string{link, forged, "", "x", "%2e%2e", strings.Repeat("A", 200), "AQ\n", link + "=", strings.ToUpper(link)} {
			f.Add(uint8(i), tok, []byte(bodies[i%len(bodies)]))
		}
		for _, b := range bodies {
			f.Add(uint8(i), link, []byte(b))
		}
	}
	f.Fuzz(func(t *testing.T, pick uint8, token string, body []byte) {
		rt := publicRoutes[int(pick)%len(publicRoutes)]
		path := rt.path
		if strings.Contains(path, "%s") {
			path = strings.Replace(path, "%s", url.PathEscape(token), 1)
		}
		var send []byte
		if rt.method == "POST" {
			send = body
		}
		rec := a.serve(rt.method, path, "", send)
		if rec.Code == http.StatusNotFound && strings.Contains(rec.Body.String(), "route_not_found") {
			return // the token made another path (an escaped slash, a dot segment)
		}
		if rec.Code == http.StatusMovedPermanently || rec.Code == http.StatusTemporaryRedirect {
			// Gin's trailing-slash redirect ("/password-reset/" with an
			// empty token): it must stay on the API, never another host.
			if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, httpapi.BasePath+"/") {
				t.Fatalf("%s %s redirects to %q", rt.method, path, loc)
			}
			return
		}
		out := checkAnswer(t, rec, body, rt.ok...)
		if out == nil && len(token) >= 8 && strings.Contains(rec.Body.String(), token) {
			t.Fatalf("a problem echoes the token: %s", rec.Body)
		}
	})
}
