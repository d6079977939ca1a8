package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/inspector"
)

func newServeCmd(a *app) *cobra.Command {
	var (
		addr        string
		allowRemote bool
	)
	cmd := &cobra.Command{
		Use:   "serve DIR [--addr 127.0.0.1:7070]",
		Short: "Serve a read-only web inspector of the ledger",
		Long: `serve starts a read-only web inspector of the ledger in DIR: an overview
(counts, segments, tenants and kinds, verify status, head digest), a query
page with the filters of 'ledgerctl query', a timeline of one correlation or
chain, a trace-link view, each event's Converge JSON, and /metrics in the
Prometheus text format. See docs/inspector.md.

The ledger is opened read-only (no lock, no write), so serve runs beside the
process that writes it; pages show the ledger as it grows. The inspector has
no endpoint that changes anything. It listens on loopback only unless
--allow-remote is given (it has no authentication: anyone who can reach the
address can read every event).`,
		Args: exactArgs(1, "DIR"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				return usagef("--addr %q: %v", addr, err)
			}
			if !isLoopback(host) && !allowRemote {
				return usagef("--addr %s is not a loopback address: the inspector has no authentication; add --allow-remote to serve it anyway", addr)
			}
			if err := checkLedgerDir(dir); err != nil {
				return err
			}
			srv, err := inspector.New(dir, &inspector.Options{AllowAnyHost: allowRemote})
			if err != nil {
				return err
			}
			defer srv.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			if !isLoopback(host) {
				fmt.Fprintf(a.stderr, "ledgerctl: WARNING: serving %s on %s, reachable from other machines, without authentication\n", dir, ln.Addr())
			}
			fmt.Fprintf(a.stdout, "serving %s read-only at http://%s/ (Ctrl-C to stop)\n", dir, ln.Addr())
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
			ctx := cmd.Context()
			errc := make(chan error, 1)
			go func() { errc <- hs.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				hs.Shutdown(sctx)
				if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
					return err
				}
				return nil
			}
		}),
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:7070", "listen address (host:port; port 0 picks a free one)")
	cmd.Flags().BoolVar(&allowRemote, "allow-remote", false, "allow a non-loopback --addr (no authentication: anyone reaching it reads every event)")
	return cmd
}

// isLoopback reports whether host (from --addr) is a loopback name or
// address. An empty host means every interface.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
