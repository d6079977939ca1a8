package ledger_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/exledger/exledger/ledger"
)

// BenchmarkSearchSimilarReads: top-10 over 20,000 1,536-d vectors in two
// default-sized sealed segments (about 10,000 vectors each, as in
// vecbench's 1,536-d run), 8 tenants, with the approximate index, the
// default options except the vector block cache: "cold" has none (every
// search reads and checks what it compares: what a search costs when the
// vector files do not fit the cache), "cached" the default. Unfiltered and
// filtered to one tenant. cpu-ms/op is the process CPU time per search
// (less sensitive to other load on the machine than the wall clock).
func BenchmarkSearchSimilarReads(b *testing.B) {
	const dim, n = 1536, 20000
	dir := b.TempDir()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 7))
	vecs := clustered(r, n, dim, 0.5)
	l, err := ledger.Open(dir, &ledger.Options{Sync: ledger.SyncNever, EmbeddingDim: dim})
	if err != nil {
		b.Fatal(err)
	}
	for lo := 0; lo < n; lo += 1000 {
		var batch []ledger.VectorEvent
		for i := lo; i < lo+1000; i++ {
			batch = append(batch, vecEvent(fmt.Sprintf("s%d", i), fmt.Sprintf("t%d", i%8), i, vecs[i]...))
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
	for _, cache := range []string{"cold", "cached"} {
		for _, filtered := range []bool{false, true} {
			name := cache + "/unfiltered"
			if filtered {
				name = cache + "/tenant"
			}
			b.Run(name, func(b *testing.B) {
				o := &ledger.Options{ReadOnly: true}
				if cache == "cold" {
					o.VectorIndex.CacheBytes = -1
				}
				l, err := ledger.Open(dir, o)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				b.ResetTimer()
				c0 := cpuTime()
				for i := 0; i < b.N; i++ {
					q := ledger.SimilarQuery{Vector: qs[i%len(qs)], Limit: 10}
					if filtered {
						ten := ledger.TenantID(fmt.Sprintf("t%d", i%8))
						q.Filter.TenantID = &ten
					}
					if _, err := l.SearchSimilar(ctx, q); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(cpuTime()-c0)/1e6/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
