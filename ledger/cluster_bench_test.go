package ledger_test

import (
	"context"
	"math"
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
