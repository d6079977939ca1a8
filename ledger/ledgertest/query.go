package ledgertest

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/exledger/exledger/ledger"
)

// checkQuery runs q and requires exactly the model's answer (same event ids
// in the same order; ids are unique in the datasets used with it).
func (s *suite) checkQuery(t *testing.T, st ledger.ExperienceStore, all []env, q ledger.EventQuery) []env {
	t.Helper()
	got := mustQuery(t, st, q)
	want := pick(all, modelQuery(all, q, s.caps.ChainIncludesHypothesis))
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("query %s:\n got  %d %v\n want %d %v", describeQuery(q), len(got), trimIDs(ids(got)), len(want), trimIDs(ids(want)))
	}
	return got
}

func ts(s string) *ledger.Timestamp { return ptr(ledger.Timestamp(s)) }

func kinds(k ...ledger.ExperienceEventKind) []ledger.ExperienceEventKind { return k }

// testFiltersAlone checks each filter on its own against the model and
// against direct assertions on the results.
func (s *suite) testFiltersAlone(t *testing.T) {
	st := s.open(t)
	all := dataset(126)
	mustAppend(t, st, all...)
	sameEnvelopes(t, "dataset", queryAll(t, st), all)

	for _, tenant := range []ledger.TenantID{"tenant-a", "tenant-b"} {
		got := s.checkQuery(t, st, all, ledger.EventQuery{TenantID: &tenant})
		if len(got) == 0 {
			t.Fatalf("tenant %q: no results", tenant)
		}
		for _, e := range got {
			if e.TenantID == nil || *e.TenantID != tenant {
				t.Fatalf("tenant %q query returned %q with tenant %v", tenant, e.EventID, e.TenantID)
			}
		}
	}
	for _, k := range ledger.AllKinds {
		got := s.checkQuery(t, st, all, ledger.EventQuery{Kinds: kinds(k)})
		if len(got) == 0 {
			t.Fatalf("kind %s: no results", k)
		}
		for _, e := range got {
			if e.Event.Kind() != k {
				t.Fatalf("kind %s query returned a %s", k, e.Event.Kind())
			}
		}
	}
	// Kinds is a set: duplicates and order do not matter; all kinds = no filter.
	a := s.checkQuery(t, st, all, ledger.EventQuery{Kinds: kinds(ledger.KindOutcomeRecorded, ledger.KindFactPromoted)})
	b := s.checkQuery(t, st, all, ledger.EventQuery{Kinds: kinds(ledger.KindFactPromoted, ledger.KindOutcomeRecorded, ledger.KindFactPromoted)})
	if !slices.Equal(ids(a), ids(b)) {
		t.Fatalf("kind set order/duplicates changed the answer")
	}
	if got := s.checkQuery(t, st, all, ledger.EventQuery{Kinds: ledger.AllKinds}); len(got) != len(all) {
		t.Fatalf("all kinds: %d of %d", len(got), len(all))
	}
	for _, c := range []ledger.CorrelationID{"run-1", "run-2", "run-3"} {
		got := s.checkQuery(t, st, all, ledger.EventQuery{CorrelationID: &c})
		if len(got) == 0 {
			t.Fatalf("correlation %q: no results", c)
		}
		for _, e := range got {
			if e.CorrelationID == nil || *e.CorrelationID != c {
				t.Fatalf("correlation %q query returned %q", c, e.EventID)
			}
		}
	}
	for _, c := range []ledger.ChainID{"chain-1", "chain 2/東京", "chain-3"} {
		got := s.checkQuery(t, st, all, ledger.EventQuery{ChainID: &c})
		if len(got) == 0 {
			t.Fatalf("chain %q: no results", c)
		}
	}
	s.checkQuery(t, st, all, ledger.EventQuery{TimeRange: &ledger.TimeRange{Start: ts("2026-02"), End: ts("2026-03")}})
	s.checkQuery(t, st, all, ledger.EventQuery{TimeRange: &ledger.TimeRange{}})
	s.checkQuery(t, st, all, ledger.EventQuery{Limit: ptr(uint64(9))})
	// Filters that match nothing.
	for _, q := range []ledger.EventQuery{
		{TenantID: ptr(ledger.TenantID("tenant-zzz"))},
		{TenantID: ptr(ledger.TenantID("TENANT-A"))},
		{CorrelationID: ptr(ledger.CorrelationID("run-404"))},
		{ChainID: ptr(ledger.ChainID("chain-404"))},
		{ChainID: ptr(ledger.ChainID("chain"))},          // a prefix of real chains
		{TimeRange: &ledger.TimeRange{Start: ts("zzz")}}, // after every timestamp, even "not-a-timestamp"
	} {
		if got := s.checkQuery(t, st, all, q); len(got) != 0 {
			t.Fatalf("query %s matched %v", describeQuery(q), ids(got))
		}
	}
}

