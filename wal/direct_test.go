package wal

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/exledger/exledger/vfs"
)

// directCase is one configuration of the byte-identity workload.
type directCase struct {
	name     string
	fileSize int64
	policy   SyncPolicy
	recycle  int
	fill     bool
}

var directCases = []directCase{
	{name: "aligned-64k", fileSize: 64 << 10},
	{name: "unaligned-10000", fileSize: 10000},
	{name: "early-switch-to-filled-4m", fileSize: 4 << 20},
	{name: "fillfiles-never-256k", fileSize: 256 << 10, policy: SyncNever, fill: true},
	{name: "recycled-32k", fileSize: 32 << 10, recycle: 2},
	{name: "recycled-never-20000", fileSize: 20000, policy: SyncNever, recycle: 2},
}

// identicalRun is what runIdentical saw.
type identicalRun struct {
	direct   []bool   // Stats.DirectWrites before each Close
	fallback []string // Stats.DirectFallback before each Close
	recycled uint64
	files    map[string][]byte // every file in the directory after the last Close
}

// randomBatch returns a batch of 1 record (most of the time) or up to
// 40, of 0 to 6,000 bytes each, so that frames start and end anywhere in
// a 4 KiB block and many cross one.
func randomBatch(rng *rand.Rand) [][]byte {
	n := 1
	if rng.Intn(3) == 0 {
		n = 1 + rng.Intn(40)
	}
	recs := make([][]byte, n)
	for i := range recs {
		r := make([]byte, rng.Intn(rng.Intn(6000)+1))
		rng.Read(r)
		recs[i] = r
	}
	return recs
}

// runIdentical commits a seeded random workload in three sessions (Open,
// commits and checkpoints, Close) and returns the directory's files.
func runIdentical(t *testing.T, fsys vfs.FS, dir string, c directCase, buffered bool) identicalRun {
	t.Helper()
	opts := Options{FS: fsys, Dir: dir, Salt: 0x5a17, FileSize: c.fileSize, Sync: c.policy,
		RecycleFiles: c.recycle, FillFiles: c.fill, syncPrecreate: true, BufferedWrites: buffered}
	rng := rand.New(rand.NewSource(42))
	var run identicalRun
	start := uint64(1)
	for session := 0; session < 3; session++ {
		w, err := Open(opts, start, nil)
		if err != nil {
			t.Fatalf("session %d: open: %v", session, err)
		}
		for i := 0; i < 120; i++ {
			seq, err := w.Commit(context.Background(), randomBatch(rng), nil)
			if err != nil {
				t.Fatalf("session %d commit %d: %v", session, i, err)
			}
			if c.recycle > 0 && i%9 == 8 && seq > 20 {
				start = seq - 20
				if err := w.Checkpoint(start - 1); err != nil {
					t.Fatal(err)
				}
			}
		}
		st := w.Stats()
		run.direct = append(run.direct, st.DirectWrites)
		run.fallback = append(run.fallback, st.DirectFallback)
		run.recycled += st.Recycled
		if err := w.Close(); err != nil {
			t.Fatalf("session %d: close: %v", session, err)
		}
	}
	names, err := fsys.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	run.files = map[string][]byte{}
	for _, n := range names {
		run.files[n] = readAll(t, fsys, filepath.Join(dir, n))
	}
	return run
}

func readAll(t testing.TB, fsys vfs.FS, path string) []byte {
	t.Helper()
	f, err := fsys.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, size)
	if n, err := f.ReadAt(b, 0); n != len(b) && !(err == nil || errors.Is(err, io.EOF)) {
		t.Fatalf("read %s: %d bytes, %v", path, n, err)
	}
	return b
}

// sameFiles fails unless a and b hold the same names with the same bytes.
func sameFiles(t *testing.T, what string, a, b map[string][]byte) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d files vs %d", what, len(a), len(b))
	}
	for n, da := range a {
		db, ok := b[n]
		if !ok {
			t.Fatalf("%s: %s missing", what, n)
		}
		if len(da) != len(db) {
			t.Fatalf("%s: %s is %d bytes vs %d", what, n, len(da), len(db))
		}
		for i := range da {
			if da[i] != db[i] {
				t.Fatalf("%s: %s differs at byte %d", what, n, i)
			}
		}
	}
}

