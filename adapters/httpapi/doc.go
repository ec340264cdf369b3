// Package httpapi is the JSON API of the onboarding backend under /api/v1,
// built with Gin on top of the command handlers (package commands).
//
// It owns what is HTTP and nothing else: routing, decoding request bodies
// (at most 1 MiB, strict JSON), authentication from a bearer token or the
// session cookie, rate limits, request ids and the access log, and the one
// mapping from errors to RFC 9457 problem documents (problem.go). Every
// business rule, including authorization, stays in the commands; the API
// only adds a cheap tenant check (the organization in the path must be the
// signed-in user's) in front of them.
//
// Secrets never reach a log line: the access log names the route template
// (/api/v1/invitations/:token), never the concrete path or query string,
// and request bodies are never logged.
//
// The OpenAPI 3 document served at GET /api/v1/openapi.json is written by
// hand in openapi.go; a test keeps it equal to the routes registered.
package httpapi
