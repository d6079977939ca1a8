// Package inspector is the read-only web inspector of a ledger
// (ledgerctl serve): an overview, a query page, a timeline of one
// correlation or chain, a trace-link view, one event's Converge JSON, and
// /metrics in the Prometheus text format.
//
// # Invariants
//
//   - Read-only: the ledger is opened with Options.ReadOnly (no lock, no
//     byte written), and the handler serves GET and HEAD only; every
//     other method is 405. There is no endpoint that changes anything.
//   - Beside a writer: before serving a request, the server checks (at
//     most every Options.RefreshInterval) whether the manifest or a WAL
//     file changed, and if so opens a new read-only handle; requests in
//     flight finish on the old one.
//   - Event data is untrusted: pages are rendered by html/template, which
//     escapes every value by context, and no event-derived value is ever
//     marked safe. The Content-Security-Policy allows scripts and styles
//     from the server's own /static/ files only (no inline script, no
//     inline style), so even a missed escape could not run a script.
//   - Loopback by default: the handler rejects requests whose Host header
//     is not a loopback name or address unless Options.AllowAnyHost is
//     set (a remote web page cannot reach it through DNS rebinding).
package inspector
