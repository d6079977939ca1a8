package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// rawLog returns the canonical bytes of every event of l by sequence
// number, failing unless the sequence numbers are dense from first.
func rawLog(t *testing.T, l *ledger.Ledger, first uint64) [][]byte {
	t.Helper()
	var out [][]byte
	for r, err := range l.ScanRaw(context.Background(), ledger.EventQuery{}, 0) {
		if err != nil {
			t.Fatal(err)
		}
		if want := first + uint64(len(out)); r.Seq != want {
			t.Fatalf("seq %d where %d was due: the log is not dense", r.Seq, want)
		}
		out = append(out, bytes.Clone(r.Canonical))
	}
	return out
}

// fillLedger appends n events in batches of 100 to l and flushes all but
// the last tail events, so the ledger has segments plus an unsealed tail.
func fillLedger(t *testing.T, l *ledger.Ledger, n, tail int, seed int64) {
	t.Helper()
	ctx := context.Background()
	g := workload.New(workload.Config{Seed: seed})
	for done := 0; done < n; {
		k := min(100, n-done)
		if done < n-tail && done+k > n-tail {
			k = n - tail - done
		}
		if err := l.AppendEvents(ctx, g.Batch(k)); err != nil {
			t.Fatal(err)
		}
		done += k
		if done == n-tail {
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// checkBackup opens the backup read-only and checks that it verifies, ends
// at rep.Head, holds a dense log equal to want[:N], and that the source's
// digest of N verifies against it.
func checkBackup(t *testing.T, fsys vfs.FS, rep ledger.BackupReport, want [][]byte) {
	t.Helper()
	ctx := context.Background()
	if _, err := fsys.Stat(filepath.Join(rep.Dir, "BACKUP-INCOMPLETE")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("a finished backup still holds its marker: %v", err)
	}
	c, err := ledger.Open(rep.Dir, &ledger.Options{FS: fsys, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	vr, err := c.Verify(ctx, nil)
	if err != nil {
		t.Fatalf("backup does not verify: %v", err)
	}
	if vr.Head.Seq != rep.Head.Seq || vr.Head.HashHex != rep.Head.HashHex || vr.Events != rep.Events {
		t.Fatalf("backup head %d %s (%d events), report %d %s (%d events)", vr.Head.Seq, vr.Head.HashHex, vr.Events, rep.Head.Seq, rep.Head.HashHex, rep.Events)
	}
	got := rawLog(t, c, 1)
	if uint64(len(got)) != rep.Head.Seq {
		t.Fatalf("backup holds %d events, head says %d", len(got), rep.Head.Seq)
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("backup event seq %d differs from the source's", i+1)
		}
	}
	if err := c.VerifyDigest(ctx, rep.Head); err != nil {
		t.Fatal(err)
	}
}

func TestBackup(t *testing.T) {
	ctx := context.Background()
	crossDev := func() vfs.FS {
		f := vfs.NewFault(vfs.OS)
		f.Inject(vfs.Fault{Op: vfs.OpLink, Persistent: true, Err: syscall.EXDEV})
		return f
	}
	cases := []struct {
		name   string
		fs     func() vfs.FS
		linked bool
		root   func(t *testing.T) string
	}{
		{"os-same-fs", func() vfs.FS { return vfs.OS }, true, func(t *testing.T) string { return t.TempDir() }},
		{"memfs", func() vfs.FS { return vfs.NewMem() }, true, func(t *testing.T) string { return "/" }},
		{"no-links", func() vfs.FS { return noLinkFS{vfs.NewMem()} }, false, func(t *testing.T) string { return "/" }},
		{"cross-device", crossDev, false, func(t *testing.T) string { return t.TempDir() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fsys, root := tc.fs(), tc.root(t)
			src := openT(t, filepath.Join(root, "src"), smallOpts(fsys))
			defer src.Close()
			fillLedger(t, src, 2000, 150, 1)
			want := rawLog(t, src, 1)
			srcHead, _ := src.Head()
			dst := filepath.Join(root, "backups", "b1")
			sealed := src.Metrics().SealedEvents
			rep, err := src.Backup(ctx, dst)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Head != srcHead || rep.Events != 2000 || rep.TailEvents > 2000-sealed || rep.TailEvents == 0 || !rep.Verified {
				t.Fatalf("report %+v, source head %+v", rep, srcHead)
			}
			nseg := rep.Segments - 1
			if tc.linked && (rep.Linked != 2*nseg || rep.Copied != 0) || !tc.linked && (rep.Copied != 2*nseg || rep.Linked != 0) {
				t.Fatalf("linked %d copied %d files of %d segments", rep.Linked, rep.Copied, nseg)
			}
			checkBackup(t, fsys, rep, want)

			// The copy is an ordinary ledger: writable, and its writes
			// leave the source alone (linked files are never modified).
			c := openT(t, dst, smallOpts(fsys))
			if c.ID() != src.ID() {
				t.Errorf("copy id %s, source %s", c.ID(), src.ID())
			}
			fillLedger(t, c, 600, 0, 2)
			if err := c.VerifyDigest(ctx, srcHead); err != nil {
				t.Fatalf("the grown copy does not extend the source's head: %v", err)
			}
			c.Close()
			if _, err := src.Verify(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if got := rawLog(t, src, 1); len(got) != len(want) {
				t.Fatalf("the source changed: %d events", len(got))
			}

			// Bad targets.
			if _, err := src.Backup(ctx, dst); !errors.Is(err, ledger.ErrBackupTarget) {
				t.Errorf("backup into a non-empty dir: %v", err)
			}
			if _, err := src.Backup(ctx, filepath.Join(root, "src", "inside")); !errors.Is(err, ledger.ErrBackupTarget) {
				t.Errorf("backup into the ledger: %v", err)
			}
			// An existing empty dir is fine; so is a backup without
			// verification.
			empty := filepath.Join(root, "backups", "b2")
			if err := fsys.MkdirAll(empty); err != nil {
				t.Fatal(err)
			}
			rep2, err := src.BackupWith(ctx, empty, ledger.BackupOptions{NoVerify: true})
			if err != nil || rep2.Verified || rep2.Head != srcHead {
				t.Fatalf("backup into an empty dir: %+v %v", rep2, err)
			}
			checkBackup(t, fsys, rep2, want)
		})
	}
}

// noLinkFS hides the Linker of the FS it wraps: every file is copied.
type noLinkFS struct{ vfs.FS }

func TestBackupEmptyAndSealedOnly(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	src := openT(t, "/src", smallOpts(fsys))
	defer src.Close()
	rep, err := src.Backup(ctx, "/empty")
	if err != nil || rep.Head.Seq != 0 || rep.Segments != 0 {
		t.Fatalf("empty ledger: %+v %v", rep, err)
	}
	checkBackup(t, fsys, rep, nil)
	fillLedger(t, src, 500, 0, 3)
	rep, err = src.Backup(ctx, "/sealed")
	if err != nil || rep.TailEvents != 0 || rep.Head.Seq != 500 {
		t.Fatalf("sealed-only ledger: %+v %v", rep, err)
	}
	checkBackup(t, fsys, rep, rawLog(t, src, 1))
}

// TestBackupConcurrentWriters runs 4 writers (and a compactor) while Backup
// runs several times: every backup verifies, is a dense prefix 1..N of the
// writers' log with N at least the last sequence number acknowledged
// before it started, and the final ledger extends every backup's head.
func TestBackupConcurrentWriters(t *testing.T) {
	for _, mode := range []string{"in-process", "read-only-open"} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			root := t.TempDir()
			o := smallOpts(nil) // SyncNever: an append is acknowledged once written, visible to a read-only open
			l := openT(t, filepath.Join(root, "src"), o)
			defer l.Close()
			fillLedger(t, l, 1000, 100, 10)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var appendErr atomic.Value
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func(w int) {
					defer wg.Done()
					g := workload.New(workload.Config{Seed: int64(100 + w)})
					for {
						select {
						case <-stop:
							return
						default:
						}
						if err := l.AppendEvents(ctx, g.Batch(20)); err != nil {
							appendErr.Store(err)
							return
						}
					}
				}(w)
			}
			wg.Add(1)
			go func() { // compaction replaces segments a backup may be linking
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					case <-time.After(30 * time.Millisecond):
					}
					if _, err := l.Compact(ctx, ledger.CompactOptions{TargetBytes: 256 << 10}); err != nil {
						appendErr.Store(err)
						return
					}
				}
			}()
			var reps []ledger.BackupReport
			var acked []uint64
			for i := 0; i < 5; i++ {
				time.Sleep(40 * time.Millisecond)
				before := l.LastSeq()
				dst := filepath.Join(root, fmt.Sprintf("b%d", i))
				var rep ledger.BackupReport
				var err error
				if mode == "in-process" {
					rep, err = l.Backup(ctx, dst)
				} else {
					rep, err = ledger.BackupDir(ctx, l.Dir(), dst, &ledger.Options{SegmentBytes: o.SegmentBytes, BlockSize: o.BlockSize}, ledger.BackupOptions{})
				}
				if err != nil {
					t.Fatal(err)
				}
				if rep.Head.Seq < before {
					t.Fatalf("backup %d ends at seq %d, before the %d acknowledged when it started", i, rep.Head.Seq, before)
				}
				reps = append(reps, rep)
				acked = append(acked, before)
			}
			close(stop)
			wg.Wait()
			if err, ok := appendErr.Load().(error); ok {
				t.Fatal(err)
			}
			final := rawLog(t, l, 1)
			for i, rep := range reps {
				if err := l.VerifyDigest(ctx, rep.Head); err != nil {
					t.Fatalf("final ledger does not extend backup %d: %v", i, err)
				}
				checkBackup(t, vfs.OS, rep, final)
				t.Logf("backup %d: acked %d, N %d, %d segments, %d linked, %d copied, tail %d events, %v",
					i, acked[i], rep.Head.Seq, rep.Segments, rep.Linked, rep.Copied, rep.TailEvents, rep.Took)
			}
		})
	}
}

