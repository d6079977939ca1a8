package wal

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

const recycleFileSize = 2048

func recycleOpts(fs vfs.FS) Options {
	o := testOpts(fs, recycleFileSize)
	o.RecycleFiles = 2
	return o
}

// freeFiles returns the names of the files kept for reuse in mem.
func freeFiles(t testing.TB, mem *vfs.MemFS) []string {
	t.Helper()
	names, err := mem.List(testDir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		if _, ok := parseFreeName(n); ok {
			out = append(out, n)
		}
	}
	return out
}

// curFrameEnds is frameEnds for the frames of file num's current life:
// it stops at the first frame whose checksum does not verify for num (a
// stale frame of a recycled file's previous life parses, but does not
// verify).
func curFrameEnds(data []byte, num uint64) []int64 {
	var ends []int64
	start := int64(fileHeaderSize)
	for _, e := range frameEnds(data) {
		if !frameChecksumOK(data[start:e], xxhash.New(), num) {
			break
		}
		ends = append(ends, e)
		start = e
	}
	return ends
}

// lastFrameEnd is the end of the last current frame of file num's bytes
// (40 if none).
func lastFrameEnd(data []byte, num uint64) int64 {
	ends := curFrameEnds(data, num)
	if len(ends) == 0 {
		return fileHeaderSize
	}
	return ends[len(ends)-1]
}

func numOf(path string) uint64 {
	n, _ := parseFileName(filepath.Base(path))
	return n
}