// crossings counts the frames of the WAL files in files that cross a
// 4 KiB boundary, and the one-record frames.
func crossings(files map[string][]byte) (crossing, single int) {
	for n, d := range files {
		num, ok := parseFileName(n)
		if !ok {
			continue
		}
		off := int64(fileHeaderSize)
		for _, end := range curFrameEnds(d, num) {
			if off/vfs.DirectAlign != (end-1)/vfs.DirectAlign {
				crossing++
			}
			if le.Uint32(d[off+32:]) == 1 {
				single++
			}
			off = end
		}
	}
	return crossing, single
}

// TestDirectWritesByteIdentical: the same commits, checkpoints and
// reopenings leave byte-identical files whether the WAL writes with
// direct I/O (aligned, padded, rewriting the last partial block) or
// through the page cache, on MemFS (which refuses unaligned direct I/O
// as the OS does) and on the OS file system.
func TestDirectWritesByteIdentical(t *testing.T) {
	for _, c := range directCases {
		t.Run(c.name, func(t *testing.T) {
			buf := runIdentical(t, vfs.NewMem(), testDir, c, true)
			dir := runIdentical(t, vfs.NewMem(), testDir, c, false)
			for i := range dir.direct {
				if !dir.direct[i] || buf.direct[i] {
					t.Fatalf("session %d: direct writes %v / buffered run %v (fallback %q)", i, dir.direct[i], buf.direct[i], dir.fallback)
				}
			}
			sameFiles(t, "memfs direct vs buffered", dir.files, buf.files)
			// (A recycling run keeps only its last few files.)
			cross, single := crossings(dir.files)
			if min(cross, single) < 10 && (c.recycle == 0 || min(cross, single) == 0) {
				t.Fatalf("the workload has only %d frames crossing a 4 KiB boundary and %d one-record frames in its last files", cross, single)
			}
			if c.recycle > 0 && dir.recycled == 0 {
				t.Fatal("no file was recycled")
			}
			if testing.Short() && c.fileSize > 1<<20 {
				return
			}
			osDir := runIdentical(t, vfs.OS, t.TempDir(), c, false)
			if !osDir.direct[0] {
				t.Logf("the OS file system refused direct I/O: %s", osDir.fallback)
			}
			sameFiles(t, "OS direct vs memfs buffered", osDir.files, buf.files)
		})
	}
}

