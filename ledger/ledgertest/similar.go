package ledgertest

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/exledger/exledger/ledger"
)

// SimilarStore is a store with similarity search: ledger.MemStore (from
// NewMemStoreWithDim) and ledger.Ledger (Options.EmbeddingDim).
type SimilarStore interface {
	ledger.ExperienceStore
	AppendVectorEvents(ctx context.Context, es []ledger.VectorEvent) error
	SearchSimilar(ctx context.Context, q ledger.SimilarQuery) ([]ledger.SimilarEvent, error)
}

// SimilarConfig says how RunSimilar opens stores.
type SimilarConfig struct {
	// Open returns a fresh, empty store whose embedding dimension is dim
	// (0: none, the vector calls must be refused). It should close the
	// store with t.Cleanup.
	Open func(t *testing.T, dim int) SimilarStore
	// Reopen, if set, closes st and returns it opened again from what it
	// stored; every case then checks its answers a second time on the
	// reopened store. Leave it nil for in-memory stores.
	Reopen func(t *testing.T, st SimilarStore) SimilarStore
}

// RunSimilar runs the similarity cases: the reference adapter's own test
// (north, east, south), its exact error messages, filters applied before
// ranking, tenant isolation, ties in log order, limits, and events without
// vectors. Every answer is also checked against a brute-force model of the
// contract computed here in float64 (distances within 1e-5, and the
// same order wherever the model's distances are not within that of each
// other).
func RunSimilar(t *testing.T, c SimilarConfig) {
	s := &simSuite{c: c}
	t.Run("LanceDBNorthEastSouth", s.testLanceDB)
	t.Run("Messages", s.testMessages)
	t.Run("NoDimension", s.testNoDimension)
	t.Run("FiltersBeforeRanking", s.testFilters)
	t.Run("TenantIsolation", s.testTenants)
	t.Run("Ties", s.testTies)
	t.Run("Limits", s.testLimits)
	t.Run("EventsWithoutVectors", s.testWithoutVectors)
	t.Run("Random", s.testRandom)
}

type simSuite struct{ c SimilarConfig }

// check runs fn on st, then (if the config can) on st reopened; it returns
// the store to keep using.
func (s *simSuite) check(t *testing.T, st SimilarStore, fn func(st SimilarStore)) SimilarStore {
	t.Helper()
	fn(st)
	if s.c.Reopen != nil {
		st = s.c.Reopen(t, st)
		fn(st)
	}
	return st
}

// modelItem is what the model knows of a stored event.
type modelItem struct {
	e   env
	vec []float32 // nil: none
}

// modelSearch ranks the model's events for q (durable chain rule off:
// the suite's filter cases avoid HypothesisResolved).
func modelSearch(items []modelItem, q ledger.SimilarQuery) []simResult {
	var out []simResult
	f := q.Filter
	f.Limit = nil
	for i, it := range items {
		if it.vec == nil || !modelMatch(&it.e, &f, false) {
			continue
		}
		out = append(out, simResult{pos: i, dist: cos64(q.Vector, it.vec)})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].dist < out[b].dist })
	k := q.Limit
	if k == 0 {
		k = 10
	}
	if len(out) > k {
		out = out[:k]
	}
	return out
}

type simResult struct {
	pos  int
	dist float64
}

func cos64(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return 1 - d/(math.Sqrt(na)*math.Sqrt(nb))
}

const simTol = 1e-5

