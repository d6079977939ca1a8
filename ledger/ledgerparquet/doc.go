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
// Memory is bounded: rows are buffered only up to one row group
// (Options.RowGroupRows rows or Options.RowGroupBytes bytes of values,
// whichever fills first), which is then encoded, compressed (zstd) and
// written. The output is deterministic: the same ledger and the same query
// give a byte-identical file.
package ledgerparquet