// testFiltersCombined checks a deterministic random sample of filter
// combinations against the brute-force model.
func (s *suite) testFiltersCombined(t *testing.T) {
	st := s.open(t)
	all := dataset(140)
	mustAppend(t, st, all...)

	tenants := []*ledger.TenantID{nil, ptr(ledger.TenantID("tenant-a")), ptr(ledger.TenantID("tenant-b")), ptr(ledger.TenantID("tenant-x"))}
	corrs := []*ledger.CorrelationID{nil, ptr(ledger.CorrelationID("run-1")), ptr(ledger.CorrelationID("run-2")), ptr(ledger.CorrelationID("run-3"))}
	chains := []*ledger.ChainID{nil, ptr(ledger.ChainID("chain-1")), ptr(ledger.ChainID("chain 2/東京")), ptr(ledger.ChainID("chain-3"))}
	ranges := []*ledger.TimeRange{
		nil, {}, {Start: ts("2026-02")}, {End: ts("2026-02-15T12:00:00Z")},
		{Start: ts("2026-02"), End: ts("2026-03")}, {Start: ts("2026-03"), End: ts("2026-02")},
		{Start: ts("1970-01-01T00:00:00Z"), End: ts("1970-01-01T00:00:00Z")}, {Start: ts("")}, {End: ts("")},
	}
	limits := []*uint64{nil, nil, ptr(uint64(0)), ptr(uint64(1)), ptr(uint64(3)), ptr(uint64(50)), ptr(uint64(math.MaxUint64))}
	rng := rand.New(rand.NewPCG(1, 2))
	n := 400
	if testing.Short() {
		n = 120
	}
	nonEmpty := 0
	for i := 0; i < n; i++ {
		q := ledger.EventQuery{
			TenantID:      tenants[rng.IntN(len(tenants))],
			CorrelationID: corrs[rng.IntN(len(corrs))],
			ChainID:       chains[rng.IntN(len(chains))],
			TimeRange:     ranges[rng.IntN(len(ranges))],
			Limit:         limits[rng.IntN(len(limits))],
		}
		for j := rng.IntN(4); j > 0; j-- {
			q.Kinds = append(q.Kinds, ledger.AllKinds[rng.IntN(len(ledger.AllKinds))])
		}
		if len(s.checkQuery(t, st, all, q)) > 0 {
			nonEmpty++
		}
	}
	if nonEmpty < n/10 {
		t.Fatalf("only %d of %d sampled queries had results; the sample is too weak", nonEmpty, n)
	}
}

