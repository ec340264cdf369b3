package main

// Browser tests: the portal pages in headless Chromium, against the built
// binary on the embedded stack, with mail through Mailpit. One browser and
// one portal serve the subtests; each person gets a tab, and people other
// than the admin a browser context of their own (no shared cookies). The
// expiry test needs a portal with a one-minute invitation TTL (the least
// the configuration allows) and runs beside the others while it waits.
//
//	go test -run Browser ./cmd/portal/            # needs chromium and mailpit
//	PORTAL_REQUIRE_CHROMIUM=1 go test -run Browser ./cmd/portal/   # fail instead of skipping

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func TestBrowserPortal(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: builds and runs the binary and Chromium; skipped with -short")
	}
	chromium := chromiumPath(t)
	portalBinary(t) // build once, before the clock of any subtest runs
	browserCtx := startBrowser(t, chromium)

	t.Run("ExpiredInvitation", func(t *testing.T) {
		t.Parallel()
		browserExpiredInvitation(t, browserCtx)
	})

	p := startBrowserPortal(t, nil)
	admin := newBrowserTab(t, browserCtx, p.base, "admin", false)
	admin.signIn("owner@acme.example", browserOwnerPassword)
	if loc := admin.location(); !strings.HasPrefix(loc, "/users") {
		t.Fatalf("the owner landed on %s, want the Users page", loc)
	}

	t.Run("InviteAcceptActive", func(t *testing.T) {
		t.Parallel()
		browserInviteAndAccept(t, browserCtx, p)
	})
	t.Run("SelfServiceCopyRegisterVerifyRotate", func(t *testing.T) {
		t.Parallel()
		browserSelfService(t, browserCtx, p)
	})
}

// An admin invites three addresses; one invitee opens the mailed link,
// registers and appears as Active on the Users page.
func browserInviteAndAccept(t *testing.T, browserCtx context.Context, p *browserPortal) {
	admin := newBrowserTab(t, browserCtx, p.base, "admin-invite", false)
	admin.open("/users")
	admin.press(`a[href="/users/invite"]`)
	admin.wantText("Invite users", "Email addresses")
	admin.fill("f-emails", "Ann Example <ann@example.org>, bob@example.org\ncy@example.org")
	admin.choose("f-role", "member")
	admin.press(`main form button[type="submit"]`)
	admin.wantText("Outcome per address")
	for _, addr := range []string{"ann@example.org", "bob@example.org", "cy@example.org"} {
		if got := admin.text(`#invite-results tr[data-email="` + addr + `"]`); !strings.Contains(got, "Invited") {
			t.Errorf("outcome of %s: %q", addr, got)
		}
	}
	// Back to the Users page, which waits for the new rows.
	admin.press(`a.button[href^="/users?consistency="]`)

	token := p.mailLink(t, "ann@example.org", "invitation-", "/invite")
	ann := newBrowserTab(t, browserCtx, p.base, "ann", true)
	if status := ann.open("/invite/" + url.PathEscape(token)); status != 200 {
		t.Fatalf("invitation page: %d", status)
	}
	ann.wantText("Join Browser Test Org", "ann@example.org")
	if v := ann.value("f-email"); v != "ann@example.org" {
		t.Errorf("the invited address field shows %q", v)
	}
	// The name pasted before her address fills the form in.
	if v := ann.value("f-name"); v != "Ann Example" {
		t.Errorf("the name field shows %q, want the name the admin pasted", v)
	}
	ann.fill("f-password", browserMemberPassword)
	// A double click sends the form once (app.js): the answer the browser
	// shows is the one to the request that accepted.
	if sent := ann.submitTwice(`main form`); sent != "1" {
		t.Errorf("a double submission sent the form %s times, want 1", sent)
	}
	if loc := ann.location(); !strings.HasPrefix(loc, "/account") {
		t.Fatalf("after accepting Ann is at %s, want /account", loc)
	}
	ann.wantText("Welcome!", "ann@example.org", "Browser Test Org")

	admin.waitFor("/users", "Ann as Active on the Users page", func() bool {
		return admin.textNow(`#members tr[data-email="ann@example.org"] .badge`) == "Active"
	})
	row := admin.text(`#members tr[data-email="ann@example.org"]`)
	for _, want := range []string{"Ann Example", "owner@acme.example", "Invitation"} {
		if !strings.Contains(row, want) {
			t.Errorf("Ann's row does not show %q: %q", want, row)
		}
	}
	for _, addr := range []string{"bob@example.org", "cy@example.org"} {
		if got := admin.textNow(`#members tr[data-email="` + addr + `"] .badge`); got != "Invited" {
			t.Errorf("%s's badge: %q, want Invited", addr, got)
		}
		if inv := admin.textNow(`#invitations tr[data-email="` + addr + `"]`); !strings.Contains(inv, "Resend") {
			t.Errorf("%s has no open invitation to resend: %q", addr, inv)
		}
	}
}