// TestBackupCrashPoints stops a backup at every file-system operation and
// simulates a power loss there in every crash mode: the target never opens
// as a ledger unless it holds every event of the source.
func TestBackupCrashPoints(t *testing.T) {
	ctx := context.Background()
	base := vfs.NewMem()
	{
		l := openT(t, "/src", smallOpts(base))
		fillLedger(t, l, 400, 60, 4)
		if err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		// Left open: the image keeps the WAL tail.
	}
	img0 := base.Crash(vfs.CrashDropUnsynced, nil)
	rng := rand.New(rand.NewSource(5))
	o := smallOpts(nil)
	o.SegmentAge = -1
	o.KeepTailOnClose = true
	var want [][]byte
	completes, refused := 0, 0
	for n := 0; ; n++ {
		mem := img0.Crash(vfs.CrashDropUnsynced, nil) // a fresh copy
		o.FS = mem
		src := openT(t, "/src", o)
		if want == nil {
			want = rawLog(t, src, 1)
		}
		start := mem.Ops()
		mem.SetCrashAfter(start + n)
		rep, err := src.Backup(ctx, "/bk/dst")
		mem.SetCrashAfter(-1)
		src.Close()
		for _, mode := range vfs.CrashModes {
			img := mem.Crash(mode, rng)
			c, oerr := ledger.Open("/bk/dst", &ledger.Options{FS: img, ReadOnly: true})
			if oerr != nil {
				refused++
				continue
			}
			vr, verr := c.Verify(ctx, nil)
			got := rawLog(t, c, 1)
			c.Close()
			if verr != nil || len(got) != len(want) || vr.Head.Seq != uint64(len(want)) {
				t.Fatalf("crash after %d ops (%s): the target opens with %d of %d events (verify: %v)", n, mode, len(got), len(want), verr)
			}
			completes++
		}
		if err == nil {
			if rep.Head.Seq != uint64(len(want)) {
				t.Fatalf("clean run ends at %d", rep.Head.Seq)
			}
			t.Logf("%d crash points x %d modes: %d images refused, %d complete", n, len(vfs.CrashModes), refused, completes)
			break
		}
		if !errors.Is(err, vfs.ErrCrashed) {
			t.Fatalf("crash after %d ops: %v", n, err)
		}
	}
	if refused == 0 || completes == 0 {
		t.Fatalf("refused %d, complete %d: the crash points did not cover the backup", refused, completes)
	}
}

