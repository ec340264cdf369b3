package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// API paths and headers the harness uses (adapters/httpapi).
const (
	apiBase           = "/api/v1"
	consistencyToken  = "X-Consistency-Token"
	consistencyHeader = "X-Consistency" // fresh or stale, on reads given a token
	routeNotFoundCode = "route_not_found"
	methodNotAllowed  = "method_not_allowed"
	maxResponseBytes  = 8 << 20
	requestTimeout    = 60 * time.Second
)

// newHTTPClient is the one client configuration of every HTTP load, the
// Gin baseline's included: keep-alive with an idle pool as large as the
// number of clients, so that no request pays for a new connection.
func newHTTPClient(conns int) *http.Client {
	return &http.Client{
		Timeout: requestTimeout,
		Transport: &http.Transport{
			Proxy:               nil, // loopback targets; a proxy would measure itself
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// apiClient calls the portal's API as one signed-in owner or admin.
type apiClient struct {
	base    string // http://host:port
	hc      *http.Client
	session string // bearer token; never printed
	org     string
}

// response is an answer read in full (so the connection is reused).
type response struct {
	status int
	header http.Header
	body   []byte
}

// statusError is a non-2xx answer. It names the route template, never the
// concrete path: paths can hold link tokens.
type statusError struct {
	route  string
	status int
	code   string // the problem document's code, if any
}

func (e *statusError) Error() string {
	return fmt.Sprintf("%s answered %d %s", e.route, e.status, e.code)
}

func (e *statusError) kind() string { return fmt.Sprintf("%d %s", e.status, e.code) }

// routeMissing reports whether err says the route does not exist: a portal
// reached by --url may be of a version without it (or without the read
// models it needs), and the stage then reports "not available" instead of
// failing the run.
func routeMissing(err error) bool {
	var se *statusError
	if !errors.As(err, &se) {
		return false
	}
	switch se.status {
	case http.StatusNotFound:
		return se.code == routeNotFoundCode || se.code == ""
	case http.StatusMethodNotAllowed, http.StatusNotImplemented:
		return true
	case http.StatusServiceUnavailable:
		// The route exists but what it reads is not configured there.
		return se.code == "read_models_not_configured" || se.code == "history_not_configured"
	}
	return false
}

// call sends one request. route is the path template for errors; body, if
// not nil, is sent as JSON; header adds request headers.
func (c *apiClient) call(ctx context.Context, method, path, route string, body []byte, header map[string]string) (response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, r)
	if err != nil {
		return response{}, failure("bad request for " + route)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.session != "" {
		req.Header.Set("Authorization", "Bearer "+c.session)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return response{}, err
	}
	out := response{status: resp.StatusCode, header: resp.Header, body: raw}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var problem struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(raw, &problem) // not every error is a problem document
		return out, &statusError{route: route, status: resp.StatusCode, code: problem.Code}
	}
	return out, nil
}

// signIn opens a session as email; org picks the organization when the
// person belongs to several.
func (c *apiClient) signIn(ctx context.Context, email, password, org string) error {
	body, err := json.Marshal(map[string]string{"email": email, "password": password, "orgId": org})
	if err != nil {
		return err
	}
	resp, err := c.call(ctx, http.MethodPost, apiBase+"/session", "POST /session", body, nil)
	if err != nil {
		return fmt.Errorf("sign in as %s: %w", email, err)
	}
	var s struct {
		Token string `json:"token"`
		OrgID string `json:"orgId"`
	}
	if err := json.Unmarshal(resp.body, &s); err != nil || s.Token == "" || s.OrgID == "" {
		return fmt.Errorf("sign in as %s: the answer has no token or orgId", email)
	}
	c.session, c.org = s.Token, s.OrgID
	return nil
}

// invite invites emails into the client's organization and returns the
// consistency token of the write and how many addresses were invited.
func (c *apiClient) invite(ctx context.Context, body []byte) (token string, invited int, err error) {
	resp, err := c.call(ctx, http.MethodPost, apiBase+"/orgs/"+c.org+"/invitations", "POST /orgs/{orgId}/invitations", body, nil)
	if err != nil {
		return "", 0, err
	}
	var out struct {
		Results []struct {
			Status string `json:"status"`
		} `json:"results"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return "", 0, failure("invite: answer is not JSON")
	}
	for _, r := range out.Results {
		if r.Status == "invited" {
			invited++
		}
	}
	if invited != len(out.Results) {
		return "", invited, failure("invite: some addresses were not invited")
	}
	return resp.header.Get(consistencyToken), invited, nil
}

// inviteBody is the JSON body inviting emails as members.
func inviteBody(emails []string) []byte {
	b, _ := json.Marshal(map[string]any{"emails": emails, "role": "member"}) // strings only: cannot fail
	return b
}

// metrics scrapes the portal's /metrics once.
func (c *apiClient) metrics(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	resp, err := c.call(ctx, http.MethodGet, "/metrics", "/metrics", nil, nil)
	if err != nil {
		return nil, err
	}
	var p expfmt.TextParser
	families, err := p.TextToMetricFamilies(bytes.NewReader(resp.body))
	if err != nil {
		return nil, fmt.Errorf("/metrics: %w", err)
	}
	return families, nil
}

// metricProjectionActive is 1 on the replica that runs a projection.
const metricProjectionActive = "portal_projection_active"

// projecting reports whether the portal runs any projection, from its
// portal_projection_active series (known is false when it has none: a
// portal too old to say).
func (c *apiClient) projecting(ctx context.Context) (runs, known bool, err error) {
	families, err := c.metrics(ctx)
	if err != nil {
		return false, false, err
	}
	f := families[metricProjectionActive]
	if f == nil {
		return false, false, nil
	}
	for _, m := range f.GetMetric() {
		if m.GetGauge().GetValue() == 1 {
			return true, true, nil
		}
	}
	return false, true, nil
}

// gauges reads the values of gauges without labels from one scrape of
// the portal's /metrics; a name the portal does not export (another
// strategy than the Users page cache, or an older portal) is left out.
func (c *apiClient) gauges(ctx context.Context, names ...string) (map[string]float64, error) {
	families, err := c.metrics(ctx)
	if err != nil {
		return nil, err
	}
	values := make(map[string]float64, len(names))
	for _, name := range names {
		if f := families[name]; f != nil && len(f.GetMetric()) == 1 && f.GetMetric()[0].GetGauge() != nil {
			values[name] = f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return values, nil
}
