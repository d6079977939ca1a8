package ledger

import (
	"cmp"
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"github.com/exledger/exledger/index"
)

// orderTestMemtable builds a frozen memtable of es as the append path
// does (canonical records, times, and index entries from HeaderOf).
func orderTestMemtable(t *testing.T, es []ExperienceEventEnvelope) *memtable {
	t.Helper()
	m := newMemtable(1000)
	for i := range es {
		rec, err := AppendCanonical(nil, &es[i])
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		h := HeaderOf(&es[i])
		m.idx.Add(uint32(i), string(es[i].OccurredAt), termsOf(&h, nil))
		m.recs = append(m.recs, rec)
		m.times = append(m.times, string(es[i].OccurredAt))
	}
	return m
}

// compactOrder is the order Compact's rewrite sorts a group's records in
// (compact.go: decoded headers, a missing tenant as "", a stable sort by
// (tenant, kind, time, seq)), as ordinals of m.
// TestSealClusteredOrderIsCompacts checks the same against Compact itself.
func compactOrder(t *testing.T, m *memtable) []uint32 {
	t.Helper()
	recs := make([]clusterRec, len(m.recs))
	for i, r := range m.recs {
		hd, err := DecodeHeader(r)
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = clusterRec{seq: m.base + uint64(i), time: string(hd.OccurredAt), kind: string(hd.Kind)}
		if hd.HasTenant {
			recs[i].tenant = string(hd.TenantID)
		}
	}
	slices.SortStableFunc(recs, func(a, b clusterRec) int {
		return cmp.Or(cmp.Compare(a.tenant, b.tenant), cmp.Compare(a.kind, b.kind),
			cmp.Compare(a.time, b.time), cmp.Compare(a.seq, b.seq))
	})
	ords := make([]uint32, len(recs))
	for i, r := range recs {
		ords[i] = uint32(r.seq - m.base)
	}
	return ords
}

// TestClusterOrderMatchesCompact checks that the seal's cluster order,
// computed from the memtable's index, is exactly Compact's order, and so
// is the order computed from decoded records (the fallback), on events of
// every kind with and without tenants, many distinct tenants, equal and
// out-of-order timestamps, times in no order at all (the sort's
// fallback), and an empty tenant id (refused by Validate, but it must
// sort as no tenant, as Compact compares it).
func TestClusterOrderMatchesCompact(t *testing.T) {
	ts := func(i int) Timestamp {
		return Timestamp(fmt.Sprintf("2026-01-01T00:%02d:%02d.%03dZ", i/60000%60, i/1000%60, i%1000))
	}
	tenant := func(s string) *TenantID { t := TenantID(s); return &t }
	cases := []struct {
		name string
		n    int
		// set adjusts envelope i (tenant, time) from the generator's.
		set func(r *rand.Rand, i int, e *ExperienceEventEnvelope)
	}{
		{"mixed", 3000, func(r *rand.Rand, i int, e *ExperienceEventEnvelope) {
			switch e.TenantID = tenant(fmt.Sprintf("t%d", r.Intn(5))); {
			case i%3 == 0:
				e.TenantID = nil
			}
			switch x := r.Intn(100); {
			case x < 7: // late: up to 2000 events back
				e.OccurredAt = ts(max(0, i-r.Intn(2000)))
			case x < 17: // the previous event's time
				e.OccurredAt = ts(max(0, i-1))
			default:
				e.OccurredAt = ts(i)
			}
		}},
		{"many tenants", 3000, func(r *rand.Rand, i int, e *ExperienceEventEnvelope) {
			e.TenantID = tenant(fmt.Sprintf("tenant-%04d", r.Intn(1500)))
			e.OccurredAt = ts(i)
		}},
		{"every tenant distinct", 2000, func(r *rand.Rand, i int, e *ExperienceEventEnvelope) {
			e.TenantID = tenant(fmt.Sprintf("u%d", r.Int63()))
			e.OccurredAt = ts(r.Intn(10))
		}},
		{"equal times", 2000, func(r *rand.Rand, i int, e *ExperienceEventEnvelope) {
			if r.Intn(4) > 0 {
				e.TenantID = tenant(fmt.Sprintf("t%d", r.Intn(3)))
			} else {
				e.TenantID = nil
			}
			e.OccurredAt = "2026-01-01T00:00:00Z"
		}},
		{"random times", 3000, func(r *rand.Rand, i int, e *ExperienceEventEnvelope) {
			e.TenantID = tenant(fmt.Sprintf("t%d", r.Intn(2)))
			e.OccurredAt = ts(r.Intn(1 << 20))
		}},
		{"descending times", 1000, func(r *rand.Rand, i int, e *ExperienceEventEnvelope) {
			e.TenantID = nil
			e.OccurredAt = ts(5000 - i)
		}},
		{"no tenants", 1000, func(r *rand.Rand, i int, e *ExperienceEventEnvelope) {
			e.TenantID = nil
			e.OccurredAt = ts(i + r.Intn(50))
		}},
		{"empty tenant", 1000, func(r *rand.Rand, i int, e *ExperienceEventEnvelope) {
			switch r.Intn(3) {
			case 0:
				e.TenantID = nil
			case 1:
				e.TenantID = tenant("")
			default:
				e.TenantID = tenant("a")
			}
			e.OccurredAt = ts(r.Intn(500))
		}},
		{"one event", 1, func(r *rand.Rand, i int, e *ExperienceEventEnvelope) {}},
	}
	for ci, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewSource(int64(ci) + 1))
			g := gen{r}
			es := make([]ExperienceEventEnvelope, c.n)
			for i := range es {
				es[i] = g.envelope(AllKinds[r.Intn(len(AllKinds))])
				es[i].EventID = EventID(fmt.Sprintf("e%d", i))
				c.set(r, i, &es[i])
			}
			m := orderTestMemtable(t, es)
			want := compactOrder(t, m)
			got, err := clusterOrder(m, c.n)
			if err != nil {
				t.Fatal(err)
			}
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("cluster order differs from Compact's at position %d of %d: ordinal %d, want %d", i, c.n, got[i], want[i])
			}
			dec, err := clusterOrderDecoded(m, c.n)
			if err != nil {
				t.Fatal(err)
			}
			if i := firstDiff(dec, want); i >= 0 {
				t.Fatalf("decoded cluster order differs from Compact's at position %d: ordinal %d, want %d", i, dec[i], want[i])
			}
		})
	}
}