// TestBackupFaults fails every file-system operation of a backup in turn:
// the backup reports the error, the target never opens as a ledger, and
// the source is untouched.
func TestBackupFaults(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	ffs := vfs.NewFault(mem)
	o := smallOpts(ffs)
	o.BlockSize = 32 << 10 // fewer reads to fail
	src := openT(t, "/src", o)
	defer src.Close()
	fillLedger(t, src, 400, 60, 6)
	want := rawLog(t, src, 1)
	for n := 0; ; n++ {
		dst := fmt.Sprintf("/bk/%d", n)
		ffs.Reset()
		ffs.Inject(vfs.Fault{Op: vfs.OpAny, N: n})
		_, err := src.Backup(ctx, dst)
		fired := ffs.Fired()
		ffs.Clear()
		if !fired {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
		if err == nil {
			// A fault in a read of the verification pass that a retry
			// absorbed is fine only if the result is complete.
			checkBackup(t, mem, ledger.BackupReport{Dir: dst, Head: mustHead(t, src), Events: uint64(len(want))}, want)
			continue
		}
		if c, oerr := ledger.Open(dst, &ledger.Options{FS: mem, ReadOnly: true}); oerr == nil {
			c.Close()
			t.Fatalf("fault at op %d (%v): the failed backup opens as a ledger", n, err)
		}
	}
	if _, err := src.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := rawLog(t, src, 1); len(got) != len(want) {
		t.Fatal("the source changed")
	}
}

func mustHead(t *testing.T, l *ledger.Ledger) ledger.Digest {
	t.Helper()
	h, err := l.Head()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestOpenRefusesIncompleteBackup(t *testing.T) {
	fsys := vfs.NewMem()
	l := openT(t, "/l", smallOpts(fsys))
	fillLedger(t, l, 300, 0, 7)
	l.Close()
	if err := fsys.WriteFile("/l/BACKUP-INCOMPLETE", []byte("x")); err != nil {
		t.Fatal(err)
	}
	for _, ro := range []bool{false, true} {
		o := smallOpts(fsys)
		o.ReadOnly = ro
		if _, err := ledger.Open("/l", o); !errors.Is(err, ledger.ErrIncompleteBackup) {
			t.Errorf("read-only %v: %v", ro, err)
		}
	}
}

func TestBackupSince(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	src := openT(t, "/src", smallOpts(fsys))
	defer src.Close()
	fillLedger(t, src, 1500, 100, 8)
	r1, err := src.Backup(ctx, "/b1")
	if err != nil {
		t.Fatal(err)
	}
	fillLedger(t, src, 1000, 50, 9)
	r2, err := src.BackupWith(ctx, "/b2", ledger.BackupOptions{Since: "/b1"})
	if err != nil {
		t.Fatal(err)
	}
	// Every sealed segment of the first backup comes from it (its tail
	// too, if the source sealed the same range under the same name).
	if want := 2 * (r1.Segments - 1); r2.FromSince < want || r2.FromSince > want+2 {
		t.Fatalf("%d files from the previous backup, want %d", r2.FromSince, want)
	}
	checkBackup(t, fsys, r2, rawLog(t, src, 1))
	// A previous backup of another ledger is refused.
	other := openT(t, "/other", smallOpts(fsys))
	defer other.Close()
	if _, err := other.BackupWith(ctx, "/b3", ledger.BackupOptions{Since: "/b1"}); !errors.Is(err, ledger.ErrBackupTarget) {
		t.Fatalf("--since of another ledger: %v", err)
	}
}

// TestBackupDirRetries makes the first link of a read-only backup find its
// source gone (as when a writer in another process compacts it away): the
// attempt is undone and repeated.
func TestBackupDirRetries(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	l := openT(t, "/src", smallOpts(mem))
	fillLedger(t, l, 700, 60, 11)
	want := rawLog(t, l, 1)
	l.Close()
	ffs := vfs.NewFault(mem)
	ffs.Inject(vfs.Fault{Op: vfs.OpLink, N: 0, Err: fs.ErrNotExist})
	rep, err := ledger.BackupDir(ctx, "/src", "/dst", smallOpts(ffs), ledger.BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !ffs.Fired() {
		t.Fatal("the fault did not fire")
	}
	checkBackup(t, mem, rep, want)
	// A source that never stops vanishing gives up after bounded attempts.
	ffs.Reset()
	ffs.Inject(vfs.Fault{Op: vfs.OpLink, Persistent: true, Err: fs.ErrNotExist})
	if _, err := ledger.BackupDir(ctx, "/src", "/dst2", smallOpts(ffs), ledger.BackupOptions{}); err == nil || ffs.FiredCount() != 5 {
		t.Fatalf("persistent vanishing: %v after %d attempts", err, ffs.FiredCount())
	}
	if names, _ := mem.List("/dst2"); len(names) != 0 {
		t.Fatalf("failed attempts left %v", names)
	}
}

func TestBackupCancelled(t *testing.T) {
	fsys := vfs.NewMem()
	src := openT(t, "/src", smallOpts(fsys))
	defer src.Close()
	fillLedger(t, src, 500, 50, 12)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Backup(ctx, "/dst"); !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if _, err := fsys.Stat("/dst"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a cancelled backup created its target")
	}
}

// TestBackupAfterRetention backs up a ledger whose first segments were
// dropped by retention: the copy keeps the retention record and starts
// after it.
func TestBackupAfterRetention(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	src := openT(t, "/src", smallOpts(fsys))
	defer src.Close()
	fillLedger(t, src, 1200, 0, 13)
	var cut ledger.Timestamp
	for r, err := range src.ScanRaw(ctx, ledger.EventQuery{}, 600) {
		if err != nil {
			t.Fatal(err)
		}
		cut = r.Header.OccurredAt
		break
	}
	crep, err := src.Compact(ctx, ledger.CompactOptions{RetainAfter: &cut})
	if err != nil || crep.DroppedSegments == 0 {
		t.Fatalf("retention dropped nothing: %+v %v", crep, err)
	}
	fillLedger(t, src, 300, 100, 14)
	rep, err := src.Backup(ctx, "/bk")
	if err != nil {
		t.Fatal(err)
	}
	first := crep.DroppedThroughSeq + 1
	if rep.Head != mustHead(t, src) || rep.Events != 1500-crep.DroppedEvents {
		t.Fatalf("report %+v after dropping %d events", rep, crep.DroppedEvents)
	}
	c := openT(t, "/bk", &ledger.Options{FS: fsys, ReadOnly: true})
	defer c.Close()
	if _, err := c.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
	want := rawLog(t, src, first)
	got := rawLog(t, c, first)
	if len(got) != len(want) {
		t.Fatalf("copy holds %d events, source %d", len(got), len(want))
	}
	if err := c.VerifyDigest(ctx, rep.Head); err != nil {
		t.Fatal(err)
	}
}