// allZero reports whether b holds only zero bytes.
func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// With RecycleFiles, checkpointed files become the next files: the log
// keeps at most RecycleFiles free files, the recycled active file holds
// its previous life's bytes after its frames (which never replay), a
// finished file ends at its last frame, and a clean close leaves no stale
// bytes and no recycled spare behind.
func TestRecycleFilesReuse(t *testing.T) {
	mem := vfs.NewMem()
	opts := recycleOpts(mem)
	w, _, err := openReplay(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	var all []committed
	staleSeen := false
	ckpt := uint64(0)
	for i := 0; i < 120; i++ {
		all = append(all, commitN(t, w, i, i+1)...)
		if i%4 == 3 && i >= 8 {
			ckpt = all[i-6].last()
			if err := w.Checkpoint(ckpt); err != nil {
				t.Fatal(err)
			}
		}
		if w.activeRecycled {
			size, _ := w.f.Size()
			staleSeen = staleSeen || size > w.off
		}
		if n := len(freeFiles(t, mem)); n > opts.RecycleFiles {
			t.Fatalf("commit %d: %d free files, at most %d", i, n, opts.RecycleFiles)
		}
	}
	st := w.Stats()
	if st.Recycled < 10 {
		t.Fatalf("only %d files recycled", st.Recycled)
	}
	if !staleSeen {
		t.Fatal("no recycled active file ever held stale bytes after its frames: the test does not exercise them")
	}
	files := walFiles(t, mem)
	if st.Files != len(files) {
		t.Fatalf("Stats.Files %d, %d files", st.Files, len(files))
	}
	// Every finished file holds nothing but zeros after its last frame.
	for _, p := range files {
		if numOf(p) >= w.num {
			continue
		}
		d, _ := mem.ReadFile(p)
		if end := lastFrameEnd(d, numOf(p)); !allZero(d[end:]) {
			t.Fatalf("finished file %s: nonzero bytes after its frames (end %d, size %d)", p, end, len(d))
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// A clean close leaves no stale bytes after the active file's frames
	// and no recycled spare.
	for _, p := range walFiles(t, mem) {
		d, _ := mem.ReadFile(p)
		if end := lastFrameEnd(d, numOf(p)); !allZero(d[end:]) {
			t.Fatalf("after close, %s: nonzero bytes after its frames (end %d, size %d)", p, end, len(d))
		}
	}
	w2, rep, err := openReplay(opts, ckpt+1)
	if err != nil {
		t.Fatal(err)
	}
	if w2.Stats().TornBytes != 0 {
		t.Fatalf("reopen after a clean close truncated %d bytes", w2.Stats().TornBytes)
	}
	if err := checkPrefix(rep, all, ckpt+1, len(all)); err != nil {
		t.Fatal(err)
	}
	if len(w2.free) == 0 {
		t.Fatal("reopen adopted no free file")
	}
	all = append(all, commitN(t, w2, 200, 260)...)
	if w2.Stats().Recycled == 0 {
		t.Fatal("adopted free files were not recycled")
	}
	w2.Close()
	// Without RecycleFiles, Open removes the free files.
	w3, _, err := openReplay(testOpts(mem, recycleFileSize), ckpt+1)
	if err != nil {
		t.Fatal(err)
	}
	w3.Close()
	if ff := freeFiles(t, mem); len(ff) != 0 {
		t.Fatalf("free files left by an Open without RecycleFiles: %v", ff)
	}
}

// forgeFrame returns a frame for records as it would be written to file
// fileNum (its checksum seeded with fileNum).
func forgeFrame(fileNum, firstSeq, synced uint64, records [][]byte) []byte {
	return appendFrame(nil, xxhash.New(), 0x5a17, fileNum, firstSeq, synced, records, payloadSize(records))
}

// A frame of a recycled file's previous life, even one that continues the
// sequence exactly and carries the ledger's salt, is never replayed: its
// checksum is seeded with the old file number. In the last file it is a
// torn tail; followed by a valid frame of the current life (later in the
// file, written after it was synced, or in a later file) it is corruption.
func TestRecycledStaleFrameNotReplayed(t *testing.T) {
	const num = 7
	path := filepath.Join(testDir, fileName(num))
	hdr := appendFileHeader(nil, 0x5a17, num)
	a := forgeFrame(num, 100, fileHeaderSize, [][]byte{[]byte("current a")})
	b := forgeFrame(num, 101, fileHeaderSize, [][]byte{[]byte("current b")})
	// The stale frame claims the very next sequence number and an
	// in-range synced offset, as a frame of the previous life can.
	staleOff := int64(len(hdr) + len(a) + len(b))
	stale := forgeFrame(num-3, 102, uint64(fileHeaderSize), [][]byte{[]byte("stale, from file 4")})
	file := append(append(append(append([]byte(nil), hdr...), a...), b...), stale...)

	// (1) Last file: the stale frame is a torn tail, truncated.
	mem := image(t, map[string][]byte{path: file})
	w, rep, err := openReplay(testOpts(mem, 1<<20), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep) != 2 || rep[1].seq != 101 || w.NextSeq() != 102 {
		t.Fatalf("replayed %d batches, next %d; want 100, 101 and next 102", len(rep), w.NextSeq())
	}
	if w.Stats().TornBytes != uint64(len(stale)) {
		t.Fatalf("torn bytes %d, want the stale frame's %d", w.Stats().TornBytes, len(stale))
	}
	w.Close()

	// (2) Followed by a valid frame of the current life written after the
	// stale bytes' offset was synced: corruption, nothing truncated.
	c := forgeFrame(num, 102, uint64(staleOff+int64(len(stale))), [][]byte{[]byte("current c")})
	file2 := append(append([]byte(nil), file...), c...)
	_, _, err = openReplay(testOpts(image(t, map[string][]byte{path: file2}), 1<<20), 100)
	if !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("stale frame followed by a durable current frame: %v, want corruption", err)
	}

	// (3) Followed by a later file holding frames: corruption.
	next := filepath.Join(testDir, fileName(num+1))
	nfile := append(appendFileHeader(nil, 0x5a17, num+1), forgeFrame(num+1, 102, fileHeaderSize, [][]byte{[]byte("next file")})...)
	_, _, err = openReplay(testOpts(image(t, map[string][]byte{path: file, next: nfile}), 1<<20), 100)
	if !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("stale frame followed by a file with frames: %v, want corruption", err)
	}

	// (4) A Tail does not deliver it either.
	tl := NewTail(TailOptions{FS: image(t, map[string][]byte{path: file}), Dir: testDir, Salt: 0x5a17}, 100)
	var seqs []uint64
	if err := tl.Read(func(b *Batch) error { seqs = append(seqs, b.FirstSeq); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seqs) != 2 || tl.Next() != 102 {
		t.Fatalf("tail delivered %v, next %d", seqs, tl.Next())
	}
}

// recycleFixture is a log written with RecycleFiles and sequential
// SyncAlways commits, taken while open (as a crash would leave it): its
// active file is recycled and holds stale bytes after its frames.
type recycleFixture struct {
	files    map[string][]byte // every file of the directory
	paths    []string          // the ".wal" files, in order
	all      []committed
	start    uint64 // the checkpoint + 1
	lastWith int    // index in paths of the last file holding frames
}

func buildRecycleFixture(t testing.TB) *recycleFixture {
	mem := vfs.NewMem()
	opts := recycleOpts(mem)
	opts.FileSize = 1024
	w, _, err := openReplay(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	fx := &recycleFixture{files: map[string][]byte{}}
	var ckpt uint64
	for i := 0; ; i++ {
		if i > 400 {
			t.Fatal("no fixture with a recycled active file holding stale bytes")
		}
		fx.all = append(fx.all, commitN(t, w, i, i+1)...)
		if i%3 == 2 && i >= 6 {
			ckpt = fx.all[i-4].last()
			if err := w.Checkpoint(ckpt); err != nil {
				t.Fatal(err)
			}
		}
		size, _ := w.f.Size()
		if i >= 30 && w.activeRecycled && size > w.off && w.off > fileHeaderSize {
			break
		}
	}
	fx.start = ckpt + 1
	names, _ := mem.List(testDir)
	for _, n := range names {
		p := filepath.Join(testDir, n)
		d, _ := mem.ReadFile(p)
		fx.files[p] = d
	}
	fx.paths = walFiles(t, mem)
	for i, p := range fx.paths {
		if len(curFrameEnds(fx.files[p], numOf(p))) > 0 {
			fx.lastWith = i
		}
	}
	w.Close()
	if len(freeFiles(t, mem)) == 0 {
		t.Fatal("fixture has no free file")
	}
	return fx
}

// with returns the fixture's files with path replaced by data (nil: removed).
func (fx *recycleFixture) with(path string, data []byte, dropLater bool) map[string][]byte {
	m := map[string][]byte{}
	for p, d := range fx.files {
		m[p] = d
	}
	if dropLater {
		seen := false
		for _, p := range fx.paths {
			if seen {
				delete(m, p)
			}
			seen = seen || p == path
		}
	}
	m[path] = data
	return m
}

// batchesUpTo counts the fixture's batches in files before paths[k] plus
// the frames of paths[k] ending at or before off, from fx.start on.
func (fx *recycleFixture) batchesUpTo(k int, off int64) int {
	n := 0
	for i := 0; i <= k; i++ {
		ends := curFrameEnds(fx.files[fx.paths[i]], numOf(fx.paths[i]))
		d := fx.files[fx.paths[i]]
		pos := int64(fileHeaderSize)
		for _, e := range ends {
			if i == k && e > off {
				break
			}
			seq := le.Uint64(d[pos+16:])
			cnt := uint64(le.Uint32(d[pos+32:]))
			if seq+cnt-1 >= fx.start {
				n++
			}
			pos = e
		}
	}
	return n
}

func (fx *recycleFixture) open(t testing.TB, files map[string][]byte) (int, error) {
	mem := image(t, files)
	opts := recycleOpts(mem)
	opts.FileSize = 1024
	w, rep, err := openReplay(opts, fx.start)
	if err != nil {
		return 0, err
	}
	defer w.Close()
	if err := checkPrefix(rep, fx.all, fx.start, 0); err != nil {
		return 0, err
	}
	// Recovery is idempotent.
	w.Close()
	w2, rep2, err := openReplay(opts, fx.start)
	if err != nil {
		return 0, fmt.Errorf("second open: %w", err)
	}
	w2.Close()
	if len(rep2) != len(rep) {
		return 0, fmt.Errorf("not idempotent: %d then %d batches", len(rep), len(rep2))
	}
	return len(rep), nil
}

// TestRecycledBitFlipEveryBit flips every bit of every WAL file of a log
// whose active file is recycled (stale bytes after its frames, a recycled
// spare after it): a flip in a current frame is corruption, except in the
// final frame (a torn write: dropped); a flip in stale bytes changes
// nothing (they are a torn tail either way).
func TestRecycledBitFlipEveryBit(t *testing.T) {
	fx := buildRecycleFixture(t)
	total := fx.batchesUpTo(len(fx.paths)-1, 1<<40)
	flips, detected, tailFlips, tailOK, staleFlips, staleOK := 0, 0, 0, 0, 0, 0
	stride := 1
	if testing.Short() {
		stride = 5
	}
	for k, p := range fx.paths {
		d0 := fx.files[p]
		ends := curFrameEnds(d0, numOf(p))
		end := lastFrameEnd(d0, numOf(p))
		finalStart := int64(fileHeaderSize)
		if len(ends) > 1 {
			finalStart = ends[len(ends)-2]
		}
		if k < fx.lastWith && !allZero(d0[end:]) {
			t.Fatalf("finished file %s holds nonzero bytes after its frames", p)
		}
		for off := 0; off < len(d0); off += stride {
			for bit := 0; bit < 8; bit++ {
				d := append([]byte(nil), d0...)
				d[off] ^= 1 << bit
				n, err := fx.open(t, fx.with(p, d, false))
				o := int64(off)
				switch {
				case o < fileHeaderSize || (k < fx.lastWith && o < end) || (k == fx.lastWith && o < finalStart):
					flips++
					if errors.Is(err, corrupt.ErrCorrupt) {
						detected++
					} else if flips-detected < 10 {
						t.Errorf("file %d byte %d bit %d: not detected (%v, %d batches)", k, off, bit, err, n)
					}
				case k < fx.lastWith:
					flips++ // in the zeros after a finished file's frames: damage, then frames in the next file
					if errors.Is(err, corrupt.ErrCorrupt) {
						detected++
					} else if flips-detected < 10 {
						t.Errorf("file %d byte %d bit %d: not detected (%v, %d batches)", k, off, bit, err, n)
					}
				case k == fx.lastWith && o < end:
					tailFlips++
					if err == nil && n == total-1 {
						tailOK++
					} else if tailFlips-tailOK < 10 {
						t.Errorf("final frame flip file %d byte %d bit %d: %d batches (want %d), %v", k, off, bit, n, total-1, err)
					}
				default:
					staleFlips++
					if err == nil && n == total {
						staleOK++
					} else if staleFlips-staleOK < 10 {
						t.Errorf("stale byte flip file %d byte %d bit %d: %d batches (want %d), %v", k, off, bit, n, total, err)
					}
				}
			}
		}
	}
	if staleFlips == 0 || tailFlips == 0 {
		t.Fatalf("fixture has no stale bytes (%d) or no final frame (%d)", staleFlips, tailFlips)
	}
	fmt.Printf("RELIABILITY test=wal-recycled-bitflip flips=%d detected=%d final_frame_flips=%d dropped_as_torn=%d stale_flips=%d harmless=%d\n",
		flips, detected, tailFlips, tailOK, staleFlips, staleOK)
}

// TestRecycledTruncateEveryOffset cuts each WAL file of the recycled
// fixture at every offset: (a) with the later files gone (a crash), the
// longest prefix of whole frames replays; (b) with them kept, a cut inside
// a file's frames is corruption when a later file holds frames.
func TestRecycledTruncateEveryOffset(t *testing.T) {
	fx := buildRecycleFixture(t)
	total := fx.batchesUpTo(len(fx.paths)-1, 1<<40)
	cuts, bad := 0, 0
	fail := func(format string, args ...any) {
		bad++
		if bad < 10 {
			t.Errorf(format, args...)
		}
	}
	for k, p := range fx.paths {
		d0 := fx.files[p]
		end := lastFrameEnd(d0, numOf(p))
		for o := 0; o <= len(d0); o++ {
			cuts++
			n, err := fx.open(t, fx.with(p, d0[:o], true))
			want := fx.batchesUpTo(k, int64(o))
			switch {
			case o < fileHeaderSize:
				if !errors.Is(err, corrupt.ErrCorrupt) {
					fail("file %d cut at %d (header): %v, want corruption", k, o, err)
				}
			case err != nil:
				fail("file %d cut at %d: %v", k, o, err)
			case n != want:
				fail("file %d cut at %d: %d batches, want %d", k, o, n, want)
			}
			if k >= fx.lastWith {
				continue
			}
			cuts++
			n, err = fx.open(t, fx.with(p, d0[:o], false))
			switch {
			case o < fileHeaderSize || int64(o) < end:
				if !errors.Is(err, corrupt.ErrCorrupt) {
					fail("file %d cut at %d with later files: %v (%d batches), want corruption", k, o, err, n)
				}
			case err != nil || n != total:
				fail("file %d cut at its end with later files: %d batches, %v", k, n, err)
			}
		}
	}
	fmt.Printf("RELIABILITY test=wal-recycled-truncate cuts=%d mismatches=%d\n", cuts, bad)
}

// recycleRun is one run of the crash workload.
type recycleRun struct {
	attempted []committed
	durable   int    // attempted[:durable] must survive a power loss
	ckpt      uint64 // last checkpoint asked for (its files may or may not be gone)
	recycled  uint64
	err       error // the first failure (nil: the workload completed)
	direct    bool  // the WAL wrote its files with direct I/O
}

// runRecycleWorkload commits 60 batches on fsys with RecycleFiles,
// checkpointing a few batches behind every third commit; under SyncNever
// it calls Sync every fifth commit. A closed, clean run ends with Close.
func runRecycleWorkload(fsys vfs.FS, policy SyncPolicy) recycleRun {
	var r recycleRun
	opts := recycleOpts(fsys)
	opts.Sync = policy
	w, err := Open(opts, 1, nil)
	if err != nil {
		r.err = err
		return r
	}
	r.direct = w.Stats().DirectWrites
	ctx := context.Background()
	next := uint64(1)
	for i := 0; i < 60 && r.err == nil; i++ {
		if i%3 == 2 && i >= 6 {
			r.ckpt = r.attempted[i-5].last()
			if err := w.Checkpoint(r.ckpt); err != nil {
				r.err = err
				break
			}
		}
		recs := batchRecords(i)
		seq, err := w.Commit(ctx, recs, nil)
		if err != nil {
			r.err = err
			r.attempted = append(r.attempted, committed{idx: i, seq: next, recs: recs}) // may be on disk
			break
		}
		next = seq + uint64(len(recs))
		r.attempted = append(r.attempted, committed{idx: i, seq: seq, recs: recs})
		if policy == SyncAlways {
			r.durable = len(r.attempted)
		} else if i%5 == 4 {
			if r.err = w.Sync(); r.err == nil {
				r.durable = len(r.attempted)
			}
		}
	}
	r.recycled = w.Stats().Recycled
	if cerr := w.Close(); r.err == nil {
		r.err = cerr
		if cerr == nil {
			r.durable = len(r.attempted)
		}
	}
	return r
}

// TestRecycleCrashAtEveryOp kills the recycling workload after every
// mutating file-system operation (renames for reuse, header rewrites,
// frames over stale ones, the truncation of a finished recycled file) and
// checks every crash mode: the log opens, replays a prefix of what was
// attempted holding every durable batch and no stale frame, takes new
// commits, and survives a second crash.
func TestRecycleCrashAtEveryOp(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			points, recycledRuns := 0, 0
			rng := rand.New(rand.NewSource(11))
			for n := 0; ; n++ {
				if n > 20000 {
					t.Fatal("crash loop does not terminate")
				}
				mem := vfs.NewMem()
				mem.SetCrashAfter(n)
				r := runRecycleWorkload(mem, policy)
				if r.err == nil {
					if r.direct == testBuffered {
						t.Fatalf("direct writes %v with BufferedWrites %v", r.direct, testBuffered)
					}
					if r.recycled < 5 {
						t.Fatalf("the complete workload recycled only %d files", r.recycled)
					}
					break
				}
				if !errors.Is(r.err, vfs.ErrCrashed) {
					t.Fatalf("op %d: failure is not the simulated crash: %v", n, r.err)
				}
				if r.recycled > 0 {
					recycledRuns++
				}
				for _, cm := range vfs.CrashModes {
					points++
					img := mem.Crash(cm, rng)
					if err := verifyRecycled(img, r, policy); err != nil {
						t.Fatalf("crash after op %d, %s: %v", n, cm, err)
					}
					img2 := img.Crash(vfs.CrashKeepRandom, rng)
					if err := verifyRecycledAgain(img2, r, policy); err != nil {
						t.Fatalf("crash after op %d, %s, then a second crash: %v", n, cm, err)
					}
				}
			}
			if recycledRuns == 0 {
				t.Fatal("no crash point after a recycled file")
			}
			fmt.Printf("RELIABILITY test=wal-recycle-crash policy=%s crash_points=%d after_recycling=%d violations=0\n", policy, points, recycledRuns)
		})
	}
}

