package main

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"sync"

	"github.com/orgportal/onboarding/cmd/portal/config"
)

func newHandler(w io.Writer, l config.Logging) slog.Handler {
	opts := &slog.HandlerOptions{Level: l.Level}
	if l.Format == "json" {
		return slog.NewJSONHandler(w, opts)
	}
	return slog.NewTextHandler(w, opts)
}

func newLogger(w io.Writer, l config.Logging) *slog.Logger {
	return slog.New(newHandler(w, l))
}

// logGate holds log records back until it is opened. The embedded event
// store may log while it starts; holding its records lets the line that says
// where the store listens come first, which is what an operator (and a
// script reading the first line) needs.
type logGate struct {
	mu     sync.Mutex
	open   bool
	queued []gatedRecord
}

type gatedRecord struct {
	next slog.Handler
	rec  slog.Record
}

// handler wraps next so that its records wait for the gate.
func (g *logGate) handler(next slog.Handler) slog.Handler {
	return gatedHandler{next: next, gate: g}
}

// openGate writes the held records, in order, and lets later ones through.
func (g *logGate) openGate(ctx context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return
	}
	g.open = true
	for _, q := range g.queued {
		_ = q.next.Handle(ctx, q.rec)
	}
	g.queued = nil
}

type gatedHandler struct {
	next slog.Handler
	gate *logGate
}

func (h gatedHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h gatedHandler) Handle(ctx context.Context, r slog.Record) error {
	h.gate.mu.Lock()
	if !h.gate.open {
		h.gate.queued = append(h.gate.queued, gatedRecord{next: h.next, rec: r.Clone()})
		h.gate.mu.Unlock()
		return nil
	}
	h.gate.mu.Unlock()
	return h.next.Handle(ctx, r)
}

func (h gatedHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return gatedHandler{next: h.next.WithAttrs(attrs), gate: h.gate}
}

func (h gatedHandler) WithGroup(name string) slog.Handler {
	return gatedHandler{next: h.next.WithGroup(name), gate: h.gate}
}

// redactURL hides a password in a URL before it is logged.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
