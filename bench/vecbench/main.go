// Command vecbench compares exledger's vector search with LanceDB itself
// (the npm package @lancedb/lancedb, pinned in lancedb/package.json and
// driven by lancedb/bench.mjs) on the same vectors and queries, cosine
// distance everywhere: ingest rate, p50/p99 latency of top-10 queries
// unfiltered and filtered by tenant, and recall@10 against exact answers
// computed here (float64). Without Node or the package it says so and
// measures exledger alone; it never invents a peer's number.
//
//	cd bench && go run ./vecbench [-n 100000] [-dim 384] [-queries 200]
//	    [-sweep 0.02,0.12] [-plot FILE.png] [-lancedb=false] [-lancedb-flat=false]
//	    [-cache BYTES] [-batch 1000] [-lancedb-bulk 10000]
//
// Ingest is reported three ways for exledger: acknowledged (every
// AppendVectorEvents returned, durable in the WAL), sealed (Flush: every
// segment written), and indexed (BuildVectorIndexes: every approximate
// index the background indexer builds after the seal exists); and two ways
// for LanceDB: its table write, and that plus its IVF-flat index build.
//
// Like for like: both systems take the same rows in the same batches
// (-batch events per AppendVectorEvents call and per LanceDB add), each
// row carrying its event as the envelope JSON beside the vector (what a
// LanceDB store must keep to return envelopes, and what LanceDB queries
// return here too); the events and the Arrow tables are built before
// either clock starts. LanceDB makes no fsync (strace -f of a write: no
// fsync, fdatasync, sync_file_range or msync call), so exledger is
// measured both durable (SyncAlways: fdatasync per batch) and with
// SyncNever, the comparison without fsync on either side. -lancedb-bulk N
// also times LanceDB writing the same rows in N-row batches into a second
// table (ingest only: the figure of earlier runs, which used 10,000).
//
// The vectors are synthetic: a mixture of 1,000 Gaussian clusters (random
// centres, per-coordinate noise), which has the cluster structure of
// embeddings; uniform random vectors would have none and make every
// approximate index look worse than it is on real data.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/exledger/exledger/ledger"
)

type params struct {
	n, dim, nq, tenants, k int
	spread                 float64
	root                   string
	lance                  bool
	lanceFlat              bool
	keep                   bool
	sweep                  []float64
	plot                   string
	cacheBytes             int64
	batch, lanceBulk       int
	exledger, lanceIndex   bool
	walFileSize            int64
}

func main() {
	var p params
	flag.IntVar(&p.n, "n", 100_000, "vectors")
	flag.IntVar(&p.dim, "dim", 384, "dimension")
	flag.IntVar(&p.nq, "queries", 200, "queries per kind (unfiltered, tenant-filtered)")
	flag.IntVar(&p.tenants, "tenants", 8, "tenants (event i belongs to tenant i mod T)")
	flag.IntVar(&p.k, "k", 10, "results per query")
	flag.Float64Var(&p.spread, "spread", 0.6, "cluster noise (per coordinate; centres are N(0,1))")
	flag.StringVar(&p.root, "root", "", "working directory (default: a temp dir)")
	flag.BoolVar(&p.lance, "lancedb", true, "also run LanceDB (needs node and npm)")
	flag.BoolVar(&p.lanceFlat, "lancedb-flat", true, "also query LanceDB without an index (slow at 1M vectors)")
	flag.BoolVar(&p.keep, "keep", false, "keep the working directory")
	sweep := flag.String("sweep", "0.02,0.04,0.08,0.12,0.25,0.5", "exledger probe fractions for the recall/latency curve (empty: none)")
	flag.StringVar(&p.plot, "plot", "", "write the recall/latency plot to this PNG file")
	flag.Int64Var(&p.cacheBytes, "cache", 0, "exledger's vector block cache in bytes (VectorIndexOptions.CacheBytes; 0: its default)")
	flag.IntVar(&p.batch, "batch", 1000, "events per AppendVectorEvents call and rows per LanceDB add")
	flag.IntVar(&p.lanceBulk, "lancedb-bulk", 10000, "also time LanceDB writing the rows in batches of this many into a second table (0: not)")
	flag.BoolVar(&p.exledger, "exledger", true, "run exledger (false: LanceDB only)")
	flag.BoolVar(&p.lanceIndex, "lancedb-index", true, "build LanceDB's index and query it (false: its write only)")
	flag.Int64Var(&p.walFileSize, "wal-file-size", 0, "exledger's WAL file size in bytes (Options.WALFileSize; 0: its default)")
	flag.Parse()
	for _, f := range strings.Split(*sweep, ",") {
		var x float64
		if _, err := fmt.Sscan(strings.TrimSpace(f), &x); err == nil && x > 0 {
			p.sweep = append(p.sweep, x)
		}
	}
	if err := run(p); err != nil {
		fmt.Fprintln(os.Stderr, "vecbench:", err)
		os.Exit(1)
	}
}

