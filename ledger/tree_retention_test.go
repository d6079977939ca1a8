package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// TestTreeConsistencyEverySizeAfterRetention proves consistency from the
// checkpoint of every older size of a small ledger to the newest one after
// one and then two retention drops that cut through a chunk, live and
// after a reopen. What the ledger keeps (docs/proofs.md, Retention) is the
// chunk tree (levels >= 4) of the dropped prefix and the leaf hashes of the
// chunk the last drop cut through; so after drops through R a size o is
// provable exactly when o is a multiple of 16 or o >= R - R%16. Every
// provable size must give a proof that verifies and that tlog.CheckTree
// accepts against an independent reference tree; every other size must be
// refused with ErrNoTree (never a wrong proof).
func TestTreeConsistencyEverySizeAfterRetention(t *testing.T) {
	ctx := context.Background()
	s, v := testKeys(t, "log")
	fsys := vfs.NewMem()
	o := smallOpts(fsys)
	l := openT(t, "/l", o)
	g := workload.New(workload.Config{Seed: 19, OutlierRate: -1})
	var cps [][]byte
	checkpoint := func(l *ledger.Ledger) {
		cp, err := l.Checkpoint(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, cp)
	}
	// appendEra appends n events, one at a time, whose occurred_at all
	// start with year (so retention can drop exactly the earlier eras),
	// signing a checkpoint at every size, then seals them.
	appendEra := func(n int, year string) {
		for i, e := range g.Batch(n) {
			e.OccurredAt = ledger.Timestamp(fmt.Sprintf("%s-01-01T00:00:%02dZ", year, i%60))
			if err := l.AppendEvents(ctx, []ledger.ExperienceEventEnvelope{e}); err != nil {
				t.Fatal(err)
			}
			checkpoint(l)
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	checkpoint(l) // size 0
	appendEra(40, "2020")
	appendEra(30, "2030")
	ref := refFromLedger(t, l)
	drop := func(bound string, want uint64) {
		b := ledger.Timestamp(bound)
		rep, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &b})
		if err != nil || rep.DroppedThroughSeq != want {
			t.Fatalf("retention before %s: dropped through %d (%v), want %d", bound, rep.DroppedThroughSeq, err, want)
		}
	}
	check := func(l *ledger.Ledger, what string, r int64) {
		t.Helper()
		n := int64(len(cps) - 1)
		proved, refused := 0, 0
		for old := int64(0); old <= n; old++ {
			p, err := l.ProveConsistency(ctx, cps[old], cps[n])
			if old%16 != 0 && old < r-r%16 {
				if !errors.Is(err, ledger.ErrNoTree) {
					t.Fatalf("%s: %d→%d after drops through %d: %v, want ErrNoTree", what, old, n, r, err)
				}
				refused++
				continue
			}
			if err != nil {
				t.Fatalf("%s: %d→%d after drops through %d: %v", what, old, n, r, err)
			}
			if old > 0 {
				if err := tlog.CheckTree(p.Path, n, ref.root(t, n), old, ref.root(t, old)); err != nil {
					t.Fatalf("%s: %d→%d: tlog.CheckTree: %v", what, old, n, err)
				}
			}
			if _, _, err := p.Verify(v); err != nil {
				t.Fatalf("%s: %d→%d: %v", what, old, n, err)
			}
			proved++
		}
		if proved == 0 || refused == 0 {
			t.Fatalf("%s: %d proved, %d refused: the test checks nothing", what, proved, refused)
		}
	}
	drop("2025", 40) // cuts chunk 2 (seqs 33..48) after seq 40
	check(l, "first drop", 40)
	appendEra(20, "2040")
	for r, err := range l.ScanRaw(ctx, ledger.EventQuery{}, 71) {
		if err != nil {
			t.Fatal(err)
		}
		ref.add(t, r.Canonical)
	}
	drop("2035", 70) // cuts chunk 4 (seqs 65..80) after seq 70
	check(l, "second drop", 70)
	l.Close()
	check(openT(t, "/l", o), "reopened", 70)
}
