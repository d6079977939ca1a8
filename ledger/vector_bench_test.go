package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
)

// BenchmarkAppendVectorEvents: batches of 100 events with 384-d vectors,
// SyncNever (codec, WAL and memtable cost; seals run in the background).
func BenchmarkAppendVectorEvents(b *testing.B) {
	const dim = 384
	l, err := ledger.Open(b.TempDir(), &ledger.Options{Sync: ledger.SyncNever, EmbeddingDim: dim})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	r := rand.New(rand.NewPCG(1, 1))
	vecs := clustered(r, 100, dim, 0.5)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch := make([]ledger.VectorEvent, 100)
		for j := range batch {
			batch[j] = vecEvent(fmt.Sprintf("b%d-%d", i, j), "t0", j, vecs[j]...)
		}
		if err := l.AppendVectorEvents(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "vectors/s")
}

// BenchmarkSearchSimilar: top-10 over 20,000 384-d vectors in one sealed
// segment, exact and with the approximate index, unfiltered and filtered
// to one of 4 tenants.
func BenchmarkSearchSimilar(b *testing.B) {
	const dim, n = 384, 20000
	dir := b.TempDir()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(2, 2))
	vecs := clustered(r, n, dim, 0.5)
	l, err := ledger.Open(dir, &ledger.Options{Sync: ledger.SyncNever, EmbeddingDim: dim, SegmentBytes: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	for lo := 0; lo < n; lo += 1000 {
		var batch []ledger.VectorEvent
		for i := lo; i < lo+1000; i++ {
			batch = append(batch, vecEvent(fmt.Sprintf("s%d", i), fmt.Sprintf("t%d", i%4), i, vecs[i]...))
		}
		if err := l.AppendVectorEvents(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := l.BuildVectorIndexes(ctx); err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	qs := clustered(r, 64, dim, 0.5)
	for _, mode := range []string{"exact", "approximate"} {
		for _, filtered := range []bool{false, true} {
			name := mode + "/unfiltered"
			if filtered {
				name = mode + "/tenant"
			}
			b.Run(name, func(b *testing.B) {
				o := &ledger.Options{ReadOnly: true, VectorIndex: ledger.VectorIndexOptions{Exact: mode == "exact", MinCandidates: 1000}}
				l, err := ledger.Open(dir, o)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				ten := ledger.TenantID("t1")
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					q := ledger.SimilarQuery{Vector: qs[i%len(qs)], Limit: 10}
					if filtered {
						q.Filter.TenantID = &ten
					}
					if _, err := l.SearchSimilar(ctx, q); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkVectorIngest: what vecbench measures as acknowledged ingest:
// 100,000 events with 384-d vectors in batches of 1,000, SyncAlways, one
// fresh ledger per iteration (seals and index builds run in the
// background meanwhile, as in vecbench). It reports vectors/s and the
// process CPU time per vector (user+system, all goroutines: less
// sensitive to other load on the machine than the rate).
func BenchmarkVectorIngest(b *testing.B) {
	const dim, n, batch = 384, 100_000, 1000
	r := rand.New(rand.NewPCG(3, 3))
	base := clustered(r, 1000, dim, 0.5)
	evs := make([]ledger.VectorEvent, n)
	for i := range evs {
		evs[i] = vecEvent(fmt.Sprintf("e%07d", i), fmt.Sprintf("t%d", i%8), i, base[i%len(base)]...)
	}
	ctx := context.Background()
	var acked, cpu float64
	var stalls uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		o := &ledger.Options{EmbeddingDim: dim}
		if os.Getenv("VB_NOSYNC") != "" {
			o.Sync = ledger.SyncNever
		}
		l, err := ledger.Open(b.TempDir(), o)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0 := cpuTime()
		t0 := time.Now()
		for lo := 0; lo < n; lo += batch {
			if err := l.AppendVectorEvents(ctx, evs[lo:lo+batch]); err != nil {
				b.Fatal(err)
			}
		}
		acked += time.Since(t0).Seconds()
		cpu += float64(cpuTime()-c0) / 1e9
		stalls += l.Metrics().SealStalls
		b.StopTimer()
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*n)/acked, "vectors/s")
	b.ReportMetric(cpu*1e6/float64(b.N*n), "cpu-µs/vector")
	b.ReportMetric(float64(stalls)/float64(b.N), "seal-stalls/op")
}
