package index

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"
)

// Benchmarks. Run (lead, on demand):
//
//	go test -run '^$' -bench 'BenchmarkIndex1M' -benchtime 200x ./index/
//	EXLEDGER_BENCH_10M=1 go test -run '^$' -bench 'BenchmarkIndex10M' -benchtime 20x -timeout 60m ./index/
//
// Each lookup sub-benchmark also times a brute-force scan over the same
// in-memory entries (outside the timer) and reports brute-ns/op and
// speedup = brute / index.

type benchCorpus struct {
	es    []entry
	data  []byte
	ix    *Index
	mem   *Mem
	build time.Duration
	// chosen probes
	term1, term01, single Term
	id                    string
	tStart, tEnd          string // ~1% of the time span
}

var (
	corpusMu sync.Mutex
	corpora  = map[int]*benchCorpus{}
)

func getCorpus(b *testing.B, n int) *benchCorpus {
	corpusMu.Lock()
	defer corpusMu.Unlock()
	if c, ok := corpora[n]; ok {
		return c
	}
	c := &benchCorpus{es: genWorkload(rand.New(rand.NewPCG(42, uint64(n))), n)}
	t0 := time.Now()
	data, err := buildIndex(c.es, nil)
	if err != nil {
		b.Fatal(err)
	}
	c.build = time.Since(t0)
	c.data = data
	if c.ix, err = Decode("bench", data); err != nil {
		b.Fatal(err)
	}
	counts := map[Term]int{}
	for _, e := range c.es {
		for _, t := range e.terms {
			if t.Field != FieldEventID {
				counts[t]++
			}
		}
	}
	closest := func(target int) Term {
		var best Term
		bestD := -1
		for t, k := range counts {
			d := k - target
			if d < 0 {
				d = -d
			}
			if bestD < 0 || d < bestD || (d == bestD && termKeyCompare(t, best) < 0) {
				best, bestD = t, d
			}
		}
		return best
	}
	c.term1 = closest(n / 100)
	c.term01 = closest(n / 1000)
	for _, e := range c.es[n/2:] {
		for _, t := range e.terms {
			if t.Field == FieldTraceRecord && counts[t] == 1 {
				c.single = t
				break
			}
		}
		if c.single.Field != 0 {
			break
		}
	}
	last := c.es[n*3/4].terms
	c.id = last[len(last)-1].Value
	// A time window holding ~1% of the events, from the regular times.
	times := make([]string, 0, n)
	for _, e := range c.es {
		if len(e.time) > 20 && e.time[0] == '2' {
			times = append(times, e.time)
		}
	}
	sort.Strings(times)
	c.tStart, c.tEnd = times[len(times)/2], times[len(times)/2+len(times)/100]
	c.mem = buildMem(c.es)
	corpora[n] = c
	return c
}

func BenchmarkIndex1M(b *testing.B) { benchIndex(b, 1_000_000) }

func BenchmarkIndex10M(b *testing.B) {
	if os.Getenv("EXLEDGER_BENCH_10M") != "1" {
		b.Skip("set EXLEDGER_BENCH_10M=1 to run the 10M-event variant")
	}
	benchIndex(b, 10_000_000)
}

