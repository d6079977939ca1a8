package ledger_test

// Repair sweep (issue 13): a multi-segment ledger with a clustered
// (compacted) segment, two log-order segments and a WAL tail over several
// files is damaged one way at a time: a single flipped bit, or a zeroed
// 4 KiB sector, at sampled offsets of every segment and WAL file. Repair
// must then lose at most the events of the blocks (or WAL frames) the
// damage touched, never return a wrong event, and leave a ledger that
// verifies apart from its recorded gaps. A second test crashes Repair at
// every file-system step: the ledger left is the old one (a later repair
// gives the same result) or the repaired one.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/segment"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/wal"
	"github.com/exledger/exledger/workload"
)

func repairSweepOpts(fsys vfs.FS) *ledger.Options {
	return &ledger.Options{
		FS:           fsys,
		Sync:         ledger.SyncAlways,
		SegmentBytes: 1 << 30, // sealed only by Flush
		SegmentAge:   -1,
		BlockSize:    4 << 10,
		WALFileSize:  16 << 10,
		SealLayout:   relLayout,
	}
}

// repairSweepEvents sizes the fixture: 300 clustered, 2 x 120 log-order,
// 100 in the WAL.
var repairSweepEvents = [4]int{150, 150, 120, 100}

// repairFixture is the undamaged ledger: its files, its events by seq
// (canonical bytes), and which seqs each byte range of each file holds.
type repairFixture struct {
	files  map[string][]byte
	paths  []string
	canon  map[uint64][]byte
	units  map[string][]dataUnit // per file: blocks or frames
	maxSeq uint64
}

// dataUnit is a checksummed unit of a file (a segment block or a WAL
// frame) and the seqs it holds.
type dataUnit struct {
	off, end int64
	seqs     []uint64
}