// wantSimilar compares a search answer with the model's.
func wantSimilar(t *testing.T, what string, st SimilarStore, items []modelItem, q ledger.SimilarQuery) []ledger.SimilarEvent {
	t.Helper()
	got, err := st.SearchSimilar(bg, q)
	if err != nil {
		t.Fatalf("%s: SearchSimilar: %v", what, err)
	}
	want := modelSearch(items, q)
	if len(got) != len(want) {
		t.Fatalf("%s: %d results %v, want %d %v", what, len(got), simIDs(got), len(want), modelIDs(items, want))
	}
	for i := range got {
		w := want[i]
		if d := math.Abs(float64(got[i].Distance) - w.dist); d > simTol {
			t.Fatalf("%s: result %d (%s) distance %v, model %v", what, i, got[i].Envelope.EventID, got[i].Distance, w.dist)
		}
		if got[i].Envelope.EventID == items[w.pos].e.EventID {
			if canon(t, got[i].Envelope) != canon(t, items[w.pos].e) {
				t.Fatalf("%s: result %d: envelope changed:\n got %s\nwant %s", what, i, canon(t, got[i].Envelope), canon(t, items[w.pos].e))
			}
			continue
		}
		// A different event is acceptable only at a model near-tie.
		found := false
		for _, x := range want {
			if items[x.pos].e.EventID == got[i].Envelope.EventID && math.Abs(x.dist-w.dist) <= 2*simTol {
				found = true
			}
		}
		if !found {
			t.Fatalf("%s: result %d is %s, want %s (results %v, model %v)", what, i, got[i].Envelope.EventID, items[w.pos].e.EventID, simIDs(got), modelIDs(items, want))
		}
	}
	for i := 1; i < len(got); i++ {
		if got[i].Distance < got[i-1].Distance {
			t.Fatalf("%s: results not ordered by distance: %v", what, simIDs(got))
		}
	}
	return got
}

func simIDs(rs []ledger.SimilarEvent) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s@%.6f", r.Envelope.EventID, r.Distance))
	}
	return out
}

func modelIDs(items []modelItem, rs []simResult) []string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprintf("%s@%.6f", items[r.pos].e.EventID, r.dist))
	}
	return out
}

func vecAppend(t *testing.T, st SimilarStore, items *[]modelItem, es ...ledger.VectorEvent) {
	t.Helper()
	if err := st.AppendVectorEvents(bg, es); err != nil {
		t.Fatalf("AppendVectorEvents: %v", err)
	}
	for _, e := range es {
		*items = append(*items, modelItem{e: e.Envelope, vec: e.Vector})
	}
}

func outcome(id, at, tenant string, seed int) env {
	return mk(id, at, tenant, "", sampleEvent(ledger.KindOutcomeRecorded, seed, ""))
}

func (s *simSuite) testLanceDB(t *testing.T) {
	st := s.c.Open(t, 4)
	var items []modelItem
	vecAppend(t, st, &items,
		ledger.VectorEvent{Envelope: outcome("north", "2026-01-01T00:00:00Z", "", 1), Vector: []float32{1, 0, 0, 0}},
		ledger.VectorEvent{Envelope: outcome("east", "2026-01-01T00:00:01Z", "", 2), Vector: []float32{0, 1, 0, 0}},
		ledger.VectorEvent{Envelope: outcome("south", "2026-01-01T00:00:02Z", "", 3), Vector: []float32{-1, 0, 0, 0}},
	)
	q := ledger.SimilarQuery{Vector: []float32{0.9, 0.1, 0, 0}, Limit: 2}
	s.check(t, st, func(st SimilarStore) {
		got := wantSimilar(t, "north/east/south", st, items, q)
		if len(got) != 2 || got[0].Envelope.EventID != "north" || got[1].Envelope.EventID != "east" {
			t.Fatalf("got %v, want north then east", simIDs(got))
		}
		if got[0].Distance >= got[1].Distance {
			t.Fatalf("north %v is not nearer than east %v", got[0].Distance, got[1].Distance)
		}
		all := wantSimilar(t, "all three", st, items, ledger.SimilarQuery{Vector: q.Vector})
		if len(all) != 3 || all[2].Envelope.EventID != "south" || math.Abs(float64(all[2].Distance)-(1+0.9/math.Sqrt(0.82))) > simTol {
			t.Fatalf("got %v, want south last at distance 1+cos", simIDs(all))
		}
	})
}

