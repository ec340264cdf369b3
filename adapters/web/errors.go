package web

import (
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/orgportal/onboarding/adapters/httpkit"
	"github.com/orgportal/onboarding/domain"
	"github.com/orgportal/onboarding/projections/readmodels"
)

// pageError is a failure the pages detect themselves (a refused form, a
// rate limit, an unknown page), as opposed to the domain's.
type pageError struct {
	Status     int
	Code       string
	Title      string
	Detail     string
	RetryAfter time.Duration
}

func (e *pageError) Error() string { return e.Code + ": " + e.Detail }

// Codes the pages report themselves; they appear in the access log.
const (
	codeCSRF            = "csrf_failed"
	codeRateLimited     = "rate_limited"
	codeBodyTooLarge    = "body_too_large"
	codeNoSuchPage      = "page_not_found"
	codeMethod          = "method_not_allowed"
	codeUnavailable     = "service_unavailable"
	codeReadUnavailable = "read_models_unavailable"
	codeInternal        = "internal_error"
)

var (
	errCSRF = &pageError{Status: http.StatusForbidden, Code: codeCSRF, Title: "This form has expired",
		Detail: "The form could not be checked as coming from this portal, so nothing was changed. " +
			"Go back, reload the page and submit it again. If this keeps happening, allow cookies for this site."}
	errBodyTooLarge = &pageError{Status: http.StatusRequestEntityTooLarge, Code: codeBodyTooLarge, Title: "Too much text",
		Detail: "The form sent more text than the portal accepts at once. Send it in smaller parts."}
	errNoSuchPage = &pageError{Status: http.StatusNotFound, Code: codeNoSuchPage, Title: "Page not found",
		Detail: "There is no page at this address. Check the address, or start from the home page."}
	errMethodNotAllowed = &pageError{Status: http.StatusMethodNotAllowed, Code: codeMethod, Title: "Not available this way",
		Detail: "This page cannot be used like that. Start from the home page."}
	errReadModelsUnavailable = &pageError{Status: http.StatusServiceUnavailable, Code: codeReadUnavailable,
		Title: "Lists unavailable", RetryAfter: httpkit.UnavailableRetryAfter,
		Detail: "The read models that hold the member lists and the audit trail are unavailable right now. " +
			"Inviting people, the self-service link and registration still work; try this page again shortly."}
)

func rateLimited(retryAfter time.Duration) error {
	return &pageError{Status: http.StatusTooManyRequests, Code: codeRateLimited, Title: "Too many attempts",
		RetryAfter: max(retryAfter, time.Second),
		Detail:     "There were too many attempts from your address or for this link. Wait " + waitText(retryAfter) + ", then try again."}
}

func waitText(d time.Duration) string {
	if d <= time.Minute {
		return "a minute"
	}
	return strconv.Itoa(int(math.Ceil(d.Minutes()))) + " minutes"
}

// titleOfCode heads the page that explains a dead or unknown link. The
// domain's message (the page's text) already says what to do next.
var titleOfCode = map[string]string{
	domain.CodeInvitationNotFound:     "This invitation link is not valid",
	domain.CodeInvitationExpired:      "This invitation has expired",
	domain.CodeInvitationRevoked:      "This invitation was withdrawn",
	domain.CodeInvitationSuperseded:   "This invitation link is no longer valid",
	domain.CodeInvitationUsed:         "This invitation has already been accepted",
	domain.CodeLinkNotFound:           "This registration link is not valid",
	domain.CodeLinkRotated:            "This registration link is no longer valid",
	domain.CodeLinkDisabled:           "Registration through this link is switched off",
	domain.CodeLinkExpired:            "This registration link has expired",
	domain.CodeLinkExhausted:          "This registration link has been used up",
	domain.CodeRegistrationNotFound:   "This verification link is not valid",
	domain.CodeVerificationExpired:    "This verification link has expired",
	domain.CodeVerificationSuperseded: "This verification link is no longer valid",
	domain.CodeVerificationUsed:       "Your address is already confirmed",
	domain.CodeRegistrationClosed:     "This registration can no longer be completed",
	domain.CodeEmailDomainForbidden:   "This address cannot register here",
	domain.CodePasswordTokenInvalid:   "This link is not valid",
	domain.CodePasswordTokenExpired:   "This link has expired",
	domain.CodePasswordTokenUsed:      "This link has already been used",
	domain.CodePasswordTokenOutdated:  "This link is no longer valid",
	domain.CodeAccountClosed:          "This account has been closed",
	domain.CodeMemberNotFound:         "No such member",
	domain.CodeLastOwner:              "The last owner must stay",
	domain.CodeOwnerRequired:          "Only an owner can do this",
	domain.CodeNotAnAdmin:             "Only admins can do this",
}