func firstDiff(a, b []uint32) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestClusterOrderUntrustedIndex checks that a memtable whose index may
// not match its records (tainted: a staged batch failed), or whose index
// holds more entries than the records ordered, is ordered from its
// records, not its index.
func TestClusterOrderUntrustedIndex(t *testing.T) {
	r := rand.New(rand.NewSource(7))
	g := gen{r}
	es := make([]ExperienceEventEnvelope, 500)
	for i := range es {
		es[i] = g.envelope(AllKinds[r.Intn(len(AllKinds))])
		es[i].EventID = EventID(fmt.Sprintf("e%d", i))
		tn := TenantID(fmt.Sprintf("t%d", r.Intn(4)))
		es[i].TenantID = &tn
		es[i].OccurredAt = Timestamp(fmt.Sprintf("2026-01-01T00:00:%02dZ", r.Intn(60)))
	}
	m := orderTestMemtable(t, es)
	want := compactOrder(t, m)
	// An index of as many entries whose tenants are not the records'
	// (as entries a failed staged batch left, then overwritten in place,
	// would be): ordered by it, the records would come out otherwise.
	wrong := index.NewMem()
	for i := range es {
		h := HeaderOf(&es[i])
		h.TenantID = TenantID(fmt.Sprintf("x%d", (i*7)%5))
		wrong.Add(uint32(i), string(es[i].OccurredAt), termsOf(&h, nil))
	}
	m.idx = wrong
	got, err := clusterOrder(m, len(es))
	if err != nil {
		t.Fatal(err)
	}
	if firstDiff(got, want) < 0 {
		t.Fatal("the wrong index orders the records as their own tenants do: the test shows nothing")
	}
	m.tainted = true
	if got, err = clusterOrder(m, len(es)); err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("tainted memtable: order differs at position %d: ordinal %d, want %d", i, got[i], want[i])
	}
	// A poisoned index (a staged batch's entries past the records, then
	// an Add at a reused ordinal) is not read either.
	m.idx = index.NewMem()
	for i := range es {
		h := HeaderOf(&es[i])
		m.idx.Add(uint32(i), string(es[i].OccurredAt), termsOf(&h, nil))
	}
	m.idx.Add(uint32(len(es)), "t", []index.Term{{Field: index.FieldKind, Value: "k"}})
	m.idx.Add(uint32(len(es)), "t", []index.Term{{Field: index.FieldKind, Value: "k"}})
	if got, err = clusterOrder(m, len(es)); err != nil {
		t.Fatalf("tainted memtable with a poisoned index: %v", err)
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("poisoned index: order differs at position %d: ordinal %d, want %d", i, got[i], want[i])
	}
	// The first n records only (the index holds more).
	m.tainted = false
	n := 300
	sub := &memtable{base: m.base, recs: m.recs[:n], times: m.times[:n]}
	want = compactOrder(t, sub)
	if got, err = clusterOrder(m, n); err != nil {
		t.Fatal(err)
	}
	if i := firstDiff(got, want); i >= 0 {
		t.Fatalf("first %d records: order differs at position %d: ordinal %d, want %d", n, i, got[i], want[i])
	}
}

// TestSortByTime checks the run sort against slices.SortFunc on runs that
// are sorted, nearly sorted, reversed (past the insertion budget) and
// random, with many equal times.
func TestSortByTime(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, shape := range []string{"sorted", "nearly", "reversed", "random", "equal"} {
		for _, n := range []int{0, 1, 2, 10, 100, 5000} {
			times := make([]string, n)
			for i := range times {
				var v int
				switch shape {
				case "sorted":
					v = i
				case "nearly":
					v = i
					if r.Intn(10) == 0 {
						v -= r.Intn(40)
					}
				case "reversed":
					v = n - i
				case "random":
					v = r.Intn(n/2 + 1)
				case "equal":
					v = 7
				}
				times[i] = fmt.Sprintf("%08d", v)
			}
			run := make([]uint32, n)
			for i := range run {
				run[i] = uint32(i)
			}
			want := slices.Clone(run)
			slices.SortFunc(want, func(a, b uint32) int {
				return cmp.Or(strings.Compare(times[a], times[b]), cmp.Compare(a, b))
			})
			sortByTime(run, times)
			if i := firstDiff(run, want); i >= 0 {
				t.Fatalf("%s, %d: differs at %d: %d, want %d", shape, n, i, run[i], want[i])
			}
		}
	}
}
