package ledger_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// BenchmarkAppendBatch measures durable appends (default options: SyncAlways,
// real disk) at several batch sizes. Events per second is reported.
func BenchmarkAppendBatch(b *testing.B) {
	for _, size := range []int{1, 100, 1000} {
		b.Run(itoa(size), func(b *testing.B) {
			l, err := ledger.Open(b.TempDir(), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			g := workload.New(workload.Config{Seed: 1})
			batches := make([][]ledger.ExperienceEventEnvelope, 64)
			for i := range batches {
				batches[i] = g.Batch(size)
			}
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				bt := batches[i%len(batches)]
				// Unique ids: re-appending identical events would be idempotent no-ops.
				for j := range bt {
					bt[j].EventID = ledger.EventID("e" + itoa(i) + "-" + itoa(j))
				}
				if err := l.AppendEvents(ctx, bt); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			m := l.Metrics()
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(m.Fsyncs)/float64(b.N), "fsyncs/op")
		})
	}
}

// BenchmarkAppendConcurrent64 runs 64 goroutines appending single events
// with the default durable policy (group commit).
func BenchmarkAppendConcurrent64(b *testing.B) {
	l, err := ledger.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	const P = 64
	evs := workload.New(workload.Config{Seed: 2}).Batch(4096)
	ctx := context.Background()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := (b.N + P - 1) / P
	for p := 0; p < P; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				e := evs[(p*per+i)%len(evs)]
				e.EventID = ledger.EventID("c" + itoa(p) + "-" + itoa(i))
				if err := l.AppendEvent(ctx, e); err != nil {
					b.Error(err)
					return
				}
			}
		}(p)
	}
	wg.Wait()
	b.StopTimer()
	m := l.Metrics()
	b.ReportMetric(float64(per*P)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(per*P)/float64(max(m.Fsyncs, 1)), "events/fsync")
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b [20]byte
	n := len(b)
	for i > 0 {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
	}
	return string(b[n:])
}

// ---- query, open and rotation benchmarks ----
//
// The query and open benchmarks share one ledger of n workload events
// (seed 42), built once with SyncNever and cached on disk in
// $TMPDIR/exledger-bench-cache/seed42-n<n> (with the query parameters in a
// .json beside it) so that later runs skip the build; the benchmarks reopen
// it with the durable defaults. Delete the directory to force a rebuild
// (it is rebuilt anyway when it does not open or holds another count).
// The 10M variants run only with EXLEDGER_BENCH_10M=1:
//
//	go test -run '^$' -bench 'Query1M|Open1M' -benchtime 20x ./ledger/
//	EXLEDGER_BENCH_10M=1 go test -run '^$' -bench 'Query10M|Open10M' -benchtime 10x -timeout 60m ./ledger/
//
// EXLEDGER_BENCH_SEAL=log or =clustered builds (and caches apart) the
// ledger with that Options.SealLayout instead of the default.

// qbLayout is the seal layout the cached ledgers are built with:
// EXLEDGER_BENCH_SEAL=log or =clustered, else the default. A non-default
// layout gets its own cache directory.
func qbLayout() ledger.SealLayout {
	switch os.Getenv("EXLEDGER_BENCH_SEAL") {
	case "log":
		return ledger.SealLayoutLog
	case "clustered":
		return ledger.SealLayoutClustered
	}
	return ledger.SealLayoutDefault
}

func qbLayoutName() string {
	if l := qbLayout(); l != ledger.SealLayoutDefault {
		return l.String() + "-"
	}
	return ""
}

// qbParams are the parameters of the query benchmarks, chosen from the
// statistics of the cached ledger's events.
type qbParams struct {
	N int

	Sel1Tenant, Sel1Kind   string // tenant+kind pair nearest 1%
	Sel1Want               int
	Sel01Tenant, Sel01Kind string // tenant+kind pair nearest 0.1%
	Sel01Want              int
	TRStart, TREnd         string // global time range holding ~1%
	TRWant                 int
	BroadKind              string // the most frequent kind (~20%)
	BroadWant              int
	Traces                 []string // recorded trace link ids
}

