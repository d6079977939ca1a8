// Package ledgerprom exports a Ledger's Metrics to Prometheus.
//
// NewCollector returns a prometheus.Collector; registering it is the
// caller's choice, so the ledger keeps no global state and package ledger
// does not link client_golang:
//
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(ledgerprom.NewCollector(l))
//	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// Every metric is named exledger_* and follows the Prometheus naming rules
// (base units in the name, _total for counters); the set is listed in
// docs/operations.md with its meaning. Each Collect takes one
// Ledger.Metrics snapshot, so a scrape is consistent with itself; the
// histograms are the ledger's fixed-bucket ones (1-2.5-5 steps from 1 µs
// to 10 s for durations, powers of two for sizes).
package ledgerprom
