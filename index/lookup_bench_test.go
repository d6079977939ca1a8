package index

import (
	"cmp"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/exledger/exledger/vfs"
)

// BenchmarkTermLookupCold: the term lookups of a tenant + kind query in
// one segment-sized index file (110,000 events, as the 100M ledger's
// segments) whose sections are not in the index cache, as at 100M where
// the cache holds a small share of them: each iteration opens the file
// with an empty cache (outside the timer) and looks up the tenant and the
// kind. "random" has the generator's event order; "clustered" has the
// events ordered by (tenant, kind), as the ledger's clustered segments.
// Run:
//
//	go test -run '^$' -bench BenchmarkTermLookupCold -count 10 ./index/
func BenchmarkTermLookupCold(b *testing.B) {
	const n = 110_000
	es := genWorkload(rand.New(rand.NewPCG(77, 78)), n)
	clustered := slices.Clone(es)
	first := func(e entry, f Field) string {
		for _, t := range e.terms {
			if t.Field == f {
				return t.Value
			}
		}
		return ""
	}
	slices.SortStableFunc(clustered, func(x, y entry) int {
		if c := cmp.Compare(first(x, FieldTenant), first(y, FieldTenant)); c != 0 {
			return c
		}
		return cmp.Compare(first(x, FieldKind), first(y, FieldKind))
	})
	for i := range clustered {
		clustered[i].ord = uint32(i)
	}
	for _, c := range []struct {
		name string
		es   []entry
	}{{"random", es}, {"clustered", clustered}} {
		b.Run(c.name, func(b *testing.B) {
			data, err := buildIndex(c.es, nil)
			if err != nil {
				b.Fatal(err)
			}
			path := filepath.Join(b.TempDir(), "x.idx")
			if err := WriteFile(vfs.OS, path, data); err != nil {
				b.Fatal(err)
			}
			// The tenant + kind pair nearest 0.1% of the events.
			pairs := map[[2]string]int{}
			for _, e := range c.es {
				pairs[[2]string{first(e, FieldTenant), first(e, FieldKind)}]++
			}
			var best [2]string
			bestD := -1
			for p, k := range pairs {
				if p[0] == "" {
					continue
				}
				d := max(k-n/1000, n/1000-k)
				if bestD < 0 || d < bestD || (d == bestD && (p[0] < best[0] || p[0] == best[0] && p[1] < best[1])) {
					best, bestD = p, d
				}
			}
			terms := []Term{{FieldTenant, best[0]}, {FieldKind, best[1]}}
			b.ReportAllocs()
			b.ResetTimer()
			var results uint64
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ix, err := OpenCached(vfs.OS, path, NewCache(128<<20))
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				bm, err := ix.Postings(terms[0])
				if err != nil {
					b.Fatal(err)
				}
				k, err := ix.Postings(terms[1])
				if err != nil {
					b.Fatal(err)
				}
				bm.And(k)
				results = bm.GetCardinality()
				b.StopTimer()
				_ = ix.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(results), "results")
			b.ReportMetric(float64(len(data)), "file-bytes")
		})
	}
}