var qbCache sync.Map // n -> *qbEntry

type qbEntry struct {
	once sync.Once
	dir  string
	p    qbParams
	err  error
}

func qbLedger(b *testing.B, n int) (string, *qbParams) {
	b.Helper()
	v, _ := qbCache.LoadOrStore(n, &qbEntry{})
	e := v.(*qbEntry)
	e.once.Do(func() {
		root := os.Getenv("EXLEDGER_BENCH_CACHE")
		if root == "" {
			root = filepath.Join(os.TempDir(), "exledger-bench-cache")
		}
		// The name changes with the defaults the ledger is built with (raw zstd
		// literals since 2026-11-26), so that a stale cache is not reused.
		e.dir = filepath.Join(root, "seed42-rawlit-"+qbLayoutName()+"n"+itoa(n))
		meta := e.dir + ".json"
		if raw, err := os.ReadFile(meta); err == nil && json.Unmarshal(raw, &e.p) == nil && e.p.N == n {
			if l, err := ledger.Open(e.dir, &ledger.Options{ReadOnly: true}); err == nil {
				ok := l.LastSeq() == uint64(n)
				l.Close()
				if ok {
					return
				}
			}
		}
		os.RemoveAll(e.dir)
		os.Remove(meta)
		e.p, e.err = qbBuild(e.dir, n)
		if e.err == nil {
			raw, _ := json.Marshal(e.p)
			e.err = os.WriteFile(meta, raw, 0o644)
		}
	})
	if e.err != nil {
		b.Fatal(e.err)
	}
	return e.dir, &e.p
}

func qbBuild(dir string, n int) (qbParams, error) {
	p := qbParams{N: n}
	l, err := ledger.Open(dir, &ledger.Options{Sync: ledger.SyncNever, SealLayout: qbLayout()})
	if err != nil {
		return p, err
	}
	g := workload.New(workload.Config{Seed: 42})
	pair := map[[2]string]int{}
	kinds := map[string]int{}
	var times []string
	ctx := context.Background()
	for done := 0; done < n; {
		bt := g.Batch(min(1000, n-done))
		for i := range bt {
			e := &bt[i]
			t := ""
			if e.TenantID != nil {
				t = string(*e.TenantID)
			}
			k := string(e.Kind())
			pair[[2]string{t, k}]++
			kinds[k]++
			times = append(times, string(e.OccurredAt))
			if rt, ok := e.Event.(*ledger.ReplayTraceRecorded); ok && len(p.Traces) < 4096 {
				p.Traces = append(p.Traces, string(rt.TraceLinkID))
			}
		}
		if err := l.AppendEvents(ctx, bt); err != nil {
			l.Close()
			return p, err
		}
		done += len(bt)
	}
	if err := l.Close(); err != nil {
		return p, err
	}
	nearest := func(frac float64) (string, string, int) {
		var bt, bk string
		bw, best := 0, -1.0
		keys := make([][2]string, 0, len(pair))
		for k := range pair {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i][0]+"\x00"+keys[i][1] < keys[j][0]+"\x00"+keys[j][1] })
		for _, k := range keys {
			if k[0] == "" {
				continue
			}
			d := math.Abs(float64(pair[k]) - frac*float64(n))
			if best < 0 || d < best {
				best, bt, bk, bw = d, k[0], k[1], pair[k]
			}
		}
		return bt, bk, bw
	}
	p.Sel1Tenant, p.Sel1Kind, p.Sel1Want = nearest(0.01)
	p.Sel01Tenant, p.Sel01Kind, p.Sel01Want = nearest(0.001)
	for k, c := range kinds {
		if c > p.BroadWant || (c == p.BroadWant && k < p.BroadKind) {
			p.BroadKind, p.BroadWant = k, c
		}
	}
	sort.Strings(times)
	lo, want := len(times)/2, max(1, n/100)
	p.TRStart, p.TREnd = times[lo], times[min(lo+want, len(times))-1]
	for _, t := range times {
		if t >= p.TRStart && t <= p.TREnd {
			p.TRWant++
		}
	}
	return p, nil
}

