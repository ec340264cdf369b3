package httpapi

import (
	"net/http"
	"regexp"
	"strconv"
	"sync"

	"github.com/gin-gonic/gin"
)

// openAPI: GET /openapi.json.
func (a *API) openAPI(c *gin.Context) {
	c.JSON(http.StatusOK, openAPIDocument())
}

// The document is written by hand, here, next to the routes; the test
// TestOpenAPIMatchesRoutes compares its paths and methods with the routes
// Gin has registered, both ways.
var openAPIDocument = sync.OnceValue(func() map[string]any {
	paths := map[string]map[string]any{}
	add := func(method, path string, o map[string]any) {
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		params := pathParams(path)
		if extra, ok := o["parameters"].([]any); ok {
			params = append(params, extra...)
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		paths[path][method] = o
	}

	session := obj(props{"token": str("bearer token, also set as the HttpOnly cookie " + SessionCookie), "userId": str(""),
		"orgId": str(""), "expiresAt": dateTime(), "position": position()})
	joined := obj(props{"userId": str(""), "orgId": str(""), "position": position()})
	positionOnly := obj(props{"position": position()})
	invitationChange := obj(props{"invitationId": str(""), "expiresAt": dateTime(), "position": position()})
	link := ref("SelfServiceLink")
	password := obj(props{"password": str("at least 12 characters, not the email address")}, "password")

	add("get", "/openapi.json", op("getOpenAPI", "meta", "This document", public, nil, 200, obj(nil)))

	add("post", "/session", op("signIn", "session", "Sign in; sets the session cookie", public,
		obj(props{"email": str(""), "password": str(""), "orgId": str("optional: the organization, for an address with accounts in several")}, "email", "password"),
		200, session, 400, 401, 413, 415, 429, 503))
	add("delete", "/session", op("signOut", "session", "Sign out: the token stops working", bearer, nil, 200, positionOnly, 401, 503))
	add("post", "/password-reset", op("requestPasswordReset", "session",
		"Mail a password reset link (valid one hour); the answer is the same whatever the address", public,
		obj(props{"email": str("")}, "email"), 202, obj(props{"status": str(""), "detail": str("")}), 400, 413, 415, 429, 503))
	add("post", "/password-reset/{token}", op("completePasswordReset", "session", "Set a new password through the mailed link", public,
		password, 200, joined, 400, 404, 410, 413, 415, 429, 503))
	add("post", "/set-password/{token}", op("completePasswordSetup", "members",
		"Set the first password of a manually added member through the mailed link", public,
		password, 200, joined, 400, 404, 410, 413, 415, 429, 503))

	add("get", "/invitations/{token}", op("describeInvitation", "invitations", "What the acceptance page shows", public, nil,
		200, ref("InvitationView"), 404, 429, 503))
	add("post", "/invitations/{token}/accept", op("acceptInvitation", "invitations",
		"Create the account bound to the invited address and join with the pre-assigned role", public,
		obj(props{"name": str("may be left out when the invitation carries the inviter's name for the invitee (GET /invitations/{token})"),
			"password": str("at least 12 characters")}, "password"),
		201, joined, 400, 404, 409, 410, 413, 415, 429, 503))

	add("get", "/join/{token}", op("describeJoinLink", "self-service", "The organization behind a self-service link", public, nil,
		200, obj(props{"orgId": str(""), "organizationName": str(""), "allowedDomains": arr(str(""))}), 404, 410, 429, 503))
	add("post", "/join/{token}", op("registerViaLink", "self-service",
		"Start a registration; a verification mail follows (same answer for existing members)", public,
		obj(props{"email": str(""), "name": str(""), "password": str("")}, "email", "name", "password"),
		202, obj(props{"status": str(""), "detail": str(""), "registrationId": str(""), "position": position()}),
		400, 403, 404, 410, 413, 415, 429, 503))
	add("post", "/verify/{token}", op("verifyRegistration", "self-service", "Prove the address and become a member", public, nil,
		201, joined, 404, 409, 410, 429, 503))

	add("post", "/orgs/{orgId}/invitations", op("inviteUsers", "invitations",
		"Invite addresses (a list, or one string separated by commas, semicolons, spaces or new lines; at most 500; `Name <address>` and mailto: are understood)", bearer,
		obj(props{"emails": map[string]any{"oneOf": []any{str(""), arr(str(""))}}, "role": enum("admin", "member")}, "emails"),
		200, ref("InviteResult"), 400, 401, 403, 413, 415, 429, 503))
	add("post", "/orgs/{orgId}/invitations/{id}/resend", op("resendInvitation", "invitations",
		"Issue a fresh token (the old link stops working) and restart the expiry", bearer, nil,
		200, invitationChange, 401, 403, 404, 409, 429, 503))
	add("delete", "/orgs/{orgId}/invitations/{id}", op("revokeInvitation", "invitations", "Revoke an invitation", bearer, nil,
		200, invitationChange, 401, 403, 404, 409, 503))

	add("get", "/orgs/{orgId}/self-service-link", op("getSelfServiceLink", "self-service", "The self-service link and its settings", bearer, nil,
		200, link, 401, 403, 503))
	add("put", "/orgs/{orgId}/self-service-link", op("configureSelfServiceLink", "self-service", "Replace the link's settings", bearer,
		obj(props{"enabled": boolean(), "allowedDomains": arr(str("example.com, or *.example.com for subdomains")),
			"defaultRole": enum("admin", "member"), "expiresAt": nullable(dateTime()), "maxUses": integer("0: unlimited")}, "enabled"),
		200, link, 400, 401, 403, 413, 415, 503))
	add("post", "/orgs/{orgId}/self-service-link/rotate", op("rotateSelfServiceLink", "self-service",
		"Issue a new link; the old URL stops working at once", bearer, nil, 200, link, 401, 403, 503))

	add("post", "/orgs/{orgId}/users", op("addMember", "members", "Add a member, who sets a password through a mailed link", bearer,
		obj(props{"email": str(""), "name": str(""), "role": enum("admin", "member")}, "email", "name"),
		201, joined, 400, 401, 403, 409, 413, 415, 503))
	add("put", "/orgs/{orgId}/users/{userId}/role", op("changeMemberRole", "members", "Change a member's role", bearer,
		obj(props{"role": enum("owner", "admin", "member")}, "role"), 200, positionOnly, 400, 401, 403, 404, 409, 413, 415, 503))
	add("delete", "/orgs/{orgId}/users/{userId}", op("removeMember", "members",
		"Remove a member; their sessions end (the last owner stays)", bearer, nil, 200, positionOnly, 400, 401, 403, 404, 409, 503))

	addQueries(add)

	problem := obj(props{"type": str("urn:orgportal:problem:<code>"), "title": str(""), "status": integer(""),
		"detail": str("what happened and what to do"), "code": str("stable machine-readable reason"),
		"errors": map[string]any{"type": "object", "additionalProperties": str(""), "description": "problems per request field"}},
		"type", "title", "status", "detail", "code")
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":   "Onboarding API",
			"version": "1",
			"description": "Invitations, the self-service link, registration, members and roles. Writes answer the " +
				"commit position of their last event as `position` and in the `" + ConsistencyHeader + "` header " +
				"(0 when nothing changed). Reads given that token (header, or query parameter `" + ConsistencyParam + "`) " +
				"wait a bounded time for the read models to pass it and say `" + ConsistencyStateHeader + ": fresh` or `stale`. " +
				"Errors are RFC 9457 problem documents with a stable `code`. " +
				"Every answer carries `" + RequestIDHeader + "` (the client's, when well-formed).",
		},
		"servers": []any{map[string]any{"url": BasePath}},
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": SessionCookie},
			},
			"schemas": map[string]any{
				"Problem": problem,
				"SelfServiceLink": obj(props{"enabled": boolean(), "url": str("{PORTAL_PUBLIC_URL}/join/{token}"),
					"allowedDomains": arr(str("")), "defaultRole": str(""), "expiresAt": nullable(dateTime()),
					"maxUses": integer("0: unlimited"), "uses": integer(""), "position": position()}),
				"InvitationView": obj(props{"orgId": str(""), "organizationName": str(""), "email": str(""), "role": str(""),
					"name":      str("the invitee's name as the inviter gave it: a suggestion for the form"),
					"expiresAt": dateTime(), "state": enum("pending", "accepted", "revoked", "superseded", "expired"),
					"code": str("the gone code accepting would answer")}),
				"Ref":            obj(props{"userId": str(""), "email": str("")}),
				"UserItem":       userItemSchema(),
				"InvitationItem": invitationItemSchema(),
				"AuditEntry":     auditEntrySchema(),
				"InviteResult": obj(props{"results": arr(obj(props{"email": str(""),
					"name":         str("the display name pasted before the address, if any"),
					"status":       enum("invited", "already_member", "already_invited", "invalid"),
					"invitationId": str(""), "reason": str("why the address is invalid")})), "position": position()}),
			},
		},
	}
})