func (s *simSuite) testMessages(t *testing.T) {
	st := s.c.Open(t, 4)
	good := outcome("m1", "2026-01-01T00:00:00Z", "", 1)
	bad := good
	bad.EventID = ""
	nan := float32(math.NaN())
	inf := float32(math.Inf(1))
	cases := []struct {
		name string
		e    ledger.VectorEvent
		msg  string
	}{
		{"short", ledger.VectorEvent{Envelope: good, Vector: []float32{1, 0, 0}}, "vector dimension mismatch: expected 4, got 3"},
		{"long", ledger.VectorEvent{Envelope: good, Vector: []float32{1, 0, 0, 0, 0}}, "vector dimension mismatch: expected 4, got 5"},
		{"nil", ledger.VectorEvent{Envelope: good}, "vector dimension mismatch: expected 4, got 0"},
		{"nan", ledger.VectorEvent{Envelope: good, Vector: []float32{1, nan, 0, 0}}, "vector contains NaN or infinite values"},
		{"inf", ledger.VectorEvent{Envelope: good, Vector: []float32{1, 0, -inf, 0}}, "vector contains NaN or infinite values"},
		{"zero", ledger.VectorEvent{Envelope: good, Vector: []float32{0, 0, 0, 0}}, "vector has zero norm: its cosine distance is undefined"},
		{"envelope first", ledger.VectorEvent{Envelope: bad, Vector: []float32{1}}, "event_id must not be empty"},
	}
	for _, c := range cases {
		wantInvalid(t, "append "+c.name, st.AppendVectorEvents(bg, []ledger.VectorEvent{c.e}), c.msg)
	}
	qcases := []struct {
		name string
		v    []float32
		msg  string
	}{
		{"short", []float32{1, 0}, "query vector dimension mismatch: expected 4, got 2"},
		{"nil", nil, "query vector dimension mismatch: expected 4, got 0"},
		{"nan", []float32{nan, 0, 0, 0}, "query vector contains NaN or infinite values"},
		{"inf", []float32{0, 0, 0, inf}, "query vector contains NaN or infinite values"},
		{"zero", []float32{0, 0, 0, 0}, "query vector has zero norm: its cosine distance is undefined"},
	}
	s.check(t, st, func(st SimilarStore) {
		if n := len(queryAll(t, st)); n != 0 {
			t.Fatalf("rejected appends stored %d events", n)
		}
		for _, c := range qcases {
			_, err := st.SearchSimilar(bg, ledger.SimilarQuery{Vector: c.v})
			wantInvalid(t, "search "+c.name, err, c.msg)
		}
		_, err := st.SearchSimilar(bg, ledger.SimilarQuery{Vector: []float32{1, 0, 0, 0}, Limit: -1})
		wantInvalid(t, "negative limit", err, "limit must not be negative, got -1")
	})
}

func (s *simSuite) testNoDimension(t *testing.T) {
	st := s.c.Open(t, 0)
	const msg = "vector search is not enabled: the store has no embedding dimension (set Options.EmbeddingDim when the ledger is created)"
	e := ledger.VectorEvent{Envelope: outcome("n1", "2026-01-01T00:00:00Z", "", 1), Vector: []float32{1}}
	wantInvalid(t, "append", st.AppendVectorEvents(bg, []ledger.VectorEvent{e}), msg)
	_, err := st.SearchSimilar(bg, ledger.SimilarQuery{Vector: []float32{1}})
	wantInvalid(t, "search", err, msg)
	if n := len(queryAll(t, st)); n != 0 {
		t.Fatalf("a refused append stored %d events", n)
	}
}

// filterCorpus appends events of two tenants, several kinds, chains,
// correlations and times, where the other tenant's vectors are always the
// nearest to the query.
func filterCorpus(t *testing.T, st SimilarStore, dim int, r *rand.Rand) []modelItem {
	var items []modelItem
	kinds := []ledger.ExperienceEventKind{ledger.KindOutcomeRecorded, ledger.KindProposalCreated, ledger.KindBudgetExceeded, ledger.KindFactPromoted}
	var batch []ledger.VectorEvent
	for i := range 120 {
		tenant := "acme"
		if i%3 == 0 {
			tenant = "rival"
		}
		k := kinds[i%len(kinds)]
		chain := ledger.ChainID(fmt.Sprintf("chain-%d", i%2))
		e := mk(fmt.Sprintf("f%03d", i), fmt.Sprintf("2026-01-01T00:%02d:%02dZ", i/60, i%60), tenant, fmt.Sprintf("corr-%d", i%5), sampleEvent(k, i, chain))
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.IntN(21) - 10)
		}
		if tenant == "rival" {
			v[0] = 100 // nearest to the query, which points along axis 0
		}
		if norm2(v) == 0 {
			v[1] = 1
		}
		batch = append(batch, ledger.VectorEvent{Envelope: e, Vector: v})
		if len(batch) == 17 || i == 119 {
			vecAppend(t, st, &items, batch...)
			batch = nil
		}
	}
	return items
}