// qbScan times one full scan (every event decoded) of l.
func qbScan(b *testing.B, l *ledger.Ledger, n int) time.Duration {
	b.Helper()
	t := time.Now()
	got := 0
	for _, err := range l.Scan(context.Background(), ledger.EventQuery{}) {
		if err != nil {
			b.Fatal(err)
		}
		got++
	}
	if got != n {
		b.Fatalf("scan returned %d events, want %d", got, n)
	}
	return time.Since(t)
}

func BenchmarkQuery1M(b *testing.B) { benchQueries(b, 1_000_000) }

func BenchmarkQuery10M(b *testing.B) {
	if os.Getenv("EXLEDGER_BENCH_10M") == "" {
		b.Skip("set EXLEDGER_BENCH_10M=1 to build and query a 10M-event ledger")
	}
	benchQueries(b, 10_000_000)
}

// benchQueries measures each query shape on the cached ledger (reopened with
// the durable defaults) and, in the same benchmark, one full scan: it
// reports the query latency, the scan time and their ratio.
func benchQueries(b *testing.B, n int) {
	dir, p := qbLedger(b, n)
	l, err := ledger.Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	tenant := func(s string) *ledger.TenantID { t := ledger.TenantID(s); return &t }
	kinds := func(s string) []ledger.ExperienceEventKind {
		return []ledger.ExperienceEventKind{ledger.ExperienceEventKind(s)}
	}
	ts := func(s string) *ledger.Timestamp { t := ledger.Timestamp(s); return &t }
	cases := []struct {
		name string
		q    ledger.EventQuery
		want int
	}{
		{"selective1pct", ledger.EventQuery{TenantID: tenant(p.Sel1Tenant), Kinds: kinds(p.Sel1Kind)}, p.Sel1Want},
		{"selective0.1pct", ledger.EventQuery{TenantID: tenant(p.Sel01Tenant), Kinds: kinds(p.Sel01Kind)}, p.Sel01Want},
		{"timerange1pct", ledger.EventQuery{TimeRange: &ledger.TimeRange{Start: ts(p.TRStart), End: ts(p.TREnd)}}, p.TRWant},
		{"broad", ledger.EventQuery{Kinds: kinds(p.BroadKind)}, p.BroadWant},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			// One untimed query first: its time (block cache as the
			// previous sub-benchmark's full scan left it) is reported as
			// first-ms; the timed loop measures the steady state.
			t0 := time.Now()
			if _, err := l.QueryEvents(ctx, c.q); err != nil {
				b.Fatal(err)
			}
			first := time.Since(t0)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r, err := l.QueryEvents(ctx, c.q)
				if err != nil {
					b.Fatal(err)
				}
				if len(r) != c.want {
					b.Fatalf("%d events, want %d", len(r), c.want)
				}
			}
			b.StopTimer()
			per := b.Elapsed() / time.Duration(b.N)
			scan := qbScan(b, l, n)
			b.ReportMetric(float64(c.want), "events/query")
			b.ReportMetric(float64(first.Microseconds())/1e3, "first-ms")
			b.ReportMetric(float64(per.Microseconds()), "µs/query")
			b.ReportMetric(float64(scan.Milliseconds()), "scan-ms")
			b.ReportMetric(float64(per)/float64(scan), "query/scan")
		})
	}
	b.Run("tracelink", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			id := p.Traces[(i*7919)%len(p.Traces)]
			tr, err := l.GetTraceLink(ctx, ledger.TraceLinkID(id))
			if err != nil || tr == nil {
				b.Fatalf("trace %s: %v %v", id, tr, err)
			}
		}
		b.StopTimer()
		per := b.Elapsed() / time.Duration(b.N)
		scan := qbScan(b, l, n)
		b.ReportMetric(float64(per.Nanoseconds())/1e3, "µs/lookup")
		b.ReportMetric(float64(scan.Milliseconds()), "scan-ms")
		b.ReportMetric(float64(per)/float64(scan), "lookup/scan")
	})
}