// TestDirectPaddingAfterCrash: after a power loss, the zeros that pad the
// last direct write to 4 KiB follow the last frame; Open reads them as the
// end of the log (nothing torn), Salvage and SalvageFrames as no damage,
// and the WAL continues over them.
func TestDirectPaddingAfterCrash(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts(mem, 1<<20)
	w, _, err := openReplay(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	cs := commitN(t, w, 0, 25)
	if !w.Stats().DirectWrites {
		t.Fatalf("not writing with direct I/O: %q", w.Stats().DirectFallback)
	}
	img := mem.Crash(vfs.CrashDropUnsynced, nil) // w is never closed
	path := filepath.Join(testDir, fileName(1))
	data, err := img.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	ends := frameEnds(data)
	end := ends[len(ends)-1]
	if int64(len(data))%vfs.DirectAlign != 0 || int64(len(data)) <= end || !allZero(data[end:]) {
		t.Fatalf("file of %d bytes, frames end at %d: want zero padding to a 4 KiB multiple", len(data), end)
	}
	if fs, err := SalvageFrames(testOpts(img, 1<<20)); err != nil || len(fs.Damaged) != 0 || len(fs.Batches) != len(cs) {
		t.Fatalf("SalvageFrames: %v, %d damaged ranges, %d batches of %d", err, len(fs.Damaged), len(fs.Batches), len(cs))
	}
	if rep, err := Salvage(testOpts(img, 1<<20)); err != nil || rep.FirstBad != nil || rep.DroppedBytes != 0 {
		t.Fatalf("Salvage of a padded log: %+v, %v", rep, err)
	}
	w2, rep, err := openReplay(testOpts(img, 1<<20), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPrefix(rep, cs, 1, len(cs)); err != nil || len(rep) != len(cs) {
		t.Fatalf("replay: %v (%d of %d)", err, len(rep), len(cs))
	}
	if st := w2.Stats(); st.TornBytes != 0 || !st.DirectWrites {
		t.Fatalf("TornBytes %d, direct %v", st.TornBytes, st.DirectWrites)
	}
	more := commitN(t, w2, 25, 40)
	img2 := img.Crash(vfs.CrashDropUnsynced, nil)
	w3, rep, err := openReplay(testOpts(img2, 1<<20), 1)
	if err != nil {
		t.Fatal(err)
	}
	all := append(cs, more...)
	if err := checkPrefix(rep, all, 1, len(all)); err != nil || len(rep) != len(all) {
		t.Fatalf("replay after the second crash: %v (%d of %d)", err, len(rep), len(all))
	}
	w3.Close()
	w2.Close()
	w.Close()
}

// TestDirectRefusedFallsBack: a file system that refuses O_DIRECT (as
// tmpfs did) gets buffered writes, the reason in Stats, and the same
// files.
func TestDirectRefusedFallsBack(t *testing.T) {
	c := directCases[0]
	ffs := vfs.NewFault(vfs.NewMem())
	ffs.RefuseDirect(syscall.EINVAL)
	run := runIdentical(t, ffs, testDir, c, false)
	for _, d := range run.direct {
		if d {
			t.Fatal("direct writes on a file system that refuses them")
		}
	}
	if !strings.Contains(run.fallback[0], syscall.EINVAL.Error()) {
		t.Fatalf("fallback reason %q does not give the error", run.fallback)
	}
	sameFiles(t, "refused direct vs buffered", run.files, runIdentical(t, vfs.NewMem(), testDir, c, true).files)
}

// TestDirectWriteRefusedFallsBack: a file system that takes the O_DIRECT
// open but refuses the write (EINVAL, nothing written) makes the WAL
// reopen the file buffered and write there: no commit fails, the WAL is
// not poisoned, and the files are the same.
func TestDirectWriteRefusedFallsBack(t *testing.T) {
	c := directCases[1]
	want := runIdentical(t, vfs.NewMem(), testDir, c, true).files
	for _, n := range []int{0, 1, 2, 7, 30} {
		fsys := &einvalFS{MemFS: vfs.NewMem(), n: n}
		run := runIdentical(t, fsys, testDir, c, false) // fails the test if a commit fails
		if fsys.writes <= n {
			t.Fatalf("direct write %d: only %d direct writes", n, fsys.writes)
		}
		// Each session is a new WAL, which tries direct writes again.
		if !strings.Contains(run.fallback[0], "direct write refused") || !strings.Contains(run.fallback[0], syscall.EINVAL.Error()) {
			t.Fatalf("direct write %d: fallback reason %q", n, run.fallback[0])
		}
		if run.direct[0] || !run.direct[1] {
			t.Fatalf("direct write %d: direct writes %v in the sessions", n, run.direct)
		}
		sameFiles(t, "direct refused at a write vs buffered", run.files, want)
	}
}

// einvalFS fails the nth write on a direct handle with EINVAL, writing
// nothing, as a file system that takes O_DIRECT opens but not the writes.
type einvalFS struct {
	*vfs.MemFS
	n      int
	mu     sync.Mutex
	writes int
}

func (e *einvalFS) OpenDirect(name string) (vfs.File, error) {
	f, err := e.MemFS.OpenDirect(name)
	if err != nil {
		return nil, err
	}
	return &einvalFile{File: f, fs: e}, nil
}

type einvalFile struct {
	vfs.File
	fs *einvalFS
}

func (f *einvalFile) WriteAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	i := f.fs.writes
	f.fs.writes++
	f.fs.mu.Unlock()
	if i == f.fs.n {
		return 0, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.EINVAL}
	}
	return f.File.WriteAt(p, off)
}

