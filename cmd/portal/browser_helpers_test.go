package main

// Helpers of the browser tests: headless Chromium (Debian's chromium
// package) driven by chromedp against the built portal.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/orgportal/onboarding/adapters/smtp/smtptest"
)

// requireChromiumEnv, set to 1, turns a missing Chromium from a skip into
// a failure (CI sets it).
const requireChromiumEnv = "PORTAL_REQUIRE_CHROMIUM"

const (
	// browserStepTimeout bounds one browser step (a navigation, a click and the
	// page it loads); generous, the machine may be busy.
	browserStepTimeout = 30 * time.Second
	// browserReadModelTimeout bounds the wait for a change to show on a page
	// that reads the read models.
	browserReadModelTimeout = 45 * time.Second
	// browserOwnerPassword is the bootstrap owner's password.
	browserOwnerPassword = "correct horse battery staple"
	// browserMemberPassword is what everybody who joins chooses.
	browserMemberPassword = "a long passphrase of theirs"
)

// chromiumPath finds Chromium, or skips the test (fails it when
// PORTAL_REQUIRE_CHROMIUM=1) with a message that says how to install it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(requireChromiumEnv) == "1" {
		t.Fatalf("headless Chromium not found on PATH (%s=1); install it: apt-get install -y chromium", requireChromiumEnv)
	}
	t.Skipf("headless Chromium not installed (apt-get install -y chromium); set %s=1 to fail instead", requireChromiumEnv)
	return ""
}

// browserPortal is a running portal with its mail going to Mailpit, and
// the base URL its pages and links use.
type browserPortal struct {
	*child
	base string
	mail *smtptest.Mailpit
	data string
}

// startBrowserPortal runs the binary on the embedded stack with a
// bootstrap organization, its mail through Mailpit; extra adds or
// replaces variables.
func startBrowserPortal(t *testing.T, extra map[string]string) *browserPortal {
	t.Helper()
	mp := smtptest.StartMailpit(t, smtptest.MailpitConfig{})
	data := t.TempDir()
	env := map[string]string{
		"PORTAL_HTTP_ADDR":          "127.0.0.1:0",
		"PORTAL_DATA_DIR":           data,
		"PORTAL_LOG_FORMAT":         "json",
		"PORTAL_BOOTSTRAP_ORG":      "Browser Test Org",
		"PORTAL_BOOTSTRAP_EMAIL":    "owner@acme.example",
		"PORTAL_BOOTSTRAP_PASSWORD": browserOwnerPassword,
		"PORTAL_SMTP_URL":           mp.SMTPURL(),
		// The tests sign in and register many times from one address.
		"PORTAL_RATE_LIMIT_CLIENT":  "1000/1m",
		"PORTAL_RATE_LIMIT_SUBJECT": "1000/1m",
	}
	for k, v := range extra {
		env[k] = v
	}
	p := startPortal(t, env)
	base := "http://" + httpAddrFromJSONLog(t, p)
	pollReadyz(t, base, 200)
	return &browserPortal{child: p, base: base, mail: mp, data: data}
}

// mailLink waits for the mail of the given kind (the Message-ID starts
// with it: invitation-, verification-, ...) to an address and returns the
// token of its link under base+path.
func (p *browserPortal) mailLink(t *testing.T, to, kind, path string) string {
	t.Helper()
	var id string
	p.mail.WaitMessages(t, mailTimeout, kind+" mail to "+to, func(msgs []smtptest.MailpitMessage) bool {
		for _, m := range msgs {
			if m.Recipient() == to && strings.HasPrefix(m.MessageID, kind) {
				id = m.ID
				return true
			}
		}
		return false
	})
	m := p.mail.Mail(t, id)
	return smtptest.LinkToken(t, m.Text, p.base+path)
}

// startBrowser starts one headless Chromium for the test and its
// subtests; each tab (browserTab) is a context of its own in it.
func startBrowser(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithErrorf(t.Logf))
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser; it lives as long as ctx, so no
	// timeout here.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium %s: %v", chromium, err)
	}
	return ctx
}

// browserTab is one page in the browser, with the steps the tests take. fresh
// tabs have a browser context of their own: no cookies shared, as a
// different person's browser.
type browserTab struct {
	t    *testing.T
	ctx  context.Context
	base string
	name string
}

func newBrowserTab(t *testing.T, browserCtx context.Context, base, name string, fresh bool) *browserTab {
	t.Helper()
	var opts []chromedp.ContextOption
	if fresh {
		opts = append(opts, chromedp.WithNewBrowserContext())
	}
	ctx, cancel := chromedp.NewContext(browserCtx, opts...)
	b := &browserTab{t: t, ctx: ctx, base: base, name: name}
	t.Cleanup(func() {
		if t.Failed() {
			b.saveScreenshot()
		}
		cancel()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open tab %s: %v", name, err)
	}
	return b
}

// browserScreenshotDir keeps the screenshots of failed tests after the test's own
// temporary directories are gone ($TMPDIR moves it).
func browserScreenshotDir() string {
	return filepath.Join(os.TempDir(), "portal-browser-screenshots")
}

// saveScreenshot writes the page as it is into browserScreenshotDir and logs
// where, with the page's address and text.
func (b *browserTab) saveScreenshot() {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	// Quality 100 makes a PNG; anything less a JPEG.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot of tab %s: %v", b.name, err)
		return
	}
	dir := browserScreenshotDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Logf("screenshot of tab %s: %v", b.name, err)
		return
	}
	name := regexp.MustCompile(`[^A-Za-z0-9_-]+`).ReplaceAllString(b.t.Name()+"-"+b.name, "_")
	file := filepath.Join(dir, fmt.Sprintf("%s-%s.png", name, time.Now().Format("150405.000")))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Logf("screenshot of tab %s: %v", b.name, err)
		return
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	b.t.Logf("tab %s at %s: screenshot %s\npage text:\n%s", b.name, loc, file, text)
}