func run(p params) error {
	if p.root == "" {
		d, err := os.MkdirTemp("", "vecbench")
		if err != nil {
			return err
		}
		p.root = d
	}
	if err := os.MkdirAll(p.root, 0o755); err != nil {
		return err
	}
	if !p.keep {
		defer os.RemoveAll(p.root)
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("vecbench: n=%d dim=%d queries=%d tenants=%d k=%d GOMAXPROCS=%d load=%s\n",
		p.n, p.dim, p.nq, p.tenants, p.k, runtime.GOMAXPROCS(0), strings.TrimSpace(string(load)))
	vecs, qs := generate(p)
	fmt.Printf("data: %d vectors, %d queries (%.1f MB raw float32)\n", p.n, p.nq, float64(4*p.n*p.dim)/1e6)

	var truth answers
	if p.exledger || (p.lance && p.lanceIndex) {
		t0 := time.Now()
		truth = exactTopK(p, vecs, qs)
		fmt.Printf("exact answers (float64 brute force): %s\n", time.Since(t0).Round(time.Millisecond))
	}

	evs := events(p, vecs)
	var rows []row
	var ing *ingests
	if p.exledger {
		ex, in, err := runExledger(p, evs, qs, truth)
		if err != nil {
			return err
		}
		rows, ing = append(rows, ex...), &in
	} else {
		fmt.Println("exledger: skipped (-exledger=false)")
	}
	var lo *lanceOut
	if p.lance {
		lr, out, err := runLance(p, evs, vecs, qs, truth)
		if err != nil {
			fmt.Printf("LanceDB: SKIPPED: %v\n", err)
		} else {
			rows, lo = append(rows, lr...), out
		}
	} else {
		fmt.Println("LanceDB: skipped (-lancedb=false)")
	}
	printTable(p, rows)
	printRatios(p, ing, lo)
	if p.plot != "" {
		if err := plotRecall(p, rows); err != nil {
			return err
		}
		fmt.Println("plot:", p.plot)
	}
	return nil
}

// generate draws the vectors and queries (deterministic).
func generate(p params) (vecs, qs []float32) {
	r := rand.New(rand.NewPCG(1, 2))
	centres := make([]float32, 1000*p.dim)
	for i := range centres {
		centres[i] = float32(r.NormFloat64())
	}
	draw := func(dst []float32) {
		c := r.IntN(1000)
		for j := range dst {
			dst[j] = centres[c*p.dim+j] + float32(p.spread*r.NormFloat64())
		}
	}
	vecs = make([]float32, p.n*p.dim)
	for i := range p.n {
		draw(vecs[i*p.dim : (i+1)*p.dim])
	}
	qs = make([]float32, p.nq*p.dim)
	for i := range p.nq {
		draw(qs[i*p.dim : (i+1)*p.dim])
	}
	return vecs, qs
}

// events are the events of the vectors (the same for every ingest),
// built before any clock starts: event i is in tenant t(i mod T).
func events(p params, vecs []float32) []ledger.VectorEvent {
	evs := make([]ledger.VectorEvent, p.n)
	for i := range evs {
		ten := ledger.TenantID(fmt.Sprintf("t%d", i%p.tenants))
		evs[i] = ledger.VectorEvent{
			Envelope: ledger.ExperienceEventEnvelope{
				EventID: ledger.EventID(fmt.Sprintf("e%07d", i)), OccurredAt: "2026-01-01T00:00:00Z", TenantID: &ten,
				Event: &ledger.FactPromoted{ProposalID: "p", FactID: ledger.FactID(fmt.Sprintf("f%d", i)), PromotedBy: "agent", Reason: "recall"},
			},
			Vector: vecs[i*p.dim : (i+1)*p.dim],
		}
	}
	return evs
}

// answers are the ids per query: unfiltered, then filtered by tenant
// (query i filters on tenant i mod T).
type answers struct{ unfiltered, filtered [][]int }

func exactTopK(p params, vecs, qs []float32) answers {
	norms := make([]float64, p.n)
	for i := range p.n {
		var s float64
		for _, x := range vecs[i*p.dim : (i+1)*p.dim] {
			s += float64(x) * float64(x)
		}
		norms[i] = math.Sqrt(s)
	}
	a := answers{unfiltered: make([][]int, p.nq), filtered: make([][]int, p.nq)}
	// The queries are answered on GOMAXPROCS goroutines (each its own).
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for qi := range next {
				a.unfiltered[qi], a.filtered[qi] = exactOne(p, vecs, qs, norms, qi)
			}
		})
	}
	for qi := range p.nq {
		next <- qi
	}
	close(next)
	wg.Wait()
	return a
}

