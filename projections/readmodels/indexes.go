package readmodels

import (
	"fmt"
	"strings"

	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// Indexes of the list queries, created with each version of a collection
// on MongoDB, where they serve Users pages, invitations and audit filters
// from an index range. FerretDB v1 would accept them but scan anyway, so
// they are left out there (see store.finish).
func usersIndexes() []mongo.IndexModel {
	return []mongo.IndexModel{
		index("orgId", 1, "normalizedEmail", 1, "_id", 1),
		index("orgId", 1, "nameFold", 1, "_id", 1),
		index("orgId", 1, "invitedAt", 1, "_id", 1),
		index("orgId", 1, "joinedAt", 1, "_id", 1),
		index("orgId", 1, "status", 1),
		index("orgId", 1, "userId", 1),
		index("orgId", 1, "invitedBy.userId", 1),
	}
}

func invitationsIndexes() []mongo.IndexModel {
	return []mongo.IndexModel{
		index("orgId", 1, "invitedAt", -1, "_id", -1),
		index("orgId", 1, "status", 1, "expiresAt", 1),
	}
}

func auditIndexes() []mongo.IndexModel {
	return []mongo.IndexModel{
		index("orgId", 1, "position", 1, "_id", 1),
		index("orgId", 1, "actor", 1, "position", 1),
		index("orgId", 1, "subject", 1, "position", 1),
		index("orgId", 1, "action", 1, "position", 1),
	}
}

// index builds a compound index from field, direction pairs, named the
// way MongoDB names it by default ("orgId_1_status_1").
func index(pairs ...any) mongo.IndexModel {
	keys := bson.D{}
	var name []string
	for i := 0; i < len(pairs); i += 2 {
		keys = append(keys, bson.E{Key: pairs[i].(string), Value: pairs[i+1]})
		name = append(name, fmt.Sprintf("%s_%d", pairs[i], pairs[i+1]))
	}
	return mongo.IndexModel{Keys: keys, Options: options.Index().SetName(strings.Join(name, "_"))}
}
