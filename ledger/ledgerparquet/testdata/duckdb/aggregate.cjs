// Reads a Parquet export with DuckDB (npm @duckdb/node-api) and prints,
// as one JSON document on stdout, per-kind aggregates over its columns.
// duckdb_test.go computes the same aggregates from the JSON lines export
// and compares. Usage:
//
//   EXLEDGER_DUCKDB_DIR=<dir holding node_modules/@duckdb/node-api> \
//     node aggregate.cjs FILE.parquet
//
// With a second argument, hive-tenant or hive-date, FILE is a glob over a
// partitioned export's directory, read with hive_partitioning (tenant_id
// then comes from the directory names); hive-date also counts the rows
// whose date directory is not the UTC date of their occurred_at.
'use strict';
const path = require('node:path');
const { createRequire } = require('node:module');

async function main() {
  const [file, mode] = process.argv.slice(2);
  const dir = process.env.EXLEDGER_DUCKDB_DIR;
  if (!file || !dir) {
    throw new Error('usage: EXLEDGER_DUCKDB_DIR=DIR node aggregate.cjs FILE.parquet');
  }
  const { DuckDBInstance, version } = createRequire(path.join(dir, 'package.json'))('@duckdb/node-api');
  const db = await DuckDBInstance.create(':memory:', { threads: '2' });
  const con = await db.connect();
  const lit = "'" + file.replaceAll("'", "''") + "'";
  const source = mode ? `read_parquet(${lit}, hive_partitioning = true)` : `read_parquet(${lit})`;
  // Integer sums are HUGEINT and timestamps are reduced to epoch
  // microseconds so every value crosses into JSON exactly (as strings).
  const sql = `
    SELECT kind,
      count(*)::VARCHAR                                   AS events,
      max(seq)::VARCHAR                                   AS max_seq,
      sum(seq)::VARCHAR                                   AS sum_seq,
      count(tenant_id)::VARCHAR                           AS with_tenant,
      count(DISTINCT tenant_id)::VARCHAR                  AS tenants,
      count(correlation_id)::VARCHAR                      AS with_correlation,
      count(chain_id)::VARCHAR                            AS with_chain,
      count(trace_link_id)::VARCHAR                       AS with_trace_link,
      count(artifact_id)::VARCHAR                         AS with_artifact,
      count(occurred_at)::VARCHAR                         AS with_timestamp,
      min(epoch_us(occurred_at))::VARCHAR                 AS min_occurred_us,
      max(epoch_us(occurred_at))::VARCHAR                 AS max_occurred_us,
      max(occurred_at_raw)                                AS max_occurred_raw,
      count(passed)::VARCHAR                              AS with_passed,
      count(*) FILTER (WHERE passed)::VARCHAR             AS passed,
      coalesce(sum(latency_ms::HUGEINT), 0)::VARCHAR      AS sum_latency_ms,
      coalesce(sum(tokens::HUGEINT), 0)::VARCHAR          AS sum_tokens,
      coalesce(sum(cost_microdollars::HUGEINT), 0)::VARCHAR AS sum_cost_microdollars,
      count(budget_limit)::VARCHAR                        AS with_budget_limit,
      coalesce(sum(budget_limit), 0)                      AS sum_budget_limit,
      coalesce(max(budget_observed), 0)                   AS max_budget_observed,
      coalesce(sum(confidence), 0)                        AS sum_confidence,
      sum(strlen(event_json))::VARCHAR                    AS event_json_bytes,
      sum(length(event_json))::VARCHAR                    AS event_json_chars,
      count(*) FILTER (WHERE json_extract_string(event_json, '$.type') = kind)::VARCHAR AS json_type_matches
    FROM ${source}
    GROUP BY kind ORDER BY kind`;
  const reader = await con.runAndReadAll(sql);
  const out = { duckdb: version(), kinds: reader.getRowObjectsJson() };
  if (mode === 'hive-date') {
    // The partition's DATE (NULL for __HIVE_DEFAULT_PARTITION__) against
    // the day of occurred_at in UTC, computed from epoch microseconds.
    const check = await con.runAndReadAll(`
      SELECT count(*)::VARCHAR AS rows,
        count(*) FILTER (WHERE date IS DISTINCT FROM
          (DATE '1970-01-01' + floor(epoch_us(occurred_at) / 86400000000)::INTEGER))::VARCHAR AS date_mismatches,
        count(DISTINCT date)::VARCHAR AS dates,
        typeof(any_value(date)) AS date_type
      FROM ${source}`);
    out.dates = check.getRowObjectsJson()[0];
  }
  process.stdout.write(JSON.stringify(out) + '\n');
  con.closeSync();
  db.closeSync();
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
