package wal

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"syscall"
	"testing"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

const fixtureFileSize = 1024

// fixture is a small WAL written with sequential SyncAlways commits:
// file 1 (header only, grown by appends), files 2.. pre-created and
// zero-filled, the last one an empty spare.
type fixture struct {
	paths []string
	data  [][]byte
	ends  [][]int64 // frame end offsets per file
	all   []committed
	// batchAt[f][i] = index into all of the i-th frame of file f
	batchAt [][]int
}

func buildFixture(t testing.TB, batches int) *fixture {
	mem := vfs.NewMem()
	w, _, err := openReplay(testOpts(mem, fixtureFileSize), 1)
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{all: commitN(t, w, 0, batches)}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	k := 0
	for _, p := range walFiles(t, mem) {
		d, _ := mem.ReadFile(p)
		ends := frameEnds(d)
		var at []int
		for range ends {
			at = append(at, k)
			k++
		}
		fx.paths = append(fx.paths, p)
		fx.data = append(fx.data, d)
		fx.ends = append(fx.ends, ends)
		fx.batchAt = append(fx.batchAt, at)
	}
	if k != batches {
		t.Fatalf("fixture parse found %d frames, committed %d", k, batches)
	}
	return fx
}

// files returns path -> content for files [0, upto] with file upto replaced.
func (fx *fixture) files(upto int, last []byte, keepLater bool) map[string][]byte {
	m := map[string][]byte{}
	for i := range fx.paths {
		switch {
		case i < upto:
			m[fx.paths[i]] = fx.data[i]
		case i == upto:
			m[fx.paths[i]] = last
		case keepLater:
			m[fx.paths[i]] = fx.data[i]
		}
	}
	return m
}

// batchesBefore counts the batches wholly inside files < f plus the frames
// of file f ending at or before off.
func (fx *fixture) batchesBefore(f int, off int64) int {
	n := 0
	for i := 0; i < f; i++ {
		n += len(fx.ends[i])
	}
	for _, e := range fx.ends[f] {
		if e <= off {
			n++
		}
	}
	return n
}

// openTwice opens an image twice (recovery must be idempotent) and returns
// the replay of the second open, or the error.
func openTwice(t testing.TB, mem *vfs.MemFS) ([]got, error) {
	w, rep1, err := openReplay(testOpts(mem, fixtureFileSize), 1)
	if err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("close: %w", err)
	}
	w, rep2, err := openReplay(testOpts(mem, fixtureFileSize), 1)
	if err != nil {
		return nil, fmt.Errorf("second open: %w", err)
	}
	w.Close()
	if len(rep1) != len(rep2) {
		return nil, fmt.Errorf("not idempotent: %d then %d batches", len(rep1), len(rep2))
	}
	return rep2, nil
}

