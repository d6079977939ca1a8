package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/exledger/exledger/vfs"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// TestEncodeBatchSpill checks the append path's encoding when the buffer
// estimate is wrong in either direction: events that overflow the buffer
// start a new one, and every record still holds exactly its event's
// canonical bytes, with no capacity past its end (so no record can be
// overwritten through another).
func TestEncodeBatchSpill(t *testing.T) {
	es := workload.New(workload.Config{Seed: 3, OutlierRate: 0.01}).Batch(1200)
	for _, avg := range []int64{0, 1, 100, 600, 1 << 20} {
		recs, err := ledger.EncodeBatchWithEstimate(es, avg)
		if err != nil {
			t.Fatalf("avg %d: %v", avg, err)
		}
		if len(recs) != len(es) {
			t.Fatalf("avg %d: %d records for %d events", avg, len(recs), len(es))
		}
		for i := range es {
			want, err := ledger.MarshalCanonical(&es[i])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(recs[i], want) {
				t.Fatalf("avg %d: record %d differs from its event's canonical bytes", avg, i)
			}
			if cap(recs[i]) != len(recs[i]) {
				t.Fatalf("avg %d: record %d has cap %d > len %d", avg, i, cap(recs[i]), len(recs[i]))
			}
		}
	}
}

// TestDuplicateCheckMemtables checks the duplicate check of ids still in
// memtables (each has an id filter in front of its id map): across
// batches, in the memtable a WAL replay rebuilt at Open (sized before any
// event size is known), and in the one filled after it; and across seals
// (small segments, several memtables frozen or sealed on the way).
func TestDuplicateCheckMemtables(t *testing.T) {
	ctx := context.Background()
	for _, segBytes := range []int64{64 << 20, 48 << 10} {
		fsys := vfs.NewMem()
		opts := &ledger.Options{FS: fsys, Sync: ledger.SyncNever, SegmentBytes: segBytes, KeepTailOnClose: true}
		l, err := ledger.Open("/l", opts)
		if err != nil {
			t.Fatal(err)
		}
		g := workload.New(workload.Config{Seed: 9})
		var all []ledger.ExperienceEventEnvelope
		check := func(stage string, l *ledger.Ledger) {
			t.Helper()
			want := l.LastSeq()
			for i := 0; i < len(all); i += 37 {
				changed := all[i]
				changed.OccurredAt = "2099-01-01T00:00:00Z"
				if err := l.AppendEvent(ctx, changed); !errors.Is(err, ledger.ErrInvalidQuery) {
					t.Fatalf("segment bytes %d, %s: reused id %s (event %d) accepted: %v", segBytes, stage, changed.EventID, i, err)
				}
				if err := l.AppendEvent(ctx, all[i]); err != nil {
					t.Fatalf("segment bytes %d, %s: idempotent re-append of event %d: %v", segBytes, stage, i, err)
				}
			}
			if got := l.LastSeq(); got != want {
				t.Fatalf("segment bytes %d, %s: LastSeq %d, want %d", segBytes, stage, got, want)
			}
		}
		for b := 0; b < 20; b++ {
			evs := g.Batch(100)
			if err := l.AppendEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
			all = append(all, evs...)
		}
		check("before reopen", l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if l, err = ledger.Open("/l", opts); err != nil {
			t.Fatal(err)
		}
		check("after reopen (replayed memtable)", l)
		for b := 0; b < 5; b++ {
			evs := g.Batch(100)
			if err := l.AppendEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
			all = append(all, evs...)
		}
		check("after reopen and more appends", l)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
