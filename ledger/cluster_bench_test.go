package ledger_test

import (
	"context"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// BenchmarkClusterQuery measures what clustering buys a medium-selectivity
// query (issue 17, goal 2): a tenant + kind pair matching about 1% of a
// 500k-event ledger of sealed log-order segments, queried before and after
// Compact re-clusters the segments by (tenant, kind, occurred_at). It
// reports the mean µs per result of each layout's queries (page cache
// warm; the ledger is reopened before each layout's first query, so the
// block cache starts cold and then keeps what fits of the blocks read).
func BenchmarkClusterQuery(b *testing.B) {
	const n = 500_000
	dir := b.TempDir()
	ctx := context.Background()
	l, err := ledger.Open(dir, &ledger.Options{Sync: ledger.SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 17})
	count := map[[2]string]int{}
	for i := 0; i < n; i += 1000 {
		evs := g.Batch(1000)
		for j := range evs {
			if evs[j].TenantID != nil {
				count[[2]string{string(*evs[j].TenantID), string(evs[j].Kind())}]++
			}
		}
		if err := l.AppendEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	var pair [2]string
	best := math.Inf(1)
	for k, c := range count {
		if d := math.Abs(float64(c) - 0.01*n); d < best {
			best, pair = d, k
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	t := ledger.TenantID(pair[0])
	q := ledger.EventQuery{TenantID: &t, Kinds: []ledger.ExperienceEventKind{ledger.ExperienceEventKind(pair[1])}}
	run := func(name string) {
		l, err := ledger.Open(dir, &ledger.Options{Sync: ledger.SyncNever})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		var total time.Duration
		res := 0
		for i := 0; i < b.N; i++ {
			start := time.Now()
			r, err := l.QueryEvents(ctx, q)
			if err != nil {
				b.Fatal(err)
			}
			total += time.Since(start)
			if res = len(r); res != count[pair] {
				b.Fatalf("%s: %d results, want %d", name, res, count[pair])
			}
		}
		b.ReportMetric(float64(total.Microseconds())/float64(b.N)/float64(res), name+"-µs/result")
		b.ReportMetric(float64(res), "results")
	}
	b.ResetTimer()
	run("logorder")
	b.StopTimer()
	l, err = ledger.Open(dir, &ledger.Options{Sync: ledger.SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := l.Compact(ctx, ledger.CompactOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	run("clustered")
}

// BenchmarkSealLayout compares the two seal layouts side by side in one
// process: a ledger of n workload events (EXLEDGER_BENCH_N, default 300k)
// is built with each Options.SealLayout (sealed as it fills, no Compact),
// then each query shape and a full decoded scan run against both,
// alternating. It reports µs per query (and per result) and the process's
// CPU µs per query (getrusage) for each layout.
//
//	go test -run '^$' -bench 'SealLayout' -benchtime 5x -timeout 30m ./ledger/
func BenchmarkSealLayout(b *testing.B) {
	n := 300_000
	if v, err := strconv.Atoi(os.Getenv("EXLEDGER_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	layouts := []ledger.SealLayout{ledger.SealLayoutLog, ledger.SealLayoutClustered}
	dirs := make([]string, len(layouts))
	pair := map[[2]string]int{}
	var times []string
	for i, lay := range layouts {
		dirs[i] = b.TempDir()
		l, err := ledger.Open(dirs[i], &ledger.Options{Sync: ledger.SyncNever, SealLayout: lay})
		if err != nil {
			b.Fatal(err)
		}
		g := workload.New(workload.Config{Seed: 42})
		t0 := time.Now()
		for done := 0; done < n; done += 1000 {
			evs := g.Batch(1000)
			if i == 0 {
				for j := range evs {
					if evs[j].TenantID != nil {
						pair[[2]string{string(*evs[j].TenantID), string(evs[j].Kind())}]++
					}
					times = append(times, string(evs[j].OccurredAt))
				}
			}
			if err := l.AppendEvents(ctx, evs); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Close(); err != nil { // seals the tail
			b.Fatal(err)
		}
		b.Logf("%s: built %d events in %s (appends + seals)", lay, n, time.Since(t0).Round(time.Millisecond))
	}
	nearest := func(frac float64) (q ledger.EventQuery, want int) {
		best := math.Inf(1)
		var p [2]string
		for k, c := range pair {
			if d := math.Abs(float64(c) - frac*float64(n)); d < best || (d == best && k[0]+k[1] < p[0]+p[1]) {
				best, p = d, k
			}
		}
		t := ledger.TenantID(p[0])
		return ledger.EventQuery{TenantID: &t, Kinds: []ledger.ExperienceEventKind{ledger.ExperienceEventKind(p[1])}}, pair[p]
	}
	slices.Sort(times)
	lo, w := len(times)/2, n/100
	ts, te := ledger.Timestamp(times[lo]), ledger.Timestamp(times[lo+w-1])
	q1, w1 := nearest(0.01)
	q01, w01 := nearest(0.001)
	trWant := 0
	for _, t := range times {
		if t >= string(ts) && t <= string(te) {
			trWant++
		}
	}
	cases := []struct {
		name string
		q    ledger.EventQuery
		want int
	}{
		{"selective1pct", q1, w1},
		{"selective0.1pct", q01, w01},
		{"timerange1pct", ledger.EventQuery{TimeRange: &ledger.TimeRange{Start: &ts, End: &te}}, trWant},
		{"scan", ledger.EventQuery{}, n},
	}
	ls := make([]*ledger.Ledger, len(layouts))
	for i := range layouts {
		l, err := ledger.Open(dirs[i], nil)
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		ls[i] = l
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			total := make([]time.Duration, len(layouts))
			cpu := make([]int64, len(layouts))
			for it := 0; it < b.N; it++ {
				for k := range layouts {
					i := (k + it) % len(layouts) // alternate which goes first
					c0, t0 := cpuTime(), time.Now()
					got := 0
					for _, err := range ls[i].Scan(ctx, c.q) {
						if err != nil {
							b.Fatal(err)
						}
						got++
					}
					total[i] += time.Since(t0)
					cpu[i] += cpuTime() - c0
					if got != c.want {
						b.Fatalf("%s %s: %d results, want %d", layouts[i], c.name, got, c.want)
					}
				}
			}
			for i, lay := range layouts {
				per := total[i] / time.Duration(b.N)
				b.ReportMetric(float64(per.Microseconds()), lay.String()+"-µs/query")
				b.ReportMetric(float64(per.Nanoseconds())/1e3/float64(c.want), lay.String()+"-µs/result")
				b.ReportMetric(float64(cpu[i])/1e3/float64(b.N), lay.String()+"-cpu-µs/query")
			}
			b.ReportMetric(float64(c.want), "results")
		})
	}
}

// BenchmarkSealCost times the seal of one memtable of 60k workload events
// (~40 MB of canonical events) in each layout, alternating, in one
// process, reporting wall and CPU (getrusage, whole process: nothing else
// runs in it during the Flush) per seal: what clustering adds to the
// sealer's work (a header decode and
// a sort per record; the chain is computed either way).
//
//	go test -run '^$' -bench 'SealCost' -benchtime 6x ./ledger/
func BenchmarkSealCost(b *testing.B) {
	ctx := context.Background()
	evs := workload.New(workload.Config{Seed: 42}).Batch(60_000)
	layouts := []ledger.SealLayout{ledger.SealLayoutLog, ledger.SealLayoutClustered}
	total := make([]time.Duration, len(layouts))
	cpu := make([]int64, len(layouts))
	b.ResetTimer()
	for it := 0; it < b.N; it++ {
		for k := range layouts {
			i := (k + it) % len(layouts)
			b.StopTimer()
			l, err := ledger.Open(b.TempDir(), &ledger.Options{Sync: ledger.SyncNever, SealLayout: layouts[i], SegmentBytes: 1 << 30, SegmentAge: -1})
			if err != nil {
				b.Fatal(err)
			}
			for j := 0; j < len(evs); j += 1000 {
				if err := l.AppendEvents(ctx, evs[j:j+1000]); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			runtime.GC()
			c0, t0 := cpuTime(), time.Now()
			if err := l.Flush(); err != nil {
				b.Fatal(err)
			}
			total[i] += time.Since(t0)
			cpu[i] += cpuTime() - c0
			b.StopTimer()
			l.Close()
			b.StartTimer()
		}
	}
	for i, lay := range layouts {
		b.ReportMetric(float64(total[i].Microseconds())/1e3/float64(b.N), lay.String()+"-ms/seal")
		b.ReportMetric(float64(cpu[i])/1e6/float64(b.N), lay.String()+"-cpu-ms/seal")
	}
}

// BenchmarkQueryShapes runs the query shapes of BenchmarkQuery1M/10M on
// the same cached ledger (EXLEDGER_BENCH_N events, default 1M; built with
// EXLEDGER_BENCH_SEAL's layout, see qbLedger) without their full scan
// between cases, reporting wall and CPU (getrusage) per query: the quick
// way to profile one shape at 10M.
//
//	EXLEDGER_BENCH_N=10000000 EXLEDGER_BENCH_SEAL=clustered go test -run '^$' -bench 'QueryShapes/timerange' -benchtime 10x ./ledger/
func BenchmarkQueryShapes(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("EXLEDGER_BENCH_N")); err == nil && v > 0 {
		n = v
	}
	dir, p := qbLedger(b, n)
	l, err := ledger.Open(dir, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	// Open's background work (the tree's load) would be counted
	// in the first queries' CPU: wait until the process is idle.
	w0, idle := time.Now(), 0
	for i := 0; i < 600 && idle < 3; i++ {
		c0 := cpuTime()
		time.Sleep(100 * time.Millisecond)
		if idle++; cpuTime()-c0 > 5e6 {
			idle = 0
		}
	}
	b.Logf("waited %s for Open's background work", time.Since(w0).Round(time.Millisecond))
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
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			t0 := time.Now()
			if _, err := l.QueryEvents(ctx, c.q); err != nil {
				b.Fatal(err)
			}
			first := time.Since(t0)
			b.ResetTimer()
			c0, m0 := cpuTime(), l.Metrics().CacheMisses
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
			cpu := cpuTime() - c0
			misses := l.Metrics().CacheMisses - m0
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(misses)/float64(b.N), "cache-misses/query")
			b.ReportMetric(float64(c.want), "events/query")
			b.ReportMetric(float64(first.Microseconds())/1e3, "first-ms")
			b.ReportMetric(float64(per.Microseconds()), "µs/query")
			b.ReportMetric(float64(per.Nanoseconds())/1e3/float64(c.want), "µs/result")
			b.ReportMetric(float64(cpu)/1e3/float64(b.N), "cpu-µs/query")
		})
	}
}
