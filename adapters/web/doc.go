// Package web serves the portal's HTML pages: sign-in and sign-out, the
// Users page with its invite form, Identity Configuration → Provisioning →
// Self Service, the audit trail with a member's lineage, and the public
// pages the mailed and shared links open (/invite/{token}, /join/{token},
// /verify/{token}, /set-password/{token}, /reset-password/{token}, and the
// forgotten-password form).
//
// Pages are rendered on the server with html/template; the templates, the
// style sheet and the small script are embedded (no build step). Every
// form works without the script, which only adds the Copy button, inline
// validation as fields are left, a confirmation before a revoke, and focus
// on the error summary.
//
// Writes go straight to the command handlers, as the JSON API's do; the
// Users and Audit pages read readmodels.Reader. A write redirects with its
// commit position (?consistency=N), and the page it leads to waits, at
// most Config.ConsistencyWait, until the read models have passed it, or
// says that it is still updating. Forms that act on the write side's state
// (the self-service link, role change and removal confirmations) read it
// through the commands, so they are never stale.
//
// Safety:
//   - CSRF: every POST carries a synchronizer token derived from the
//     session token (signed-in forms) or from a random pre-session cookie
//     (sign-in, join, accept, verify, password forms); requests the browser
//     marks as cross-site (Sec-Fetch-Site, Origin) are refused before the
//     token is looked at. A refused form answers 403 and changes nothing.
//   - Cookies are HttpOnly and SameSite=Lax, Secure and __Host- prefixed
//     when the portal is served over https. The page session cookie is
//     separate from the API's (see session.go for why).
//   - Every page carries a strict Content-Security-Policy (no inline script
//     or style, forms post only to the portal, no framing),
//     Referrer-Policy: no-referrer (the token in /invite/{token} never
//     leaves in a Referer), X-Frame-Options: DENY, nosniff and no-store.
//   - The public forms spend the API's rate-limit budgets (Deps.Limits,
//     package ratelimit), per client address and per address or token, so
//     that pages and API together allow no more attempts than either; the
//     access log names route templates, never paths or query strings, so no
//     token or password reaches a log.
//
// Accessibility: every field has a label, hints and errors are tied to it
// with aria-describedby (errors also listed in a summary that links to the
// fields), focus is always visible, the pages have landmarks, a skip link
// and one h1, and tables have captions, scoped headers and aria-sort.
package web