// testTimeBounds: inclusive, byte-wise bounds with hand-computed answers.
func (s *suite) testTimeBounds(t *testing.T) {
	st := s.open(t)
	times := []string{
		"2026-01-31T23:59:59Z",      // 0
		"2026-02",                   // 1
		"2026-02-01T00:00:00Z",      // 2
		"2026-02-15T12:00:00.500Z",  // 3
		"2026-02-15T12:00:00Z",      // 4
		"2026-02-28T23:59:59+02:00", // 5
		"2026-03",                   // 6
		"2026-03-01T00:00:00Z",      // 7
		"1970-01-01T00:00:00Z",      // 8
		"not-a-timestamp",           // 9
		"2026-02-15 12:00:00",       // 10 (space sorts before 'T')
	}
	var all []env
	for i, at := range times {
		all = append(all, mk("tb-"+string(rune('a'+i)), at, "tenant-a", "", sampleEvent(ledger.KindFactPromoted, i, "")))
	}
	mustAppend(t, st, all...)
	cases := []struct {
		name       string
		start, end *ledger.Timestamp
		want       []int
	}{
		{"month prefix both ends inclusive", ts("2026-02"), ts("2026-03"), []int{1, 2, 3, 4, 5, 6, 10}},
		{"exact point", ts("2026-02-01T00:00:00Z"), ts("2026-02-01T00:00:00Z"), []int{2}},
		{"inverted", ts("2026-03"), ts("2026-02"), nil},
		{"fraction sorts before Z", nil, ts("2026-02-15T12:00:00Z"), []int{0, 1, 2, 3, 4, 8, 10}},
		{"fraction as start", ts("2026-02-15T12:00:00.500Z"), ts("2026-02-15T12:00:00.500Z"), []int{3}},
		{"start only, letters sort after digits", ts("2026-03"), nil, []int{6, 7, 9}},
		{"epoch only", nil, ts("1970-01-01T00:00:00Z"), []int{8}},
		{"empty start = everything", ts(""), nil, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"empty end = nothing", nil, ts(""), nil},
		{"open range", nil, nil, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"9999", ts("9999"), nil, []int{9}},
		{"day prefix", ts("2026-02-15"), ts("2026-02-16"), []int{3, 4, 10}},
	}
	for _, c := range cases {
		q := ledger.EventQuery{TimeRange: &ledger.TimeRange{Start: c.start, End: c.end}}
		got := s.checkQuery(t, st, all, q)
		if !slices.Equal(ids(got), ids(pick(all, c.want))) {
			t.Fatalf("%s: got %v want %v", c.name, ids(got), ids(pick(all, c.want)))
		}
	}
}

// testLimit: limit keeps the first N matches in order; 0 returns none.
func (s *suite) testLimit(t *testing.T) {
	st := s.open(t)
	all := dataset(30)
	mustAppend(t, st, all...)
	n := uint64(len(all))
	for _, l := range []uint64{0, 1, 2, 7, n - 1, n, n + 1, 1 << 32, math.MaxUint64 - 1, math.MaxUint64} {
		got := s.checkQuery(t, st, all, ledger.EventQuery{Limit: ptr(l)})
		if want := min(l, n); uint64(len(got)) != want {
			t.Fatalf("limit %d: %d results, want %d", l, len(got), want)
		}
		if l > 0 && got[0].EventID != all[0].EventID {
			t.Fatalf("limit %d does not start with the first envelope", l)
		}
	}
	// With a filter, the limit applies to the matches, not the scan.
	tenant := ledger.TenantID("tenant-b")
	matching := pick(all, modelQuery(all, ledger.EventQuery{TenantID: &tenant}, false))
	for _, l := range []uint64{0, 1, 3, uint64(len(matching)), math.MaxUint64} {
		got := s.checkQuery(t, st, all, ledger.EventQuery{TenantID: &tenant, Limit: ptr(l)})
		if want := matching[:min(l, uint64(len(matching)))]; !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("tenant+limit %d: got %v want %v", l, ids(got), ids(want))
		}
	}
}

