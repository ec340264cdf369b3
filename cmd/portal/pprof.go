package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves net/http/pprof on addr, a loopback address of its own:
// profiles show memory contents and cost CPU, so they never share the
// public listener. It is opt-in (PORTAL_PPROF_ADDR); the returned stop
// closes it. `portal bench --cpuprofile` uses it.
func startPprof(addr string, logger *slog.Logger) (stop func(), err error) {
	if !isLoopback(addr) {
		return nil, fmt.Errorf("pprof listener %s: must be a loopback address (profiles expose memory contents)", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("pprof server", "err", err)
		}
	}()
	logger.Info("pprof listening", "addr", ln.Addr().String())
	// Close, not Shutdown: a profile in progress would hold the shutdown
	// for its whole duration, and it is only a debugging aid.
	return func() { _ = srv.Close() }, nil
}
