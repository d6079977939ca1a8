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
// The export is a pipeline over the cores: the ledger's scan reads,
// decompresses and decodes segments on several goroutines, which also
// build each event's row, event_json included (ledger.ScanMap); one
// goroutine collects the rows in log order and cuts row groups; up to
// Options.Parallelism row groups are encoded and compressed (zstd) at
// once, each by its own goroutine into memory, and written in order.
// Memory is bounded: a row group holds Options.RowGroupRows rows or
// Options.RowGroupBytes bytes of values, whichever fills first, only
// Options.Parallelism row groups are in memory at once, and a fixed number
// of batches of rows waits between the stages. The output is
// deterministic: the same ledger and the same query give a byte-identical
// file, whatever the parallelism.
//
// ExportPartitioned writes the same rows as a Hive-style directory of
// files, one directory per tenant (tenant_id=<tenant>/) or per UTC date
// of occurred_at (date=YYYY-MM-DD/), in one pass with at most
// Options.MaxOpenPartitions files open at once.
package ledgerparquet