func norm2(v []float32) float32 {
	var s float32
	for _, x := range v {
		s += x * x
	}
	return s
}

func axis(dim int) []float32 {
	v := make([]float32, dim)
	v[0] = 1
	return v
}

func (s *simSuite) testFilters(t *testing.T) {
	const dim = 8
	st := s.c.Open(t, dim)
	items := filterCorpus(t, st, dim, rand.New(rand.NewPCG(1, 2)))
	start, end := ledger.Timestamp("2026-01-01T00:00:30Z"), ledger.Timestamp("2026-01-01T00:01:10Z")
	queries := map[string]ledger.EventQuery{
		"tenant":      {TenantID: ptr(ledger.TenantID("acme"))},
		"kind":        {Kinds: []ledger.ExperienceEventKind{ledger.KindBudgetExceeded}},
		"kinds":       {Kinds: []ledger.ExperienceEventKind{ledger.KindFactPromoted, ledger.KindOutcomeRecorded}},
		"correlation": {CorrelationID: ptr(ledger.CorrelationID("corr-3"))},
		"chain":       {ChainID: ptr(ledger.ChainID("chain-1"))},
		"time":        {TimeRange: &ledger.TimeRange{Start: &start, End: &end}},
		"all":         {TenantID: ptr(ledger.TenantID("acme")), Kinds: []ledger.ExperienceEventKind{ledger.KindOutcomeRecorded, ledger.KindProposalCreated}, TimeRange: &ledger.TimeRange{Start: &start}},
		"none":        {TenantID: ptr(ledger.TenantID("nobody"))},
		"inverted":    {TimeRange: &ledger.TimeRange{Start: &end, End: &start}},
		"limit0":      {TenantID: ptr(ledger.TenantID("acme")), Limit: ptr(uint64(0))},
	}
	s.check(t, st, func(st SimilarStore) {
		for name, f := range queries {
			for _, k := range []int{1, 5, 200} {
				got := wantSimilar(t, fmt.Sprintf("%s limit %d", name, k), st, items, ledger.SimilarQuery{Vector: axis(dim), Limit: k, Filter: f})
				if f.TenantID != nil {
					for _, g := range got {
						if g.Envelope.TenantID == nil || *g.Envelope.TenantID != *f.TenantID {
							t.Fatalf("%s: result %s of tenant %v", name, g.Envelope.EventID, g.Envelope.TenantID)
						}
					}
				}
			}
		}
		// Filters select before ranking: with the tenant filter, acme
		// gets its own nearest events though every rival one is nearer.
		got := wantSimilar(t, "acme top 5", st, items, ledger.SimilarQuery{Vector: axis(dim), Limit: 5, Filter: queries["tenant"]})
		if len(got) != 5 {
			t.Fatalf("acme top 5: %d results", len(got))
		}
	})
}

