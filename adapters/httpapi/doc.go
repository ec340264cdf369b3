// Package httpapi is the JSON API of the onboarding backend under /api/v1,
// built with Gin on top of the command handlers (package commands).
//
// It owns what is HTTP and nothing else: routing, decoding request bodies
// (at most 1 MiB, strict JSON), authentication from a bearer token or the
// session cookie, rate limits, request ids and the access log, and the one
// mapping from errors to RFC 9457 problem documents (problem.go). Every
// business rule stays in the commands; the API checks, before a handler
// decodes anything, that the organization in the path is the signed-in
// user's and that they administer it (commands.GrantAdmin; the grant
// goes on to the command in the request's context; inviting, for an
// actor the process saw administer the organization a moment ago, starts
// while that check reads, and every answer waits for it:
// commands.GrantAdminAhead), and refuses session-cookie requests that a browser sent for another origin
// (csrf.go).
//
// The plumbing it shares with the portal pages (package web) lives apart:
// request ids, the access log and the mapping of error kinds to statuses
// in httpkit, and the rate limits in ratelimit, whose budgets the portal
// gives both (Deps.Limits).
//
// Secrets never reach a log line: the access log names the route template
// (/api/v1/invitations/:token), never the concrete path or query string,
// and request bodies are never logged.
//
// The query routes (queries.go, lineage.go) read the read models through
// readmodels.Reader, for owners and admins only. A read given a write's
// consistency token (header X-Consistency-Token or parameter consistency)
// waits, for Config.ConsistencyWait at most, until Reader.Position has
// passed it, and answers X-Consistency: fresh or stale (consistency.go).
// Their parameters are checked strictly, unknown ones refused
// (query_params.go). GET /orgs/{orgId}/users?asOf= is answered from the
// event store's history instead (users_asof.go, projections/asof).
//
// The OpenAPI 3 document served at GET /api/v1/openapi.json is written by
// hand in openapi.go; a test keeps it equal to the routes registered.
package httpapi
