package readmodels

import (
	"strings"
	"time"

	"github.com/orgportal/onboarding/adapters/mongodb"
	"github.com/orgportal/onboarding/domain"
)

// pushRows hands the reader's Users page cache what a flush of the live
// users projection of this process (version) just stored, so that a page
// read after it finds its copy already at the new stamp: it reads the
// stamp as always, but neither the change list nor the changed rows.
//
// An organization is pushed only when the flush shows exactly what
// changed between the stamp stored before it and the one it stored: the
// stamp it replaced is known, the change list covers everything since
// (joined to the lists the flush archived, see flushedChanges), and every
// row the list names was written by this flush. Otherwise (a
// stamp caught up after a redelivery, a list restarted or archived in
// between) nothing is pushed and the next read refreshes from the
// database. A copy at any other stamp than the replaced one is left alone
// too (rowCache.push). Readers of other replicas never get pushes; they
// read as before.
func (r *MongoReader) pushRows(version int, rows *liveTable[User], refs *liveTable[ref]) {
	for _, id := range refs.order {
		org, ok := strings.CutPrefix(id, orgKeyPrefix)
		if !ok {
			continue
		}
		key := mongodb.CollectionName(UsersBase, version) + "/" + org
		if !r.pushOrg(key, domain.OrgID(org), rows, refs) {
			r.cache.notLive(key)
		}
	}
	r.cache.flushed(time.Now())
}

// pushOrg pushes the changes of org the flush made to the copy at key;
// false when it cannot show them exactly.
func (r *MongoReader) pushOrg(key string, org domain.OrgID, rows *liveTable[User], refs *liveTable[ref]) bool {
	stamp := refs.pending[orgKey(org)]
	list, listed := refs.pending[changesKey(org)]
	if stamp.delete || !stamp.baseKnown || !stamp.base.exists || !listed || list.delete || list.doc.Position != stamp.doc.Position {
		return false
	}
	keys, complete := flushedChanges(org, list.doc, refs, stamp.base.doc.Position).since(stamp.base.doc.Position)
	if !complete || len(keys) == 0 {
		return false
	}
	ids := make([]string, len(keys))
	changed := make([]User, 0, len(keys))
	for i, k := range keys {
		ids[i] = UserDocID(org, k) // sorted still: one prefix
		w, ok := rows.pending[ids[i]]
		if !ok {
			return false
		}
		if !w.delete {
			changed = append(changed, w.doc)
		}
	}
	r.cache.push(key, stamp.base.doc.Position, stamp.doc.Position, ids, changed)
	return true
}

// flushedChanges is the live change list live joined to the lists a
// flush archived before it (refs holds that flush's writes), as far as
// needed to reach back to since, the stamp the flush replaced; so that a
// flush in which the live list filled up and began anew still shows every
// change it made: the list fills every recentMax changes, and without the
// archived part the flush that fills it could not be pushed. It stops at
// the first list the flush did not write, or one that does not end where
// the next begins (the ring of archivedLists slots wrapped within the
// flush).
func flushedChanges(org domain.OrgID, live ref, refs *liveTable[ref], since int64) *recentRows {
	recent := live.Recent
	for seq := live.Seq - 1; recent != nil && recent.from > since && seq >= 0 && seq >= live.Seq-archivedLists; seq-- {
		w, ok := refs.pending[archiveKey(org, seq)]
		if !ok || w.delete || w.doc.Seq != seq || w.doc.Position != recent.from || w.doc.Recent == nil {
			break
		}
		recent = w.doc.Recent.join(recent)
	}
	return recent
}
