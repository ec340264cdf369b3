package commands_test

import (
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/orgportal/onboarding/commands"
	"github.com/orgportal/onboarding/domain"
)

func TestAddMemberManually_ThenPasswordSetup(t *testing.T) {
	e := newEnv(t)
	res, err := e.h.AddMemberManually(e.ctx, e.asOwner, commands.AddMemberInput{OrgID: e.org, Email: e.addr("Mia"), Name: "<b>Mia</b>", Role: "admin"})
	if err != nil || res.Position == 0 {
		t.Fatalf("add: %+v %v", res, err)
	}
	m, ok := e.orgState().Member(res.UserID)
	if !ok || m.Role != domain.RoleAdmin || m.Via != domain.JoinedViaManual || m.Name != "<b>Mia</b>" {
		t.Fatalf("member: %+v", m)
	}
	_, err = e.signIn(e.addr("mia"), goodPassword)
	wantErr(t, err, domain.KindUnauthenticated, domain.CodeInvalidCredentials)
	token := e.passwordToken(e.signers.PasswordSetup, res.UserID)
	if _, err := e.h.CompletePasswordSetup(e.ctx, commands.Request{}, token, goodPassword); err != nil {
		t.Fatal(err)
	}
	if _, err := e.signIn(e.addr("mia"), goodPassword); err != nil {
		t.Fatalf("sign in after setup: %v", err)
	}
	_, err = e.h.CompletePasswordSetup(e.ctx, commands.Request{}, token, goodPassword)
	wantErr(t, err, domain.KindGone, domain.CodePasswordTokenUsed)

	_, err = e.h.AddMemberManually(e.ctx, e.asOwner, commands.AddMemberInput{OrgID: e.org, Email: e.addr("MIA"), Name: "Again"})
	wantErr(t, err, domain.KindConflict, domain.CodeAlreadyMember)
	_, err = e.h.AddMemberManually(e.ctx, e.asOwner, commands.AddMemberInput{OrgID: e.org, Email: "bad", Name: "", Role: "owner"})
	wantErr(t, err, domain.KindInvalid, domain.CodeValidationFailed)
	var de *domain.Error
	if !errors.As(err, &de) || len(de.Fields) != 3 {
		t.Fatalf("field errors: %+v", de)
	}
	_, err = e.h.AddMemberManually(e.ctx, e.as(res.UserID+"x"), commands.AddMemberInput{OrgID: e.org, Email: e.addr("z"), Name: "Z"})
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
}

func TestRolesAndRemoval(t *testing.T) {
	e := newEnv(t)
	admin := e.member("adam", "admin")
	plain := e.member("paul", "member")

	_, err := e.h.ChangeMemberRole(e.ctx, e.as(plain), e.org, admin, "member")
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
	_, err = e.h.ChangeMemberRole(e.ctx, e.as(admin), e.org, e.owner, "member")
	wantErr(t, err, domain.KindForbidden, domain.CodeOwnerRequired)
	_, err = e.h.ChangeMemberRole(e.ctx, e.asOwner, e.org, e.owner, "admin")
	wantErr(t, err, domain.KindConflict, domain.CodeLastOwner)
	_, err = e.h.RemoveMember(e.ctx, e.asOwner, e.org, e.owner)
	wantErr(t, err, domain.KindConflict, domain.CodeLastOwner)
	_, err = e.h.ChangeMemberRole(e.ctx, e.asOwner, e.org, plain, "boss")
	wantErr(t, err, domain.KindInvalid, domain.CodeInvalidRole)
	_, err = e.h.RemoveMember(e.ctx, e.asOwner, e.org, "no-such-user")
	wantErr(t, err, domain.KindNotFound, domain.CodeMemberNotFound)

	res, err := e.h.ChangeMemberRole(e.ctx, e.as(admin), e.org, plain, "admin")
	if err != nil || res.Position == 0 {
		t.Fatalf("promote: %+v %v", res, err)
	}
	if again, err := e.h.ChangeMemberRole(e.ctx, e.as(admin), e.org, plain, "admin"); err != nil || again.Position != 0 {
		t.Fatalf("repeat: %+v %v", again, err)
	}
	if _, err := e.h.ChangeMemberRole(e.ctx, e.asOwner, e.org, admin, "owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.h.ChangeMemberRole(e.ctx, e.as(admin), e.org, e.owner, "member"); err != nil {
		t.Fatalf("a second owner demotes the first: %v", err)
	}

	session, err := e.signIn(e.addr("paul"), goodPassword)
	e.must(err)
	removed, err := e.h.RemoveMember(e.ctx, e.as(admin), e.org, plain)
	if err != nil || removed.Position == 0 {
		t.Fatalf("remove: %+v %v", removed, err)
	}
	if _, ok := e.orgState().Member(plain); ok {
		t.Fatal("still a member")
	}
	_, err = e.h.Authenticate(e.ctx, session.Token)
	wantErr(t, err, domain.KindUnauthenticated, domain.CodeSessionEnded)
	_, err = e.signIn(e.addr("paul"), goodPassword)
	wantErr(t, err, domain.KindUnauthenticated, domain.CodeInvalidCredentials)
	// The address can be invited again.
	again, err := e.h.InviteUsers(e.ctx, e.as(admin), commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("paul")}})
	if err != nil || again.Results[0].Status != commands.InviteInvited {
		t.Fatalf("re-invite: %+v %v", again, err)
	}
	// The demoted first owner administers nothing any more.
	_, err = e.h.RemoveMember(e.ctx, e.asOwner, e.org, admin)
	wantErr(t, err, domain.KindForbidden, domain.CodeNotAnAdmin)
}

