package httpapi

import (
	"net/http"
	"strconv"

	"github.com/orgportal/onboarding/projections/readmodels"
)

// addQueries documents the query routes (queries.go, lineage.go,
// users_asof.go): their query parameters, the consistency token and the
// X-Consistency answer header.
func addQueries(add func(method, path string, o map[string]any)) {
	users := obj(props{"items": arr(ref("UserItem")), "nextCursor": str("absent on the last page"),
		"counts": obj(props{"invited": integer(""), "pending_verification": integer(""), "active": integer(""), "removed": integer("")}),
		"asOf":   map[string]any{"type": "string", "format": "date-time", "description": "with asOf: the moment answered; counts then hold only active"}},
		"items", "counts")
	add("get", "/orgs/{orgId}/users", queryOp("listUsers", "queries",
		"The Users page: members and invited people, filtered, sorted, paged, with counts per status. "+
			"With asOf, the membership at that moment, computed from the event store",
		users, []int{400, 401, 403, 503},
		queryParam("q", "case-insensitive prefix of the email or the name", str("")),
		queryParam("status", "", enum(userStatuses...)),
		queryParam("role", "", enum(userRoles...)),
		queryParam("sort", "default email; with asOf not invitedAt", enum(userSorts...)),
		queryParam("order", "default asc", enum("asc", "desc")),
		limitParam(), cursorParam(),
		queryParam("asOf", "RFC 3339 time, not in the future: the members at that moment, from the event store "+
			"(status only active; asOf's own cursor; no consistency wait needed)", dateTime()),
	))
	add("get", "/orgs/{orgId}/users/{userId}/lineage", queryOp("getLineage", "queries",
		"Who invited this member, up to the root of the chain, and whom they invited",
		obj(props{"member": ref("UserItem"), "inviters": arr(ref("UserItem")),
			"chainEnd":       enum(chainEndRoot, chainEndCycle, chainEndDepthLimit, chainEndUnknownInviter),
			"unknownInviter": ref("Ref"), "invitees": arr(ref("UserItem"))}, "member", "inviters", "chainEnd", "invitees"),
		[]int{400, 401, 403, 404, 503}))
	add("get", "/orgs/{orgId}/invitations", queryOp("listInvitations", "queries",
		"Invitations, newest first; expired is judged at the request's time",
		obj(props{"items": arr(ref("InvitationItem")), "nextCursor": str("absent on the last page")}, "items"),
		[]int{400, 401, 403, 503},
		queryParam("status", "", enum(invitationStatuses...)), limitParam(), cursorParam()))
	add("get", "/orgs/{orgId}/audit", queryOp("listAudit", "queries",
		"The audit trail, oldest first: one entry per event",
		obj(props{"items": arr(ref("AuditEntry")), "nextCursor": str("absent on the last page")}, "items"),
		[]int{400, 401, 403, 503},
		queryParam("actor", "user id, system or self-service-link", str("")),
		queryParam("subject", "user, invitation or registration id", str("")),
		queryParam("action", "event type", enum(auditActions()...)),
		queryParam("from", "RFC 3339, inclusive", dateTime()),
		queryParam("to", "RFC 3339, exclusive; after from", dateTime()),
		limitParam(), cursorParam()))
}

// queryOp is a bearer-authenticated GET with the consistency token as a
// header and a query parameter, and X-Consistency on its answer.
func queryOp(id, tag, summary string, okSchema any, errorStatuses []int, params ...any) map[string]any {
	o := op(id, tag, summary, bearer, nil, http.StatusOK, okSchema, errorStatuses...)
	params = append(params,
		map[string]any{"name": ConsistencyHeader, "in": "header", "required": false, "schema": str(""),
			"description": "the " + ConsistencyHeader + " of a write: wait (bounded) until the read models show it"},
		queryParam(ConsistencyParam, "the same as the "+ConsistencyHeader+" header, for links and redirects", str("")))
	o["parameters"] = params
	ok := o["responses"].(map[string]any)[strconv.Itoa(http.StatusOK)].(map[string]any)
	ok["headers"] = map[string]any{ConsistencyStateHeader: map[string]any{
		"description": "with a consistency token: fresh when the answer includes that write, stale when the wait ran out first",
		"schema":      enum(consistencyFresh, consistencyStale)}}
	return o
}

func queryParam(name, description string, schema map[string]any) map[string]any {
	p := map[string]any{"name": name, "in": "query", "required": false, "schema": schema}
	if description != "" {
		p["description"] = description
	}
	return p
}

func limitParam() map[string]any {
	return queryParam("limit", "page size, default "+strconv.Itoa(readmodels.DefaultLimit),
		map[string]any{"type": "integer", "minimum": 1, "maximum": readmodels.MaxLimit})
}

func cursorParam() map[string]any {
	return queryParam("cursor", "nextCursor of the previous page of the same query", str(""))
}

func userItemSchema() map[string]any {
	return obj(props{"userId": str("absent until they join"), "email": str(""),
		"name":   str("the member's own; before they join, the name the inviter gave, or empty"),
		"status": enum(userStatuses...), "role": enum(userRoles...),
		"joinedVia": enum("invitation", "self_service_link", "manual", "bootstrap"),
		"invitedBy": ref("Ref"), "invitedAt": dateTime(), "joinedAt": dateTime(),
		"invitationId": str("the pending or accepted invitation of an invited row"),
		"expiresAt":    map[string]any{"type": "string", "format": "date-time", "description": "when the pending invitation or registration stops working"},
		"removedAt":    map[string]any{"type": "string", "format": "date-time", "description": "when a removed member left"}},
		"email", "name", "status", "role")
}

func invitationItemSchema() map[string]any {
	return obj(props{"invitationId": str(""), "email": str(""), "name": str("the invitee's name as the inviter gave it"),
		"role": str(""), "status": enum(invitationStatuses...),
		"invitedBy": ref("Ref"), "invitedAt": dateTime(), "expiresAt": dateTime(),
		"timesSent": integer("mails sent, all generations"), "lastSentAt": dateTime(),
		"delivery":   obj(props{"state": enum("pending", "sent", "failed"), "reason": str("why a delivery failed"), "at": dateTime()}),
		"acceptedBy": str("user id of the member it made")},
		"invitationId", "email", "role", "status", "invitedBy", "invitedAt", "expiresAt", "timesSent", "delivery")
}

func auditEntrySchema() map[string]any {
	return obj(props{"eventId": str(""), "at": dateTime(), "actor": str("user id, system or self-service-link"),
		"actorEmail": str(""), "action": str("the event type"), "subject": str("user, invitation or registration id"),
		"subjectEmail": str(""), "correlationId": str(""), "causationId": str(""),
		"details":  map[string]any{"type": "object", "description": "what the event changed; never a secret"},
		"position": map[string]any{"type": "integer", "format": "int64", "description": "commit position of the event"}},
		"eventId", "at", "actor", "action", "subject", "position")
}