func buildRepairSweepFixture(t testing.TB, n [4]int) *repairFixture {
	ctx := context.Background()
	mem := relNewMem()
	o := repairSweepOpts(mem)
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 43, OutlierRate: -1, Tenants: 3})
	appendN := func(n int) {
		for n > 0 {
			k := min(n, 7)
			if err := l.AppendEvents(ctx, g.Batch(k)); err != nil {
				t.Fatal(err)
			}
			n -= k
		}
	}
	appendN(n[0])
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	appendN(n[1])
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Compact(ctx, ledger.CompactOptions{}); err != nil { // one clustered segment, 1-300
		t.Fatal(err)
	}
	for s := 0; s < 2; s++ { // two log-order segments
		appendN(n[2])
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	appendN(n[3]) // the WAL tail
	img := mem.Crash(vfs.CrashDropUnsynced, nil)
	l.Close()

	fx := &repairFixture{files: map[string][]byte{}, canon: map[uint64][]byte{}, units: map[string][]dataUnit{}}
	var walk func(dir string)
	walk = func(dir string) {
		names, _ := img.List(dir)
		for _, n := range names {
			p := filepath.Join(dir, n)
			if data, err := img.ReadFile(p); err == nil {
				if n != "LOCK" {
					fx.files[p] = data
					fx.paths = append(fx.paths, p)
				}
			} else {
				walk(p)
			}
		}
	}
	walk("/l")
	slices.Sort(fx.paths)
	// Events: from a ledger opened on the image.
	l2, err := ledger.Open("/l", repairSweepOpts(fx.image("", nil)))
	if err != nil {
		t.Fatal(err)
	}
	for r, err := range l2.ScanRaw(ctx, ledger.EventQuery{}, 1) {
		if err != nil {
			t.Fatal(err)
		}
		fx.canon[r.Seq] = bytes.Clone(r.Canonical)
		fx.maxSeq = max(fx.maxSeq, r.Seq)
	}
	l2.Close()
	// Units: segment blocks from their footers, WAL frames.
	for _, p := range fx.paths {
		if !strings.HasSuffix(p, ".seg") {
			continue
		}
		r, err := segment.Open(img, p, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < r.NumBlocks(); i++ {
			bi := r.BlockInfo(i)
			b, err := r.Block(i)
			if err != nil {
				t.Fatal(err)
			}
			u := dataUnit{off: bi.Offset, end: bi.Offset + int64(bi.Length)}
			for j := 0; j < b.Len(); j++ {
				u.seqs = append(u.seqs, b.Record(j).Seq)
			}
			fx.units[p] = append(fx.units[p], u)
		}
		r.Close()
	}
	fs, err := wal.SalvageFrames(wal.Options{FS: img, Dir: "/l/wal", Salt: manifestSalt(t, img)})
	if err != nil {
		t.Fatal(err)
	}
	for _, fr := range fs.Frames {
		u := dataUnit{off: fr.Offset, end: fr.Offset + fr.Size}
		for i := 0; i < fr.Count; i++ {
			u.seqs = append(u.seqs, fr.FirstSeq+uint64(i))
		}
		fx.units[fr.File] = append(fx.units[fr.File], u)
	}
	if len(fs.Frames) == 0 || len(fx.canon) != n[0]+n[1]+2*n[2]+n[3] {
		t.Fatalf("fixture: %d events, %d WAL frames", len(fx.canon), len(fs.Frames))
	}
	return fx
}

// image builds a MemFS holding the fixture with path replaced by data.
func (fx *repairFixture) image(path string, data []byte) *vfs.MemFS {
	mem := vfs.NewMem()
	for _, d := range []string{"/l/wal", "/l/seg"} {
		mem.MkdirAll(d)
	}
	mem.SyncDir("/")
	mem.SyncDir("/l")
	for _, p := range fx.paths {
		c := fx.files[p]
		if p == path {
			c = data
		}
		if err := mem.WriteFile(p, c); err != nil {
			panic(err)
		}
	}
	mem.SyncDir("/l/wal")
	mem.SyncDir("/l/seg")
	return mem
}

// touched returns the seqs of the units of path overlapping [lo, hi).
func (fx *repairFixture) touched(path string, lo, hi int64) map[uint64]bool {
	out := map[uint64]bool{}
	for _, u := range fx.units[path] {
		if u.off < hi && u.end > lo {
			for _, s := range u.seqs {
				out[s] = true
			}
		}
	}
	return out
}

// content reads every event of a repaired ledger by seq and verifies it.
func repairedContent(fsys vfs.FS) (map[uint64][]byte, ledger.VerifyReport, error) {
	ctx := context.Background()
	l, err := ledger.Open("/l", repairSweepOpts(fsys))
	if err != nil {
		return nil, ledger.VerifyReport{}, err
	}
	defer l.Close()
	vr, err := l.Verify(ctx, nil)
	if err != nil {
		return nil, vr, err
	}
	got := map[uint64][]byte{}
	for r, err := range l.ScanRaw(ctx, ledger.EventQuery{}, 1) {
		if err != nil {
			return nil, vr, err
		}
		got[r.Seq] = bytes.Clone(r.Canonical)
	}
	return got, vr, nil
}

// repairCase damages one copy, repairs it and checks the result. It
// returns the number of events lost and an error describing a violation.
func (fx *repairFixture) repairCase(path string, data []byte, touched map[uint64]bool) (lost int, err error) {
	mem := fx.image(path, data)
	rep, rerr := ledger.Repair("/l", repairSweepOpts(mem), "/aside")
	if rerr != nil {
		return 0, fmt.Errorf("repair: %v", rerr)
	}
	got, vr, err := repairedContent(mem)
	if err != nil {
		return 0, fmt.Errorf("after repair (%+v): %v", rep, err)
	}
	for s, want := range fx.canon {
		b, ok := got[s]
		switch {
		case !ok && !touched[s]:
			return 0, fmt.Errorf("seq %d lost though its block or frame was intact (report %+v)", s, rep)
		case !ok:
			lost++
		case !bytes.Equal(b, want):
			return 0, fmt.Errorf("seq %d returned with wrong bytes (UNDETECTED)", s)
		}
	}
	if len(got) != len(fx.canon)-lost {
		return 0, fmt.Errorf("%d events after repair, %d expected", len(got), len(fx.canon)-lost)
	}
	// Lost seqs are recorded as gaps, except a WAL tail that Open may
	// truncate as torn; recorded lost seqs were really lost.
	if vr.LostEvents > uint64(lost) {
		return 0, fmt.Errorf("gaps record %d lost events, %d are missing", vr.LostEvents, lost)
	}
	return lost, nil
}

func TestRepairSweep(t *testing.T) {
	if testing.Short() {
		t.Skip("sweep")
	}
	fx := buildRepairSweepFixture(t, repairSweepEvents)
	// Sample offsets: every stride-th byte (every byte with
	// EXLEDGER_LONG), plus every 4 KiB sector.
	stride, sectorStride := int64(2503), int64(2*4096)
	if relLong() {
		stride, sectorStride = 7, 4096
	}
	blockMax := 0
	for _, us := range fx.units {
		for _, u := range us {
			blockMax = max(blockMax, len(u.seqs))
		}
	}
	var flips, sectors, lostMax, lostMaxSector, undetected, lostTotal int
	byKind := map[string]int{}
	for _, p := range fx.paths {
		kind := fileKind(p)
		if kind != "seg" && kind != "wal" && kind != "idx" {
			continue
		}
		orig := fx.files[p]
		check := func(what string, data []byte, lo, hi int64) int {
			touched := fx.touched(p, lo, hi)
			lost, err := fx.repairCase(p, data, touched)
			if err != nil {
				if strings.Contains(err.Error(), "UNDETECTED") {
					undetected++
				}
				t.Errorf("%s %s [%d,%d): %v", what, p, lo, hi, err)
				return 0
			}
			lostTotal += lost
			byKind[kind]++
			return lost
		}
		for off := int64(0); off < int64(len(orig)); off += stride {
			b := bytes.Clone(orig)
			b[off] ^= 1 << (off % 8)
			lostMax = max(lostMax, check("flip", b, off, off+1))
			flips++
		}
		for off := int64(0); off < int64(len(orig)); off += sectorStride {
			b := bytes.Clone(orig)
			end := min(off+4096, int64(len(b)))
			clear(b[off:end])
			lostMaxSector = max(lostMaxSector, check("zeroed sector", b, off, end))
			sectors++
		}
	}
	// Each case checked that only events of touched blocks were lost; a
	// flip touches one block or frame.
	if lostMax > blockMax {
		t.Errorf("lost %d events for one flipped bit, a block or frame holds at most %d", lostMax, blockMax)
	}
	relReport(t, "repair flips=%d sectors=%d lost_max_per_flip=%d lost_max_per_sector=%d block_events_max=%d lost_total=%d events=%d cases_by_file=%v undetected=%d",
		flips, sectors, lostMax, lostMaxSector, blockMax, lostTotal, len(fx.canon), byKind, undetected)
}

// TestRepairCrashEveryStep damages a clustered segment, a log-order
// segment and a WAL frame, then crashes Repair after each of its
// file-system operations (dropping unsynced data, or unsynced directory
// entries). The image left either opens and verifies with exactly the
// uninterrupted repair's content (the repaired ledger), or is the old
// damaged ledger (its manifest byte-identical, it fails to open or
// verify) from which a new Repair reaches exactly that content.
func TestRepairCrashEveryStep(t *testing.T) {
	if testing.Short() {
		t.Skip("crash sweep")
	}
	// A smaller ledger (fewer blocks, so fewer steps) unless EXLEDGER_LONG.
	n := [4]int{40, 40, 60, 60}
	if relSmall {
		n = [4]int{20, 20, 30, 30}
	}
	if relLong() {
		n = repairSweepEvents
	}
	fx := buildRepairSweepFixture(t, n)
	for _, withWAL := range []bool{false, true} {
		t.Run(fmt.Sprintf("wal=%v", withWAL), func(t *testing.T) { fx.crashEveryStep(t, withWAL) })
	}
}

func (fx *repairFixture) crashEveryStep(t *testing.T, withWAL bool) {
	damaged := map[string][]byte{}
	for _, p := range fx.paths {
		us := fx.units[p]
		if len(us) < 3 || (strings.HasSuffix(p, ".wal") && !withWAL) {
			continue
		}
		b := bytes.Clone(fx.files[p])
		u := us[len(us)/2]
		b[(u.off+u.end)/2] ^= 0x08
		damaged[p] = b
	}
	build := func() *vfs.MemFS {
		mem := fx.image("", nil)
		for p, b := range damaged {
			if err := mem.WriteFile(p, b); err != nil {
				t.Fatal(err)
			}
		}
		return mem
	}
	// The uninterrupted repair.
	ref := build()
	base := ref.Ops()
	if _, err := ledger.Repair("/l", repairSweepOpts(ref), "/aside"); err != nil {
		t.Fatal(err)
	}
	steps := ref.Ops() - base
	want, wantVR, err := repairedContent(ref)
	if err != nil {
		t.Fatal(err)
	}
	if wantVR.LostEvents == 0 || len(wantVR.Gaps) < 2 {
		t.Fatalf("the reference repair lost nothing: %+v", wantVR)
	}
	same := func(got map[uint64][]byte) bool {
		if len(got) != len(want) {
			return false
		}
		for s, b := range want {
			if !bytes.Equal(got[s], b) {
				return false
			}
		}
		return true
	}
	var olds, repaireds int
	modes := []vfs.CrashMode{vfs.CrashDropUnsynced, vfs.CrashDropDirEntries}
	if relLong() {
		modes = vfs.CrashModes
	}
	images := 0
	// Every step, except that the WAL case (whose steps copy and remove
	// every WAL file) takes every third one unless EXLEDGER_LONG.
	every := 1
	if withWAL && !relLong() {
		every = 3
	}
	for n := 0; n < steps; n += every {
		// Every step; the crash modes in turn (all of them with
		// EXLEDGER_LONG).
		ms := []vfs.CrashMode{modes[n%len(modes)]}
		if relLong() {
			ms = modes
		}
		for _, mode := range ms {
			images++
			mem := build()
			mem.SetCrashAfter(mem.Ops() + n)
			_, rerr := ledger.Repair("/l", repairSweepOpts(mem), "/aside")
			if rerr == nil {
				t.Fatalf("step %d of %d: repair did not hit the crash", n, steps)
			}
			if !errors.Is(rerr, vfs.ErrCrashed) {
				t.Fatalf("step %d: repair failed with %v, not the injected crash", n, rerr)
			}
			img := mem.Crash(mode, nil)
			man, _ := img.ReadFile("/l/MANIFEST")
			// A read-only open (which changes nothing) first.
			roOK := false
			ro := repairSweepOpts(img)
			ro.ReadOnly = true
			if rl, err := ledger.Open("/l", ro); err == nil {
				_, verr := rl.Verify(context.Background(), nil)
				roOK = verr == nil
				rl.Close()
			}
			got, vr, err := repairedContent(img)
			if err == nil {
				if !roOK {
					t.Fatalf("step %d (%v): the repaired ledger does not open read-only", n, mode)
				}
				if !same(got) || vr.LostEvents != wantVR.LostEvents {
					t.Fatalf("step %d (%v): the ledger opens and verifies but differs from the repaired one (%d events, %d lost; want %d, %d)",
						n, mode, len(got), vr.LostEvents, len(want), wantVR.LostEvents)
				}
				repaireds++
				continue
			}
			// Not the repaired ledger: the old one, still damaged (its
			// manifest unchanged). A new repair reaches the same content.
			if !bytes.Equal(man, fx.files["/l/MANIFEST"]) {
				t.Fatalf("step %d (%v): the ledger neither verifies (%v) nor has its old manifest", n, mode, err)
			}
			if _, err := ledger.Repair("/l", repairSweepOpts(img), "/aside2"); err != nil {
				t.Fatalf("step %d (%v): repair after the crash: %v", n, mode, err)
			}
			got, vr, err = repairedContent(img)
			if err != nil || !same(got) || vr.LostEvents != wantVR.LostEvents {
				t.Fatalf("step %d (%v): repair after the crash gives %d events, %d lost (%v); want %d, %d",
					n, mode, len(got), vr.LostEvents, err, len(want), wantVR.LostEvents)
			}
			olds++
		}
	}
	if repaireds == 0 || olds == 0 {
		t.Fatalf("crash points: %d left the old ledger, %d the repaired one; want both", olds, repaireds)
	}
	relReport(t, "repair-crash wal_damaged=%v steps=%d every=%d crash_images=%d old_then_repaired=%d repaired=%d violations=0", withWAL, steps, every, images, olds, repaireds)
}
