package ledger_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// TestAppendCanonicalBatch: appending canonical bytes gives the same
// ledger (events, hash chain) as appending the envelopes, with the same
// duplicate rules, and rejects bytes that are not canonical.
func TestAppendCanonicalBatch(t *testing.T) {
	ctx := context.Background()
	a := openT(t, "/a", smallOpts(vfs.NewMem()))
	b := openT(t, "/b", smallOpts(vfs.NewMem()))
	g := workload.New(workload.Config{Seed: 21})
	var batches [][]ledger.ExperienceEventEnvelope
	for i := range 30 {
		batches = append(batches, g.Batch(1+i%9))
	}
	// A replay of an earlier batch (idempotent no-op) and an overlap.
	batches = append(batches, batches[3], append(slices.Clone(batches[4][:1]), g.Batch(2)...))
	for _, es := range batches {
		var recs [][]byte
		for i := range es {
			r, err := ledger.MarshalCanonical(&es[i])
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, r)
		}
		errA := a.AppendEvents(ctx, es)
		errB := b.AppendCanonicalBatch(ctx, recs)
		if (errA == nil) != (errB == nil) {
			t.Fatalf("AppendEvents %v, AppendCanonicalBatch %v", errA, errB)
		}
	}
	conflict := g.Batch(1)
	conflict[0].EventID = batches[0][0].EventID
	rec, _ := ledger.MarshalCanonical(&conflict[0])
	errA := a.AppendEvents(ctx, conflict)
	errB := b.AppendCanonicalBatch(ctx, [][]byte{rec})
	if errA == nil || errB == nil || errA.Error() != errB.Error() {
		t.Fatalf("conflict: %v vs %v", errA, errB)
	}
	ha, _ := a.Head()
	hb, _ := b.Head()
	if ha.Seq != hb.Seq || ha.Hash != hb.Hash {
		t.Fatalf("heads differ: %d/%s vs %d/%s", ha.Seq, ha.HashHex, hb.Seq, hb.HashHex)
	}
	// Not canonical: the envelope map with a non-minimal (map16) header.
	bad := append([]byte{0xde, 0x00, rec[0] & 0x0f}, rec[1:]...)
	if err := b.AppendCanonicalBatch(ctx, [][]byte{bad}); !errors.Is(err, ledger.ErrInvalidQuery) {
		t.Fatalf("non-canonical record: %v", err)
	}
	if err := b.AppendCanonicalBatch(ctx, [][]byte{{0xc0}}); !errors.Is(err, ledger.ErrInvalidQuery) {
		t.Fatalf("nil record: %v", err)
	}
	if h, _ := b.Head(); h.Seq != hb.Seq {
		t.Fatalf("rejected records were stored")
	}
}
