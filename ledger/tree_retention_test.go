package ledger_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand"
	"testing"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/proof"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// TestTreeConsistencyEverySizeAfterRetention proves consistency from the
// checkpoint of every older size of a small ledger to the newest one after
// one and then two retention drops that cut through a chunk, live and
// after a reopen. What the ledger keeps (docs/proofs.md, Retention) is the
// chunk tree (levels >= 4) of the dropped prefix, the leaf hashes of its
// complete chunks (TREELEAVES) and those of the chunk the last drop cut
// through (TREE's leaves frame); so every size 0..N must give a proof
// that verifies and that tlog.CheckTree accepts against an independent
// reference tree.
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
		for old := int64(0); old <= n; old++ {
			p, err := l.ProveConsistency(ctx, cps[old], cps[n])
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
			// The root at every old size, from the ledger, is the
			// reference's too.
			if old > 0 {
				th, err := l.TreeHeadAt(ctx, old)
				if err != nil || th.Root != ref.root(t, old) {
					t.Fatalf("%s: tree head at %d: %v %v", what, old, th, err)
				}
			}
		}
		if _, err := l.Verify(ctx, nil); err != nil {
			t.Fatalf("%s: verify: %v", what, err)
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

// retentionFixture builds, on a MemFS, a ledger of 90 events in three
// sealed eras (2020: seqs 1..40, 2030: 41..70, 2040: 71..90), closes it and
// returns a durable image of it, the reference tree and checkpoints of
// every size 0..90 signed from the reference (an auditor's checkpoints).
func retentionFixture(t *testing.T, s note.Signer) (*vfs.MemFS, *refTree, [][]byte) {
	t.Helper()
	ctx := context.Background()
	mem := vfs.NewMem()
	l, err := ledger.Open("/l", smallOpts(mem))
	if err != nil {
		t.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 21, OutlierRate: -1})
	for _, era := range []struct {
		n    int
		year string
	}{{40, "2020"}, {30, "2030"}, {20, "2040"}} {
		evs := g.Batch(era.n)
		for i := range evs {
			evs[i].OccurredAt = ledger.Timestamp(fmt.Sprintf("%s-01-01T00:00:%02dZ", era.year, i%60))
		}
		if err := l.AppendEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	ref := refFromLedger(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	cps := make([][]byte, ref.n+1)
	for n := range cps {
		cp, err := proof.SignCheckpoint(proof.Checkpoint{Origin: s.Name(), Size: int64(n), Root: ref.root(t, int64(n))}, s)
		if err != nil {
			t.Fatal(err)
		}
		cps[n] = cp
	}
	return mem.Crash(vfs.CrashDropUnsynced, nil), ref, cps
}

// checkEverySize proves consistency from every checkpoint in cps to the
// last one and checks each proof with tlog.CheckTree against ref (and,
// with v, with the proof package, signatures included), the tree head
// against ref, and runs Verify.
func checkEverySize(t *testing.T, l *ledger.Ledger, ref *refTree, cps [][]byte, v note.Verifier, what string) {
	t.Helper()
	ctx := context.Background()
	n := int64(len(cps) - 1)
	if h, err := l.TreeHead(ctx); err != nil || h.Size != n || h.Root != ref.root(t, n) {
		t.Fatalf("%s: tree head %+v %v, reference size %d", what, h, err, n)
	}
	for old := int64(1); old <= n; old++ {
		p, err := l.ProveConsistency(ctx, cps[old], cps[n])
		if err != nil {
			t.Fatalf("%s: %d→%d: %v", what, old, n, err)
		}
		if err := tlog.CheckTree(p.Path, n, ref.root(t, n), old, ref.root(t, old)); err != nil {
			t.Fatalf("%s: %d→%d: tlog.CheckTree: %v", what, old, n, err)
		}
		if v == nil {
			continue
		}
		if _, _, err := p.Verify(v); err != nil {
			t.Fatalf("%s: %d→%d: %v", what, old, n, err)
		}
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatalf("%s: verify: %v", what, err)
	}
}

// TestTreeRetentionCrash crashes at every mutating file-system operation
// of a run that opens the ledger and drops two prefixes (through 40, then
// 70; both cut through a chunk, the second completes the chunk the first
// cut), in every crash mode. After each crash the reopened ledger must
// hold every event the run did not drop, prove consistency from every
// size 1..90 (tlog.CheckTree against the reference) and verify; then the
// interrupted retention is run to its end and the same must hold, with
// the leaf-hash file at its expected size. The default tier takes one
// crash mode per operation (in turn) and checks proofs with tlog alone
// (signature checks dominate the time); EXLEDGER_LONG=1 takes every mode
// and checks signatures and a reopen too.
func TestTreeRetentionCrash(t *testing.T) {
	ctx := context.Background()
	s, v := testKeys(t, "log")
	base, ref, cps := retentionFixture(t, s)
	drop := func(l *ledger.Ledger, bound string) error {
		b := ledger.Timestamp(bound)
		// TargetBytes 1: the remaining segments stay apart, so the
		// second drop can end at seq 70.
		_, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &b, TargetBytes: 1})
		return err
	}
	run := func(fsys vfs.FS) {
		l, err := ledger.Open("/l", smallOpts(fsys))
		if err != nil {
			return
		}
		defer l.Close()
		if drop(l, "2025") == nil {
			drop(l, "2035")
		}
	}
	probe := base.Crash(vfs.CrashDropUnsynced, nil)
	run(probe)
	total := probe.Ops()
	if total < 10 {
		t.Fatalf("the run took %d operations", total)
	}
	rng := mrand.New(mrand.NewSource(3))
	sizes := map[int64]bool{}
	for n := 0; n <= total; n++ {
		mem := base.Crash(vfs.CrashDropUnsynced, nil)
		mem.SetCrashAfter(n)
		run(mem)
		modes, sv := vfs.CrashModes, v
		if !relLong() {
			modes, sv = modes[n%len(modes):n%len(modes)+1], nil
		}
		for _, mode := range modes {
			img := mem.Crash(mode, rng)
			what := fmt.Sprintf("op %d/%d, %v", n, total, mode)
			l, err := ledger.Open("/l", smallOpts(img))
			if err != nil {
				t.Fatalf("%s: open: %v", what, err)
			}
			if l.LastSeq() != 90 {
				t.Fatalf("%s: last seq %d", what, l.LastSeq())
			}
			checkEverySize(t, l, ref, cps, sv, what)
			if err := drop(l, "2025"); err != nil {
				t.Fatalf("%s: retention again: %v", what, err)
			}
			if err := drop(l, "2035"); err != nil {
				t.Fatalf("%s: retention again: %v", what, err)
			}
			checkEverySize(t, l, ref, cps, sv, what+", retention completed")
			st, err := l.Stat(ctx, false)
			if err != nil || st.ProofsFrom != 71 {
				t.Fatalf("%s: stat %+v %v", what, st, err)
			}
			sizes[st.TreeLeavesBytes] = true
			l.Close()
			if !relLong() {
				continue
			}
			l, err = ledger.Open("/l", smallOpts(img))
			if err != nil {
				t.Fatalf("%s: reopen: %v", what, err)
			}
			checkEverySize(t, l, ref, cps, sv, what+", reopened")
			l.Close()
		}
	}
	// Through 70: chunks 0..3 wholly dropped, 48 + 4·520 bytes (a crash
	// may leave blocks past that only if a drop wrote them, never here).
	if len(sizes) != 1 || !sizes[48+4*520] {
		t.Fatalf("leaf-hash file sizes after the retention: %v", sizes)
	}
}