func benchIndex(b *testing.B, n int) {
	c := getCorpus(b, n)
	b.Run("size", func(b *testing.B) {
		sizes := c.ix.Bytes()
		for i := 0; i < b.N; i++ {
			_ = c.ix.Bytes()
		}
		var total int64
		for f, v := range sizes {
			b.ReportMetric(float64(v)/float64(n), "B/ev-"+f.String())
			total += v
		}
		b.ReportMetric(float64(total)/float64(n), "B/ev-total")
		b.ReportMetric(float64(c.build.Nanoseconds())/float64(n), "build-ns/ev")
	})
	b.Run("build", func(b *testing.B) {
		// Encode only (Add is what the ledger pays per event anyway).
		n := min(n, 20_000) // per-event cost; keeps -benchtime Nx affordable
		es := c.es[:n]
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			bl := NewBuilder()
			for _, e := range es {
				bl.Add(e.ord, e.time, e.terms)
			}
			if _, err := bl.Encode(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/ev")
	})
	type probe struct {
		name string
		q    Query
	}
	probes := []probe{
		{"term-1pct", Query{All: [][]Term{{c.term1}}}},
		{"term-0.1pct", Query{All: [][]Term{{c.term01}}}},
		{"term-single", Query{All: [][]Term{{c.single}}}},
		{"tenant+kinds", Query{All: [][]Term{{c.term1}, {{FieldKind, testKinds[0]}, {FieldKind, testKinds[1]}}}}},
		{"time-1pct", Query{Start: &c.tStart, End: &c.tEnd}},
		{"time+term", Query{All: [][]Term{{c.term1}}, Start: &c.tStart, End: &c.tEnd}},
	}
	for _, p := range probes {
		want := brute(c.es, p.q)
		for _, src := range []struct {
			name string
			s    Source
		}{{"index", c.ix}, {"mem", c.mem}} {
			b.Run(p.name+"/"+src.name, func(b *testing.B) {
				bruteNs := timeBrute(func() int { return len(brute(c.es, p.q)) })
				s := src.s
				if it, err := Eval(s, p.q, uint32(n)); err != nil { // warm: lazy section loads
					b.Fatal(err)
				} else {
					drain(it, 1)
				}
				runtime.GC()
				b.ResetTimer()
				got := 0
				for i := 0; i < b.N; i++ {
					it, err := Eval(s, p.q, uint32(n))
					if err != nil {
						b.Fatal(err)
					}
					got = 0
					for {
						if _, ok := it.Next(); !ok {
							break
						}
						got++
					}
				}
				b.StopTimer()
				if got != len(want) {
					b.Fatalf("got %d results, brute force %d", got, len(want))
				}
				per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
				b.ReportMetric(float64(len(want)), "results")
				b.ReportMetric(bruteNs, "brute-ns/op")
				b.ReportMetric(bruteNs/per, "speedup")
			})
		}
	}
	b.Run("event-id/index", func(b *testing.B) {
		bruteNs := timeBrute(func() int {
			k := 0
			for _, e := range c.es {
				if slices.Contains(e.terms, Term{FieldEventID, c.id}) {
					k++
				}
			}
			return k
		})
		_, _ = c.ix.EventID(c.id) // load the sections
		runtime.GC()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			ords, err := c.ix.EventID(c.id)
			if err != nil || len(ords) == 0 {
				b.Fatal(ords, err)
			}
		}
		per := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(bruteNs, "brute-ns/op")
		b.ReportMetric(bruteNs/per, "speedup")
	})
	b.Run("event-id-absent/index", func(b *testing.B) {
		ids := make([]string, 1024)
		for i := range ids {
			ids[i] = fmt.Sprintf("absent-%d", i)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := c.ix.EventID(ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open-cold-lookup", func(b *testing.B) {
		// Decode plus the first single-term lookup: summary parse, dictionary
		// and postings checksum verification.
		for i := 0; i < b.N; i++ {
			ix, err := Decode("bench", c.data)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := ix.Postings(c.single); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// timeBrute returns the median of 3 timed runs of f, in ns.
func timeBrute(f func() int) float64 {
	var ds []float64
	for range 3 {
		t0 := time.Now()
		_ = f()
		ds = append(ds, float64(time.Since(t0).Nanoseconds()))
	}
	slices.Sort(ds)
	return ds[1]
}

// BenchmarkMemAdd measures Mem.Add over a realistic workload of 100k
// events (the size of a 64 MiB memtable): the per-event cost the ledger
// pays before acknowledging a batch.
func BenchmarkMemAdd(b *testing.B) {
	es := genWorkload(rand.New(rand.NewPCG(42, 100_000)), 100_000)
	for _, reserve := range []bool{false, true} {
		name := "grow"
		if reserve {
			name = "reserved"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m := NewMem()
				if reserve {
					m.Reserve(len(es))
				}
				for i, e := range es {
					m.Add(uint32(i), e.time, e.terms)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(es)), "ns/event")
		})
	}
}