func BenchmarkOpen1M(b *testing.B) { benchOpen(b, 1_000_000) }

func BenchmarkOpen10M(b *testing.B) {
	if os.Getenv("EXLEDGER_BENCH_10M") == "" {
		b.Skip("set EXLEDGER_BENCH_10M=1 to build and open a 10M-event ledger")
	}
	benchOpen(b, 10_000_000)
}

// benchOpen times Open+Close of the cached ledger with the durable defaults
// (a clean close: the unsealed tail is replayed from the WAL) and compares
// it with a full scan measured in the same benchmark.
func benchOpen(b *testing.B, n int) {
	dir, _ := qbLedger(b, n)
	var open time.Duration
	var replayed uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := time.Now()
		l, err := ledger.Open(dir, nil)
		if err != nil {
			b.Fatal(err)
		}
		open += time.Since(t)
		replayed = l.Metrics().RecoveredWAL
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	l, err := ledger.Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	scan := qbScan(b, l, n)
	l.Close()
	per := open / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1e3, "ms/open")
	b.ReportMetric(float64(scan.Milliseconds()), "scan-ms")
	b.ReportMetric(float64(per)/float64(scan), "open/scan")
	b.ReportMetric(float64(replayed), "wal-events-replayed")
}

// BenchmarkAppendRotation appends durable batches of 10 events to a ledger
// with 1 MiB segments, so that a segment is frozen and sealed in the
// background every ~160 appends, and reports the latency percentiles of the
// appends made while a seal was in progress (from the append that froze
// the active part to the one after which Metrics().Seals moved) beside
// those of the other appends.
func BenchmarkAppendRotation(b *testing.B) {
	r := newRotationBench(b)
	l, err := ledger.Open(b.TempDir(), &ledger.Options{SegmentBytes: rotationSegBytes})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	b.ResetTimer()
	steady, sealing := r.run(b, l, 0, b.N)
	b.StopTimer()
	reportLatencies(b, "steady", steady)
	reportLatencies(b, "sealing", sealing)
	b.ReportMetric(float64(l.Metrics().Seals), "seals")
	b.ReportMetric(float64(b.N*rotationBatch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendRotationPacing is BenchmarkAppendRotation with the pacing
// of background seals (a seal yields the processor after every block) off
// and on, alternating in rounds of b.N appends on a fresh ledger each (8
// rounds per mode), so both modes see the same machine. It reports each
// mode's steady and during-seal percentiles over all its rounds and the
// ratio p99.9 during a seal ÷ steady p99.9:
//
//	go test -run '^$' -bench 'AppendRotationPacing' -benchtime 2500x ./ledger/
func BenchmarkAppendRotationPacing(b *testing.B) {
	r := newRotationBench(b)
	defer ledger.SetSealPacing(ledger.SetSealPacing(true))
	const rounds = 8
	var lat [2][2][]time.Duration // [pacing off, on][steady, sealing]
	var events [2]int
	var took [2]time.Duration
	b.ResetTimer()
	for round := 0; round < 2*rounds; round++ {
		mode := round % 2
		ledger.SetSealPacing(mode == 1)
		l, err := ledger.Open(b.TempDir(), &ledger.Options{SegmentBytes: rotationSegBytes})
		if err != nil {
			b.Fatal(err)
		}
		t := time.Now()
		st, se := r.run(b, l, round*b.N, b.N)
		took[mode] += time.Since(t)
		events[mode] += b.N * rotationBatch
		lat[mode][0] = append(lat[mode][0], st...)
		lat[mode][1] = append(lat[mode][1], se...)
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	for mode, name := range []string{"off", "on"} {
		st := reportLatencies(b, name+"-steady", lat[mode][0])
		se := reportLatencies(b, name+"-sealing", lat[mode][1])
		b.ReportMetric(se/st, name+"-p99.9-ratio")
		b.ReportMetric(float64(events[mode])/took[mode].Seconds(), name+"-events/s")
	}
}

const (
	rotationSegBytes = 1 << 20
	rotationBatch    = 10
)

// rotationBench holds the event pool of the rotation benchmarks.
type rotationBench struct {
	pool  []ledger.ExperienceEventEnvelope
	sizes []int64
}

func newRotationBench(b *testing.B) *rotationBench {
	g := workload.New(workload.Config{Seed: 3, OutlierRate: -1})
	r := &rotationBench{pool: g.Batch(8192)}
	r.sizes = make([]int64, len(r.pool))
	for i := range r.pool {
		enc, err := ledger.MarshalCanonical(&r.pool[i])
		if err != nil {
			b.Fatal(err)
		}
		r.sizes[i] = int64(len(enc))
	}
	return r
}

// run makes n appends of rotationBatch events to l (a fresh ledger with
// rotationSegBytes segments; ids from append number from on) and returns
// the latencies of the appends made outside and during a seal.
func (r *rotationBench) run(b *testing.B, l *ledger.Ledger, from, n int) (steady, sealing []time.Duration) {
	ctx := context.Background()
	steady = make([]time.Duration, 0, n)
	sealing = make([]time.Duration, 0, n/4)
	var mem int64
	var freezes uint64 // active parts frozen so far (by the ledger's rule)
	seals0 := l.Metrics().Seals
	bt := make([]ledger.ExperienceEventEnvelope, rotationBatch)
	for i := from; i < from+n; i++ {
		var add int64
		for j := range bt {
			k := (i*rotationBatch + j) % len(r.pool)
			bt[j] = r.pool[k]
			bt[j].EventID = ledger.EventID("r" + itoa(i) + "-" + itoa(j))
			add += r.sizes[k] + int64(len(bt[j].EventID)) - int64(len(r.pool[k].EventID))
		}
		// A seal is in progress while fewer segments were sealed than
		// active parts were frozen.
		pre := l.Metrics().Seals-seals0 < freezes
		t := time.Now()
		if err := l.AppendEvents(ctx, bt); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t)
		mem += add
		froze := mem >= rotationSegBytes // the ledger freezes once the active part holds SegmentBytes
		if froze {
			mem = 0
			freezes++
		}
		if pre || froze || l.Metrics().Seals-seals0 < freezes {
			sealing = append(sealing, d)
		} else {
			steady = append(steady, d)
		}
	}
	return steady, sealing
}

// reportLatencies reports the p50, p99 and p99.9 of lat (µs) and returns
// the p99.9.
func reportLatencies(b *testing.B, name string, lat []time.Duration) float64 {
	if len(lat) == 0 {
		return math.NaN()
	}
	slices.Sort(lat)
	q := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(math.Ceil(p*float64(len(lat))))-1)].Microseconds())
	}
	b.ReportMetric(q(0.5), name+"-p50-µs")
	b.ReportMetric(q(0.99), name+"-p99-µs")
	b.ReportMetric(q(0.999), name+"-p99.9-µs")
	b.ReportMetric(float64(len(lat)), name+"-appends")
	return q(0.999)
}