// TestTruncateEveryOffset cuts the log at every byte: (a) as a crash would,
// file k cut at o and the later files gone; (b) file k cut at o with the
// later files kept (damage in a non-last file).
func TestTruncateEveryOffset(t *testing.T) {
	fx := buildFixture(t, 14)
	offsets, mismatches := 0, 0
	fail := func(format string, args ...any) {
		mismatches++
		if mismatches < 10 {
			t.Errorf(format, args...)
		}
	}
	for k := range fx.paths {
		for o := 0; o <= len(fx.data[k]); o++ {
			offsets++
			// (a) crash prefix: longest prefix of whole batches.
			rep, err := openTwice(t, image(t, fx.files(k, fx.data[k][:o], false)))
			switch {
			case o < fileHeaderSize:
				if !errors.Is(err, corrupt.ErrCorrupt) {
					fail("file %d cut at %d (inside header): %v, want corruption", k, o, err)
				}
			case err != nil:
				fail("file %d cut at %d: %v", k, o, err)
			default:
				want := fx.batchesBefore(k, int64(o))
				if cerr := checkPrefix(rep, fx.all, 1, want); cerr != nil || len(rep) != want {
					fail("file %d cut at %d: %d batches, want %d (%v)", k, o, len(rep), want, cerr)
				}
			}
			// (b) the same cut with the later files present.
			if k == len(fx.paths)-1 {
				continue
			}
			offsets++
			rep, err = openTwice(t, image(t, fx.files(k, fx.data[k][:o], true)))
			lastEnd := int64(fileHeaderSize)
			if n := len(fx.ends[k]); n > 0 {
				lastEnd = fx.ends[k][n-1]
			}
			laterFrames := false
			for j := k + 1; j < len(fx.paths); j++ {
				laterFrames = laterFrames || len(fx.ends[j]) > 0
			}
			if !laterFrames {
				// The cut file is the last holding frames: same as (a).
				if o >= fileHeaderSize && (err != nil || len(rep) != fx.batchesBefore(k, int64(o))) {
					fail("file %d cut at %d, later empty files kept: %d batches, %v", k, o, len(rep), err)
				}
			} else if int64(o) >= lastEnd {
				if err != nil || len(rep) != len(fx.all) {
					fail("file %d cut at %d (after its frames) with later files: %d batches, %v", k, o, len(rep), err)
				}
			} else if !errors.Is(err, corrupt.ErrCorrupt) {
				fail("file %d cut at %d with later files: %v (%d batches), want corruption", k, o, err, len(rep))
			}
		}
	}
	fmt.Printf("RELIABILITY test=wal-truncate offsets=%d mismatches=%d\n", offsets, mismatches)
}

// TestBitFlipEveryBit flips every bit of every file. Outside the tail
// region the flip must be reported as corruption. The tail region is the
// final frame of the last file holding frames and everything after it
// (zero fill, the empty spare's body): a flip there is a torn write, so
// the final frame is dropped (or, after it, nothing is) and the garbage
// truncated.
func TestBitFlipEveryBit(t *testing.T) {
	fx := buildFixture(t, 10)
	lastWithFrames := 0
	for i := range fx.ends {
		if len(fx.ends[i]) > 0 {
			lastWithFrames = i
		}
	}
	ends := fx.ends[lastWithFrames]
	finalStart := int64(fileHeaderSize)
	if len(ends) > 1 {
		finalStart = ends[len(ends)-2]
	}
	finalEnd := ends[len(ends)-1]
	stride := 1
	if testing.Short() {
		stride = 7
	}
	flips, detected, tailFlips, tailOK := 0, 0, 0, 0
	for k := range fx.paths {
		for off := 0; off < len(fx.data[k]); off += stride {
			inTail := off >= fileHeaderSize && (k > lastWithFrames || (k == lastWithFrames && int64(off) >= finalStart))
			afterFinal := k > lastWithFrames || (k == lastWithFrames && int64(off) >= finalEnd)
			if inTail && afterFinal && off%16 != 0 {
				continue // sample the zero fill after the final frame
			}
			for bit := 0; bit < 8; bit++ {
				d := append([]byte(nil), fx.data[k]...)
				d[off] ^= 1 << bit
				w, rep, err := openReplay(testOpts(image(t, fx.files(k, d, true)), fixtureFileSize), 1)
				if err == nil {
					w.Close()
				}
				if !inTail {
					flips++
					if errors.Is(err, corrupt.ErrCorrupt) {
						detected++
					} else if flips-detected < 10 {
						t.Errorf("file %d byte %d bit %d: not detected (err=%v, %d batches)", k, off, bit, err, len(rep))
					}
					continue
				}
				tailFlips++
				want := len(fx.all)
				if k == lastWithFrames && int64(off) < finalEnd {
					want-- // the final frame is dropped as torn
				}
				if err == nil && len(rep) == want && checkPrefix(rep, fx.all, 1, want) == nil {
					tailOK++
				} else if tailFlips-tailOK < 10 {
					t.Errorf("tail flip file %d byte %d bit %d: %d batches (want %d), %v", k, off, bit, len(rep), want, err)
				}
			}
		}
	}
	fmt.Printf("RELIABILITY test=wal-bitflip flips=%d detected=%d tail_flips=%d tail_dropped_as_torn=%d\n", flips, detected, tailFlips, tailOK)
}