type props map[string]any

type access bool

const (
	public access = false
	bearer access = true
)

func op(id, tag, summary string, auth access, body any, okStatus int, okSchema any, errorStatuses ...int) map[string]any {
	responses := map[string]any{
		strconv.Itoa(okStatus): map[string]any{
			"description": http.StatusText(okStatus),
			"content":     map[string]any{"application/json": map[string]any{"schema": okSchema}},
		},
	}
	for _, s := range append(errorStatuses, 500) {
		responses[strconv.Itoa(s)] = map[string]any{
			"description": http.StatusText(s),
			"content":     map[string]any{"application/problem+json": map[string]any{"schema": ref("Problem")}},
		}
	}
	o := map[string]any{"operationId": id, "tags": []string{tag}, "summary": summary, "responses": responses}
	if auth {
		o["security"] = []any{map[string]any{"bearer": []string{}}, map[string]any{"session": []string{}}}
	} else {
		o["security"] = []any{}
	}
	if body != nil {
		o["requestBody"] = map[string]any{"required": true,
			"content": map[string]any{"application/json": map[string]any{"schema": body}}}
	}
	return o
}

var pathParam = regexp.MustCompile(`\{([A-Za-z]+)\}`)

func pathParams(path string) []any {
	var params []any
	for _, m := range pathParam.FindAllStringSubmatch(path, -1) {
		params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": str("")})
	}
	return params
}

func obj(p props, required ...string) map[string]any {
	o := map[string]any{"type": "object", "properties": map[string]any(p)}
	if p == nil {
		o["properties"] = map[string]any{}
	}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func str(description string) map[string]any {
	s := map[string]any{"type": "string"}
	if description != "" {
		s["description"] = description
	}
	return s
}

func enum(values ...string) map[string]any { return map[string]any{"type": "string", "enum": values} }
func boolean() map[string]any              { return map[string]any{"type": "boolean"} }
func dateTime() map[string]any             { return map[string]any{"type": "string", "format": "date-time"} }
func arr(items any) map[string]any         { return map[string]any{"type": "array", "items": items} }
func ref(name string) map[string]any       { return map[string]any{"$ref": "#/components/schemas/" + name} }

func integer(description string) map[string]any {
	s := map[string]any{"type": "integer"}
	if description != "" {
		s["description"] = description
	}
	return s
}

func nullable(s map[string]any) map[string]any {
	s["nullable"] = true
	return s
}

func position() map[string]any {
	return map[string]any{"type": "integer", "format": "int64",
		"description": "commit position of the write's last event (also in " + ConsistencyHeader + "); 0 when nothing changed"}
}
