package domain

import (
	"testing"
	"time"
)

func TestDecideSession(t *testing.T) {
	started := SessionStarted{SessionID: "s-1", UserID: newcomerID, OrgID: orgID, ExpiresAt: t0.Add(DefaultSessionTTL)}
	runSpecs(t, EvolveSession, DecideSession, []spec[SessionCommand]{
		{
			name: "a sign-in starts a session with the default lifetime",
			when: StartSession{SessionID: "s-1", UserID: newcomerID, OrgID: orgID},
			then: []Event{started},
		},
		{
			name: "a configured lifetime is used",
			when: StartSession{SessionID: "s-1", UserID: newcomerID, OrgID: orgID, TTL: time.Hour},
			then: []Event{SessionStarted{SessionID: "s-1", UserID: newcomerID, OrgID: orgID, ExpiresAt: t0.Add(time.Hour)}},
		},
		{
			name: "a session id is not reused", given: []Event{started},
			when:     StartSession{SessionID: "s-1", UserID: newcomerID, OrgID: orgID},
			wantKind: KindConflict, wantCode: CodeSessionExists,
		},
		{
			name:     "ids are required",
			when:     StartSession{SessionID: "s-1"},
			wantKind: KindInvalid, wantCode: CodeValidationFailed,
		},
		{
			name: "signing out ends the session", given: []Event{started},
			when: EndSession{},
			then: []Event{SessionEnded{SessionID: "s-1", UserID: newcomerID, OrgID: orgID}},
		},
		{
			name: "signing out twice records nothing", given: []Event{started, SessionEnded{SessionID: "s-1"}},
			when: EndSession{},
			then: nil,
		},
		{
			name:     "signing out of no session is unauthenticated",
			when:     EndSession{},
			wantKind: KindUnauthenticated, wantCode: CodeSessionInvalid,
		},
	})
}

func TestSessionCheck(t *testing.T) {
	started := SessionStarted{SessionID: "s-1", UserID: newcomerID, OrgID: orgID, ExpiresAt: t0.Add(time.Hour)}
	live := Fold(SessionState{}, EvolveSession, started)
	for name, tc := range map[string]struct {
		state SessionState
		now   time.Time
		code  string
	}{
		"live":    {live, t0, ""},
		"missing": {SessionState{}, t0, CodeSessionInvalid},
		"ended":   {Fold(live, EvolveSession, SessionEnded{SessionID: "s-1"}), t0, CodeSessionEnded},
		"expired": {live, t0.Add(time.Hour), CodeSessionExpired},
	} {
		err := tc.state.Check(tc.now)
		if CodeOf(err) != tc.code || (err != nil && !IsKind(err, KindUnauthenticated)) {
			t.Errorf("%s: got %v, want code %q", name, err, tc.code)
		}
	}
}

func TestDecideLogin(t *testing.T) {
	linked := LoginAccountLinked{UserID: newcomerID, OrgID: orgID}
	runSpecs(t, EvolveLogin, DecideLogin, []spec[LoginCommand]{
		{
			name: "an account is linked",
			when: LinkLoginAccount{UserID: newcomerID, OrgID: orgID},
			then: []Event{linked},
		},
		{
			name: "linking twice records nothing", given: []Event{linked},
			when: LinkLoginAccount{UserID: newcomerID, OrgID: orgID},
			then: nil,
		},
		{
			name: "a second organization's account is listed too", given: []Event{linked},
			when: LinkLoginAccount{UserID: "u-2", OrgID: "org-2"},
			then: []Event{LoginAccountLinked{UserID: "u-2", OrgID: "org-2"}},
		},
		{
			name: "unlinking names the organization", given: []Event{linked},
			when: UnlinkLoginAccount{UserID: newcomerID},
			then: []Event{LoginAccountUnlinked{UserID: newcomerID, OrgID: orgID}},
		},
		{
			name: "unlinking an unknown account records nothing", given: []Event{linked},
			when: UnlinkLoginAccount{UserID: "u-2"},
			then: nil,
		},
		{
			name:     "ids are required",
			when:     LinkLoginAccount{UserID: newcomerID},
			wantKind: KindInvalid, wantCode: CodeValidationFailed,
		},
	})
	state := Fold(LoginState{}, EvolveLogin, linked, LoginAccountLinked{UserID: "u-2", OrgID: "org-2"},
		LoginAccountUnlinked{UserID: newcomerID, OrgID: orgID})
	if len(state.Accounts) != 1 || state.Accounts[0].UserID != "u-2" {
		t.Fatalf("accounts after unlink: %+v", state.Accounts)
	}
}

func TestLoginStreamIsGlobalAndHidesTheAddress(t *testing.T) {
	a := LoginStream(MustParseEmail("Nina@Acme.test"))
	b := LoginStream(MustParseEmail("nina@acme.test"))
	if a != b || a.Category() != CategoryLogin || len(a.ID()) != 64 {
		t.Fatalf("login streams %q %q", a, b)
	}
	if a.ID() == MembershipKey(orgID, MustParseEmail("nina@acme.test")) {
		t.Fatal("login key collides with a membership key")
	}
	if SessionStream("s-1") != "session-s-1" {
		t.Fatalf("session stream %q", SessionStream("s-1"))
	}
}
