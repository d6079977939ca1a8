package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// corpusSeed is the workload seed of every store in a run: all engines get
// the identical event sequence.
const corpusSeed = 42

// stream yields the corpus in order, chunk by chunk, from a generator with a
// fixed seed, so that stores of any size (10M included) can be built without
// holding the corpus in memory. It also keeps the statistics the queries are
// chosen from.
type stream struct {
	g *workload.Generator
	n int // events handed out

	// statistics over the events handed out so far
	pair       map[[2]string]int   // (tenant, kind) -> count
	tenantN    map[string]int      // tenant -> count
	tenantTime map[string][]string // occurred_at of the events of the topTenant
	topTenant  string              // the most popular tenant (pool entry 0)
	traces     []string            // trace link ids of ReplayTraceRecorded events (reservoir sample)
	traceSeen  int                 // ReplayTraceRecorded events seen
	rng        *rand.Rand          // reservoir sampling
	jsonBytes  int64               // raw JSON bytes of the events handed out
	canonBytes int64               // canonical msgpack bytes
	kinds      map[string]struct{} // kinds seen
}

const traceSample = 4096

func newStream() *stream {
	g := workload.New(workload.Config{Seed: corpusSeed})
	return &stream{
		g:          g,
		pair:       map[[2]string]int{},
		tenantN:    map[string]int{},
		tenantTime: map[string][]string{},
		topTenant:  string(g.Tenants()[0]),
		rng:        rand.New(rand.NewPCG(7, 11)),
		kinds:      map[string]struct{}{},
	}
}

// next returns the next n events of the corpus and updates the statistics.
func (s *stream) next(n int) []ledger.ExperienceEventEnvelope {
	evs := s.g.Batch(n)
	var jbuf, cbuf []byte
	for i := range evs {
		e := &evs[i]
		seq := uint64(s.n + i + 1)
		h := ledger.HeaderOf(e)
		t := ""
		if h.HasTenant {
			t = string(h.TenantID)
		}
		s.pair[[2]string{t, string(h.Kind)}]++
		s.tenantN[t]++
		s.kinds[string(h.Kind)] = struct{}{}
		if t == s.topTenant {
			s.tenantTime[t] = append(s.tenantTime[t], string(e.OccurredAt))
		}
		if h.Kind == ledger.KindReplayTraceRecorded {
			id := string(h.TraceLinkID)
			s.traceSeen++
			if len(s.traces) < traceSample {
				s.traces = append(s.traces, id)
			} else if j := s.rng.IntN(s.traceSeen); j < traceSample {
				s.traces[j] = id
			}
		}
		var err error
		jbuf, err = ledger.AppendEnvelopeJSON(jbuf[:0], e)
		if err != nil {
			panic(fmt.Sprintf("corpus event %d: json: %v", seq, err))
		}
		cbuf, err = ledger.AppendCanonical(cbuf[:0], e)
		if err != nil {
			panic(fmt.Sprintf("corpus event %d: msgpack: %v", seq, err))
		}
		s.jsonBytes += int64(len(jbuf))
		s.canonBytes += int64(len(cbuf))
	}
	s.n += n
	return evs
}

// queries are the parameters of the query cases for a store holding the
// first s.n events of the corpus, with the expected result sizes.
type queries struct {
	size int

	// selective: tenant + kind, the pair whose share is nearest 0.1%
	selTenant, selKind string
	selWant            int
	// selective1pct: the tenant + kind pair whose share is nearest 1%
	sel1Tenant, sel1Kind string
	sel1Want             int

	// time range: topTenant within [start, end], about 1% of all events
	trTenant, trStart, trEnd string
	trWant                   int

	traces []string // trace link ids known to be recorded
}

func (s *stream) queries() queries {
	q := queries{size: s.n}
	target := float64(s.n) * 0.001
	best := -1.0
	keys := make([][2]string, 0, len(s.pair))
	for k := range s.pair {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	best1, target1 := -1.0, float64(s.n)*0.01
	for _, k := range keys {
		if k[0] == "" {
			continue // an untenanted query is not expressible as tenant+kind
		}
		d := abs(float64(s.pair[k]) - target)
		if best < 0 || d < best {
			best, q.selTenant, q.selKind, q.selWant = d, k[0], k[1], s.pair[k]
		}
		if d1 := abs(float64(s.pair[k]) - target1); best1 < 0 || d1 < best1 {
			best1, q.sel1Tenant, q.sel1Kind, q.sel1Want = d1, k[0], k[1], s.pair[k]
		}
	}
	ts := slices.Clone(s.tenantTime[s.topTenant])
	slices.Sort(ts)
	want := max(1, s.n/100)
	if want > len(ts) {
		want = len(ts)
	}
	lo := len(ts) / 2
	if lo+want > len(ts) {
		lo = len(ts) - want
	}
	q.trTenant, q.trStart, q.trEnd = s.topTenant, ts[lo], ts[lo+want-1]
	// The range is inclusive; count every timestamp inside it (ties at the
	// edges included).
	for _, t := range ts {
		if t >= q.trStart && t <= q.trEnd {
			q.trWant++
		}
	}
	q.traces = slices.Clone(s.traces)
	return q
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
