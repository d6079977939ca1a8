package workload

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
)

func encode(t testing.TB, e *ledger.ExperienceEventEnvelope) []byte {
	t.Helper()
	b, err := ledger.MarshalCanonical(e)
	if err != nil {
		t.Fatalf("MarshalCanonical(%s): %v", e.Kind(), err)
	}
	return b
}

func n(short, long int) int {
	if testing.Short() {
		return short
	}
	return long
}

func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 99, OutlierRate: 0.01}
	a, b := New(cfg), New(cfg)
	c := New(Config{Seed: 100, OutlierRate: 0.01})
	same := 0
	for i := range n(3000, 20000) {
		ea, eb, ec := a.Next(), b.Next(), c.Next()
		ba, bb, bc := encode(t, &ea), encode(t, &eb), encode(t, &ec)
		if !bytes.Equal(ba, bb) {
			t.Fatalf("event %d differs between two generators with the same seed", i)
		}
		if bytes.Equal(ba, bc) {
			same++
		}
	}
	if same > 0 {
		t.Fatalf("%d events identical across different seeds", same)
	}
	// Batch is the same sequence as repeated Next.
	x, y := New(cfg), New(cfg)
	batch := x.Batch(500)
	for i := range batch {
		e := y.Next()
		if !bytes.Equal(encode(t, &batch[i]), encode(t, &e)) {
			t.Fatalf("Batch and Next disagree at %d", i)
		}
	}
	if x.Count() != 500 {
		t.Fatalf("Count = %d", x.Count())
	}
}

func TestValidAndUnique(t *testing.T) {
	g := New(Config{Seed: 5})
	ids := map[ledger.EventID]bool{}
	ulids := 0
	for i := range n(10000, 60000) {
		e := g.Next()
		if err := ledger.Validate(e); err != nil {
			t.Fatalf("event %d (%s): %v", i, e.EventID, err)
		}
		if ids[e.EventID] {
			t.Fatalf("duplicate event id %s", e.EventID)
		}
		ids[e.EventID] = true
		if !strings.HasPrefix(string(e.EventID), "evt-") {
			if len(e.EventID) != 26 || strings.Trim(string(e.EventID), crockford) != "" {
				t.Fatalf("bad ULID-like id %q", e.EventID)
			}
			ulids++
		}
		if e.Event == nil {
			t.Fatal("nil event")
		}
		// JSON form exists too (the differential tests use it).
		if _, err := ledger.MarshalEnvelopeJSON(e); err != nil {
			t.Fatalf("MarshalEnvelopeJSON: %v", err)
		}
	}
	if frac := float64(ulids) / float64(len(ids)); frac < 0.3 || frac > 0.5 {
		t.Fatalf("ULID-like share %.2f, want ~0.4", frac)
	}
}

func TestMixAndPools(t *testing.T) {
	total := n(20000, 100000)
	g := New(Config{Seed: 11})
	kinds := map[ledger.ExperienceEventKind]int{}
	tenants := map[ledger.TenantID]int{}
	noTenant, noCorr := 0, 0
	chains := map[ledger.ChainID]int{}
	recordings := map[ledger.TraceLinkID]int{}
	rerecords, traceEvents := 0, 0
	for range total {
		e := g.Next()
		kinds[e.Kind()]++
		if e.TenantID == nil {
			noTenant++
		} else {
			tenants[*e.TenantID]++
		}
		if e.CorrelationID == nil {
			noCorr++
		}
		if c, ok := ledger.ChainIDOf(e.Event); ok {
			chains[c]++
		}
		if r, ok := e.Event.(*ledger.ReplayTraceRecorded); ok {
			traceEvents++
			if recordings[r.TraceLinkID] > 0 {
				rerecords++
			}
			recordings[r.TraceLinkID]++
		}
	}
	for i, k := range ledger.AllKinds {
		want := float64(KindWeights[i]) / 1000 * float64(total)
		got := float64(kinds[k])
		if got < want*0.7 || got > want*1.3 {
			t.Errorf("%s: %v events, want ~%v", k, got, want)
		}
	}
	if f := float64(noTenant) / float64(total); f < 0.12 || f > 0.18 {
		t.Errorf("untenanted share %.3f, want ~0.15", f)
	}
	if f := float64(noCorr) / float64(total); f < 0.07 || f > 0.13 {
		t.Errorf("no-correlation share %.3f, want ~0.10", f)
	}
	// Zipf skew: the pool is ordered by popularity.
	pool := g.Tenants()
	if len(pool) != DefaultTenants || tenants[pool[0]] <= tenants[pool[1]] || tenants[pool[1]] <= tenants[pool[len(pool)-1]] {
		t.Errorf("tenant popularity not skewed by pool order: %v", tenants)
	}
	if len(g.Chains()) != DefaultChains || len(g.Correlations()) != DefaultCorrelations || len(g.TraceLinks()) != DefaultTraceLinks {
		t.Error("pool sizes differ from defaults")
	}
	if chains[g.Chains()[0]] < 5*chains[g.Chains()[100]] {
		t.Errorf("chain popularity not skewed: %d vs %d", chains[g.Chains()[0]], chains[g.Chains()[100]])
	}
	unusual := 0
	for c := range chains {
		if strings.ContainsAny(string(c), " 東") {
			unusual++
		}
	}
	if unusual == 0 {
		t.Error("no chain id with spaces or non-ASCII text was generated")
	}
	if f := float64(rerecords) / float64(traceEvents); f < 0.14 || f > 0.30 {
		t.Errorf("re-recorded trace links %.3f of ReplayTraceRecorded, want ~0.20", f)
	}
	// Returned pools are copies.
	g.Tenants()[0] = "x"
	if g.Tenants()[0] == "x" {
		t.Error("Tenants() exposes internal state")
	}
}

