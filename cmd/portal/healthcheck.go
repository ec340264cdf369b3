package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/orgportal/onboarding/cmd/portal/config"
)

// healthcheckCmd asks a running portal whether it is ready. Container images
// without curl (distroless) use it as their HEALTHCHECK.
func (a *app) healthcheckCmd() *cobra.Command {
	var target string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "healthcheck",
		Short: "GET a running portal's /readyz; exit 0 when it answers 200, 1 otherwise",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().StringVar(&target, "url", "",
		"URL to check (default http://<$PORTAL_HTTP_ADDR, wildcard host replaced by loopback>/readyz)")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the answer")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if target == "" {
			addr, _ := config.Source{LookupEnv: a.lookupEnv}.Value(config.EnvHTTPAddr, config.DefaultHTTPAddr)
			u, err := readyzURL(addr)
			if err != nil {
				return err
			}
			target = u
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
		defer cancel()
		return checkReady(ctx, target, a.stdout)
	}
	return cmd
}

// readyzURL turns a listen address into the URL of its /readyz, on loopback
// when the server listens on all interfaces.
func readyzURL(listenAddr string) (string, error) {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", fmt.Errorf("invalid %s %q: %w", config.EnvHTTPAddr, listenAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/readyz", nil
}

func checkReady(ctx context.Context, target string, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("not ready: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s: %s", resp.Status, body)
	}
	fmt.Fprintf(out, "ready: %s\n", body)
	return nil
}