// testTenantIsolation: a tenant filter returns only that tenant's events and
// never untenanted ones; the unfiltered query returns everything.
func (s *suite) testTenantIsolation(t *testing.T) {
	st := s.open(t)
	all := []env{
		mk("ti-1", "2026-01-01T00:00:00Z", "tenant-a", "run-1", sampleEvent(ledger.KindFactPromoted, 1, "")),
		mk("ti-2", "2026-01-01T00:00:00Z", "tenant-b", "run-1", sampleEvent(ledger.KindFactPromoted, 2, "")),
		mk("ti-3", "2026-01-01T00:00:00Z", "", "run-1", sampleEvent(ledger.KindFactPromoted, 3, "")),
		mk("ti-4", "2026-01-01T00:00:00Z", "tenant-a", "", sampleEvent(ledger.KindOutcomeRecorded, 4, "c")),
		mk("ti-5", "2026-01-01T00:00:00Z", "tenant-a-suffix", "", sampleEvent(ledger.KindOutcomeRecorded, 5, "c")),
		mk("ti-6", "2026-01-01T00:00:00Z", "", "", sampleEvent(ledger.KindOutcomeRecorded, 6, "c")),
	}
	mustAppend(t, st, all...)
	cases := []struct {
		tenant string
		want   []string
	}{
		{"tenant-a", []string{"ti-1", "ti-4"}},
		{"tenant-b", []string{"ti-2"}},
		{"tenant-a-suffix", []string{"ti-5"}},
		{"Tenant-a", nil},
		{"tenant", nil},
	}
	for _, c := range cases {
		tn := ledger.TenantID(c.tenant)
		got := s.checkQuery(t, st, all, ledger.EventQuery{TenantID: &tn})
		if !slices.Equal(ids(got), c.want) {
			t.Fatalf("tenant %q: got %v want %v", c.tenant, ids(got), c.want)
		}
	}
	// Untenanted events are reachable only without a tenant filter.
	got := s.checkQuery(t, st, all, ledger.EventQuery{CorrelationID: ptr(ledger.CorrelationID("run-1"))})
	if !slices.Equal(ids(got), []string{"ti-1", "ti-2", "ti-3"}) {
		t.Fatalf("correlation run-1 without tenant: %v", ids(got))
	}
	if got := queryAll(t, st); len(got) != len(all) {
		t.Fatalf("unfiltered: %d of %d", len(got), len(all))
	}
}

// testCorrelation: the correlation filter never matches envelopes without a
// correlation id, works on untenanted runs, and ANDs with the tenant.
func (s *suite) testCorrelation(t *testing.T) {
	st := s.open(t)
	all := []env{
		mk("co-1", "2026-01-01T00:00:00Z", "tenant-a", "run-1", sampleEvent(ledger.KindFactPromoted, 1, "")),
		mk("co-2", "2026-01-02T00:00:00Z", "", "run-1", sampleEvent(ledger.KindOutcomeRecorded, 2, "c")),
		mk("co-3", "2026-01-03T00:00:00Z", "", "run-u", sampleEvent(ledger.KindFactPromoted, 3, "")),
		mk("co-4", "2026-01-04T00:00:00Z", "tenant-a", "", sampleEvent(ledger.KindFactPromoted, 4, "")),
		mk("co-5", "2026-01-05T00:00:00Z", "tenant-b", "run-1", sampleEvent(ledger.KindFactPromoted, 5, "")),
	}
	mustAppend(t, st, all...)
	cases := []struct {
		q    ledger.EventQuery
		want []string
	}{
		{ledger.EventQuery{CorrelationID: ptr(ledger.CorrelationID("run-1"))}, []string{"co-1", "co-2", "co-5"}},
		{ledger.EventQuery{CorrelationID: ptr(ledger.CorrelationID("run-u"))}, []string{"co-3"}},
		{ledger.EventQuery{CorrelationID: ptr(ledger.CorrelationID("run-1")), TenantID: ptr(ledger.TenantID("tenant-a"))}, []string{"co-1"}},
		{ledger.EventQuery{CorrelationID: ptr(ledger.CorrelationID("run-u")), TenantID: ptr(ledger.TenantID("tenant-a"))}, nil},
		{ledger.EventQuery{CorrelationID: ptr(ledger.CorrelationID("run"))}, nil},
		{ledger.EventQuery{CorrelationID: ptr(ledger.CorrelationID("RUN-1"))}, nil},
		{ledger.EventQuery{CorrelationID: ptr(ledger.CorrelationID("run-1")), Kinds: kinds(ledger.KindOutcomeRecorded)}, []string{"co-2"}},
		{ledger.EventQuery{CorrelationID: ptr(ledger.CorrelationID("run-1")), TimeRange: &ledger.TimeRange{Start: ts("2026-01-02")}}, []string{"co-2", "co-5"}},
	}
	for _, c := range cases {
		got := s.checkQuery(t, st, all, c.q)
		if !slices.Equal(ids(got), c.want) {
			t.Fatalf("%s: got %v want %v", describeQuery(c.q), ids(got), c.want)
		}
	}
}