// The self-service URL is copied with the Copy button, opened in another
// person's browser, used to register and verify (the mail through
// Mailpit), and the new member appears; after Rotate the old URL shows
// the "no longer valid" page.
func browserSelfService(t *testing.T, browserCtx context.Context, p *browserPortal) {
	admin := newBrowserTab(t, browserCtx, p.base, "admin-link", false)
	if err := grantClipboard(admin.ctx, p.base); err != nil {
		t.Logf("clipboard permission not granted (%v); reading what the button copied from the page", err)
	}
	admin.open("/settings/self-service")
	admin.wantText("Identity Configuration", "Provisioning", "Self Service", "Registration URL")
	shown := admin.value("link-url")
	admin.step("copy", chromedp.Click(chromedp.CSS(`button[data-copy-target="link-url"]`)))
	copied := ""
	deadline := time.Now().Add(browserStepTimeout)
	for copied == "" && time.Now().Before(deadline) {
		copied = admin.eval(`document.querySelector('[data-copy-target="link-url"]').getAttribute('data-copied') || ""`)
		time.Sleep(50 * time.Millisecond)
	}
	if copied == "" || copied != shown || !strings.HasPrefix(copied, p.base+"/join/") {
		t.Fatalf("the Copy button copied %q; the field shows %q", copied, shown)
	}
	if status := admin.text("#copy-status"); !strings.Contains(status, "Copied") {
		t.Errorf("no confirmation of the copy: %q", status)
	}
	clipboardCtx, cancel := context.WithTimeout(admin.ctx, 5*time.Second)
	if clip, err := chromedp.Run(clipboardCtx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); err == nil {
		if clip != copied {
			t.Errorf("the clipboard holds %q, want %q", clip, copied)
		}
	} else {
		t.Logf("clipboard not readable here (%v); checked the copied text on the button", err)
	}
	cancel()

	// Another person's browser opens the copied URL.
	dee := newBrowserTab(t, browserCtx, p.base, "dee", true)
	if status := dee.open(copied); status != 200 {
		t.Fatalf("registration page: %d", status)
	}
	dee.wantText("Join Browser Test Org")
	dee.fill("f-name", "Dee Self")
	dee.fill("f-email", "dee@example.org")
	dee.fill("f-password", browserMemberPassword)
	dee.press(`main form button[type="submit"]`)
	dee.wantText("Check your email", "dee@example.org")

	token := p.mailLink(t, "dee@example.org", "verification-", "/verify")
	if status := dee.open("/verify/" + url.PathEscape(token)); status != 200 {
		t.Fatalf("verification page: %d", status)
	}
	dee.wantText("Confirm your email address", "dee@example.org")
	dee.press(`main form button[type="submit"]`)
	dee.wantText("Your email address is confirmed")
	dee.signIn("dee@example.org", browserMemberPassword)
	if loc := dee.location(); !strings.HasPrefix(loc, "/account") {
		t.Fatalf("Dee signed in to %s, want /account", loc)
	}
	dee.wantText("dee@example.org", "Member")

	// Rotate: warned first, then a new URL; the old one is dead.
	admin.open("/settings/self-service")
	admin.press(`a[href="/settings/self-service/rotate"]`)
	admin.wantText("The current URL stops working at once")
	admin.press(`main form button[type="submit"]`)
	admin.wantText("The previous URL no longer works")
	if now := admin.value("link-url"); now == copied || !strings.HasPrefix(now, p.base+"/join/") {
		t.Fatalf("after rotating the URL is %q (before: %q)", now, copied)
	}
	stranger := newBrowserTab(t, browserCtx, p.base, "stranger", true)
	if status := stranger.open(copied); status != 410 {
		t.Errorf("the old URL answered %d, want 410", status)
	}
	stranger.wantText("This registration link is no longer valid", "current link")

	// The new member on the Users page (the read models follow).
	admin.waitFor("/users", "Dee as Active on the Users page", func() bool {
		return admin.textNow(`#members tr[data-email="dee@example.org"] .badge`) == "Active"
	})
	if row := admin.text(`#members tr[data-email="dee@example.org"]`); !strings.Contains(row, "Self-service link") {
		t.Errorf("Dee's row does not say how she joined: %q", row)
	}
}

// An invitation that expired shows its page: what happened and what to do.
func browserExpiredInvitation(t *testing.T, browserCtx context.Context) {
	p := startBrowserPortal(t, map[string]string{"PORTAL_INVITATION_TTL": "1m"})
	api := p.base + "/api/v1"
	status, body, _ := call(t, "POST", api+"/session", "", map[string]string{"email": "owner@acme.example", "password": browserOwnerPassword})
	if status != 200 {
		t.Fatalf("owner sign-in: %d %v", status, body)
	}
	session, _ := body["token"].(string)
	org, _ := body["orgId"].(string)
	status, body, _ = call(t, "POST", api+"/orgs/"+org+"/invitations", session, map[string]any{"emails": "late@example.org"})
	if status != 200 {
		t.Fatalf("invite: %d %v", status, body)
	}
	invitedAt := time.Now()
	token := p.mailLink(t, "late@example.org", "invitation-", "/invite")

	late := newBrowserTab(t, browserCtx, p.base, "late", true)
	if status := late.open("/invite/" + url.PathEscape(token)); status != 200 {
		t.Fatalf("the fresh invitation answered %d", status)
	}
	time.Sleep(time.Until(invitedAt.Add(time.Minute + time.Second)))
	if status := late.open("/invite/" + url.PathEscape(token)); status != 410 {
		t.Errorf("the expired invitation answered %d, want 410", status)
	}
	late.wantText("This invitation has expired", "ask the person who invited you to send it again")
}