// TestDirectWriteErrorPoisons: any other failure of a direct write (a
// torn one included) poisons the WAL, and what is on disk recovers to a
// prefix holding every acknowledged batch.
func TestDirectWriteErrorPoisons(t *testing.T) {
	for _, short := range []bool{false, true} {
		mem := vfs.NewMem()
		ffs := vfs.NewFault(mem)
		w, _, err := openReplay(testOpts(ffs, 1<<20), 1)
		if err != nil {
			t.Fatal(err)
		}
		cs := commitN(t, w, 0, 10)
		ffs.Inject(vfs.Fault{Op: vfs.OpWrite, N: ffs.Count(vfs.OpWrite), Err: syscall.EIO, Short: short})
		big := [][]byte{make([]byte, 3*vfs.DirectAlign)}
		for i := range big[0] {
			big[0][i] = byte(i*7 + 1)
		}
		if _, err := w.Commit(context.Background(), big, nil); !errors.Is(err, ErrPoisoned) || !errors.Is(err, syscall.EIO) {
			t.Fatalf("short=%v: commit over a failing direct write: %v", short, err)
		}
		if _, err := w.Commit(context.Background(), [][]byte{{1}}, nil); !errors.Is(err, ErrPoisoned) {
			t.Fatalf("short=%v: commit after the failure: %v", short, err)
		}
		w.Close()
		for _, cm := range vfs.CrashModes {
			img := mem.Crash(cm, nil)
			w2, rep, err := openReplay(testOpts(img, 1<<20), 1)
			if err != nil {
				t.Fatalf("short=%v %s: reopen: %v", short, cm, err)
			}
			if err := checkPrefix(rep, append(cs, committed{seq: cs[len(cs)-1].last() + 1, recs: big}), 1, len(cs)); err != nil {
				t.Fatalf("short=%v %s: %v", short, cm, err)
			}
			w2.Close()
		}
	}
}

// TestTailFollowsDirectWriterOS: a tail reading through the page cache
// sees every frame a direct writer appends on the OS file system.
func TestTailFollowsDirectWriterOS(t *testing.T) {
	dir := t.TempDir()
	opts := Options{FS: vfs.OS, Dir: dir, Salt: 0x5a17, FileSize: 64 << 10}
	w, err := Open(opts, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	tl := NewTail(TailOptions{FS: vfs.OS, Dir: dir, Salt: 0x5a17}, 1)
	defer tl.Close()
	rng := rand.New(rand.NewSource(3))
	var want, gotRecs [][]byte
	for i := 0; i < 200; i++ {
		recs := randomBatch(rng)
		if _, err := w.Commit(context.Background(), recs, nil); err != nil {
			t.Fatal(err)
		}
		want = append(want, recs...)
		if i%3 == 0 {
			g, err := drain(t, tl)
			if err != nil {
				t.Fatal(err)
			}
			_, recs := flattenGot(g)
			gotRecs = append(gotRecs, recs...)
		}
	}
	g, err := drain(t, tl)
	if err != nil {
		t.Fatal(err)
	}
	_, recs := flattenGot(g)
	gotRecs = append(gotRecs, recs...)
	if !equalRecs(gotRecs, want) {
		t.Fatalf("tail read %d records, want %d (or different bytes)", len(gotRecs), len(want))
	}
	if st := w.Stats(); !st.DirectWrites {
		t.Logf("the OS file system refused direct I/O: %s", st.DirectFallback)
	}
}

// TestBufferedWritesSuites runs the crash and fault suites again with
// direct writes off (they run with them on by default).
func TestBufferedWritesSuites(t *testing.T) {
	testBuffered = true
	defer func() { testBuffered = false }()
	t.Run("CrashAtEveryOp", TestCrashAtEveryOp)
	t.Run("FaultAtEveryStep", TestFaultAtEveryStep)
	t.Run("RecycleCrashAtEveryOp", TestRecycleCrashAtEveryOp)
	t.Run("FillFilesCrashAtEveryOp", TestFillFilesCrashAtEveryOp)
	t.Run("TailFollowsWriterAcrossRotation", TestTailFollowsWriterAcrossRotation)
	t.Run("RoundTripRotationReopen", TestRoundTripRotationReopen)
}
