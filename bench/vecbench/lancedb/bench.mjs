// Drives LanceDB (@lancedb/lancedb, pinned in package.json) for
// bench/vecbench: ingests the harness's vectors, then runs its queries
// unfiltered and tenant-filtered, without an index and with an IVF-flat
// index, cosine distance set explicitly everywhere. Prints one JSON object
// on stdout: timings in seconds and the ids each query returned (the
// harness computes recall against its exact answers).
//
//   node bench.mjs DIR VECTORS.bin N DIM QUERIES.bin NQ TENANTS K PARTITIONS NPROBES [FLAT]
//
// FLAT = 0 skips the queries without an index (slow at 1M vectors).
import * as fs from "node:fs";
import * as lancedb from "@lancedb/lancedb";
import { Field, FixedSizeList, Float32, Int32, Schema, Utf8 } from "apache-arrow";

const [dir, vecPath, nS, dimS, qPath, nqS, tenantsS, kS, partsS, nprobesS, flatS] = process.argv.slice(2);
const n = +nS, dim = +dimS, nq = +nqS, tenants = +tenantsS, k = +kS, parts = +partsS, nprobes = +nprobesS;
const floats = (path) => { const b = fs.readFileSync(path); return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4); };
const vecs = floats(vecPath);
const qs = floats(qPath);
const tenantOf = (i) => "t" + (i % tenants);
const schema = new Schema([
  new Field("id", new Int32(), false),
  new Field("tenant", new Utf8(), false),
  new Field("vector", new FixedSizeList(dim, new Field("item", new Float32(), true)), false),
]);
const now = () => Number(process.hrtime.bigint()) / 1e9;

const db = await lancedb.connect(dir);
const batch = 10000;
const rowsOf = (lo, hi) => {
  const rows = [];
  for (let i = lo; i < hi; i++) rows.push({ id: i, tenant: tenantOf(i), vector: Array.from(vecs.subarray(i * dim, (i + 1) * dim)) });
  return lancedb.makeArrowTable(rows, { schema });
};
// Arrow conversion is done before the clock starts: only LanceDB's own
// write is timed.
const tables = [];
for (let lo = 0; lo < n; lo += batch) tables.push(rowsOf(lo, Math.min(n, lo + batch)));
let t0 = now();
const tbl = await db.createTable("events", tables[0], { mode: "overwrite" });
for (const t of tables.slice(1)) await tbl.add(t);
const ingest = now() - t0;

const query = (q, filter, indexed) => {
  let s = tbl.search(q).distanceType("cosine").limit(k);
  if (filter) s = s.where(`tenant = '${filter}'`);
  if (indexed) s = s.nprobes(nprobes); else s = s.bypassVectorIndex();
  return s.select(["id"]).toArray();
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
process.stdout.write(JSON.stringify({ version: "0.31.0", ingest_seconds: ingest, index_seconds: indexTime, disk_bytes: bytes, flat, ivf_flat: ivf }));