// exactOne answers query qi exactly: the ids of its k nearest vectors
// (distance, then id), unfiltered and in its tenant.
func exactOne(p params, vecs, qs []float32, norms []float64, qi int) (u, f []int) {
	type hit struct {
		d  float64
		id int
	}
	// insert keeps top, sorted by distance then id, at most k long; ids
	// arrive in increasing order, so an equal distance goes after.
	insert := func(top []hit, h hit) []hit {
		if len(top) == p.k && h.d >= top[p.k-1].d {
			return top
		}
		j := len(top)
		for j > 0 && h.d < top[j-1].d {
			j--
		}
		if len(top) < p.k {
			top = append(top, hit{})
		}
		copy(top[j+1:], top[j:len(top)-1])
		top[j] = h
		return top
	}
	q := qs[qi*p.dim : (qi+1)*p.dim]
	var qn float64
	for _, x := range q {
		qn += float64(x) * float64(x)
	}
	qn = math.Sqrt(qn)
	tu, tf := make([]hit, 0, p.k), make([]hit, 0, p.k)
	for i := range p.n {
		var d float64
		v := vecs[i*p.dim : (i+1)*p.dim]
		for j := range q {
			d += float64(q[j]) * float64(v[j])
		}
		h := hit{1 - d/(qn*norms[i]), i}
		tu = insert(tu, h)
		if i%p.tenants == qi%p.tenants {
			tf = insert(tf, h)
		}
	}
	for _, h := range tu {
		u = append(u, h.id)
	}
	for _, h := range tf {
		f = append(f, h.id)
	}
	return u, f
}

func recall(got, want [][]int) float64 {
	hits, total := 0, 0
	for i := range want {
		in := map[int]bool{}
		for _, id := range want[i] {
			in[id] = true
		}
		for _, id := range got[i] {
			if in[id] {
				hits++
			}
		}
		total += len(want[i])
	}
	return float64(hits) / float64(total)
}

// row is one line of the result table.
type row struct {
	system, mode           string
	ingestPerSec           float64 // vectors/s (0: n/a)
	ingestNote             string
	p50u, p99u, p50f, p99f time.Duration
	recallU, recallF       float64
	diskBytes              int64
	sweep                  float64 // probe fraction of a sweep row (0: not one)
}

