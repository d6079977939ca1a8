package ledger_test

import (
	"context"
	"slices"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/segment"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// segSeqOrders returns, for each segment file of fsys (by first seq), its
// sequence numbers in stored order.
func segSeqOrders(t *testing.T, fsys vfs.FS) map[uint64][]uint64 {
	t.Helper()
	out := map[uint64][]uint64{}
	walkStoredRecords(t, fsys, func(r *segment.Reader, rec segment.Record) {
		first := r.Info().FirstSeq
		out[first] = append(out[first], rec.Seq)
	})
	return out
}

// TestSealClusteredOrderIsCompacts checks that a clustered seal stores
// each segment's events in exactly the order Compact writes them: a
// log-order ledger compacted segment by segment (a target size below one
// segment, so each is rewritten alone) and a ledger sealed clustered,
// both fed the same events, hold the same sequence numbers in the same
// stored order in every segment, and the same digest. The events include
// some without a tenant, 400 distinct tenants, runs of equal timestamps
// and late (out-of-order) ones.
func TestSealClusteredOrderIsCompacts(t *testing.T) {
	ctx := context.Background()
	logFS, clFS := vfs.NewMem(), vfs.NewMem()
	lo, co := smallOpts(logFS), smallOpts(clFS)
	lo.SealLayout, co.SealLayout = ledger.SealLayoutLog, ledger.SealLayoutClustered
	logL, cl := openT(t, "/l", lo), openT(t, "/l", co)
	g := workload.New(workload.Config{Seed: 31, OutlierRate: -1, Tenants: 400})
	prev := ledger.Timestamp("")
	for b := 0; b < 40; b++ {
		evs := g.Batch(50)
		for i := range evs {
			switch k := (b*50 + i) % 10; {
			case k == 3:
				evs[i].TenantID = nil
			case k == 5 && prev != "":
				evs[i].OccurredAt = prev // equal to the previous event's
			case k == 7:
				evs[i].OccurredAt = "2026-01-01T00:00:00Z" // before all others
			}
			prev = evs[i].OccurredAt
		}
		for _, l := range []*ledger.Ledger{logL, cl} {
			if err := l.AppendEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, l := range []*ledger.Ledger{logL, cl} {
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := logL.Compact(ctx, ledger.CompactOptions{TargetBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	want, got := segSeqOrders(t, logFS), segSeqOrders(t, clFS)
	if len(got) < 5 || rep.SegmentsAfter != len(got) || rep.SegmentsBefore != len(got) {
		t.Fatalf("%d clustered segments; compaction %d → %d", len(got), rep.SegmentsBefore, rep.SegmentsAfter)
	}
	if len(want) != len(got) {
		t.Fatalf("%d compacted segments, %d clustered", len(want), len(got))
	}
	for first, w := range want {
		c := got[first]
		if !slices.Equal(c, w) {
			i := 0
			for i < min(len(c), len(w)) && c[i] == w[i] {
				i++
			}
			t.Fatalf("segment from seq %d: stored order differs from Compact's at record %d of %d/%d", first, i, len(c), len(w))
		}
		if slices.IsSorted(w) {
			t.Fatalf("segment from seq %d is stored in log order: the test shows nothing", first)
		}
	}
	checkSameHead(t, logL, cl)
}
