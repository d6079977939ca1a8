package main

import (
	"github.com/exledger/exledger/ledger"
	"math"
	"path/filepath"
	"testing"
)

// TestEnginesAgree builds the same small corpus in every engine and checks
// that each one answers every query case with the count derived from the
// corpus itself, scans every event, finds every sampled trace link, and
// recovers its sequence counter on reopen: the comparison is only fair if
// all engines do the same work.
func TestEnginesAgree(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 1500
	}
	for _, name := range []string{"exledger", "pebble", "sqlite", "bbolt"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), name)
			e := newEngine(name)
			if err := e.open(dir, false); err != nil {
				t.Fatal(err)
			}
			s := newStream()
			for s.n < n {
				if err := e.append(s.next(500)); err != nil {
					t.Fatal(err)
				}
			}
			q := s.queries()
			if q.selWant == 0 || q.trWant == 0 || len(q.traces) == 0 {
				t.Fatalf("degenerate query parameters: %+v", q)
			}
			check := func(stage string) {
				if got, err := e.tenantKind(q.selTenant, q.selKind); err != nil || got != q.selWant {
					t.Errorf("%s: tenantKind = %d, %v; want %d", stage, got, err, q.selWant)
				}
				if got, err := e.timeRange(q.trTenant, q.trStart, q.trEnd); err != nil || got != q.trWant {
					t.Errorf("%s: timeRange = %d, %v; want %d", stage, got, err, q.trWant)
				}
				for _, id := range q.traces {
					if ok, err := e.trace(id); err != nil || !ok {
						t.Fatalf("%s: trace %s = %v, %v", stage, id, ok, err)
					}
				}
				if ok, err := e.trace("no-such-trace"); err != nil || ok {
					t.Errorf("%s: unknown trace found: %v %v", stage, ok, err)
				}
				if got, err := e.scan(); err != nil || got != n {
					t.Errorf("%s: scan = %d, %v; want %d", stage, got, err, n)
				}
				if got, err := e.lastSeq(); err != nil || got != uint64(n) {
					t.Errorf("%s: lastSeq = %d, %v; want %d", stage, got, err, n)
				}
			}
			check("built")
			if err := e.close(); err != nil {
				t.Fatal(err)
			}
			if err := e.open(dir, true); err != nil {
				t.Fatal(err)
			}
			check("reopened")
			// One more durable event continues the sequence.
			ev := s.next(1)
			if err := e.appendOne(&ev[0]); err != nil {
				t.Fatal(err)
			}
			if got, _ := e.lastSeq(); got != uint64(n+1) {
				t.Errorf("after appendOne lastSeq = %d, want %d", got, n+1)
			}
			d, ix, _, err := e.footprint(dir)
			if err != nil {
				t.Fatal(err)
			}
			if d <= 0 || ix <= 0 {
				t.Errorf("footprint data %d index %d: both must be positive", d, ix)
			}
			if err := e.close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRawEngine checks that the ceiling does the work it claims: every
// event is encoded and compressed into blocks (fewer bytes out than the
// canonical bytes in), and the fsync variant writes and syncs once per
// batch.
func TestRawEngine(t *testing.T) {
	s := newStream()
	evs := s.next(2000)
	for _, sync := range []bool{false, true} {
		e := &rawEngine{sync: sync}
		if err := e.open(t.TempDir(), true); err != nil {
			t.Fatal(err)
		}
		out := 0
		for i := 0; i < len(evs); i += 1000 {
			if err := e.append(evs[i : i+1000]); err != nil {
				t.Fatal(err)
			}
			out += len(e.out)
		}
		if out <= 0 || int64(out) >= s.canonBytes {
			t.Errorf("sync=%v: %d compressed bytes for %d canonical bytes", sync, out, s.canonBytes)
		}
		if n, ok := e.fsyncs(); ok != sync || (sync && n != 2) {
			t.Errorf("sync=%v: fsyncs = %d, %v", sync, n, ok)
		}
		if got, _ := e.lastSeq(); got != uint64(len(evs)) {
			t.Errorf("lastSeq = %d", got)
		}
		e.close()
	}
}

func TestRatioAndMedian(t *testing.T) {
	c := &caseResult{engines: []string{"exledger", "peer"}, cells: map[string]*cell{
		"exledger": {samples: []sample{{v: 10}, {v: 20}, {v: 30}, {v: 40}, {v: 50}}},
		"peer":     {samples: []sample{{v: 5}, {v: 10}, {v: 10}, {v: 20}, {v: 100}}},
	}}
	// Paired ratios 2, 2, 3, 2, 0.5: median 2; within 25% of 2: three.
	m, within, pairs := c.ratio("peer")
	if m != 2 || within != 3 || pairs != 5 {
		t.Fatalf("ratio = %v, %d/%d; want 2, 3/5", m, within, pairs)
	}
	if got := median([]float64{4, 1, 3, 2}); got != 2.5 {
		t.Errorf("median = %v", got)
	}
	if !math.IsNaN(median(nil)) {
		t.Errorf("median(nil) must be NaN")
	}
}

// TestIssue17Shape checks the coldappend corpus against issue 17's
// description: valid envelopes, JSON 350–1,900 B averaging about 1 KB,
// 4 kinds, 8 tenants, a new correlation every 50 events.
func TestIssue17Shape(t *testing.T) {
	evs := issue17Events(5000, 17)
	kinds, tenants, corrs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	total := 0
	for i := range evs {
		if err := ledger.Validate(evs[i]); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		j, err := ledger.MarshalEnvelopeJSON(evs[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(j) < 350 || len(j) > 1900 {
			t.Errorf("event %d: %d B of JSON, want 350–1900", i, len(j))
		}
		total += len(j)
		kinds[string(evs[i].Kind())] = true
		tenants[string(*evs[i].TenantID)] = true
		corrs[string(*evs[i].CorrelationID)] = true
	}
	if avg := total / len(evs); avg < 1000 || avg > 1250 {
		t.Errorf("average JSON size %d B, want ~1 KB", avg)
	}
	if len(kinds) != 4 || len(tenants) != 8 || len(corrs) != len(evs)/50 {
		t.Errorf("%d kinds, %d tenants, %d correlations; want 4, 8, %d", len(kinds), len(tenants), len(corrs), len(evs)/50)
	}
}