// verifyRecycled opens a crash image: it must replay a prefix of the
// attempted batches from the checkpoint on that holds every durable one,
// and take a commit that continues the sequence.
func verifyRecycled(img *vfs.MemFS, r recycleRun, policy SyncPolicy) error {
	opts := recycleOpts(img)
	opts.Sync = policy
	start := r.ckpt + 1
	w, rep, err := openReplay(opts, start)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	defer w.Close()
	if err := checkPrefix(rep, r.attempted, start, r.durable); err != nil {
		return err
	}
	want := start
	if len(rep) > 0 {
		want = rep[len(rep)-1].seq + uint64(len(rep[len(rep)-1].recs))
	} else if r.durable > 0 {
		want = max(start, r.attempted[r.durable-1].last()+1)
	}
	seq, err := w.Commit(context.Background(), [][]byte{{42}}, nil)
	if err != nil || seq != want {
		return fmt.Errorf("commit after recovery: seq %d (want %d), %v", seq, want, err)
	}
	if names, _ := img.List(testDir); len(names) > 0 {
		free := 0
		for _, n := range names {
			if strings.HasSuffix(n, freeSuffix) {
				free++
			}
		}
		if free > opts.RecycleFiles {
			return fmt.Errorf("%d free files after recovery", free)
		}
	}
	return nil
}