func pct(lat []time.Duration, q float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// ingests are exledger's two ingest measurements.
type ingests struct{ durable, nosync ingestResult }

func runExledger(p params, evs []ledger.VectorEvent, qs []float32, truth answers) ([]row, ingests, error) {
	// A warm-up ingest of up to 20,000 vectors, thrown away, so that
	// neither measured ingest pays the process's first heap growth; then
	// one with SyncNever (no fsync, as LanceDB writes), also thrown away;
	// then the durable one that is queried.
	wp := p
	wp.n = min(p.n, 20_000)
	if _, err := ingestExledger(wp, evs[:wp.n], filepath.Join(p.root, "exledger-warmup"), ledger.SyncNever); err != nil {
		return nil, ingests{}, err
	}
	os.RemoveAll(filepath.Join(p.root, "exledger-warmup"))
	nosync, err := ingestExledger(p, evs, filepath.Join(p.root, "exledger-nosync"), ledger.SyncNever)
	if err != nil {
		return nil, ingests{}, err
	}
	os.RemoveAll(filepath.Join(p.root, "exledger-nosync"))
	dir := filepath.Join(p.root, "exledger")
	ing, err := ingestExledger(p, evs, dir, ledger.SyncAlways)
	if err != nil {
		return nil, ingests{}, err
	}
	both := ingests{durable: ing, nosync: nosync}
	st := ing.st
	var rows []row
	for _, mode := range []string{"approximate (default)", "exact"} {
		r, err := queryExledger(p, dir, qs, truth, ledger.VectorIndexOptions{Exact: mode == "exact", CacheBytes: p.cacheBytes})
		if err != nil {
			return nil, ingests{}, err
		}
		r.mode, r.diskBytes = mode, st.VectorBytes
		if mode != "exact" {
			r.ingestPerSec = float64(p.n) / ing.acked.Seconds()
			r.ingestNote = fmt.Sprintf("SyncAlways; %.0f/s incl. seal, %.0f/s incl. seal+index; SyncNever %.0f/s, %.0f/s incl. seal+index",
				float64(p.n)/ing.sealed.Seconds(), float64(p.n)/ing.indexed.Seconds(), float64(p.n)/nosync.acked.Seconds(), float64(p.n)/nosync.indexed.Seconds())
		}
		rows = append(rows, r)
	}
	for _, f := range p.sweep {
		r, err := queryExledger(p, dir, qs, truth, ledger.VectorIndexOptions{ProbeFraction: f, MinCandidates: 1, CacheBytes: p.cacheBytes})
		if err != nil {
			return nil, ingests{}, err
		}
		r.mode = fmt.Sprintf("sweep: probe %.2f, index always", f)
		r.sweep = f
		rows = append(rows, r)
	}
	return rows, both, nil
}

type ingestResult struct {
	acked, sealed, indexed time.Duration
	ackedCPU               float64 // process CPU seconds (user+system) until the last append returned
	st                     ledger.Stat
}

// cpuSeconds is the process's user+system CPU time so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

func ingestExledger(p params, evs []ledger.VectorEvent, dir string, sync ledger.SyncPolicy) (ingestResult, error) {
	ctx := context.Background()
	var res ingestResult
	l, err := ledger.Open(dir, &ledger.Options{EmbeddingDim: p.dim, Sync: sync, WALFileSize: p.walFileSize})
	if err != nil {
		return res, err
	}
	batch := p.batch
	c0 := cpuSeconds()
	t0 := time.Now()
	for lo := 0; lo < p.n; lo += batch {
		if err := l.AppendVectorEvents(ctx, evs[lo:min(p.n, lo+batch)]); err != nil {
			return res, err
		}
	}
	res.acked = time.Since(t0)
	res.ackedCPU = cpuSeconds() - c0
	stalls := l.Metrics().SealStalls
	walRecycled := l.Metrics().WALRecycled
	if err := l.Flush(); err != nil {
		return res, err
	}
	res.sealed = time.Since(t0)
	// The approximate indexes are built by a background indexer after
	// each seal; wait for the last of them.
	if err := l.BuildVectorIndexes(ctx); err != nil {
		return res, err
	}
	res.indexed = time.Since(t0)
	if res.st, err = l.Stat(ctx, false); err != nil {
		return res, err
	}
	if err := l.Close(); err != nil {
		return res, err
	}
	st := res.st
	fmt.Printf("exledger (%s): ingest %d vectors: %s acknowledged (batches of %d; %d appends waited for the sealer; %d WAL files recycled; process CPU %.2f µs per vector until then), %s with every segment sealed, %s with every approximate index built; %d segments, vector files %d bytes (raw float32 %d, ratio %.3f), approximate indexes %d bytes\n",
		sync, p.n, res.acked.Round(time.Millisecond), batch, stalls, walRecycled, res.ackedCPU*1e6/float64(p.n), res.sealed.Round(time.Millisecond), res.indexed.Round(time.Millisecond), len(st.Segments), st.VectorBytes, 4*p.n*p.dim,
		float64(st.VectorBytes)/float64(4*p.n*p.dim), st.VectorIndexBytes)
	return res, nil
}

// queryExledger runs the queries on the ledger in dir, opened read-only
// with these index options.
func queryExledger(p params, dir string, qs []float32, truth answers, vo ledger.VectorIndexOptions) (row, error) {
	ctx := context.Background()
	l, err := ledger.Open(dir, &ledger.Options{ReadOnly: true, VectorIndex: vo})
	if err != nil {
		return row{}, err
	}
	defer l.Close()
	r := row{system: "exledger"}
	var lu, lf []time.Duration
	var gu, gf [][]int
	for _, filtered := range []bool{false, true} {
		for i := -5; i < p.nq; i++ { // 5 warm-up queries
			qi := max(i, 0)
			q := ledger.SimilarQuery{Vector: qs[qi*p.dim : (qi+1)*p.dim], Limit: p.k}
			if filtered {
				ten := ledger.TenantID(fmt.Sprintf("t%d", qi%p.tenants))
				q.Filter.TenantID = &ten
			}
			t := time.Now()
			res, err := l.SearchSimilar(ctx, q)
			d := time.Since(t)
			if err != nil {
				return r, err
			}
			if i < 0 {
				continue
			}
			ids := make([]int, len(res))
			for j, x := range res {
				fmt.Sscanf(string(x.Envelope.EventID), "e%d", &ids[j])
			}
			if filtered {
				lf, gf = append(lf, d), append(gf, ids)
			} else {
				lu, gu = append(lu, d), append(gu, ids)
			}
		}
	}
	r.p50u, r.p99u, r.p50f, r.p99f = pct(lu, 0.5), pct(lu, 0.99), pct(lf, 0.5), pct(lf, 0.99)
	r.recallU, r.recallF = recall(gu, truth.unfiltered), recall(gf, truth.filtered)
	return r, nil
}

type lanceRun struct {
	Lat [][]float64 `json:"-"`
	Unf struct {
		Lat []float64 `json:"lat"`
		IDs [][]int   `json:"ids"`
	} `json:"unfiltered"`
	Fil struct {
		Lat []float64 `json:"lat"`
		IDs [][]int   `json:"ids"`
	} `json:"filtered"`
}

type lanceOut struct {
	Version string  `json:"version"`
	Ingest  float64 `json:"ingest_seconds"`
	Bulk    float64 `json:"bulk_seconds"` // the same rows in -lancedb-bulk batches (0: not run)
	// IngestCPU is the Node process's user+system CPU (LanceDB's threads
	// included) during the timed write.
	IngestCPU float64   `json:"ingest_cpu_seconds"`
	Index     float64   `json:"index_seconds"`
	Disk      int64     `json:"disk_bytes"`
	Flat      *lanceRun `json:"flat"`
	IVFFlat   lanceRun  `json:"ivf_flat"`
	// WriteOnly: no index built, no query run (-lancedb-index=false).
	WriteOnly bool `json:"write_only"`
}

func runLance(p params, evs []ledger.VectorEvent, vecs, qs []float32, truth answers) ([]row, *lanceOut, error) {
	rows, lo, err := runLance1(p, evs, vecs, qs, truth)
	os.RemoveAll(filepath.Join(p.root, "lancedb"))
	return rows, lo, err
}

func runLance1(p params, evs []ledger.VectorEvent, vecs, qs []float32, truth answers) ([]row, *lanceOut, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, nil, fmt.Errorf("node is not installed")
	}
	here, err := os.Getwd()
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(here, "vecbench", "lancedb")
	if _, err := os.Stat(filepath.Join(dir, "bench.mjs")); err != nil {
		return nil, nil, fmt.Errorf("run from bench/: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@lancedb", "lancedb")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			return nil, nil, fmt.Errorf("@lancedb/lancedb is not installed and npm is missing")
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, nil, fmt.Errorf("npm ci (pinned @lancedb/lancedb 0.31.0) failed: %v\n%s", err, out)
		}
	}
	write := func(name string, f []float32) (string, error) {
		path := filepath.Join(p.root, name)
		var b bytes.Buffer
		b.Grow(4 * len(f))
		binary.Write(&b, binary.LittleEndian, f)
		return path, os.WriteFile(path, b.Bytes(), 0o644)
	}
	vp, err := write("vectors.bin", vecs)
	if err != nil {
		return nil, nil, err
	}
	qp, err := write("queries.bin", qs)
	if err != nil {
		return nil, nil, err
	}
	// The envelopes as JSON lines (event i on line i), stored by LanceDB
	// beside each vector.
	var eb []byte
	for i := range evs {
		if eb, err = ledger.AppendEnvelopeJSON(eb, &evs[i].Envelope); err != nil {
			return nil, nil, err
		}
		eb = append(eb, '\n')
	}
	ep := filepath.Join(p.root, "envelopes.jsonl")
	if err := os.WriteFile(ep, eb, 0o644); err != nil {
		return nil, nil, err
	}
	eb = nil
	parts := int(math.Sqrt(float64(p.n)))
	nprobes := max(8, int(math.Ceil(0.12*float64(parts)))) // the share exledger probes
	cmd := exec.Command(node, "bench.mjs", filepath.Join(p.root, "lancedb"), vp, fmt.Sprint(p.n), fmt.Sprint(p.dim), qp,
		fmt.Sprint(p.nq), fmt.Sprint(p.tenants), fmt.Sprint(p.k), fmt.Sprint(parts), fmt.Sprint(nprobes), map[bool]string{true: "1", false: "0"}[p.lanceFlat],
		ep, fmt.Sprint(p.batch), fmt.Sprint(p.lanceBulk), map[bool]string{true: "1", false: "0"}[p.lanceIndex])
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, nil, fmt.Errorf("node bench.mjs: %v\n%s", err, stderr.String())
	}
	var lo lanceOut
	if err := json.Unmarshal(out, &lo); err != nil {
		return nil, nil, fmt.Errorf("node bench.mjs output: %v", err)
	}
	if lo.WriteOnly {
		fmt.Printf("LanceDB %s: ingest %d vectors %.3fs (batches of %d, no fsync); no index built, no query run (-lancedb-index=false)\n", lo.Version, p.n, lo.Ingest, p.batch)
		return nil, &lo, nil
	}
	fmt.Printf("LanceDB %s: ingest %d vectors %.3fs (batches of %d, no fsync); IVF-flat index (%d partitions, nprobes %d, cosine) built in %.3fs; directory %d bytes\n",
		lo.Version, p.n, lo.Ingest, p.batch, parts, nprobes, lo.Index, lo.Disk)
	if lo.Bulk > 0 {
		fmt.Printf("LanceDB %s: the same rows in batches of %d into a second table: %.3fs (%.0f/s, no fsync)\n", lo.Version, p.lanceBulk, lo.Bulk, float64(p.n)/lo.Bulk)
	}
	secs := func(s []float64) []time.Duration {
		d := make([]time.Duration, len(s))
		for i, x := range s {
			d[i] = time.Duration(x * 1e9)
		}
		return d
	}
	mk := func(mode string, r lanceRun, ingest float64, note string) row {
		return row{system: "LanceDB " + lo.Version, mode: mode, ingestPerSec: ingest, ingestNote: note, diskBytes: lo.Disk,
			p50u: pct(secs(r.Unf.Lat), 0.5), p99u: pct(secs(r.Unf.Lat), 0.99), p50f: pct(secs(r.Fil.Lat), 0.5), p99f: pct(secs(r.Fil.Lat), 0.99),
			recallU: recall(r.Unf.IDs, truth.unfiltered), recallF: recall(r.Fil.IDs, truth.filtered)}
	}
	ivf := mk(fmt.Sprintf("IVF-flat, %d partitions, nprobes %d", parts, nprobes), lo.IVFFlat, float64(p.n)/(lo.Ingest+lo.Index), fmt.Sprintf("incl. index build of %.1fs", lo.Index))
	if lo.Flat == nil {
		ivf.ingestNote = fmt.Sprintf("%.0f/s without the index (no fsync); incl. index build of %.1fs", float64(p.n)/lo.Ingest, lo.Index)
		return []row{ivf}, &lo, nil
	}
	return []row{mk("flat (no index)", *lo.Flat, float64(p.n)/lo.Ingest, "no fsync"), ivf}, &lo, nil
}