func TestEveryEventCarriesRequestMetadata(t *testing.T) {
	e := newEnv(t)
	req := commands.Request{Actor: domain.UserActor(e.owner), CorrelationID: "corr-" + randomHex(4), CausationID: "cause-1"}
	res, err := e.h.InviteUsers(e.ctx, req, commands.InviteUsersInput{OrgID: e.org, Emails: []string{e.addr("nina")}})
	e.must(err)
	id := res.Results[0].InvitationID
	accepted, err := e.h.AcceptInvitation(e.ctx, commands.Request{CorrelationID: "corr-accept"}, commands.AcceptInput{Token: e.invitationToken(id), Name: "Nina", Password: goodPassword})
	e.must(err)

	// check reads the first count events of a stream.
	check := func(stream domain.StreamName, count uint64, actor string, correlation string) {
		t.Helper()
		rs, err := sharedConn.Client().ReadStream(e.ctx, string(stream), esdb.ReadStreamOptions{From: esdb.Start{}}, count)
		e.must(err)
		defer rs.Close()
		n := 0
		for {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			e.must(err)
			_, meta, err := sharedCodec.Decode(ev.OriginalEvent())
			e.must(err)
			if meta.Actor != actor || meta.CorrelationID != correlation || meta.CausationID == "" || meta.RequestTime.IsZero() {
				t.Errorf("%s: metadata %+v", stream, meta)
			}
			var payload map[string]any
			e.must(json.Unmarshal(ev.OriginalEvent().Data, &payload))
			n++
		}
		if n == 0 {
			t.Errorf("%s: no events", stream)
		}
	}
	check(domain.InvitationStream(id), 1, string(e.owner), req.CorrelationID)
	check(domain.UserStream(accepted.UserID), 100, string(accepted.UserID), "corr-accept")
	check(domain.LoginStream(domain.MustParseEmail(e.addr("nina"))), 100, string(accepted.UserID), "corr-accept")
	reg, err := e.register(e.linkToken(), e.addr("rita"))
	e.must(err)
	check(domain.RegistrationStream(reg.RegistrationID), 100, string(domain.ActorSelfServiceLink), regCorrelation(e, reg))
}

// regCorrelation reads the generated correlation id of a registration.
func regCorrelation(e *env, reg commands.RegisterResult) string {
	rs, err := sharedConn.Client().ReadStream(e.ctx, string(domain.RegistrationStream(reg.RegistrationID)), esdb.ReadStreamOptions{From: esdb.Start{}}, 1)
	e.must(err)
	defer rs.Close()
	ev, err := rs.Recv()
	e.must(err)
	_, meta, err := sharedCodec.Decode(ev.OriginalEvent())
	e.must(err)
	if meta.CorrelationID == "" {
		e.t.Fatal("no generated correlation id")
	}
	return meta.CorrelationID
}