// workload opens a WAL on fsys, commits 14 batches (rotating files),
// checkpoints, commits 6 more and closes. It reports what was acknowledged
// and what was attempted, and checks the poison contract.
type workResult struct {
	attempted []committed // batches possibly written, in commit order
	acked     int         // attempted[:acked] were acknowledged
	ckpt      uint64      // checkpoint sequence (0: none)
	openErr   error
	firstErr  error
}

func runWorkload(t *testing.T, fsys vfs.FS, injected error) workResult {
	var res workResult
	w, err := Open(testOpts(fsys, 512), 1, nil)
	if err != nil {
		res.openErr = err
		return res
	}
	if st := w.Stats(); st.DirectWrites == testBuffered {
		t.Fatalf("direct writes %v with BufferedWrites %v (fallback: %q)", st.DirectWrites, testBuffered, st.DirectFallback)
	}
	ctx := context.Background()
	next := uint64(1)
	for i := 0; i < 20; i++ {
		if i == 14 && res.acked > 4 {
			res.ckpt = res.attempted[3].last()
			w.Checkpoint(res.ckpt) // may fail under injection; harmless
		}
		recs := batchRecords(i)
		seq, err := w.Commit(ctx, recs, nil)
		if err != nil {
			if !errors.Is(err, ErrPoisoned) {
				t.Fatalf("commit %d failed without poison: %v", i, err)
			}
			if res.firstErr == nil {
				res.firstErr = err
				if injected != nil && !errors.Is(err, injected) && !errors.Is(err, vfs.ErrCrashed) {
					t.Fatalf("first failure does not wrap the I/O error: %v", err)
				}
				// The failed batch may be on disk (e.g. its sync failed).
				res.attempted = append(res.attempted, committed{idx: i, seq: next, recs: recs})
			}
			continue
		}
		if res.firstErr != nil {
			t.Fatalf("commit %d succeeded after the WAL was poisoned", i)
		}
		if seq != next {
			t.Fatalf("commit %d got seq %d, want %d", i, seq, next)
		}
		next += uint64(len(recs))
		res.attempted = append(res.attempted, committed{idx: i, seq: seq, recs: recs})
		res.acked++
	}
	cerr := w.Close()
	if res.firstErr != nil && !errors.Is(cerr, ErrPoisoned) {
		t.Fatalf("Close of a poisoned WAL returned %v", cerr)
	}
	return res
}

// verifyImage reopens an image without faults and checks that it holds
// every acknowledged batch, only attempted ones, as a prefix.
func verifyImage(mem *vfs.MemFS, res workResult) error {
	start := uint64(1)
	if res.ckpt != 0 {
		start = res.ckpt + 1
	}
	w, rep, err := openReplay(testOpts(mem, 512), start)
	if err != nil {
		return fmt.Errorf("reopen: %w", err)
	}
	defer w.Close()
	if err := checkPrefix(rep, res.attempted, start, res.acked); err != nil {
		return err
	}
	// The recovered WAL accepts new commits that continue the sequence.
	want := uint64(start)
	if len(rep) > 0 {
		want = rep[len(rep)-1].seq + uint64(len(rep[len(rep)-1].recs))
	} else if res.acked > 0 {
		want = max(start, res.attempted[res.acked-1].last()+1)
	}
	seq, err := w.Commit(context.Background(), [][]byte{{42}}, nil)
	if err != nil || seq != want {
		return fmt.Errorf("commit after recovery: seq %d (want %d), %v", seq, want, err)
	}
	return nil
}

