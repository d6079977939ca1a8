package ledger_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"math/rand"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/wal"
	"github.com/exledger/exledger/workload"
)

// buildRepairFixture writes 3 sealed segments of 100 events and a WAL tail
// of 30 events, then "kills" the process (a crash image of everything
// synced; the default policy synced every acknowledged batch). It returns
// the image and the digest after event 50.
func buildRepairFixture(t *testing.T) (*vfs.MemFS, ledger.Digest) {
	t.Helper()
	ctx := context.Background()
	mem := vfs.NewMem()
	o := repairOpts(mem)
	l, err := ledger.Open("/l", o)
	if err != nil {
		t.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 11, OutlierRate: -1})
	var d ledger.Digest
	for s := 0; s < 3; s++ {
		for b := 0; b < 10; b++ {
			if err := l.AppendEvents(ctx, g.Batch(10)); err != nil {
				t.Fatal(err)
			}
			if l.LastSeq() == 50 {
				if d, err = l.Head(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for b := 0; b < 3; b++ {
		if err := l.AppendEvents(ctx, g.Batch(10)); err != nil {
			t.Fatal(err)
		}
	}
	img := mem.Crash(vfs.CrashDropUnsynced, rand.New(rand.NewSource(1)))
	l.Close()
	return img, d
}

func repairOpts(fsys vfs.FS) *ledger.Options {
	return &ledger.Options{FS: fsys, SegmentBytes: 1 << 30, BlockSize: 4 << 10, WALFileSize: 64 << 10}
}

func memTreeHash(t *testing.T, mem *vfs.MemFS, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	var walk func(d string)
	walk = func(d string) {
		names, err := mem.List(d)
		if err != nil {
			return
		}
		for _, n := range names {
			p := filepath.Join(d, n)
			h.Write([]byte(p))
			if b, err := mem.ReadFile(p); err == nil {
				h.Write(b)
			} else {
				walk(p)
			}
		}
	}
	walk(dir)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func listExt(t *testing.T, mem *vfs.MemFS, dir, ext string) []string {
	names, _ := mem.List(dir)
	var out []string
	for _, n := range names {
		if strings.HasSuffix(n, ext) {
			out = append(out, filepath.Join(dir, n))
		}
	}
	sort.Strings(out)
	return out
}

func TestRepairCleanLedgerChangesNothing(t *testing.T) {
	img, _ := buildRepairFixture(t)
	before := memTreeHash(t, img, "/l")
	rep, err := ledger.Repair("/l", repairOpts(img), "")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean || rep.LostEvents != 0 || rep.LastSeq != 330 {
		t.Fatalf("clean ledger report: %+v", rep)
	}
	if memTreeHash(t, img, "/l") != before {
		t.Fatal("repair of a clean ledger changed files")
	}
}

func TestRepairDamagedSegment(t *testing.T) {
	ctx := context.Background()
	img, d50 := buildRepairFixture(t)
	segs := listExt(t, img, "/l/seg", ".seg")
	if len(segs) != 3 {
		t.Fatalf("want 3 segments, have %d", len(segs))
	}
	seg := segs[1] // events 101..200
	b, err := img.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40 // inside some block's payload
	if err := img.WriteFile(seg, b); err != nil {
		t.Fatal(err)
	}
	// Verify notices.
	if l, err := ledger.Open("/l", repairOpts(img)); err == nil {
		if _, verr := l.Verify(ctx, nil); verr == nil {
			t.Fatal("verify missed a flipped bit in a sealed segment")
		}
		l.Close() // seals the WAL tail as a fourth segment, which Repair keeps
	}
	rep, err := ledger.Repair("/l", repairOpts(img), "")
	if err != nil {
		t.Fatal(err)
	}
	// Only the damaged block's events are lost (blocks of 4 KiB hold a
	// few dozen of these events), recorded as one gap.
	if rep.LostEvents == 0 || rep.LostEvents > 40 || rep.LostFrom < 101 || rep.LostTo > 200 || len(rep.Gaps) != 1 {
		t.Fatalf("report: %+v", rep)
	}
	if len(rep.Copied) == 0 {
		t.Fatal("nothing was copied aside")
	}
	for _, p := range rep.Copied {
		rel, _ := filepath.Rel("/l", p)
		if _, err := img.ReadFile(filepath.Join(rep.Aside, rel)); err != nil {
			t.Fatalf("copy of %s missing: %v", p, err)
		}
	}
	l, err := ledger.Open("/l", repairOpts(img))
	if err != nil {
		t.Fatalf("open after repair: %v", err)
	}
	defer l.Close()
	if l.LastSeq() != rep.LastSeq || rep.LastSeq != 330 {
		t.Fatalf("LastSeq %d, report %+v", l.LastSeq(), rep)
	}
	vr, err := l.Verify(ctx, nil)
	if err != nil {
		t.Fatalf("verify after repair: %v", err)
	}
	if vr.Events != 330-rep.LostEvents || vr.LostEvents != rep.LostEvents || len(vr.Gaps) != 1 {
		t.Fatalf("verify report after repair: %+v", vr)
	}
	if err := l.VerifyDigest(ctx, d50); err != nil {
		t.Fatalf("a digest of the kept prefix no longer verifies: %v", err)
	}
	// The ledger accepts appends again, continuing the sequence.
	g := workload.New(workload.Config{Seed: 99})
	if err := l.AppendEvents(ctx, g.Batch(3)); err != nil {
		t.Fatal(err)
	}
	if l.LastSeq() != rep.LastSeq+3 {
		t.Fatalf("LastSeq after append %d", l.LastSeq())
	}
}

func TestRepairDamagedWAL(t *testing.T) {
	img, _ := buildRepairFixture(t)
	wals := listExt(t, img, "/l/wal", ".wal")
	if len(wals) == 0 {
		t.Fatal("no wal files")
	}
	// Flip a byte in the frame of events 301-310 (the first unsealed
	// batch); later frames stay valid, so Open must refuse.
	fs, err := wal.SalvageFrames(wal.Options{FS: img, Dir: "/l/wal", Salt: manifestSalt(t, img)})
	if err != nil {
		t.Fatal(err)
	}
	var fr *wal.FrameInfo
	for i := range fs.Frames {
		if fs.Frames[i].FirstSeq == 301 {
			fr = &fs.Frames[i]
		}
	}
	if fr == nil {
		t.Fatalf("no frame starts at seq 301: %+v", fs.Frames)
	}
	b, _ := img.ReadFile(fr.File)
	b[fr.Offset+60] ^= 1
	img.WriteFile(fr.File, b)
	if _, err := ledger.Open("/l", repairOpts(img)); err == nil {
		t.Fatal("open accepted a WAL with a corrupt frame followed by valid ones")
	}
	rep, err := ledger.Repair("/l", repairOpts(img), "")
	if err != nil {
		t.Fatal(err)
	}
	// Frame-granular: only the damaged frame's batch of 10 is lost; the
	// frames after it are kept and sealed, the hole recorded as a gap (not
	// anchored: the WAL stores no chain values).
	if rep.LastSeq != 330 || rep.LostFrom != 301 || rep.LostTo != 310 || rep.LostEvents != 10 || rep.LostEvents != uint64(fr.Count) ||
		len(rep.Gaps) != 1 || rep.Gaps[0].Anchored {
		t.Fatalf("report: %+v", rep)
	}
	l, err := ledger.Open("/l", repairOpts(img))
	if err != nil {
		t.Fatalf("open after repair: %v", err)
	}
	defer l.Close()
	if l.LastSeq() != 330 {
		t.Fatalf("LastSeq %d", l.LastSeq())
	}
	ctx := context.Background()
	vr, err := l.Verify(ctx, nil)
	if err != nil || vr.Events != 320 || vr.LostEvents != 10 {
		t.Fatalf("verify after repair: %+v %v", vr, err)
	}
	// Appends continue at 331 (lost seqs are not reused), the chain from
	// the restarted value; a new head verifies.
	g := workload.New(workload.Config{Seed: 98})
	if err := l.AppendEvents(ctx, g.Batch(5)); err != nil {
		t.Fatal(err)
	}
	d, err := l.Head()
	if err != nil || d.Seq != 335 {
		t.Fatalf("head %+v %v", d, err)
	}
	if err := l.VerifyDigest(ctx, d); err != nil {
		t.Fatal(err)
	}
}

// manifestSalt reads the ledger's WAL salt from its manifest (the JSON
// body after the 12-byte envelope header).
func manifestSalt(t testing.TB, mem *vfs.MemFS) uint64 {
	t.Helper()
	b, err := mem.ReadFile("/l/MANIFEST")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Salt uint64 `json:"salt"`
	}
	if err := json.Unmarshal(b[12:len(b)-8], &m); err != nil {
		t.Fatal(err)
	}
	return m.Salt
}
