package ledger_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/exledger/exledger/ledger"
)

// TestScanRawVectors: ScanRawVectors yields what ScanVectors does (the
// same events in the same order, the same vectors bit for bit, nil for an
// event stored without one), as canonical bytes with their sequence
// numbers, across sealed segments and the memtable, from any start.
func TestScanRawVectors(t *testing.T) {
	ctx := context.Background()
	l := openT(t, t.TempDir(), vecOpts(nil, 3))
	r := rand.New(rand.NewPCG(1, 2))
	n := 0
	for b := range 12 {
		var es []ledger.VectorEvent
		for i := range 5 {
			ve := vecEvent(fmt.Sprintf("e%d", n), "t", n)
			if i < 4 { // the fifth is appended without a vector
				ve.Vector = randVec(r, 3)
			}
			es = append(es, ve)
			n++
		}
		if err := l.AppendVectorEvents(ctx, es[:4]); err != nil {
			t.Fatal(err)
		}
		if err := l.AppendEvent(ctx, es[4].Envelope); err != nil {
			t.Fatal(err)
		}
		if b == 6 {
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	var want []ledger.VectorEvent
	for ve, err := range l.ScanVectors(ctx, ledger.EventQuery{}, 1) {
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, ve)
	}
	if len(want) != n {
		t.Fatalf("ScanVectors: %d events, want %d", len(want), n)
	}
	for _, from := range []uint64{0, 1, 17, 35, uint64(n), uint64(n) + 1} {
		seq := max(from, 1)
		for rv, err := range l.ScanRawVectors(ctx, ledger.EventQuery{}, from) {
			if err != nil {
				t.Fatal(err)
			}
			if rv.Seq != seq {
				t.Fatalf("from %d: seq %d, want %d", from, rv.Seq, seq)
			}
			w := want[seq-1]
			e, err := ledger.UnmarshalCanonical(rv.Canonical)
			if err != nil || e.EventID != w.Envelope.EventID {
				t.Fatalf("from %d seq %d: event %q (%v), want %q", from, seq, e.EventID, err, w.Envelope.EventID)
			}
			if (rv.Vector == nil) != (w.Vector == nil) || len(rv.Vector) != len(w.Vector) {
				t.Fatalf("seq %d: vector %v, want %v", seq, rv.Vector, w.Vector)
			}
			for i := range w.Vector {
				if math.Float32bits(rv.Vector[i]) != math.Float32bits(w.Vector[i]) {
					t.Fatalf("seq %d: vector %v, want %v", seq, rv.Vector, w.Vector)
				}
			}
			seq++
		}
		if seq != uint64(n)+1 && !(from > uint64(n) && seq == from) {
			t.Fatalf("from %d: ended before seq %d", from, seq)
		}
	}
}