func (s *simSuite) testTenants(t *testing.T) {
	const dim = 16
	st := s.c.Open(t, dim)
	r := rand.New(rand.NewPCG(3, 4))
	var items []modelItem
	tenants := []string{"t0", "t1", "t2", "t3", "t4"}
	for b := range 6 {
		var batch []ledger.VectorEvent
		for i := range 25 {
			n := b*25 + i
			v := make([]float32, dim)
			for j := range v {
				v[j] = float32(r.NormFloat64())
			}
			batch = append(batch, ledger.VectorEvent{Envelope: outcome(fmt.Sprintf("t%03d", n), fmt.Sprintf("2026-02-01T00:00:%02dZ", n%60), tenants[n%len(tenants)], n), Vector: v})
		}
		vecAppend(t, st, &items, batch...)
	}
	q := make([]float32, dim)
	for j := range q {
		q[j] = float32(r.NormFloat64())
	}
	s.check(t, st, func(st SimilarStore) {
		for _, ten := range tenants {
			got := wantSimilar(t, "tenant "+ten, st, items, ledger.SimilarQuery{Vector: q, Limit: 7, Filter: ledger.EventQuery{TenantID: ptr(ledger.TenantID(ten))}})
			if len(got) != 7 {
				t.Fatalf("tenant %s: %d results, want 7", ten, len(got))
			}
			for _, g := range got {
				if g.Envelope.TenantID == nil || string(*g.Envelope.TenantID) != ten {
					t.Fatalf("tenant %s got %s of tenant %v", ten, g.Envelope.EventID, g.Envelope.TenantID)
				}
			}
		}
		got := wantSimilar(t, "no tenant filter", st, items, ledger.SimilarQuery{Vector: q, Limit: 30})
		seen := map[string]bool{}
		for _, g := range got {
			seen[string(*g.Envelope.TenantID)] = true
		}
		if len(seen) < 2 {
			t.Fatalf("unfiltered top 30 holds only tenants %v", seen)
		}
	})
}

