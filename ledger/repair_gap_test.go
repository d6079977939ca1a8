package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/segment"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// gapFixture is a closed ledger of nseg sealed log-order segments of per
// events each, the digests taken every 100 events and the events in seq
// order.
type gapFixture struct {
	mem     *vfs.MemFS
	digests []ledger.Digest // digests[i] is the head after (i+1)*100 events
	events  []ledger.ExperienceEventEnvelope
}

// gapOpts seals in log order, so a damaged block is one run of seqs.
func gapOpts(fsys vfs.FS) *ledger.Options {
	return &ledger.Options{FS: fsys, SegmentBytes: 1 << 30, BlockSize: 8 << 10, WALFileSize: 256 << 10, SealLayout: ledger.SealLayoutLog}
}

func buildGapFixture(t *testing.T, nseg, per int) *gapFixture {
	t.Helper()
	return buildGapFixtureOpts(t, nseg, per, gapOpts)
}

// buildGapFixtureOpts is buildGapFixture with the ledger opened with
// opts(fs) (a test that wants another seal layout sets it there).
func buildGapFixtureOpts(t *testing.T, nseg, per int, opts func(vfs.FS) *ledger.Options) *gapFixture {
	t.Helper()
	ctx := context.Background()
	f := &gapFixture{mem: vfs.NewMem()}
	l, err := ledger.Open("/l", opts(f.mem))
	if err != nil {
		t.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 21, OutlierRate: -1})
	for s := 0; s < nseg; s++ {
		for b := 0; b < per/100; b++ {
			evs := g.Batch(100)
			if err := l.AppendEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
			f.events = append(f.events, evs...)
			d, err := l.Head()
			if err != nil {
				t.Fatal(err)
			}
			f.digests = append(f.digests, d)
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return f
}

// segBlocks returns the footer's block entries of a segment file.
func segBlocks(t *testing.T, fsys vfs.FS, path string) []segment.BlockInfo {
	t.Helper()
	r, err := segment.Open(fsys, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	out := make([]segment.BlockInfo, r.NumBlocks())
	for i := range out {
		out[i] = r.BlockInfo(i)
	}
	return out
}

func flipBit(t *testing.T, mem *vfs.MemFS, path string, off int64, bit uint) {
	t.Helper()
	b, err := mem.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 1 << bit
	if err := mem.WriteFile(path, b); err != nil {
		t.Fatal(err)
	}
}

// checkRepairedContent opens the ledger and checks that it holds exactly
// the fixture's events minus the lost seqs, in order, through every read
// path, and that Verify passes apart from the recorded gaps.
func checkRepairedContent(t *testing.T, fsys vfs.FS, events []ledger.ExperienceEventEnvelope, lost map[uint64]bool) *ledger.Ledger {
	t.Helper()
	ctx := context.Background()
	l, err := ledger.Open("/l", gapOpts(fsys))
	if err != nil {
		t.Fatalf("open after repair: %v", err)
	}
	vr, err := l.Verify(ctx, nil)
	if err != nil {
		l.Close()
		t.Fatalf("verify after repair: %v", err)
	}
	if vr.Events != uint64(len(events)-len(lost)) || vr.LostEvents != uint64(len(lost)) {
		t.Fatalf("verify: %d events, %d lost; want %d, %d", vr.Events, vr.LostEvents, len(events)-len(lost), len(lost))
	}
	if l.LastSeq() != uint64(len(events)) {
		t.Fatalf("LastSeq %d, want %d (seqs are never reused)", l.LastSeq(), len(events))
	}
	next := uint64(1)
	for se, err := range l.ScanSeq(ctx, ledger.EventQuery{}, 1) {
		if err != nil {
			t.Fatal(err)
		}
		for lost[next] {
			next++
		}
		if se.Seq != next || se.Envelope.EventID != events[next-1].EventID {
			t.Fatalf("scan yields seq %d (%s), want seq %d (%s)", se.Seq, se.Envelope.EventID, next, events[next-1].EventID)
		}
		next++
	}
	for lost[next] {
		next++
	}
	if next != uint64(len(events))+1 {
		t.Fatalf("scan ended before seq %d", next)
	}
	for s := range lost {
		if _, err := l.Get(ctx, events[s-1].EventID); !errors.Is(err, ledger.ErrNotFound) {
			t.Fatalf("Get of lost seq %d: %v", s, err)
		}
	}
	for _, s := range []int{1, len(events) / 2, len(events)} {
		if lost[uint64(s)] {
			continue
		}
		if e, err := l.Get(ctx, events[s-1].EventID); err != nil || e.EventID != events[s-1].EventID {
			t.Fatalf("Get of kept seq %d: %v", s, err)
		}
	}
	st, err := l.Stat(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Events != uint64(len(events)-len(lost)) || st.LostEvents != uint64(len(lost)) || st.FirstSeq != 1 {
		t.Fatalf("stat: %+v", st)
	}
	return l
}

// TestRepairOrderedSegmentLosesOneBlock is the first case: two
// sealed log-order segments, one flipped bit in the middle of the first.
// Repair loses exactly the events of the damaged block; the second
// segment is untouched; the chain is proven on both sides of the gap.
func TestRepairOrderedSegmentLosesOneBlock(t *testing.T) {
	ctx := context.Background()
	f := buildGapFixture(t, 2, 3000)
	segs := listExt(t, f.mem, "/l/seg", ".seg")
	if len(segs) != 2 {
		t.Fatalf("want 2 segments, have %d", len(segs))
	}
	second, _ := f.mem.ReadFile(segs[1])
	blocks := segBlocks(t, f.mem, segs[0])
	mid := blocks[len(blocks)/2]
	flipBit(t, f.mem, segs[0], mid.Offset+int64(mid.Length)/2, 3)

	l, err := ledger.Open("/l", gapOpts(f.mem))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx, nil); !errors.Is(err, ledger.ErrIntegrity) {
		t.Fatalf("verify missed the flipped bit: %v", err)
	}
	l.Close()

	rep, err := ledger.Repair("/l", gapOpts(f.mem), "")
	if err != nil {
		t.Fatal(err)
	}
	want := ledger.SeqRange{From: mid.FirstSeq, To: mid.FirstSeq + uint64(mid.Count) - 1}
	if len(rep.Lost) != 1 || rep.Lost[0] != want || rep.LostEvents != uint64(mid.Count) || rep.LastSeq != 6000 {
		t.Fatalf("report: lost %v (%d events), want %v; %+v", rep.Lost, rep.LostEvents, want, rep)
	}
	if len(rep.Gaps) != 1 || !rep.Gaps[0].Anchored || rep.Gaps[0].UnprovenEvents != 0 || rep.UnprovenEvents != 0 {
		t.Fatalf("gaps: %+v", rep.Gaps)
	}
	t.Logf("lost %d of 6000 events (block of %d), seq %d-%d", rep.LostEvents, mid.Count, want.From, want.To)
	if now, err := f.mem.ReadFile(segs[1]); err != nil || !bytes.Equal(now, second) {
		t.Fatal("the intact second segment was changed")
	}
	lost := map[uint64]bool{}
	for s := want.From; s <= want.To; s++ {
		lost[s] = true
	}
	l = checkRepairedContent(t, f.mem, f.events, lost)
	defer l.Close()

	// Digests taken before the damage: proven before and after the gap,
	// unprovable inside it.
	for _, d := range f.digests {
		err := l.VerifyDigest(ctx, d)
		switch {
		case d.Seq >= want.From && d.Seq < want.To:
			var ue *ledger.UnprovenError
			if !errors.As(err, &ue) || errors.Is(err, ledger.ErrIntegrity) || ue.ProvenTo != want.From-1 || ue.ProvenFrom != want.To+1 {
				t.Fatalf("digest at %d inside the gap: %v", d.Seq, err)
			}
		case err != nil:
			t.Fatalf("digest at seq %d: %v", d.Seq, err)
		}
	}
	// A forged digest after the gap is still an integrity violation.
	bad := f.digests[len(f.digests)-1]
	bad.Hash[0] ^= 1
	if err := l.VerifyDigest(ctx, bad); !errors.Is(err, ledger.ErrIntegrity) {
		t.Fatalf("forged digest: %v", err)
	}

	// Appends continue after the last seq; compaction (clustered) keeps
	// the gap; the digests still verify.
	g := workload.New(workload.Config{Seed: 77})
	if err := l.AppendEvents(ctx, g.Batch(50)); err != nil {
		t.Fatal(err)
	}
	if l.LastSeq() != 6050 {
		t.Fatalf("LastSeq after append %d", l.LastSeq())
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Compact(ctx, ledger.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	vr, err := l.Verify(ctx, nil)
	if err != nil || vr.LostEvents != uint64(mid.Count) || len(vr.Gaps) != 1 {
		t.Fatalf("verify after compaction: %+v %v", vr, err)
	}
	for _, d := range f.digests {
		if d.Seq < want.From || d.Seq >= want.To {
			if err := l.VerifyDigest(ctx, d); err != nil {
				t.Fatalf("digest at seq %d after compaction: %v", d.Seq, err)
			}
		}
	}
	// Repair of the repaired ledger finds nothing to do.
	l.Close()
	rep2, err := ledger.Repair("/l", gapOpts(f.mem), "")
	if err != nil || !rep2.Clean {
		t.Fatalf("second repair: %+v %v", rep2, err)
	}
}

// TestRepairOrderedSegmentFooterAndBlock damages a block and the footer:
// the block-end chain values are gone, so the events after the lost block
// up to the segment's end (whose chain value the manifest keeps) are kept
// but chain-unproven; digests there cannot be proven, later ones can.
func TestRepairOrderedSegmentFooterAndBlock(t *testing.T) {
	ctx := context.Background()
	f := buildGapFixture(t, 2, 3000)
	segs := listExt(t, f.mem, "/l/seg", ".seg")
	blocks := segBlocks(t, f.mem, segs[0])
	mid := blocks[len(blocks)/2]
	last := blocks[len(blocks)-1]
	flipBit(t, f.mem, segs[0], mid.Offset+int64(mid.Length)/2, 0)
	flipBit(t, f.mem, segs[0], last.Offset+int64(last.Length)+20, 0) // in the footer

	rep, err := ledger.Repair("/l", gapOpts(f.mem), "")
	if err != nil {
		t.Fatal(err)
	}
	want := ledger.SeqRange{From: mid.FirstSeq, To: mid.FirstSeq + uint64(mid.Count) - 1}
	if len(rep.Lost) != 1 || rep.Lost[0] != want || len(rep.Gaps) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	gp := rep.Gaps[0]
	if gp.From != want.From || gp.To != 3000 || !gp.Anchored || gp.UnprovenEvents != 3000-want.To {
		t.Fatalf("gap: %+v", gp)
	}
	lost := map[uint64]bool{}
	for s := want.From; s <= want.To; s++ {
		lost[s] = true
	}
	l := checkRepairedContent(t, f.mem, f.events, lost)
	defer l.Close()
	for _, d := range f.digests {
		err := l.VerifyDigest(ctx, d)
		switch {
		case d.Seq >= want.From && d.Seq < 3000:
			if !errors.Is(err, ledger.ErrUnproven) {
				t.Fatalf("digest at %d inside the gap: %v", d.Seq, err)
			}
		case err != nil:
			t.Fatalf("digest at seq %d: %v", d.Seq, err)
		}
	}
}

// TestRepairMissingSegmentFile: a segment file that is gone loses its
// events only; the manifest's chain values keep the rest proven.
func TestRepairMissingSegmentFile(t *testing.T) {
	ctx := context.Background()
	f := buildGapFixture(t, 3, 1000)
	segs := listExt(t, f.mem, "/l/seg", ".seg")
	if err := f.mem.Remove(segs[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.Open("/l", gapOpts(f.mem)); err == nil {
		t.Fatal("open accepted a ledger with a missing segment")
	}
	rep, err := ledger.Repair("/l", gapOpts(f.mem), filepath.Join("/aside"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Lost) != 1 || rep.Lost[0] != (ledger.SeqRange{From: 1001, To: 2000}) {
		t.Fatalf("report: %+v", rep)
	}
	lost := map[uint64]bool{}
	for s := uint64(1001); s <= 2000; s++ {
		lost[s] = true
	}
	l := checkRepairedContent(t, f.mem, f.events, lost)
	defer l.Close()
	for _, d := range f.digests {
		if err := l.VerifyDigest(ctx, d); (err != nil) != (d.Seq >= 1001 && d.Seq < 2000) {
			t.Fatalf("digest at %d: %v", d.Seq, err)
		}
	}
}

// TestRepairClusteredSegment is the second case: a compacted
// (clustered) ledger of 6,000 events, one flipped bit in the middle of its
// segment. Only the damaged block's events are lost (their seqs are
// scattered over the segment); kept events between a lost seq and the next
// stored checkpoint are kept but chain-unproven; digests outside the gaps
// still verify.
func TestRepairClusteredSegment(t *testing.T) {
	ctx := context.Background()
	f := buildGapFixture(t, 2, 3000)
	l, err := ledger.Open("/l", gapOpts(f.mem))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Compact(ctx, ledger.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	segs := listExt(t, f.mem, "/l/seg", ".seg")
	if len(segs) != 1 {
		t.Fatalf("want 1 compacted segment, have %v", segs)
	}
	r, err := segment.Open(f.mem, segs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Info().Unordered {
		t.Fatal("compaction did not cluster")
	}
	bi := r.NumBlocks() / 2
	mid := r.BlockInfo(bi)
	lost := map[uint64]bool{}
	for s := uint64(1); s <= 6000; s++ {
		if b, _ := r.Locate(s); b == bi {
			lost[s] = true
		}
	}
	r.Close()
	flipBit(t, f.mem, segs[0], mid.Offset+int64(mid.Length)/2, 5)

	rep, err := ledger.Repair("/l", gapOpts(f.mem), "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.LostEvents != uint64(len(lost)) || rep.LostEvents > 300 {
		t.Fatalf("lost %d events, the damaged block held %d (5%% of 6000 = 300)", rep.LostEvents, len(lost))
	}
	for _, rg := range rep.Lost {
		for s := rg.From; s <= rg.To; s++ {
			if !lost[s] {
				t.Fatalf("seq %d reported lost, its block was intact", s)
			}
		}
	}
	t.Logf("lost %d of 6000 events in %d ranges; %d gaps, %d events kept but chain-unproven; %d segments written",
		rep.LostEvents, len(rep.Lost), len(rep.Gaps), rep.UnprovenEvents, len(rep.SegmentsWritten))
	l = checkRepairedContent(t, f.mem, f.events, lost)
	defer l.Close()
	gaps := l.Gaps()
	inGap := func(s uint64) bool {
		for _, g := range gaps {
			if s >= g.From && s < g.To {
				return true
			}
		}
		return false
	}
	proven := 0
	for _, d := range f.digests {
		err := l.VerifyDigest(ctx, d)
		switch {
		case inGap(d.Seq):
			if !errors.Is(err, ledger.ErrUnproven) || errors.Is(err, ledger.ErrIntegrity) {
				t.Fatalf("digest at %d inside a gap: %v", d.Seq, err)
			}
		case err != nil:
			t.Fatalf("digest at seq %d: %v", d.Seq, err)
		default:
			proven++
		}
	}
	if d := f.digests[len(f.digests)-1]; l.VerifyDigest(ctx, d) != nil {
		t.Fatal("the head digest taken before the damage is not proven")
	}
	t.Logf("%d of %d digests taken before the damage proven", proven, len(f.digests))
	// Compaction keeps the gaps (it never merges across one).
	if _, err := l.Compact(ctx, ledger.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	vr, err := l.Verify(ctx, nil)
	if err != nil || vr.LostEvents != rep.LostEvents || len(vr.Gaps) != len(gaps) {
		t.Fatalf("verify after compaction: %+v %v", vr, err)
	}
}

// TestRepairDamagedIndexLosesNothing: a damaged index file is rebuilt from
// its segment; no event is lost and no gap recorded.
func TestRepairDamagedIndexLosesNothing(t *testing.T) {
	f := buildGapFixture(t, 2, 1000)
	idx := listExt(t, f.mem, "/l/seg", ".idx")
	b, _ := f.mem.ReadFile(idx[0])
	b[len(b)/2] ^= 0x20
	f.mem.WriteFile(idx[0], b)
	if err := f.mem.Remove(idx[1]); err != nil {
		t.Fatal(err)
	}
	rep, err := ledger.Repair("/l", gapOpts(f.mem), "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.LostEvents != 0 || len(rep.Gaps) != 0 || len(rep.RebuiltIndexes) != 2 || rep.Clean {
		t.Fatalf("report: %+v", rep)
	}
	l := checkRepairedContent(t, f.mem, f.events, nil)
	l.Close()
}

// TestRepairGapRetentionAndBackup: a backup copies the gap records; a
// retention drop that ends right before a gap keeps it; one past it drops
// it with the segments.
func TestRepairGapRetentionAndBackup(t *testing.T) {
	ctx := context.Background()
	f := buildGapFixture(t, 3, 1000)
	segs := listExt(t, f.mem, "/l/seg", ".seg")
	blocks := segBlocks(t, f.mem, segs[1])
	mid := blocks[len(blocks)/2]
	flipBit(t, f.mem, segs[1], mid.Offset+int64(mid.Length)/2, 1)
	rep, err := ledger.Repair("/l", gapOpts(f.mem), "")
	if err != nil || len(rep.Gaps) != 1 {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	gp := rep.Gaps[0]
	lost := map[uint64]bool{}
	for s := gp.From; s <= gp.To; s++ {
		lost[s] = true
	}
	l := checkRepairedContent(t, f.mem, f.events, lost)
	// Backup: the copy has the gap, verifies, and proves the old digests.
	if _, err := l.Backup(ctx, "/b"); err != nil {
		t.Fatal(err)
	}
	b, err := ledger.Open("/b", gapOpts(f.mem))
	if err != nil {
		t.Fatal(err)
	}
	if vr, err := b.Verify(ctx, nil); err != nil || vr.LostEvents != gp.LostEvents || len(b.Gaps()) != 1 {
		t.Fatalf("backup: %+v %v", vr, err)
	}
	if err := b.VerifyDigest(ctx, f.digests[len(f.digests)-1]); err != nil {
		t.Fatalf("backup: head digest: %v", err)
	}
	b.Close()

	// Retention up to the segment before the gap (events 1..1000 and the
	// kept part of the damaged segment before the hole).
	bound := f.events[gp.From-1].OccurredAt // the first lost event's time
	if f.events[gp.From-2].OccurredAt >= bound {
		t.Skip("workload times not increasing at the gap")
	}
	if _, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &bound, NoCluster: true}); err != nil {
		t.Fatal(err)
	}
	vr, err := l.Verify(ctx, nil)
	if err != nil || len(vr.Gaps) != 1 {
		t.Fatalf("after retention before the gap: %+v %v", vr, err)
	}
	st, _ := l.Stat(ctx, false)
	if st.FirstSeq != gp.From {
		t.Fatalf("retained data starts at %d, want the gap's first seq %d", st.FirstSeq, gp.From)
	}
	if err := l.VerifyDigest(ctx, f.digests[len(f.digests)-1]); err != nil {
		t.Fatal(err)
	}
	// Retention past the gap (of every segment) drops its record.
	bound2 := ledger.Timestamp("9999")
	if _, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &bound2, NoCluster: true}); err != nil {
		t.Fatal(err)
	}
	vr, err = l.Verify(ctx, nil)
	if err != nil || len(vr.Gaps) != 0 {
		t.Fatalf("after retention past the gap: %+v %v", vr, err)
	}
	if err := l.VerifyDigest(ctx, f.digests[len(f.digests)-1]); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if l, err = ledger.Open("/l", gapOpts(f.mem)); err != nil {
		t.Fatalf("reopen after retention: %v", err)
	}
	l.Close()
}

// TestRepairInsideGap damages a segment that lies inside a recorded gap
// (kept but chain-unproven events): its lost seqs join that gap.
func TestRepairInsideGap(t *testing.T) {
	f := buildGapFixture(t, 2, 3000)
	segs := listExt(t, f.mem, "/l/seg", ".seg")
	blocks := segBlocks(t, f.mem, segs[0])
	mid := blocks[len(blocks)/4]
	last := blocks[len(blocks)-1]
	flipBit(t, f.mem, segs[0], mid.Offset+int64(mid.Length)/2, 0)
	flipBit(t, f.mem, segs[0], last.Offset+int64(last.Length)+20, 0) // the footer: no block-end values
	rep, err := ledger.Repair("/l", gapOpts(f.mem), "")
	if err != nil || len(rep.Gaps) != 1 || rep.Gaps[0].UnprovenEvents == 0 {
		t.Fatalf("first repair: %+v %v", rep, err)
	}
	gp := rep.Gaps[0]
	lost := map[uint64]bool{}
	for _, r := range gp.Lost {
		for s := r.From; s <= r.To; s++ {
			lost[s] = true
		}
	}
	// The inner segment: the one starting right after the lost block.
	var inner string
	for _, p := range listExt(t, f.mem, "/l/seg", ".seg") {
		r, err := segment.Open(f.mem, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		if in := r.Info(); in.FirstSeq > gp.From && in.LastSeq <= gp.To {
			inner = p
		}
		r.Close()
	}
	if inner == "" {
		t.Fatal("no inner segment")
	}
	ib := segBlocks(t, f.mem, inner)
	hit := ib[len(ib)/2]
	flipBit(t, f.mem, inner, hit.Offset+int64(hit.Length)/2, 2)
	rep2, err := ledger.Repair("/l", gapOpts(f.mem), "")
	if err != nil {
		t.Fatal(err)
	}
	want := ledger.SeqRange{From: hit.FirstSeq, To: hit.FirstSeq + uint64(hit.Count) - 1}
	if len(rep2.Lost) != 1 || rep2.Lost[0] != want || len(rep2.Gaps) != 1 || rep2.Gaps[0].From != gp.From || rep2.Gaps[0].To != gp.To {
		t.Fatalf("second repair: %+v", rep2)
	}
	for s := want.From; s <= want.To; s++ {
		lost[s] = true
	}
	l := checkRepairedContent(t, f.mem, f.events, lost)
	l.Close()
}