// nextSteps are the links a message page offers for a code.
var nextSteps = map[string][]link{
	domain.CodeInvitationUsed:        {{"/sign-in", "Sign in"}},
	domain.CodeVerificationUsed:      {{"/sign-in", "Sign in"}},
	domain.CodePasswordTokenExpired:  {{"/forgot-password", "Request a new link"}},
	domain.CodePasswordTokenUsed:     {{"/forgot-password", "Request a new link"}, {"/sign-in", "Sign in"}},
	domain.CodePasswordTokenOutdated: {{"/forgot-password", "Request a new link"}},
}

// link is a link on a page.
type link struct {
	Href, Text string
}

// fail renders err as a page and aborts the handler chain. Everything that
// is not a domain error, a pageError or an unavailable store is a 500 with
// a generic text; its error is logged with the request id (errors never
// carry tokens or passwords: the commands keep them out).
func (p *Pages) fail(c *gin.Context, err error) {
	if httpkit.ClientGone(c, err) {
		return
	}
	m := p.messageFor(c, err)
	if m.RetryAfter > 0 {
		httpkit.SetRetryAfter(c, m.RetryAfter)
	}
	httpkit.SetLogCode(c, m.Code)
	p.render(c, m.Status, "message", m.Title, m)
	c.Abort()
}

// message is the content of a page that explains an outcome.
type message struct {
	Status     int
	Code       string
	Title      string
	Detail     string
	Links      []link
	RetryAfter time.Duration
	RequestID  string // shown on 5xx pages, to quote to support
}

func (p *Pages) messageFor(c *gin.Context, err error) message {
	var de *domain.Error
	var pe *pageError
	switch {
	case errors.As(err, &de):
		if status, ok := httpkit.StatusOf(de.Kind); ok {
			title := titleOfCode[de.Code]
			if title == "" {
				title = http.StatusText(status)
			}
			return message{Status: status, Code: de.Code, Title: title, Detail: sentence(de.Message), Links: nextSteps[de.Code]}
		}
	case errors.As(err, &pe):
		return message{Status: pe.Status, Code: pe.Code, Title: pe.Title, Detail: pe.Detail, RetryAfter: pe.RetryAfter}
	case errors.Is(err, readmodels.ErrUnavailable):
		httpkit.LogError(p.log, c, slog.LevelWarn, "read models unavailable", err)
		return p.messageFor(c, errReadModelsUnavailable)
	case httpkit.Unavailable(err):
		httpkit.LogError(p.log, c, slog.LevelWarn, "event store unavailable", err)
		return message{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Title: "Temporarily unavailable",
			Detail:     "The portal cannot reach its data right now. Try again in a moment: sending this again is safe, and if your first attempt went through, the page says so.",
			RetryAfter: httpkit.UnavailableRetryAfter, RequestID: httpkit.RequestIDOf(c)}
	}
	httpkit.LogError(p.log, c, slog.LevelError, "request failed", err)
	return message{Status: http.StatusInternalServerError, Code: codeInternal, Title: "Something went wrong",
		Detail:    "Something went wrong on our side. Try again; if it keeps failing, tell the portal's operators the reference below.",
		RequestID: httpkit.RequestIDOf(c)}
}

// sentence capitalizes the domain's lower-case messages and ends them with
// a full stop, for display.
func sentence(s string) string {
	if s == "" {
		return s
	}
	r := []rune(s)
	if r[0] >= 'a' && r[0] <= 'z' {
		r[0] -= 'a' - 'A'
	}
	if last := r[len(r)-1]; last != '.' && last != '!' && last != '?' {
		r = append(r, '.')
	}
	return string(r)
}