// BenchmarkScan1M times a full scan (every event decoded into its Go type)
// of the cached 1M-event ledger, reopened with the durable defaults, and
// reports decoded events per second.
func BenchmarkScan1M(b *testing.B) {
	benchScan1M(b, func(l *ledger.Ledger) (int, error) {
		n := 0
		for _, err := range l.Scan(context.Background(), ledger.EventQuery{}) {
			if err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	})
}

// benchScan1M times full scans of the cached 1M-event ledger, reopened
// with the durable defaults, and reports events per second. With
// EXLEDGER_BENCH_SCAN_DIR set it scans that ledger instead, opened
// read-only (such as the 1M and 10M ledgers of bench/'s -ledger-measure).
func benchScan1M(b *testing.B, scan func(*ledger.Ledger) (int, error)) {
	var l *ledger.Ledger
	var err error
	if dir := os.Getenv("EXLEDGER_BENCH_SCAN_DIR"); dir != "" {
		l, err = ledger.Open(dir, &ledger.Options{ReadOnly: true})
		// Wait for Open's background work (the Merkle tree's load), so
		// that the scans' CPU is their own: until a half second uses
		// under 5% of a core.
		for t0, c0, lastT := time.Now(), cpuTime(), time.Now(); err == nil && time.Since(t0) < time.Minute; {
			time.Sleep(500 * time.Millisecond)
			c, t := cpuTime(), time.Now()
			if float64(c-c0) < 0.05*float64(t.Sub(lastT).Nanoseconds()) {
				break
			}
			c0, lastT = c, t
		}
	} else {
		dir, _ := qbLedger(b, 1_000_000)
		l, err = ledger.Open(dir, nil)
	}
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	n := int(l.LastSeq())
	// EXLEDGER_BENCH_SCAN_BALLAST_MIB keeps that much pointer-free memory
	// live during the scans, as a 100M ledger's tree hashes, footers and
	// filters are: the collector's heap goal grows with it, and the scan's
	// short-lived allocations then stream through more memory than the
	// caches hold (docs/benchmarks.md §13, fourth round: scan).
	var ballast [][]byte
	if mib, _ := strconv.Atoi(os.Getenv("EXLEDGER_BENCH_SCAN_BALLAST_MIB")); mib > 0 {
		for range mib {
			ballast = append(ballast, make([]byte, 1<<20))
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var total time.Duration
	var cpu int64
	for i := 0; i < b.N; i++ {
		t, c0 := time.Now(), cpuTime()
		got, err := scan(l)
		if err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("scan returned %d events, want %d", got, n)
		}
		cpu += cpuTime() - c0
		total += time.Since(t)
	}
	runtime.KeepAlive(ballast)
	b.ReportMetric(float64(n)*float64(b.N)/total.Seconds(), "events/s")
	// CPU of the whole process (getrusage) per event: steadier than the
	// wall time on a shared machine.
	b.ReportMetric(float64(cpu)/float64(n)/float64(b.N), "cpu-ns/event")
}

// BenchmarkEncodeBatch1000 isolates AppendEvents' encoding step (canonical
// msgpack and index entries) for a batch of 1000 events.
func BenchmarkEncodeBatch1000(b *testing.B) {
	es := workload.New(workload.Config{Seed: 1}).Batch(1000)
	b.ReportAllocs()
	for b.Loop() {
		if err := ledger.EncodeBatchForBench(es); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/event")
}

// BenchmarkValidate1000 isolates AppendEvents' validation step.
func BenchmarkValidate1000(b *testing.B) {
	es := workload.New(workload.Config{Seed: 1}).Batch(1000)
	for b.Loop() {
		for i := range es {
			if err := ledger.Validate(es[i]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/event")
}

// BenchmarkScanRaw1M is BenchmarkScan1M with ScanRaw: every record is read,
// verified, decompressed, its header decoded and checked against the
// query, and its bytes handed over, without decoding the event body.
func BenchmarkScanRaw1M(b *testing.B) {
	benchScan1M(b, func(l *ledger.Ledger) (int, error) {
		n := 0
		for _, err := range l.ScanRaw(context.Background(), ledger.EventQuery{}, 0) {
			if err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	})
}