// verifyRecycledAgain opens the image of a second crash, after
// verifyRecycled's recovery and commit: every durable batch is still
// there, in order, followed at most by that commit.
func verifyRecycledAgain(img *vfs.MemFS, r recycleRun, policy SyncPolicy) error {
	opts := recycleOpts(img)
	opts.Sync = policy
	start := r.ckpt + 1
	w, rep, err := openReplay(opts, start)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	w.Close()
	if n := len(rep); n > 0 && len(rep[n-1].recs) == 1 && string(rep[n-1].recs[0]) == "\x2a" {
		rep = rep[:n-1]
	}
	return checkPrefix(rep, r.attempted, start, r.durable)
}

// A checkpoint that covers more files than it may keep keeps the newest
// (their pages are the likeliest to be cached) and removes the others,
// oldest first; the removals and renames are durable.
func TestRecycleKeepsNewestCovered(t *testing.T) {
	mem := vfs.NewMem()
	opts := recycleOpts(mem)
	w, _, err := openReplay(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	all := commitN(t, w, 0, 60)
	files := walFiles(t, mem)
	if len(files) < 6 {
		t.Fatalf("need several files, have %d", len(files))
	}
	// Cover every file but the active one (and the spare).
	if err := w.Checkpoint(all[len(all)-1].last()); err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range files {
		if numOf(p) < w.num { // every file before the active one is covered
			want = append(want, filepath.Base(p)+".free")
		}
	}
	want = want[len(want)-opts.RecycleFiles:]
	got := freeFiles(t, mem)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("free files %v, want the newest covered %v", got, want)
	}
	img := mem.Crash(vfs.CrashDropDirEntries, nil)
	if got := freeFiles(t, img); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after a crash, free files %v, want %v", got, want)
	}
}

