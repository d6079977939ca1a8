package ledger_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgertest"
	"github.com/exledger/exledger/vfs"
)

// canonVecLedger appends vector events the way a replica does: encoded
// first (after the same validation), then AppendCanonicalVectorBatch.
type canonVecLedger struct{ *ledger.Ledger }

func (c canonVecLedger) AppendVectorEvents(ctx context.Context, es []ledger.VectorEvent) error {
	recs := make([][]byte, len(es))
	vecs := make([][]float32, len(es))
	for i := range es {
		if es[i].Envelope.Event == nil {
			return ledger.InvalidQuery("event must not be null")
		}
		if err := ledger.Validate(es[i].Envelope); err != nil {
			return err
		}
		if err := c.CheckVector(es[i].Vector); err != nil {
			return err
		}
		b, err := ledger.MarshalCanonical(&es[i].Envelope)
		if err != nil {
			return err
		}
		recs[i], vecs[i] = b, es[i].Vector
	}
	return c.AppendCanonicalVectorBatch(ctx, recs, vecs)
}

// The similarity suite passes when every vector batch goes through
// AppendCanonicalVectorBatch, in process and across reopen.
func TestSimilarLedgerCanonicalBatches(t *testing.T) {
	ledgertest.RunSimilar(t, ledgertest.SimilarConfig{
		Open: func(t *testing.T, dim int) ledgertest.SimilarStore {
			fsys := vfs.NewMem()
			return canonVecLedger{openT(t, "/l", vecOpts(fsys, dim))}
		},
	})
}

func TestAppendCanonicalVectorBatch(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	l := openT(t, "/l", vecOpts(fsys, 3))
	a := vecEvent("a", "t1", 1, 1, 0, 0)
	b := vecEvent("b", "t1", 2) // no vector
	c := vecEvent("c", "t2", 3, 0, 1, 0)
	enc := func(es ...ledger.VectorEvent) ([][]byte, [][]float32) {
		var recs [][]byte
		var vecs [][]float32
		for i := range es {
			r, err := ledger.MarshalCanonical(&es[i].Envelope)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
			vecs = append(vecs, slices.Clone(es[i].Vector))
		}
		return recs, vecs
	}
	recs, vecs := enc(a, b, c)
	if err := l.AppendCanonicalVectorBatch(ctx, recs, vecs[:2]); err == nil {
		t.Fatal("mismatched vector count accepted")
	}
	if err := l.AppendCanonicalVectorBatch(ctx, recs, vecs); err != nil {
		t.Fatal(err)
	}
	vecs[0][0] = 42 // the ledger copied the vectors
	check := func(what string) {
		t.Helper()
		for _, want := range []ledger.VectorEvent{a, b, c} {
			got, err := l.GetVectorEvent(ctx, want.Envelope.EventID)
			if err != nil {
				t.Fatalf("%s: GetVectorEvent(%s): %v", what, want.Envelope.EventID, err)
			}
			if got.Envelope.EventID != want.Envelope.EventID || !slices.Equal(got.Vector, want.Vector) {
				t.Fatalf("%s: GetVectorEvent(%s) = %s %v, want vector %v", what, want.Envelope.EventID, got.Envelope.EventID, got.Vector, want.Vector)
			}
		}
		if _, err := l.GetVectorEvent(ctx, "missing"); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("%s: missing event: %v", what, err)
		}
		res, err := l.SearchSimilar(ctx, ledger.SimilarQuery{Vector: []float32{0.9, 0.1, 0}, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 2 || res[0].Envelope.EventID != "a" || res[1].Envelope.EventID != "c" {
			t.Fatalf("%s: search: %v", what, simIDsOf(res))
		}
	}
	check("memtable")

	// A retry of the same content is a no-op; another vector under the
	// same id is the duplicate-id error; so is a vector added to an event
	// stored without one.
	recs, vecs = enc(a, b, c)
	if err := l.AppendCanonicalVectorBatch(ctx, recs, vecs); err != nil {
		t.Fatalf("retry: %v", err)
	}
	for _, e := range []ledger.VectorEvent{vecEvent("a", "t1", 1, 1, 1, 0), vecEvent("b", "t1", 2, 1, 1, 1)} {
		recs, vecs = enc(e)
		err := l.AppendCanonicalVectorBatch(ctx, recs, vecs)
		if err == nil || !strings.Contains(err.Error(), "duplicate event_id") {
			t.Fatalf("conflicting vector for %s: %v", e.Envelope.EventID, err)
		}
	}
	// The vector checks and their messages are AppendVectorEvents'.
	for _, tc := range []struct {
		vec  []float32
		want string
	}{
		{[]float32{1, 0}, "vector dimension mismatch: expected 3, got 2"},
		{[]float32{float32(math.NaN()), 0, 0}, "vector contains NaN or infinite values"},
		{[]float32{0, 0, 0}, "zero norm"},
	} {
		recs, _ = enc(vecEvent("d", "t1", 4))
		err := l.AppendCanonicalVectorBatch(ctx, recs, [][]float32{tc.vec})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ledger.ErrInvalidQuery) {
			t.Fatalf("vector %v: got %v, want %q", tc.vec, err, tc.want)
		}
		if cerr := l.CheckVector(tc.vec); cerr == nil || cerr.Error() != err.Error() {
			t.Fatalf("CheckVector(%v) = %v, append gave %v", tc.vec, cerr, err)
		}
	}
	if _, err := l.GetVectorEvent(ctx, "d"); !errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("a refused batch left its event: %v", err)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	check("sealed")
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, "/l", vecOpts(fsys, 0))
	check("reopened")
}

func simIDsOf(rs []ledger.SimilarEvent) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, string(r.Envelope.EventID))
	}
	return ids
}
