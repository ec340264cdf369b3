package readmodels

import (
	"strconv"

	"github.com/orgportal/onboarding/domain"
)

// ref is an entry of a projection's lookup collection ("<base>_lookup_v<N>"):
// what a projection remembers about an id so that later events, which name
// only the id, find their document and the person's email. Each projection
// keeps its own (one writer per collection), and every hot path reads it by
// _id.
type ref struct {
	ID    string       `bson:"_id"`
	OrgID domain.OrgID `bson:"orgId,omitempty"`
	Email string       `bson:"email,omitempty"`
	// Row is the Users row of a user, invitation or registration (users
	// projection only).
	Row string `bson:"row,omitempty"`
	// Position is, for an org stamp, the last position that changed a
	// document of the organization (see orgKey).
	Position int64 `bson:"position,omitempty"`
	// Recent is, for an organization's change list (changesKey), which
	// rows changed lately (see recentRows). Org stamps written before the
	// list had a document of its own carry it too; nil on stamps written
	// before it existed, whose readers reload the whole organization.
	Recent *recentRows `bson:"recent,omitempty"`
	// Seq numbers an organization's change lists: the live one
	// (changesKey) and the full ones archived before it (archiveKey).
	Seq int64 `bson:"seq,omitempty"`
}

// Keys of ref documents. Ids are letters, digits, '-' and '_', so the
// prefixes cannot collide.
func userKey(id domain.UserID) string                 { return "user:" + string(id) }
func invitationKey(id domain.InvitationID) string     { return "invitation:" + string(id) }
func registrationKey(id domain.RegistrationID) string { return "registration:" + string(id) }

// orgKey is the org stamp: the users projection moves it forward whenever
// a row of the organization changes, after the row is written, so a reader
// that cached the organization's rows can tell by one _id read whether
// they are still current. The stamp is a position alone (stamps written
// before changesKey existed also carry the change list).
func orgKey(id domain.OrgID) string { return orgKeyPrefix + string(id) }

const orgKeyPrefix = "org:"

// changesKey is the organization's change list (Position and Recent),
// which tells a reader whose rows are behind the stamp which rows to
// fetch again. It is a document of its own, written before the stamp,
// because every Users page reads the stamp, and only a reader that is
// behind needs the list: a stamp with a 256-entry list is about 10 KiB,
// which FerretDB decodes whole on every read.
func changesKey(id domain.OrgID) string { return changesKeyPrefix + string(id) }

const changesKeyPrefix = "changes:"

// archiveKey is where the organization's full change list number seq is
// kept once the live list moved past it: a ring of archivedLists slots,
// so that a reader further behind than one list patches its rows from
// up to that many more (see MongoReader.orgRows) instead of reloading
// the organization. A reload takes longer than 256 changes at a few
// hundred a second, so a reader that had to reload would otherwise find
// itself behind the live list again, and reload again, for as long as the
// load lasts.
func archiveKey(id domain.OrgID, seq int64) string {
	return changesKey(id) + "#" + strconv.FormatInt(seq%archivedLists, 10)
}

// archivedLists is how many full change lists are kept behind the live
// one: with it, 2,304 changes.
const archivedLists = 8

// personRef names a user by id and, when the projection has seen them
// join, email.
func personRef(refs table[ref], id domain.UserID) Ref {
	r, _ := refs.get(userKey(id))
	return Ref{UserID: id, Email: r.Email}
}

// rememberUser records a user's email (and Users row) for later lookups.
// Users never change their address, so redelivery writes the same entry.
func rememberUser(refs table[ref], org domain.OrgID, id domain.UserID, email, row string) {
	refs.put(userKey(id), ref{ID: userKey(id), OrgID: org, Email: email, Row: row})
}
