package ledger_test

import (
	"context"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

func compactFixture(t *testing.T, fsys vfs.FS) (*ledger.Ledger, *workload.Generator) {
	t.Helper()
	ctx := context.Background()
	o := smallOpts(fsys)
	o.SegmentBytes = 1 << 30
	l := openT(t, "/l", o)
	g := workload.New(workload.Config{Seed: 21, OutlierRate: -1})
	for s := 0; s < 6; s++ {
		for b := 0; b < 5; b++ {
			if err := l.AppendEvents(ctx, g.Batch(40)); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.AppendEvents(ctx, g.Batch(25)); err != nil { // unsealed tail
		t.Fatal(err)
	}
	return l, g
}

func queriesFor(g *workload.Generator) []ledger.EventQuery {
	ts := g.Tenants()
	start, end := ledger.Timestamp("2026-01-01T00:10"), ledger.Timestamp("2026-01-01T02")
	lim := uint64(17)
	return []ledger.EventQuery{
		{},
		{TenantID: &ts[0]},
		{TenantID: &ts[1], Kinds: []ledger.ExperienceEventKind{ledger.KindProposalCreated, ledger.KindOutcomeRecorded}},
		{TimeRange: &ledger.TimeRange{Start: &start, End: &end}},
		{Kinds: []ledger.ExperienceEventKind{ledger.KindReplayTraceRecorded}, Limit: &lim},
	}
}

func snapshotQueries(t *testing.T, l *ledger.Ledger, qs []ledger.EventQuery) [][]ledger.EventID {
	t.Helper()
	var out [][]ledger.EventID
	for _, q := range qs {
		evs, err := l.QueryEvents(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]ledger.EventID, len(evs))
		for i, e := range evs {
			ids[i] = e.EventID
		}
		out = append(out, ids)
	}
	return out
}

func equalIDs(a, b [][]ledger.EventID) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

func TestCompactKeepsContentOrderAndDigest(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	l, g := compactFixture(t, fsys)
	qs := queriesFor(g)
	before := snapshotQueries(t, l, qs)
	head, err := l.Head()
	if err != nil {
		t.Fatal(err)
	}
	segsBefore := l.Metrics().Segments
	rep, err := l.Compact(ctx, ledger.CompactOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.SegmentsAfter >= segsBefore || rep.EventsRewritten != 1200 {
		t.Fatalf("compaction report: %+v (segments before %d)", rep, segsBefore)
	}
	if after := snapshotQueries(t, l, qs); !equalIDs(before, after) {
		t.Fatal("query answers changed after compaction")
	}
	if err := l.VerifyDigest(ctx, head); err != nil {
		t.Fatalf("digest after compaction: %v", err)
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatalf("verify after compaction: %v", err)
	}
	h2, _ := l.Head()
	if h2.Hash != head.Hash {
		t.Fatal("head hash changed")
	}
	// A second compaction of already-compacted segments rewrites nothing.
	rep2, err := l.Compact(ctx, ledger.CompactOptions{})
	if err != nil || rep2.EventsRewritten != 0 {
		t.Fatalf("second compaction: %+v %v", rep2, err)
	}
	// Reopen: the manifest switch is durable and complete.
	l.Close()
	l2 := openT(t, "/l", smallOpts(fsys))
	if after := snapshotQueries(t, l2, qs); !equalIDs(before, after) {
		t.Fatal("query answers changed after compaction and reopen")
	}
	if err := l2.VerifyDigest(ctx, head); err != nil {
		t.Fatal(err)
	}
}

func TestCompactRetention(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	l, g := compactFixture(t, fsys)
	st, err := l.Stat(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	// Retain after the max time of the second segment: the first two go
	// only if all their events are older than the bound.
	bound := ledger.Timestamp(st.Segments[1].MaxTime + "~")
	head, _ := l.Head()
	rep, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &bound})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DroppedSegments < 2 || rep.DroppedThroughSeq < st.Segments[1].LastSeq {
		t.Fatalf("retention report: %+v", rep)
	}
	all, err := l.QueryEvents(ctx, ledger.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(all)) != 1225-rep.DroppedEvents {
		t.Fatalf("%d events left, dropped %d", len(all), rep.DroppedEvents)
	}
	if err := l.VerifyDigest(ctx, head); err != nil {
		t.Fatalf("head digest after retention: %v", err)
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l2 := openT(t, "/l", smallOpts(fsys))
	if err := l2.AppendEvents(ctx, g.Batch(5)); err != nil {
		t.Fatal(err)
	}
	if l2.LastSeq() != 1230 {
		t.Fatalf("LastSeq %d", l2.LastSeq())
	}
	st2, _ := l2.Stat(ctx, false)
	if st2.DroppedEvents != rep.DroppedEvents || st2.FirstSeq != rep.DroppedThroughSeq+1 {
		t.Fatalf("stat after retention: %+v", st2)
	}
}