func TestConfigKnobs(t *testing.T) {
	g := New(Config{Seed: 1, Tenants: 3, Correlations: 1, Chains: 2, TraceLinks: 4, OutlierRate: -1,
		Start: time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)})
	seenT := map[ledger.TenantID]bool{}
	for range 3000 {
		e := g.Next()
		if e.TenantID != nil {
			seenT[*e.TenantID] = true
		}
		if e.CorrelationID != nil && *e.CorrelationID != g.Correlations()[0] {
			t.Fatalf("correlation %s not from the 1-entry pool", *e.CorrelationID)
		}
		if c, ok := ledger.ChainIDOf(e.Event); ok && !slices.Contains(g.Chains(), c) {
			t.Fatalf("chain %q not in pool", c)
		}
		if tl, ok := ledger.TraceLinkIDOf(e.Event); ok && !slices.Contains(g.TraceLinks(), tl) {
			t.Fatalf("trace link %q not in pool", tl)
		}
		if !strings.HasPrefix(string(e.OccurredAt), "2030-06-01T") {
			t.Fatalf("occurred_at %s does not follow Start", e.OccurredAt)
		}
		if p, ok := e.Event.(*ledger.ProposalCreated); ok && len(p.Proposal.Payload) > 8000 {
			t.Fatal("outlier generated with OutlierRate < 0")
		}
	}
	if len(seenT) != 3 {
		t.Fatalf("tenants seen %v, want all 3", seenT)
	}
}

func TestTimestamps(t *testing.T) {
	g := New(Config{Seed: 3})
	total := n(10000, 50000)
	var prev string
	disorder, reuse, millis := 0, 0, 0
	for range total {
		e := g.Next()
		ts := string(e.OccurredAt)
		if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || !strings.HasSuffix(ts, "Z") {
			t.Fatalf("occurred_at %q is not RFC 3339 UTC: %v", ts, err)
		}
		if len(ts) == len("2026-01-01T00:00:00.000Z") {
			millis++
		}
		switch {
		case ts == prev:
			reuse++
		case ts < prev && ts[:19] < prev[:19]:
			disorder++
		}
		prev = ts
	}
	check := func(name string, got int, lo, hi float64) {
		if f := float64(got) / float64(total); f < lo || f > hi {
			t.Errorf("%s share %.3f, want in [%v, %v]", name, f, lo, hi)
		}
	}
	// Ties come from the explicit ~2% reuse and from events in the same
	// second (most timestamps have whole-second precision).
	check("ties", reuse, 0.02, 0.9)
	check("out of order", disorder, 0.03, 0.08)
	check("millisecond", millis, 0.12, 0.28)
}

func TestAppendRFC3339(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for range 20000 {
		ms := r.Int64N(300 * 365 * 86400 * 1000) // 1970 .. 2270
		tm := time.UnixMilli(ms).UTC()
		if got, want := string(appendRFC3339(nil, ms, false)), tm.Format("2006-01-02T15:04:05Z"); got != want {
			t.Fatalf("%d: %s, want %s", ms, got, want)
		}
		if got, want := string(appendRFC3339(nil, ms, true)), tm.Format("2006-01-02T15:04:05.000Z"); got != want {
			t.Fatalf("%d: %s, want %s", ms, got, want)
		}
	}
}

func TestSizeDistribution(t *testing.T) {
	g := New(Config{Seed: 8, OutlierRate: 0.002})
	total := n(10000, 40000)
	sizes := make([]int, 0, total)
	outliers := 0
	for range total {
		e := g.Next()
		j, err := ledger.MarshalEnvelopeJSON(e)
		if err != nil {
			t.Fatal(err)
		}
		if len(j) > 60<<10 {
			outliers++
			continue
		}
		sizes = append(sizes, len(j))
	}
	slices.Sort(sizes)
	p := func(q float64) int { return sizes[int(q*float64(len(sizes)-1))] }
	t.Logf("JSON sizes: min %d p10 %d p50 %d p90 %d p99 %d max %d; outliers %d", sizes[0], p(0.1), p(0.5), p(0.9), p(0.99), sizes[len(sizes)-1], outliers)
	if sizes[0] < 100 || p(0.5) < 300 || p(0.5) > 2000 || p(0.99) < 2000 || sizes[len(sizes)-1] > 6000 {
		t.Errorf("size distribution out of the ~100 B .. 4 KB range")
	}
	if want := 0.002 * float64(total); float64(outliers) < want/3 || float64(outliers) > want*3 {
		t.Errorf("%d outliers, want ~%v", outliers, want)
	}
}

func TestStructuredPayloadsAreCanonical(t *testing.T) {
	g := New(Config{Seed: 4})
	for i, doc := range g.jsonDocs {
		c, err := ledger.CanonicalizeJSON(doc)
		if err != nil || !bytes.Equal(c, doc) {
			t.Fatalf("doc %d is not canonical JSON (%v): %s", i, err, doc)
		}
		if !json.Valid(doc) {
			t.Fatalf("doc %d invalid", i)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	g := New(Config{Seed: 21, OutlierRate: 0.01})
	for i := range n(2000, 10000) {
		e := g.Next()
		j, err := ledger.MarshalEnvelopeJSON(e)
		if err != nil {
			t.Fatal(err)
		}
		d, err := ledger.UnmarshalEnvelopeJSON(j)
		if err != nil {
			t.Fatalf("event %d: %v\n%s", i, err, j)
		}
		if !bytes.Equal(encode(t, &d), encode(t, &e)) {
			t.Fatalf("event %d: JSON round trip changed the canonical bytes", i)
		}
	}
}

func BenchmarkNext(b *testing.B) {
	g := New(Config{Seed: 1})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = g.Next()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
