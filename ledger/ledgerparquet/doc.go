// Package ledgerparquet exports a ledger's events as an Apache Parquet file
// for downstream analytics: DuckDB, Polars, pandas and Spark read it
// directly. It lives outside package ledger so that a plain library user
// does not link the Parquet library (github.com/parquet-go/parquet-go).
//
// Export streams the events matching a query in log order into one file
// whose schema is Row (documented column by column in docs/analytics.md):
// the envelope fields, the ids the ledger's indexes extract (chain,
// trace link, artifact), the numeric fields an analyst aggregates
// (latency, tokens, cost, budget limits) as nullable columns, and
// event_json, the event object as Converge JSON, so nothing is lost.
//
// Memory is bounded: a row group holds Options.RowGroupRows rows or
// Options.RowGroupBytes bytes of values, whichever fills first, and only
// Options.Parallelism row groups are in memory at once, each encoded and
// compressed (zstd) by its own goroutine while one goroutine scans the
// ledger; finished row groups are written in order. The output is
// deterministic: the same ledger and the same query give a byte-identical
// file, whatever the parallelism.
package ledgerparquet