// testChain: the chain filter matches the chain-carrying kinds of the
// capability's rule and nothing else.
func (s *suite) testChain(t *testing.T) {
	st := s.open(t)
	var all []env
	for i, k := range ledger.AllKinds {
		all = append(all, mk("ch-"+string(k), "2026-01-01T00:00:00Z", "tenant-a", "run-1", sampleEvent(k, i, "chain-x")))
	}
	all = append(all,
		mk("ch-hyp-only", "2026-01-02T00:00:00Z", "", "", sampleEvent(ledger.KindHypothesisResolved, 50, "chain-hyp-only")),
		mk("ch-other", "2026-01-02T00:00:00Z", "", "", sampleEvent(ledger.KindOutcomeRecorded, 51, "chain-y")),
		mk("ch-unicode", "2026-01-02T00:00:00Z", "", "", sampleEvent(ledger.KindBudgetExceeded, 52, "/東京/ chain")),
	)
	mustAppend(t, st, all...)
	want := []string{"ch-ProposalCreated", "ch-ProposalValidated", "ch-OutcomeRecorded", "ch-BudgetExceeded"}
	if s.caps.ChainIncludesHypothesis {
		want = []string{"ch-ProposalCreated", "ch-ProposalValidated", "ch-OutcomeRecorded", "ch-BudgetExceeded", "ch-HypothesisResolved"}
	}
	got := s.checkQuery(t, st, all, ledger.EventQuery{ChainID: ptr(ledger.ChainID("chain-x"))})
	if !slices.Equal(ids(got), want) {
		t.Fatalf("chain-x: got %v want %v", ids(got), want)
	}
	got = s.checkQuery(t, st, all, ledger.EventQuery{ChainID: ptr(ledger.ChainID("chain-hyp-only"))})
	if wantN := map[bool]int{false: 0, true: 1}[s.caps.ChainIncludesHypothesis]; len(got) != wantN {
		t.Fatalf("HypothesisResolved-only chain: %v (ChainIncludesHypothesis=%v)", ids(got), s.caps.ChainIncludesHypothesis)
	}
	got = s.checkQuery(t, st, all, ledger.EventQuery{ChainID: ptr(ledger.ChainID("chain-x")), Kinds: kinds(ledger.KindHypothesisResolved, ledger.KindFactPromoted)})
	if wantN := map[bool]int{false: 0, true: 1}[s.caps.ChainIncludesHypothesis]; len(got) != wantN {
		t.Fatalf("chain + kinds: %v", ids(got))
	}
	got = s.checkQuery(t, st, all, ledger.EventQuery{ChainID: ptr(ledger.ChainID("/東京/ chain"))})
	if !slices.Equal(ids(got), []string{"ch-unicode"}) {
		t.Fatalf("unicode chain: %v", ids(got))
	}
	for _, c := range []ledger.ChainID{"chain", "chain-X", "", "chain-x "} {
		if got := s.checkQuery(t, st, all, ledger.EventQuery{ChainID: &c}); len(got) != 0 {
			t.Fatalf("chain %q matched %v", c, ids(got))
		}
	}
}
