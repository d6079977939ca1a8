// Drives LanceDB (@lancedb/lancedb, pinned in package.json) for
// bench/vecbench: ingests the harness's vectors with their events, then
// runs its queries unfiltered and tenant-filtered, without an index and
// with an IVF-flat index, cosine distance set explicitly everywhere.
// Prints one JSON object on stdout: timings in seconds and the ids each
// query returned (the harness computes recall against its exact answers).
//
//   node bench.mjs DIR VECTORS.bin N DIM QUERIES.bin NQ TENANTS K PARTITIONS NPROBES FLAT ENVELOPES.jsonl BATCH BULK [INDEX]
//
// INDEX = 0 measures the write only (no index build, no queries).
// FLAT = 0 skips the queries without an index (slow at 1M vectors). Each
// row is (id, event_id, tenant, envelope JSON, vector): what a LanceDB
// experience store keeps to answer with envelopes; queries return the
// envelope too. Rows are added BATCH at a time (the harness's batch of
// AppendVectorEvents); BULK > 0 also times writing them BULK at a time
// into a second table (ingest only, dropped afterwards). LanceDB does not
// fsync its writes.
import * as fs from "node:fs";
import * as lancedb from "@lancedb/lancedb";
import { createRequire } from "node:module";
// apache-arrow as LanceDB's own (CommonJS) build loads it: Arrow objects of
// the ES-module build are other classes to LanceDB.
const { Field, FixedSizeList, Float32, Int32, RecordBatch, Schema, Struct, Table, Utf8, makeData, vectorFromArray } = createRequire(import.meta.url)("apache-arrow");

