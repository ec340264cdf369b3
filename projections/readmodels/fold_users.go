package readmodels

import (
	"fmt"
	"strings"
	"time"

	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections"
)

// usersEventTypes are the events that change the Users rows (or the
// lookups they need).
var usersEventTypes = []string{
	domain.TypeUserInvited, domain.TypeInvitationResent, domain.TypeInvitationRevoked,
	domain.TypeRegistrationStarted, domain.TypeRegistrationRejected,
	domain.TypeMemberJoined, domain.TypeMemberRoleChanged, domain.TypeMemberRemoved,
}

// foldUsers applies one event to the Users rows.
//
// A row is one organization and normalized address, from the first
// invitation or registration on: invited → pending_verification (a
// self-service registration waits for verification) → active (MemberJoined,
// whatever the way in) → removed. An invitation that is revoked, or a
// registration that is rejected, of someone who never joined deletes the
// row (the invitations list keeps the revoked invitation); a former member's
// row goes back to removed. A pending invitation that merely expires keeps
// its row invited, with ExpiresAt telling the page.
//
// Each row remembers the position of the last event applied to it and
// skips events at or below it; lookups are rewritten unconditionally (they
// never change), so a redelivery that finds its row already written still
// completes them.
func foldUsers(rows table[User], refs table[ref], e projections.Envelope) error {
	f := usersFold{rows: rows, refs: refs, pos: int64(e.Position), at: millis(e.At())}
	switch ev := e.Event.(type) {
	case domain.UserInvited:
		return f.invited(ev)
	case domain.InvitationResent:
		return f.onInvitationRow(ev.InvitationID, func(u *User) bool {
			if u.Status != StatusInvited || u.InvitationID != ev.InvitationID {
				return false
			}
			u.ExpiresAt = timePtr(millis(ev.ExpiresAt))
			return true
		})
	case domain.InvitationRevoked:
		return f.onInvitationRow(ev.InvitationID, func(u *User) bool {
			if u.Status != StatusInvited || u.InvitationID != ev.InvitationID {
				return false
			}
			u.InvitationID = ""
			u.ExpiresAt = nil
			f.withdraw(u)
			return true
		})
	case domain.RegistrationStarted:
		return f.registrationStarted(ev)
	case domain.RegistrationRejected:
		return f.registrationRejected(ev)
	case domain.MemberJoined:
		return f.joined(ev)
	case domain.MemberRoleChanged:
		return f.onMemberRow(ev.UserID, func(u *User) bool {
			u.Role = ev.To
			return true
		})
	case domain.MemberRemoved:
		return f.onMemberRow(ev.UserID, func(u *User) bool {
			u.Status = StatusRemoved
			u.RemovedAt = timePtr(f.at)
			u.InvitationID = ""
			return true
		})
	}
	return nil
}

type usersFold struct {
	rows table[User]
	refs table[ref]
	pos  int64
	at   time.Time
}

func (f usersFold) invited(ev domain.UserInvited) error {
	id := UserDocID(ev.OrgID, ev.NormalizedEmail)
	f.refs.put(invitationKey(ev.InvitationID), ref{ID: invitationKey(ev.InvitationID), OrgID: ev.OrgID, Email: ev.Email, Row: id})
	inviter := personRef(f.refs, ev.InvitedBy)
	f.change(ev.OrgID, id, func(u *User, exists bool) bool {
		if exists && u.Status == StatusActive {
			return false // the domain never invites a member; keep the row as it is
		}
		if !exists {
			*u = newRow(ev.OrgID, id, ev.NormalizedEmail)
		}
		u.Email = ev.Email
		if ev.Name != "" {
			// The inviter's name for them, until their own replaces it.
			u.Name, u.NameFold = ev.Name, foldName(ev.Name)
		}
		u.Status = StatusInvited
		u.Role = ev.Role
		u.InvitationID = ev.InvitationID
		u.InvitedBy = &inviter
		u.InvitedAt = timePtr(f.at)
		u.ExpiresAt = timePtr(millis(ev.ExpiresAt))
		return true
	})
	return nil
}