func (s *simSuite) testTies(t *testing.T) {
	st := s.c.Open(t, 4)
	var items []modelItem
	same := []float32{0.5, 0.5, 0.5, 0.5}
	// Identical vectors in several batches (so across segments and the
	// memtable of a durable store), and a scaled copy (same direction).
	for b := range 4 {
		var batch []ledger.VectorEvent
		for i := range 5 {
			n := b*5 + i
			v := same
			if n%4 == 3 {
				v = []float32{2, 2, 2, 2}
			}
			if n%5 == 4 {
				v = []float32{1, 0, 0, 0}
			}
			batch = append(batch, ledger.VectorEvent{Envelope: outcome(fmt.Sprintf("tie%02d", n), "2026-03-01T00:00:00Z", "", n), Vector: v})
		}
		vecAppend(t, st, &items, batch...)
	}
	s.check(t, st, func(st SimilarStore) {
		got, err := st.SearchSimilar(bg, ledger.SimilarQuery{Vector: same, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 20 {
			t.Fatalf("%d results, want 20", len(got))
		}
		var prev string
		for i, g := range got[:16] {
			if g.Distance != got[0].Distance {
				t.Fatalf("result %d (%s) distance %v differs from the tie %v", i, g.Envelope.EventID, g.Distance, got[0].Distance)
			}
			if id := string(g.Envelope.EventID); id <= prev {
				t.Fatalf("ties not in log order: %v", simIDs(got))
			} else {
				prev = id
			}
		}
		if math.Abs(float64(got[0].Distance)) > simTol {
			t.Fatalf("identical direction at distance %v", got[0].Distance)
		}
		for _, g := range got[16:] {
			if g.Distance <= got[0].Distance {
				t.Fatalf("the axis vectors rank with the ties: %v", simIDs(got))
			}
		}
	})
}

func (s *simSuite) testLimits(t *testing.T) {
	const dim = 6
	st := s.c.Open(t, dim)
	r := rand.New(rand.NewPCG(5, 6))
	var items []modelItem
	var batch []ledger.VectorEvent
	for n := range 25 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		batch = append(batch, ledger.VectorEvent{Envelope: outcome(fmt.Sprintf("l%02d", n), "2026-04-01T00:00:00Z", "", n), Vector: v})
	}
	vecAppend(t, st, &items, batch...)
	q := axis(dim)
	s.check(t, st, func(st SimilarStore) {
		for _, c := range []struct{ limit, want int }{{0, 10}, {1, 1}, {2, 2}, {10, 10}, {25, 25}, {26, 25}, {1000, 25}} {
			got := wantSimilar(t, fmt.Sprintf("limit %d", c.limit), st, items, ledger.SimilarQuery{Vector: q, Limit: c.limit})
			if len(got) != c.want {
				t.Fatalf("limit %d: %d results, want %d", c.limit, len(got), c.want)
			}
		}
		// The filter's own limit is ignored.
		got := wantSimilar(t, "filter limit", st, items, ledger.SimilarQuery{Vector: q, Limit: 4, Filter: ledger.EventQuery{Limit: ptr(uint64(1))}})
		if len(got) != 4 {
			t.Fatalf("filter limit 1 cut the results to %d", len(got))
		}
	})
}

func (s *simSuite) testWithoutVectors(t *testing.T) {
	st := s.c.Open(t, 4)
	var items []modelItem
	plain := []env{outcome("p0", "2026-05-01T00:00:00Z", "acme", 1), outcome("p1", "2026-05-01T00:00:01Z", "acme", 2)}
	mustAppend(t, st, plain...)
	for _, e := range plain {
		items = append(items, modelItem{e: e})
	}
	st = s.check(t, st, func(st SimilarStore) {
		got := wantSimilar(t, "only plain events", st, items, ledger.SimilarQuery{Vector: []float32{1, 0, 0, 0}})
		if len(got) != 0 {
			t.Fatalf("events without vectors returned: %v", simIDs(got))
		}
	})
	vecAppend(t, st, &items, ledger.VectorEvent{Envelope: outcome("v0", "2026-05-01T00:00:02Z", "acme", 3), Vector: []float32{0, 0, 0, 1}})
	mustAppend(t, st, outcome("p2", "2026-05-01T00:00:03Z", "acme", 4))
	items = append(items, modelItem{e: outcome("p2", "2026-05-01T00:00:03Z", "acme", 4)})
	st = s.check(t, st, func(st SimilarStore) {
		got := wantSimilar(t, "mixed", st, items, ledger.SimilarQuery{Vector: []float32{1, 0, 0, 0}, Filter: ledger.EventQuery{TenantID: ptr(ledger.TenantID("acme"))}})
		if len(got) != 1 || got[0].Envelope.EventID != "v0" {
			t.Fatalf("got %v, want only v0", simIDs(got))
		}
		if n := len(queryAll(t, st)); n != 4 {
			t.Fatalf("QueryEvents sees %d events, want 4", n)
		}
	})
}

// testRandom appends random vectors in many batches and compares random
// queries, unfiltered and by tenant, with the model.
func (s *simSuite) testRandom(t *testing.T) {
	const dim = 24
	st := s.c.Open(t, dim)
	r := rand.New(rand.NewPCG(7, 8))
	var items []modelItem
	n := 0
	for b := range 12 {
		var batch []ledger.VectorEvent
		for range 10 + b*7 {
			v := make([]float32, dim)
			for j := range v {
				v[j] = float32(r.NormFloat64())
			}
			batch = append(batch, ledger.VectorEvent{Envelope: outcome(fmt.Sprintf("r%04d", n), fmt.Sprintf("2026-06-01T00:%02d:00Z", n%60), fmt.Sprintf("ten%d", n%3), n), Vector: v})
			n++
		}
		vecAppend(t, st, &items, batch...)
		if b%4 == 1 {
			e := outcome(fmt.Sprintf("r%04d", n), "2026-06-01T00:00:00Z", "ten0", n)
			mustAppend(t, st, e)
			items = append(items, modelItem{e: e})
			n++
		}
	}
	var qs []ledger.SimilarQuery
	for i := range 20 {
		v := make([]float32, dim)
		for j := range v {
			v[j] = float32(r.NormFloat64())
		}
		q := ledger.SimilarQuery{Vector: v, Limit: 1 + i%12}
		if i%2 == 1 {
			q.Filter.TenantID = ptr(ledger.TenantID(fmt.Sprintf("ten%d", i%3)))
		}
		qs = append(qs, q)
	}
	s.check(t, st, func(st SimilarStore) {
		for i, q := range qs {
			wantSimilar(t, fmt.Sprintf("query %d", i), st, items, q)
		}
	})
}