const [dir, vecPath, nS, dimS, qPath, nqS, tenantsS, kS, partsS, nprobesS, flatS, envPath, batchS, bulkS, indexS] = process.argv.slice(2);
const n = +nS, dim = +dimS, nq = +nqS, tenants = +tenantsS, k = +kS, parts = +partsS, nprobes = +nprobesS;
const batch = +(batchS || 1000), bulk = +(bulkS || 0);
const envs = fs.readFileSync(envPath, "utf8").split("\n");
const floats = (path) => { const b = fs.readFileSync(path); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
const vecs = floats(vecPath);
const qs = floats(qPath);
const tenantOf = (i) => "t" + (i % tenants);
const schema = new Schema([
  new Field("id", new Int32(), false),
  new Field("event_id", new Utf8(), false),
  new Field("tenant", new Utf8(), false),
  new Field("envelope", new Utf8(), false),
  new Field("vector", new FixedSizeList(dim, new Field("item", new Float32(), true)), false),
]);
const now = () => Number(process.hrtime.bigint()) / 1e9;

const db = await lancedb.connect(dir);
// rowsOf builds the Arrow table of rows lo..hi-1 column by column (the
// vectors straight from the floats, no per-row JavaScript objects).
const rowsOf = (lo, hi) => {
  const m = hi - lo;
  const ids = new Int32Array(m), eids = [], tens = [];
  for (let i = lo; i < hi; i++) {
    ids[i - lo] = i;
    eids.push("e" + String(i).padStart(7, "0"));
    tens.push(tenantOf(i));
  }
  const floats = makeData({ type: new Float32(), length: m * dim, nullCount: 0, data: vecs.slice(lo * dim, hi * dim) });
  const children = [
    makeData({ type: new Int32(), length: m, nullCount: 0, data: ids }),
    vectorFromArray(eids, new Utf8()).data[0],
    vectorFromArray(tens, new Utf8()).data[0],
    vectorFromArray(envs.slice(lo, hi), new Utf8()).data[0],
    makeData({ type: schema.fields[4].type, length: m, nullCount: 0, child: floats }),
  ];
  const data = makeData({ type: new Struct(schema.fields), length: m, nullCount: 0, children });
  return new Table([new RecordBatch(schema, data)]);
};
const tablesOf = (b) => {
  const ts = [];
  for (let lo = 0; lo < n; lo += b) ts.push(rowsOf(lo, Math.min(n, lo + b)));
  return ts;
};
// A thrown-away write of up to 20,000 rows first (as the harness warms
// exledger's process), so that the timed write is not the process's first.
{
  const ws = [];
  for (let lo = 0; lo < Math.min(n, 20000); lo += batch) ws.push(rowsOf(lo, Math.min(n, 20000, lo + batch)));
  const wt = await db.createTable("warmup", ws[0], { mode: "overwrite" });
  for (const t of ws.slice(1)) await wt.add(t);
  await db.dropTable("warmup");
}
// Arrow conversion is done before the clock starts: only LanceDB's own
// write is timed.
let tables = tablesOf(batch);
const cpu0 = process.cpuUsage(); // the whole process: LanceDB's Rust threads too
let t0 = now();
const tbl = await db.createTable("events", tables[0], { mode: "overwrite" });
for (const t of tables.slice(1)) await tbl.add(t);
const ingest = now() - t0;
const cpu1 = process.cpuUsage(cpu0);
const ingestCPU = (cpu1.user + cpu1.system) / 1e6;
process.stderr.write(`lancedb: wrote ${n} rows in batches of ${batch}: ${ingest.toFixed(3)} s, process CPU ${ingestCPU.toFixed(3)} s\n`);
if (indexS === "0") {
  process.stdout.write(JSON.stringify({ version: "0.31.0", ingest_seconds: ingest, ingest_cpu_seconds: ingestCPU, bulk_seconds: 0, index_seconds: 0, disk_bytes: 0, flat: null, ivf_flat: null, write_only: true }));
  process.exit(0);
}
tables = null;

const query = (q, filter, indexed) => {
  let s = tbl.search(q).distanceType("cosine").limit(k);
  if (filter) s = s.where(`tenant = '${filter}'`);
  if (indexed) s = s.nprobes(nprobes); else s = s.bypassVectorIndex();
  return s.select(["id", "envelope"]).toArray();
};
const run = async (indexed) => {
  const out = { unfiltered: { lat: [], ids: [] }, filtered: { lat: [], ids: [] } };
  for (const [name, filt] of [["unfiltered", false], ["filtered", true]]) {
    for (let w = 0; w < Math.min(5, nq); w++) await query(qs.subarray(w * dim, (w + 1) * dim), filt ? tenantOf(w) : null, indexed); // warm-up
    for (let i = 0; i < nq; i++) {
      const q = qs.subarray(i * dim, (i + 1) * dim);
      const t = now();
      const res = await query(q, filt ? tenantOf(i) : null, indexed);
      out[name].lat.push(now() - t);
      out[name].ids.push(res.map((r) => r.id));
    }
  }
  return out;
};
const flat = flatS === "0" ? null : await run(false);
t0 = now();
await tbl.createIndex("vector", { config: lancedb.Index.ivfFlat({ numPartitions: parts, distanceType: "cosine" }) });
const indexTime = now() - t0;
const ivf = await run(true);
let bytes = 0;
const walk = (p) => { for (const e of fs.readdirSync(p, { withFileTypes: true })) { const q = p + "/" + e.name; if (e.isDirectory()) walk(q); else bytes += fs.statSync(q).size; } };
walk(dir);
let bulkTime = 0;
if (bulk > 0) {
  let ts = tablesOf(bulk);
  t0 = now();
  const bt = await db.createTable("bulk", ts[0], { mode: "overwrite" });
  for (const t of ts.slice(1)) await bt.add(t);
  bulkTime = now() - t0;
  ts = null;
  await db.dropTable("bulk");
}
process.stdout.write(JSON.stringify({ version: "0.31.0", ingest_seconds: ingest, ingest_cpu_seconds: ingestCPU, bulk_seconds: bulkTime, index_seconds: indexTime, disk_bytes: bytes, flat, ivf_flat: ivf }));