func (f usersFold) registrationStarted(ev domain.RegistrationStarted) error {
	id := UserDocID(ev.OrgID, ev.NormalizedEmail)
	f.refs.put(registrationKey(ev.RegistrationID), ref{ID: registrationKey(ev.RegistrationID), OrgID: ev.OrgID, Email: ev.Email, Row: id})
	f.change(ev.OrgID, id, func(u *User, exists bool) bool {
		switch {
		case !exists:
			*u = newRow(ev.OrgID, id, ev.NormalizedEmail)
		case u.Status == StatusActive:
			return false // RegistrationAttemptedByMember is what members get; nothing to show
		}
		u.RegistrationID = ev.RegistrationID
		if u.Status == StatusInvited {
			// Registered through the link while an invitation is open:
			// still invited, whichever way they complete.
			return true
		}
		u.Email = ev.Email
		u.Name, u.NameFold = ev.Name, foldName(ev.Name)
		u.Status = StatusPendingVerification
		u.ExpiresAt = timePtr(millis(ev.ExpiresAt))
		return true
	})
	return nil
}

func (f usersFold) registrationRejected(ev domain.RegistrationRejected) error {
	r, ok := f.refs.get(registrationKey(ev.RegistrationID))
	if !ok {
		return fmt.Errorf("users: RegistrationRejected of registration %s that never started", ev.RegistrationID)
	}
	f.change(r.OrgID, r.Row, func(u *User, exists bool) bool {
		if !exists || u.RegistrationID != ev.RegistrationID {
			return false
		}
		u.RegistrationID = ""
		if u.Status == StatusPendingVerification {
			u.ExpiresAt = nil
			f.withdraw(u)
		}
		return true
	})
	return nil
}

func (f usersFold) joined(ev domain.MemberJoined) error {
	id := UserDocID(ev.OrgID, ev.NormalizedEmail)
	rememberUser(f.refs, ev.OrgID, ev.UserID, ev.Email, id)
	f.change(ev.OrgID, id, func(u *User, exists bool) bool {
		if !exists {
			*u = newRow(ev.OrgID, id, ev.NormalizedEmail)
		}
		invitedAt := u.InvitedAt
		u.UserID = ev.UserID
		u.Email = ev.Email
		u.Name, u.NameFold = ev.Name, foldName(ev.Name)
		u.Status = StatusActive
		u.Role = ev.Role
		u.JoinedVia = ev.Via
		u.JoinedAt = timePtr(f.at)
		u.InvitedBy, u.InvitedAt = nil, nil
		if ev.InvitedBy != "" {
			inviter := personRef(f.refs, ev.InvitedBy)
			u.InvitedBy = &inviter
			u.InvitedAt = timePtr(f.at) // a manual add: invited and joined at once
			if ev.Via == domain.JoinedViaInvitation && invitedAt != nil && u.InvitationID == ev.InvitationID {
				u.InvitedAt = invitedAt
			}
		}
		u.InvitationID = ev.InvitationID
		u.RegistrationID = ""
		u.ExpiresAt, u.RemovedAt = nil, nil
		return true
	})
	return nil
}

// onInvitationRow changes the row an invitation was written to; a row that
// is gone (revoked before) is left alone.
func (f usersFold) onInvitationRow(inv domain.InvitationID, change func(*User) bool) error {
	r, ok := f.refs.get(invitationKey(inv))
	if !ok {
		return fmt.Errorf("users: event of invitation %s that was never issued", inv)
	}
	f.change(r.OrgID, r.Row, func(u *User, exists bool) bool { return exists && change(u) })
	return nil
}

// onMemberRow changes a member's row; an event about a user who never
// joined means the history is not what the domain writes, which must stop
// the projection rather than be skipped.
func (f usersFold) onMemberRow(user domain.UserID, change func(*User) bool) error {
	r, ok := f.refs.get(userKey(user))
	if !ok || r.Row == "" {
		return fmt.Errorf("users: event about user %s, who never joined", user)
	}
	f.change(r.OrgID, r.Row, func(u *User, exists bool) bool {
		if !exists || u.UserID != user {
			return false
		}
		return change(u)
	})
	return nil
}