// retainedImage is the retention fixture after drops through 40 and 70,
// closed: its TREELEAVES holds the leaf hashes of chunks 0..3.
func retainedImage(t *testing.T, s note.Signer) (*vfs.MemFS, *refTree, [][]byte) {
	t.Helper()
	img, ref, cps := retentionFixture(t, s)
	l := openT(t, "/l", smallOpts(img))
	for _, b := range []ledger.Timestamp{"2025", "2035"} {
		if _, err := l.Compact(context.Background(), ledger.CompactOptions{RetainAfter: &b, TargetBytes: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return img, ref, cps
}

// TestTreeLeavesDamageDetected: a changed bit anywhere in TREELEAVES (header,
// hashes, checksums) makes Verify fail with an integrity error and never
// yields a wrong proof; a changed hash whose block checksum is fixed up is
// caught by the chunk hash in TREE; a missing file is reported. The
// default tier flips one bit in every 7th byte and every header byte;
// EXLEDGER_LONG=1 flips every bit.
func TestTreeLeavesDamageDetected(t *testing.T) {
	ctx := context.Background()
	s, _ := testKeys(t, "log")
	img, ref, cps := retainedImage(t, s)
	const path = "/l/TREELEAVES"
	orig, err := img.ReadFile(path)
	if err != nil || len(orig) != 48+4*520 {
		t.Fatalf("TREELEAVES: %d bytes, %v", len(orig), err)
	}
	ro := smallOpts(img)
	ro.ReadOnly = true
	check := func(what string) {
		t.Helper()
		l, err := ledger.Open("/l", ro)
		if err != nil {
			t.Fatalf("%s: open: %v", what, err)
		}
		defer l.Close()
		if _, err := l.Verify(ctx, nil); !errors.Is(err, ledger.ErrIntegrity) {
			t.Fatalf("%s: verify: %v, want an integrity error", what, err)
		}
		// Proofs from sizes inside the damaged chunks fail or are right.
		for old := int64(1); old <= 64; old += 3 {
			p, err := l.ProveConsistency(ctx, cps[old], cps[90])
			if err != nil {
				continue
			}
			if err := tlog.CheckTree(p.Path, 90, ref.root(t, 90), old, ref.root(t, old)); err != nil {
				t.Fatalf("%s: %d→90: a wrong proof: %v", what, old, err)
			}
		}
	}
	flips := 0
	for i := range orig {
		bits := []int{i % 8}
		switch {
		case relLong():
			bits = []int{0, 1, 2, 3, 4, 5, 6, 7}
		case i >= 48 && i%7 != 0:
			continue
		}
		for _, bit := range bits {
			bad := bytes.Clone(orig)
			bad[i] ^= 1 << bit
			if err := img.WriteFile(path, bad); err != nil {
				t.Fatal(err)
			}
			check(fmt.Sprintf("byte %d bit %d", i, bit))
			flips++
		}
	}
	// A changed leaf hash with its block checksum recomputed.
	bad := bytes.Clone(orig)
	blk := bad[48+2*520 : 48+3*520]
	blk[100] ^= 0x10
	binary.LittleEndian.PutUint64(blk[512:], xxhash.Sum64(append(binary.LittleEndian.AppendUint64(nil, 2), blk[:512]...)))
	img.WriteFile(path, bad)
	check("hash changed, checksum fixed")
	img.Remove(path)
	check("file missing")
	img.WriteFile(path, orig)
	l := openT(t, "/l", smallOpts(img))
	checkEverySize(t, l, ref, cps, nil, fmt.Sprintf("restored after %d flips", flips))
}

// TestTreeLeavesSurviveRepairAndBackup: Repair (here rebuilding a damaged
// index of a retained segment) keeps TREELEAVES and the manifest feature,
// and a backup carries the file: both prove consistency from every size.
func TestTreeLeavesSurviveRepairAndBackup(t *testing.T) {
	ctx := context.Background()
	s, v := testKeys(t, "log")
	img, ref, cps := retainedImage(t, s)
	orig, _ := img.ReadFile("/l/TREELEAVES")
	idx := listExt(t, img, "/l/seg", ".idx")
	if len(idx) == 0 {
		t.Fatal("no index files")
	}
	b, _ := img.ReadFile(idx[0])
	b[len(b)/2] ^= 0x20
	img.WriteFile(idx[0], b)
	rep, err := ledger.Repair("/l", smallOpts(img), "")
	if err != nil || rep.Clean {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	if got, _ := img.ReadFile("/l/TREELEAVES"); !bytes.Equal(got, orig) {
		t.Fatal("repair changed TREELEAVES")
	}
	l := openT(t, "/l", smallOpts(img))
	checkEverySize(t, l, ref, cps, v, "repaired")
	if _, err := l.Backup(ctx, "/bk"); err != nil {
		t.Fatal(err)
	}
	if got, _ := img.ReadFile("/bk/TREELEAVES"); !bytes.Equal(got, orig) {
		t.Fatal("the backup's TREELEAVES differs from the source's")
	}
	bk, err := ledger.Open("/bk", smallOpts(img))
	if err != nil {
		t.Fatal(err)
	}
	checkEverySize(t, bk, ref, cps, nil, "backup")
	bk.Close()
	// The backup without TREELEAVES: its verify reports the loss, and
	// proofs that need the kept leaves fail rather than lie.
	img.Remove("/bk/TREELEAVES")
	bk, err = ledger.Open("/bk", smallOpts(img))
	if err != nil {
		t.Fatal(err)
	}
	defer bk.Close()
	if _, err := bk.Verify(ctx, nil); !errors.Is(err, ledger.ErrIntegrity) {
		t.Fatalf("verify of a backup without TREELEAVES: %v", err)
	}
	if _, err := bk.ProveConsistency(ctx, cps[37], cps[90]); !errors.Is(err, ledger.ErrNoTree) {
		t.Fatalf("37→90 without TREELEAVES: %v, want ErrNoTree", err)
	}
}

// TestTreeLeavesLostThenRetention: TREELEAVES lost after a drop (or a
// ledger that dropped a prefix before the file existed): the next drop
// starts the file anew at the first chunk whose leaves are still known
// (here chunk 2, from TREE's leaves frame and the events), logs it, and
// from then on every size from that chunk on proves while older sizes
// that are not multiples of 16 are refused with ErrNoTree, never a wrong
// proof. The manifest names feature "treeleaves".
func TestTreeLeavesLostThenRetention(t *testing.T) {
	ctx := context.Background()
	s, _ := testKeys(t, "log")
	img, ref, cps := retentionFixture(t, s)
	var logBuf bytes.Buffer
	o := smallOpts(img)
	o.Logger = newTextLogger(&logBuf)
	l := openT(t, "/l", o)
	b := ledger.Timestamp("2025")
	if _, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &b, TargetBytes: 1}); err != nil {
		t.Fatal(err)
	}
	l.Close()
	if m, _ := img.ReadFile("/l/MANIFEST"); !bytes.Contains(m, []byte(`"treeleaves"`)) {
		t.Fatal("the manifest does not name feature treeleaves")
	}
	img.Remove("/l/TREELEAVES")
	l = openT(t, "/l", o)
	b = "2035"
	if _, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &b, TargetBytes: 1}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(logBuf.Bytes(), []byte("starting it anew")) {
		t.Errorf("the restart is not logged: %s", logBuf.String())
	}
	if got, _ := img.Stat("/l/TREELEAVES"); got != 48+2*520 {
		t.Fatalf("TREELEAVES of %d bytes, want chunks 2 and 3", got)
	}
	for old := int64(1); old <= 90; old++ {
		p, err := l.ProveConsistency(ctx, cps[old], cps[90])
		if old < 32 && old%16 != 0 {
			if !errors.Is(err, ledger.ErrNoTree) {
				t.Fatalf("%d→90: %v, want ErrNoTree", old, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%d→90: %v", old, err)
		}
		if err := tlog.CheckTree(p.Path, 90, ref.root(t, 90), old, ref.root(t, old)); err != nil {
			t.Fatalf("%d→90: %v", old, err)
		}
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// TestTreeLeavesAcrossRepairGap: retention drops a prefix that holds
// events a repair lost (recorded gaps). Their chunks' leaf hashes cannot
// be kept (hole blocks); an old size inside such a chunk is refused with
// ErrNoTree, every other old size proves (tlog.CheckTree against the
// tree of the ledger before the damage), and Verify passes. In log order
// the damaged block loses one run of seqs (one gap); in a clustered
// segment (the default) one block holds seqs from all over the segment,
// so the repair records several gaps and more chunks become holes.
func TestTreeLeavesAcrossRepairGap(t *testing.T) {
	for _, layout := range []ledger.SealLayout{ledger.SealLayoutLog, ledger.SealLayoutClustered} {
		t.Run(layout.String(), func(t *testing.T) { testTreeLeavesAcrossRepairGap(t, layout) })
	}
}

func testTreeLeavesAcrossRepairGap(t *testing.T, layout ledger.SealLayout) {
	ctx := context.Background()
	s, _ := testKeys(t, "log")
	opts := func(fsys vfs.FS) *ledger.Options {
		o := gapOpts(fsys)
		o.SealLayout = layout
		return o
	}
	f := buildGapFixtureOpts(t, 3, 300, opts)
	l, err := ledger.Open("/l", opts(f.mem))
	if err != nil {
		t.Fatal(err)
	}
	ref := refFromLedger(t, l)
	l.Close()
	n := ref.n
	cp := func(size int64) []byte {
		c, err := proof.SignCheckpoint(proof.Checkpoint{Origin: s.Name(), Size: size, Root: ref.root(t, size)}, s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	segs := listExt(t, f.mem, "/l/seg", ".seg")
	blocks := segBlocks(t, f.mem, segs[1])
	mid := blocks[len(blocks)/2]
	flipBit(t, f.mem, segs[1], mid.Offset+int64(mid.Length)/2, 1)
	rep, err := ledger.Repair("/l", opts(f.mem), "")
	if err != nil || len(rep.Gaps) == 0 {
		t.Fatalf("repair: %+v %v", rep, err)
	}
	if layout == ledger.SealLayoutLog && len(rep.Gaps) != 1 {
		t.Fatalf("log order: %d gaps, want the damaged block's one run: %+v", len(rep.Gaps), rep.Gaps)
	}
	for _, r := range rep.Lost {
		if r.From < 301 || r.To > 600 || r.To < r.From {
			t.Fatalf("lost %d-%d outside the damaged segment's seqs 301-600", r.From, r.To)
		}
	}
	if rep.LostEvents == 0 || rep.LostEvents > uint64(mid.Count) {
		t.Fatalf("one damaged block of %d events lost %d", mid.Count, rep.LostEvents)
	}
	l = openT(t, "/l", opts(f.mem))
	all := ledger.Timestamp("9999")
	if _, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &all}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatalf("verify: %v", err)
	}
	last := cp(n)
	proved, refused := 0, 0
	for old := int64(1); old < n; old++ {
		p, err := l.ProveConsistency(ctx, cp(old), last)
		c := old / 16 // the chunk whose nodes the proof needs
		hole := false // the chunk holds a lost event (not just an unproven one)
		for _, r := range rep.Lost {
			if uint64(c*16+1) <= r.To && uint64(c*16+16) >= r.From {
				hole = true
			}
		}
		if old%16 != 0 && hole {
			if !errors.Is(err, ledger.ErrNoTree) {
				t.Fatalf("%d→%d inside a chunk a repair lost events of: %v, want ErrNoTree", old, n, err)
			}
			refused++
			continue
		}
		if err != nil {
			t.Fatalf("%d→%d: %v", old, n, err)
		}
		if err := tlog.CheckTree(p.Path, n, ref.root(t, n), old, ref.root(t, old)); err != nil {
			t.Fatalf("%d→%d: %v", old, n, err)
		}
		proved++
	}
	if refused == 0 || proved < int(n)/2 {
		t.Fatalf("%d proved, %d refused (gaps %+v)", proved, refused, rep.Gaps)
	}
}

// TestTreeRetentionFault fails one file-system operation (a torn write
// for writes) at every point of a run that opens the ledger and drops two
// prefixes, with vfs.FaultFS; the run may fail, but after a restart every
// event the run did not drop is there, every size 1..90 proves
// consistency, Verify passes, and the retention then completes with the
// same result. The default tier takes every fifth operation;
// EXLEDGER_LONG=1 every one.
func TestTreeRetentionFault(t *testing.T) {
	ctx := context.Background()
	s, _ := testKeys(t, "log")
	base, ref, cps := retentionFixture(t, s)
	drop := func(l *ledger.Ledger, bound ledger.Timestamp) error {
		_, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &bound, TargetBytes: 1})
		return err
	}
	step := 5
	if relLong() {
		step = 1
	}
	failed := 0
	for n := 0; ; n += step {
		img := base.Crash(vfs.CrashDropUnsynced, nil)
		ffs := vfs.NewFault(img)
		ffs.Inject(vfs.Fault{Op: vfs.OpAny, N: n, Short: true})
		if l, err := ledger.Open("/l", smallOpts(ffs)); err == nil {
			if drop(l, "2025") != nil || drop(l, "2035") != nil {
				failed++
			}
			l.Close()
		}
		if !ffs.Fired() {
			break
		}
		what := fmt.Sprintf("fault at op %d", n)
		l, err := ledger.Open("/l", smallOpts(img))
		if err != nil {
			t.Fatalf("%s: open: %v", what, err)
		}
		if l.LastSeq() != 90 {
			t.Fatalf("%s: last seq %d", what, l.LastSeq())
		}
		checkEverySize(t, l, ref, cps, nil, what)
		if err := drop(l, "2025"); err != nil {
			t.Fatalf("%s: retention again: %v", what, err)
		}
		if err := drop(l, "2035"); err != nil {
			t.Fatalf("%s: retention again: %v", what, err)
		}
		checkEverySize(t, l, ref, cps, nil, what+", retention completed")
		l.Close()
	}
	if failed == 0 {
		t.Fatal("no injected fault made a retention fail")
	}
}