func TestFaultAtEveryStep(t *testing.T) {
	type mode struct {
		op         vfs.Op
		err        error
		short      bool
		persistent bool
	}
	var modes []mode
	for _, persistent := range []bool{false, true} {
		modes = append(modes,
			mode{vfs.OpAny, syscall.EIO, false, persistent},
			mode{vfs.OpAny, syscall.ENOSPC, true, persistent},
		)
		for _, op := range vfs.AllOps {
			modes = append(modes, mode{op, syscall.ENOSPC, op == vfs.OpWrite, persistent})
		}
	}
	points, violations := 0, 0
	rng := rand.New(rand.NewSource(1))
	for _, m := range modes {
		name := fmt.Sprintf("%s/%v/short=%v/persistent=%v", m.op, m.err, m.short, m.persistent)
		for n := 0; ; n++ {
			mem := vfs.NewMem()
			ffs := vfs.NewFault(mem)
			ffs.Inject(vfs.Fault{Op: m.op, N: n, Err: m.err, Short: m.short, Persistent: m.persistent})
			res := runWorkload(t, ffs, m.err)
			if !ffs.Fired() {
				if res.openErr != nil || res.firstErr != nil || res.acked != 20 {
					t.Fatalf("%s n=%d: clean run failed: %v %v", name, n, res.openErr, res.firstErr)
				}
				break
			}
			points++
			if res.openErr != nil && !errors.Is(res.openErr, m.err) {
				t.Fatalf("%s n=%d: open error does not wrap the fault: %v", name, n, res.openErr)
			}
			// The disk as the failed process left it, and after power loss.
			images := map[string]*vfs.MemFS{"as-is": mem}
			for _, cm := range vfs.CrashModes {
				images[cm.String()] = mem.Crash(cm, rng)
			}
			for iname, img := range images {
				if err := verifyImage(img, res); err != nil {
					violations++
					t.Errorf("%s n=%d image %s: %v", name, n, iname, err)
				}
			}
			if n > 2000 {
				t.Fatalf("%s: fault loop does not terminate", name)
			}
		}
	}
	fmt.Printf("RELIABILITY test=wal-fault modes=%d injection_points=%d images=%d violations=%d\n", len(modes), points, points*5, violations)
}

// TestCrashAtEveryOp kills the process after every mutating operation and
// checks the disk image in every crash mode, then crashes the recovered WAL
// again after new commits.
func TestCrashAtEveryOp(t *testing.T) {
	points, violations, seeds := 0, 0, 3
	if testing.Short() {
		seeds = 1
	}
	for seed := int64(0); seed < int64(seeds); seed++ {
		rng := rand.New(rand.NewSource(seed))
		for n := 0; ; n++ {
			mem := vfs.NewMem()
			mem.SetCrashAfter(n)
			res := runWorkload(t, mem, nil)
			if res.openErr == nil && res.firstErr == nil {
				break
			}
			for _, cm := range vfs.CrashModes {
				points++
				img := mem.Crash(cm, rng)
				if err := verifyImage(img, res); err != nil {
					violations++
					t.Errorf("seed %d crash after op %d, %s: %v", seed, n, cm, err)
					continue
				}
				// Second generation: the recovered log survives another crash.
				img2 := img.Crash(vfs.CrashKeepRandom, rng)
				start := uint64(1)
				if res.ckpt != 0 {
					start = res.ckpt + 1
				}
				if w, _, err := openReplay(testOpts(img2, 512), start); err != nil {
					violations++
					t.Errorf("seed %d op %d %s: second crash: %v", seed, n, cm, err)
				} else {
					w.Close()
				}
			}
			if n > 5000 {
				t.Fatal("crash loop does not terminate")
			}
		}
	}
	fmt.Printf("RELIABILITY test=wal-crash crash_points=%d violations=%d\n", points, violations)
}