// change applies edit to row id unless the row has seen this position
// already; edit reports whether it changed anything (a deleted row has
// Status ""). The org stamp moves with every change, and lists the row.
func (f usersFold) change(org domain.OrgID, id string, edit func(u *User, exists bool) bool) {
	u, exists := f.rows.get(id)
	if exists && u.Position >= f.pos {
		// Applied before (a redelivery). The stamp is written after the
		// row (live apply writes stamps in a second phase of each flush),
		// so a crash in between leaves it behind the row: make sure it
		// covers the row.
		f.catchUp(org, u.Position)
		return
	}
	if !edit(&u, exists) {
		if !exists {
			// Nothing to change, or this event deleted the row on an
			// earlier delivery whose stamp write was lost: list the row,
			// so that a reader holding it drops it.
			f.stamp(org, id, f.pos)
		}
		return
	}
	if u.Status == "" {
		if exists {
			f.rows.del(id)
		}
	} else {
		u.Position = f.pos
		u.UpdatedAt = f.at
		f.rows.put(id, u)
	}
	f.stamp(org, id, f.pos)
}

// stamp moves the org stamp forward to pos, listing row id as changed
// there in the organization's change list (see recentRows, changesKey).
func (f usersFold) stamp(org domain.OrgID, id string, pos int64) {
	stamp, ok := f.refs.get(orgKey(org))
	if ok && stamp.Position >= pos {
		return
	}
	key, storable := rowKey(org, id)
	list, seq := f.changes(org, stamp)
	list = list.add(stamp.Position, pos, key, storable)
	if len(list.changes) >= recentMax {
		// Full: archived, and a new live list begins where it ends.
		f.refs.put(archiveKey(org, seq), ref{ID: archiveKey(org, seq), Position: pos, Recent: list, Seq: seq})
		list, seq = &recentRows{from: pos}, seq+1
	}
	f.setStamp(org, pos, list, seq)
}

// catchUp moves the org stamp forward to pos, a row's position that the
// stamp does not cover. The changes in between are lost with the stamp
// write, so the list restarts empty at pos: readers holding older rows
// reload them all.
func (f usersFold) catchUp(org domain.OrgID, pos int64) {
	if stamp, ok := f.refs.get(orgKey(org)); !ok || stamp.Position < pos {
		_, seq := f.changes(org, stamp)
		f.setStamp(org, pos, &recentRows{from: pos}, seq+1)
	}
}

// setStamp writes the change list, then the stamp, both at pos. Live apply
// writes the stamp after every other document of a flush (it is "late"),
// so a reader that sees the stamp at pos finds the list at pos or later.
func (f usersFold) setStamp(org domain.OrgID, pos int64, changes *recentRows, seq int64) {
	f.refs.put(changesKey(org), ref{ID: changesKey(org), Position: pos, Recent: changes, Seq: seq})
	f.refs.put(orgKey(org), ref{ID: orgKey(org), Position: pos})
}

// changes is the change list that belongs to stamp: the list's document
// when it is at the stamp's position, or the list a stamp written before
// the list had a document of its own carries. Anything else (the list
// written, the stamp lost with a crash between the two) is nil, which
// recentRows.add restarts complete from the stamp's position. seq is the
// live list's number, kept even when its list is not (a list that
// restarts takes the next number, so that no reader joins it to an
// archived one it does not continue).
func (f usersFold) changes(org domain.OrgID, stamp ref) (list *recentRows, seq int64) {
	doc, ok := f.refs.get(changesKey(org))
	switch {
	case stamp.Recent != nil:
		return stamp.Recent, doc.Seq
	case ok && doc.Position == stamp.Position:
		return doc.Recent, doc.Seq
	}
	return nil, doc.Seq + 1
}

// withdraw ends the pending state of a row whose invitation or
// registration went away: back to the other pending thing, or to removed
// for a former member, or gone (Status "") for someone who never joined.
func (f usersFold) withdraw(u *User) {
	switch {
	case u.RegistrationID != "":
		u.Status = StatusPendingVerification
	case u.InvitationID != "" && u.Status == StatusPendingVerification:
		u.Status = StatusInvited
	case u.UserID != "":
		u.Status = StatusRemoved
	default:
		u.Status = ""
	}
}

func newRow(org domain.OrgID, id, normalized string) User {
	return User{ID: id, OrgID: org, NormalizedEmail: normalized}
}

// foldName is the form names are searched and sorted by.
func foldName(name string) string { return strings.ToLower(name) }

// millis truncates to what BSON dates keep, so that a document folded in
// memory (rebuild) equals one read back from the database (live).
func millis(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func timePtr(t time.Time) *time.Time { return &t }