// printRatios prints the ingest ratios exledger ÷ LanceDB of this run,
// each named by what it compares.
func printRatios(p params, in *ingests, lo *lanceOut) {
	n := float64(p.n)
	if in == nil {
		if lo != nil {
			fmt.Printf("\nLanceDB process CPU per vector during its write: %.2f µs; ingest %.0f vectors/s written (batches of %d, no fsync)\n", lo.IngestCPU*1e6/n, n/lo.Ingest, p.batch)
		}
		return
	}
	d, ns := in.durable, in.nosync
	fmt.Printf("\nexledger ingest (vectors/s): durable (SyncAlways) %.0f acknowledged, %.0f sealed, %.0f indexed; SyncNever %.0f acknowledged, %.0f sealed, %.0f indexed\n",
		n/d.acked.Seconds(), n/d.sealed.Seconds(), n/d.indexed.Seconds(), n/ns.acked.Seconds(), n/ns.sealed.Seconds(), n/ns.indexed.Seconds())
	fmt.Printf("exledger process CPU per vector until acknowledged: %.2f µs (SyncAlways), %.2f µs (SyncNever)\n", d.ackedCPU*1e6/n, ns.ackedCPU*1e6/n)
	if lo == nil {
		return
	}
	lw := n / lo.Ingest
	fmt.Printf("LanceDB process CPU per vector during its write: %.2f µs\n", lo.IngestCPU*1e6/n)
	fmt.Printf("LanceDB ingest (vectors/s, no fsync): %.0f written (batches of %d)", lw, p.batch)
	if !lo.WriteOnly {
		fmt.Printf(", %.0f incl. its index build", n/(lo.Ingest+lo.Index))
	}
	if lo.Bulk > 0 {
		fmt.Printf("; %.0f written in batches of %d", n/lo.Bulk, p.lanceBulk)
	}
	fmt.Println()
	fmt.Printf("ratios exledger ÷ LanceDB, same batches of %d: durable acknowledged %.2fx; without fsync on either side (SyncNever acknowledged) %.2fx; durable sealed %.2fx",
		p.batch, n/d.acked.Seconds()/lw, n/ns.acked.Seconds()/lw, n/d.sealed.Seconds()/lw)
	if !lo.WriteOnly {
		fmt.Printf("; durable incl. each side's index build %.2fx", (n/d.indexed.Seconds())/(n/(lo.Ingest+lo.Index)))
	}
	if lo.Bulk > 0 {
		fmt.Printf("; durable acknowledged vs LanceDB's %d-row batches %.2fx, SyncNever %.2fx", p.lanceBulk, n/d.acked.Seconds()/(n/lo.Bulk), n/ns.acked.Seconds()/(n/lo.Bulk))
	}
	fmt.Println()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }

func printTable(p params, rows []row) {
	fmt.Printf("\n| system | search | ingest (vectors/s) | top-%d p50 | p99 | tenant-filtered p50 | p99 | recall@%d | filtered recall@%d |\n", p.k, p.k, p.k)
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		ing := "–"
		if r.ingestPerSec > 0 {
			ing = fmt.Sprintf("%.0f", r.ingestPerSec)
			if r.ingestNote != "" {
				ing += " (" + r.ingestNote + ")"
			}
		} else if r.ingestNote != "" {
			ing = r.ingestNote
		}
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %.3f | %.3f |\n", r.system, r.mode, ing, ms(r.p50u), ms(r.p99u), ms(r.p50f), ms(r.p99f), r.recallU, r.recallF)
	}
}