// TestCrashAfterConcurrentCommits: every batch acknowledged under
// SyncAlways survives each crash mode, with concurrent committers.
func TestCrashAfterConcurrentCommits(t *testing.T) {
	for _, cm := range vfs.CrashModes {
		t.Run(cm.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			opts := Options{FS: mem, Dir: testDir, Salt: 0x5a17, FileSize: 2048}
			w, err := Open(opts, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			type ack struct {
				seq uint64
				rec []byte
			}
			acks := make(chan ack, 1000)
			done := make(chan struct{})
			for g := 0; g < 8; g++ {
				go func(g int) {
					for i := 0; ; i++ {
						rec := []byte(fmt.Sprintf("g%d-i%d", g, i))
						seq, err := w.Commit(context.Background(), [][]byte{rec}, nil)
						if err != nil {
							done <- struct{}{}
							return
						}
						acks <- ack{seq, rec}
						if i == 40 {
							done <- struct{}{}
							return
						}
					}
				}(g)
			}
			for g := 0; g < 8; g++ {
				<-done
			}
			close(acks)
			// Power loss now, while the WAL is still open.
			img := mem.Crash(cm, rand.New(rand.NewSource(int64(cm))))
			w.Close()
			byseq := map[uint64][]byte{}
			_, rep, err := openReplay(Options{FS: img, Dir: testDir, Salt: 0x5a17, FileSize: 2048}, 1)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range rep {
				byseq[g.seq] = g.recs[0]
			}
			n := 0
			for a := range acks {
				n++
				if string(byseq[a.seq]) != string(a.rec) {
					t.Fatalf("acknowledged seq %d (%s) lost: got %q", a.seq, a.rec, byseq[a.seq])
				}
			}
			if n != 8*41 {
				t.Fatalf("acks %d", n)
			}
		})
	}
}

// TestFaultDuringRecovery injects a fault at every operation of an Open
// that has to repair a torn tail: the open fails with the I/O error (never
// a corruption report), and a later clean open recovers the same prefix.
func TestFaultDuringRecovery(t *testing.T) {
	fx := buildFixture(t, 10)
	last := len(fx.paths) - 1
	for len(fx.ends[last]) == 0 {
		last--
	}
	torn := append(append([]byte(nil), fx.data[last][:fx.ends[last][len(fx.ends[last])-1]]...), 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5)
	points := 0
	for _, persistent := range []bool{false, true} {
		for n := 0; ; n++ {
			mem := image(t, fx.files(last, torn, true))
			ffs := vfs.NewFault(mem)
			ffs.Inject(vfs.Fault{Op: vfs.OpAny, N: n, Err: syscall.EIO, Persistent: persistent})
			w, rep, err := openReplay(testOpts(ffs, fixtureFileSize), 1)
			if !ffs.Fired() {
				if err != nil || len(rep) != len(fx.all) {
					t.Fatalf("clean recovery: %d batches, %v", len(rep), err)
				}
				w.Close()
				break
			}
			points++
			if err == nil {
				// The fault hit the committer side (e.g. pre-creation) or
				// Close; the recovered content must still be complete.
				if len(rep) != len(fx.all) {
					t.Fatalf("n=%d: recovered %d batches", n, len(rep))
				}
				w.Close()
			} else if !errors.Is(err, syscall.EIO) || errors.Is(err, corrupt.ErrCorrupt) {
				t.Fatalf("n=%d: open failed with %v, want the injected EIO", n, err)
			}
			for _, img := range []*vfs.MemFS{mem, mem.Crash(vfs.CrashDropUnsynced, nil), mem.Crash(vfs.CrashKeepRandom, rand.New(rand.NewSource(int64(n))))} {
				w, rep, err := openReplay(testOpts(img, fixtureFileSize), 1)
				if err != nil || checkPrefix(rep, fx.all, 1, len(fx.all)) != nil {
					t.Fatalf("n=%d persistent=%v: reopen after failed recovery: %d batches, %v", n, persistent, len(rep), err)
				}
				w.Close()
			}
		}
	}
	fmt.Printf("RELIABILITY test=wal-fault-recovery injection_points=%d violations=0\n", points)
}
