package readmodels

import (
	"context"
	"strconv"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo/options"

	"github.com/orgportal/onboarding/adapters/mongodb"
)

// Invitations implements Reader: newest first; expired is judged at
// q.Now (the time of the request), never stored.
func (r *MongoReader) Invitations(ctx context.Context, q InvitationsQuery) (InvitationsPage, error) {
	filter := bson.D{{Key: "orgId", Value: q.OrgID}}
	switch q.Status {
	case "":
	case InvitationPending:
		filter = append(filter, bson.E{Key: "status", Value: InvitationPending}, bson.E{Key: "expiresAt", Value: bson.D{{Key: "$gt", Value: q.Now}}})
	case InvitationExpired:
		filter = append(filter, bson.E{Key: "status", Value: InvitationPending}, bson.E{Key: "expiresAt", Value: bson.D{{Key: "$lte", Value: q.Now}}})
	case InvitationAccepted, InvitationRevoked:
		filter = append(filter, bson.E{Key: "status", Value: q.Status})
	default:
		return InvitationsPage{}, invalid("unknown invitation status %q", q.Status)
	}
	hash := queryHash("invitations", string(q.OrgID), string(q.Status))
	after, err := decodeCursor(q.Cursor, hash)
	if err != nil {
		return InvitationsPage{}, err
	}
	if after != nil {
		if after.Time == nil {
			return InvitationsPage{}, ErrBadCursor
		}
		t := timeOf(*after.Time)
		filter = bson.D{{Key: "$and", Value: bson.A{filter, bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "invitedAt", Value: bson.D{{Key: "$lt", Value: t}}}},
			bson.D{{Key: "invitedAt", Value: t}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: after.ID}}}},
		}}}}}}
	}
	version, err := r.active(ctx, InvitationsBase)
	if err != nil || version == 0 {
		return InvitationsPage{Items: []Invitation{}}, err
	}
	limit := limitOf(q.Limit)
	cur, err := mongodb.Collection(r.db, InvitationsBase, version).Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "invitedAt", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(limit+1)))
	items, err := decodeAll[Invitation](ctx, "invitations", cur, err)
	if err != nil {
		return InvitationsPage{}, err
	}
	page := InvitationsPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := page.Items[limit-1]
		page.NextCursor = cursor{Query: hash, ID: string(last.ID), Time: timeKey(&last.InvitedAt)}.encode()
	}
	for i := range page.Items {
		page.Items[i].Status = page.Items[i].StatusAt(q.Now)
	}
	return page, nil
}

// Audit implements Reader: oldest first, in commit order.
func (r *MongoReader) Audit(ctx context.Context, q AuditQuery) (AuditPage, error) {
	filter := bson.D{{Key: "orgId", Value: q.OrgID}}
	for _, f := range []struct{ key, value string }{{"actor", q.Actor}, {"subject", q.Subject}, {"action", q.Action}} {
		if f.value != "" {
			filter = append(filter, bson.E{Key: f.key, Value: f.value})
		}
	}
	at := bson.D{}
	if !q.From.IsZero() {
		at = append(at, bson.E{Key: "$gte", Value: q.From})
	}
	if !q.To.IsZero() {
		at = append(at, bson.E{Key: "$lt", Value: q.To})
	}
	if len(at) > 0 {
		filter = append(filter, bson.E{Key: "at", Value: at})
	}
	hash := queryHash("audit", string(q.OrgID), q.Actor, q.Subject, q.Action,
		strconv.FormatInt(q.From.UnixMilli(), 10), strconv.FormatInt(q.To.UnixMilli(), 10))
	after, err := decodeCursor(q.Cursor, hash)
	if err != nil {
		return AuditPage{}, err
	}
	if after != nil {
		if after.Pos == nil {
			return AuditPage{}, ErrBadCursor
		}
		filter = bson.D{{Key: "$and", Value: bson.A{filter, bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "position", Value: bson.D{{Key: "$gt", Value: *after.Pos}}}},
			bson.D{{Key: "position", Value: *after.Pos}, {Key: "_id", Value: bson.D{{Key: "$gt", Value: after.ID}}}},
		}}}}}}
	}
	version, err := r.active(ctx, AuditBase)
	if err != nil || version == 0 {
		return AuditPage{Items: []AuditEntry{}}, err
	}
	limit := limitOf(q.Limit)
	cur, err := mongodb.Collection(r.db, AuditBase, version).Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "position", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(int64(limit+1)))
	items, err := decodeAll[AuditEntry](ctx, "audit", cur, err)
	if err != nil {
		return AuditPage{}, err
	}
	page := AuditPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := page.Items[limit-1]
		page.NextCursor = cursor{Query: hash, ID: last.ID, Pos: &last.Position}.encode()
	}
	return page, nil
}