// A Tail follows a writer that recycles files: it never delivers a stale
// frame of a recycled file's previous life, waits at the end of the
// current frames, and moves on to the next (recycled) file once its first
// frame continues the sequence. A tail left behind a checkpoint gets
// ErrTailGap and resumes after Seek.
func TestTailFollowsRecyclingWriter(t *testing.T) {
	mem := vfs.NewMem()
	w, _, err := openReplay(recycleOpts(mem), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tl := NewTail(tailOpts(mem), 1)
	defer tl.Close()
	slow := NewTail(tailOpts(mem), 1) // reads rarely: checkpoints pass it
	defer slow.Close()
	var all []committed
	gaps := 0
	for i := 0; i < 150; i++ {
		cs := commitN(t, w, i, i+1)
		all = append(all, cs...)
		if i >= 8 && i%3 == 0 {
			if err := w.Checkpoint(all[i-6].last()); err != nil {
				t.Fatal(err)
			}
		}
		gs, err := drain(t, tl)
		if err != nil {
			t.Fatal(err)
		}
		first, recs := flattenGot(gs)
		if first != cs[0].seq || !equalRecs(recs, flatten(cs, 0)) {
			t.Fatalf("commit %d: tail got %d records from seq %d, want %d from %d", i, len(recs), first, len(flatten(cs, 0)), cs[0].seq)
		}
		if i%25 == 24 {
			next := slow.Next()
			gs, err := drain(t, slow)
			if errors.Is(err, ErrTailGap) {
				gaps++
				slow.Seek(all[i-6].last() + 1)
				next = slow.Next()
				gs, err = drain(t, slow)
			}
			if err != nil {
				t.Fatalf("slow tail at commit %d: %v", i, err)
			}
			first, recs := flattenGot(gs)
			if first != next || !equalRecs(recs, flatten(all, next)) {
				t.Fatalf("slow tail at commit %d: got %d records from %d, want %d from %d", i, len(recs), first, len(flatten(all, next)), next)
			}
		}
	}
	if w.Stats().Recycled < 10 {
		t.Fatalf("only %d files recycled", w.Stats().Recycled)
	}
	if gaps == 0 {
		t.Fatal("the slow tail never fell behind a checkpoint")
	}
}