// step runs actions with the step timeout and fails the test on error.
func (b *browserTab) step(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("tab %s: %s: %v", b.name, what, err)
	}
}

// open navigates to a path of the portal (or a full URL) and returns the
// HTTP status of the page.
func (b *browserTab) open(pathOrURL string) int64 {
	b.t.Helper()
	u := pathOrURL
	if strings.HasPrefix(u, "/") {
		u = b.base + u
	}
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		b.t.Fatalf("tab %s: open %s: %v", b.name, pathOrURL, err)
	}
	return responseStatus(resp)
}

func responseStatus(resp *network.Response) int64 {
	if resp == nil {
		return 0
	}
	return resp.Status
}

// fill types into the field with the given id, as a person does.
func (b *browserTab) fill(id, value string) {
	b.t.Helper()
	b.step("fill #"+id,
		chromedp.Evaluate[chromedp.Void](`document.getElementById(`+strconv.Quote(id)+`).value = ""`),
		chromedp.SendKeys(chromedp.ID(id), value))
}

// choose picks an option of a select.
func (b *browserTab) choose(id, value string) {
	b.t.Helper()
	b.step("choose #"+id, chromedp.SetValue(chromedp.ID(id), value))
}

// press clicks the element css selects and waits for the page it loads.
func (b *browserTab) press(css string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(css)))); err != nil {
		b.t.Fatalf("tab %s: press %s: %v", b.name, css, err)
	}
}

// submitTwice sends the form css selects twice in a row, as a double
// click does, waits for the page that loads and returns how many of the
// two submissions went out: a listener added after app.js's sees the one
// it stopped as prevented, and the count crosses the navigation in
// sessionStorage.
func (b *browserTab) submitTwice(css string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	js := fmt.Sprintf(`(() => {
		const form = document.querySelector(%q);
		let sent = 0;
		form.addEventListener('submit', (e) => { if (!e.defaultPrevented) sent++; });
		form.requestSubmit();
		form.requestSubmit();
		sessionStorage.setItem('submissions', String(sent));
		return '';
	})()`, css)
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Evaluate[string](js))); err != nil {
		b.t.Fatalf("tab %s: submit %s twice: %v", b.name, css, err)
	}
	return b.eval(`sessionStorage.getItem('submissions') || ''`)
}

// text is the visible text of the first element css selects.
func (b *browserTab) text(css string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(css)))
	if err != nil {
		b.t.Fatalf("tab %s: text of %s: %v", b.name, css, err)
	}
	return s
}

func (b *browserTab) value(id string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Value(chromedp.ID(id)))
	if err != nil {
		b.t.Fatalf("tab %s: value of #%s: %v", b.name, id, err)
	}
	return s
}

func (b *browserTab) eval(js string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("tab %s: %s: %v", b.name, js, err)
	}
	return s
}

// location is the page's path and query.
func (b *browserTab) location() string {
	b.t.Helper()
	loc := b.eval(`location.pathname + location.search`)
	return loc
}

// textNow is the text of the first element css selects, "" when there is
// none; unlike text it does not wait for the element.
func (b *browserTab) textNow(css string) string {
	b.t.Helper()
	return b.eval(`(function(){var e=document.querySelector(` + strconv.Quote(css) + `);return e?e.innerText:"";})()`)
}

// wantText fails unless the main content says all of texts.
func (b *browserTab) wantText(texts ...string) {
	b.t.Helper()
	main := b.text("main")
	for _, s := range texts {
		if !strings.Contains(main, s) {
			b.t.Fatalf("tab %s at %s: the page does not say %q:\n%s", b.name, b.location(), s, main)
		}
	}
}

// waitFor reloads path until check accepts the page, as a person who
// reloads does; the read models follow the event store a moment later.
func (b *browserTab) waitFor(path, what string, check func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(browserReadModelTimeout)
	for {
		status := b.open(path)
		if status == 200 && check() {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("tab %s: %s: not within %v (last status %d)", b.name, what, browserReadModelTimeout, status)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// grantClipboard lets the pages of base use the clipboard, so that the
// test can read what the Copy button put there.
func grantClipboard(ctx context.Context, base string) error {
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		_, err := chromedp.CallBrowser(ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
			Setting:    browser.PermissionSettingGranted, Origin: base,
			BrowserContextID: chromedp.FromContext(ctx).BrowserContextID,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// signIn signs in through the sign-in page.
func (b *browserTab) signIn(email, password string) {
	b.t.Helper()
	if status := b.open("/sign-in"); status != 200 {
		b.t.Fatalf("sign-in page: %d", status)
	}
	b.fill("f-email", email)
	b.fill("f-password", password)
	b.press(`main form button[type="submit"]`)
}
