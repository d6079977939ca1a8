package wal

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"sync"
	"syscall"
	"testing"

	"github.com/exledger/exledger/vfs"
)

// bigRecords returns the deterministic records of batch i of the large
// workload: one record of 160 KiB, so that the average write is above
// fillMaxFlush after a few commits.
func bigRecords(i int) [][]byte {
	r := make([]byte, 160<<10)
	for k := range r {
		r[k] = byte(i*131 + k*7 + k>>9)
	}
	return [][]byte{r}
}

// With FillFiles, large commits write over zero-filled files (filled
// lazily, under SyncNever): every file after the first is FileSize bytes,
// the next one is being prepared as soon as a filled file is active, and
// the log replays exactly what was committed.
func TestFillFilesLargeCommits(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts(mem, 1<<20)
	opts.Sync = SyncNever
	opts.FillFiles = true
	w, _, err := openReplay(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	var want []committed
	for i := 0; w.num < 5; i++ {
		if i > 200 {
			t.Fatalf("only %d files after %d commits", w.num, i)
		}
		recs := bigRecords(i)
		seq, err := w.Commit(context.Background(), recs, nil)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, committed{idx: i, seq: seq, recs: recs})
	}
	if !w.activeFilled || !w.lazyFill() {
		t.Fatalf("active file %d: filled %v, lazy fill %v (average write %d)", w.num, w.activeFilled, w.lazyFill(), w.avgFlush)
	}
	if w.spare == nil && !w.spareInFlight {
		t.Fatal("no next file prepared while a filled file is active")
	}
	for num := uint64(2); num <= w.num; num++ {
		size, err := mem.Stat(testDir + "/" + fileName(num))
		if err != nil {
			t.Fatal(err)
		}
		if size != opts.FileSize {
			t.Fatalf("file %d is %d bytes, want the filled %d", num, size, opts.FileSize)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w2, rep, err := openReplay(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if err := checkPrefix(rep, want, 1, len(want)); err != nil {
		t.Fatal(err)
	}
	if len(rep) != len(want) {
		t.Fatalf("replayed %d batches, committed %d", len(rep), len(want))
	}
}

// TestFillFilesCrashAtEveryOp kills a SyncNever, FillFiles process after
// every mutating operation of a large-commit workload (the lazily filled
// files' zeros are never synced before frames overwrite them) and checks
// the disk in every crash mode: the log opens, replays a prefix of what
// was attempted, keeps every batch acknowledged before the last successful
// Sync, and takes new commits.
func TestFillFilesCrashAtEveryOp(t *testing.T) {
	const commits, syncAt = 16, 11
	opts := func(fs vfs.FS) Options {
		o := testOpts(fs, 512<<10)
		o.Sync = SyncNever
		o.FillFiles = true
		return o
	}
	rng := rand.New(rand.NewSource(7))
	points, lazy := 0, false
	for n := 0; ; n++ {
		mem := vfs.NewMem()
		mem.SetCrashAfter(n)
		var attempted []committed
		durable := 0 // batches of attempted made durable by a Sync
		var failed error
		w, _, err := openReplay(opts(mem), 1)
		if err == nil {
			for i := 0; i < commits && failed == nil; i++ {
				recs := bigRecords(i)
				seq, err := w.Commit(context.Background(), recs, nil)
				if err != nil {
					failed = err
					// The failed batch may be on disk.
					next := uint64(1)
					if len(attempted) > 0 {
						next = attempted[len(attempted)-1].last() + 1
					}
					attempted = append(attempted, committed{idx: i, seq: next, recs: recs})
					break
				}
				attempted = append(attempted, committed{idx: i, seq: seq, recs: recs})
				if i == syncAt {
					if failed = w.Sync(); failed == nil {
						durable = len(attempted)
					}
				}
			}
			lazy = lazy || w.lazyFill()
			if cerr := w.Close(); failed == nil {
				failed = cerr
			}
		} else {
			failed = err
		}
		if failed == nil {
			break // the workload ran to the end: every op was tried
		}
		if !errors.Is(failed, vfs.ErrCrashed) {
			t.Fatalf("op %d: failure is not the simulated crash: %v", n, failed)
		}
		for _, cm := range vfs.CrashModes {
			points++
			img := mem.Crash(cm, rng)
			w, rep, err := openReplay(opts(img), 1)
			if err != nil {
				t.Fatalf("crash after op %d, %s: reopen: %v", n, cm, err)
			}
			if err := checkPrefix(rep, attempted, 1, durable); err != nil {
				t.Fatalf("crash after op %d, %s: %v", n, cm, err)
			}
			if _, err := w.Commit(context.Background(), [][]byte{{42}}, nil); err != nil {
				t.Fatalf("crash after op %d, %s: commit after recovery: %v", n, cm, err)
			}
			w.Close()
		}
		if n > 20000 {
			t.Fatal("crash loop does not terminate")
		}
	}
	if !lazy {
		t.Fatal("the workload never filled a file lazily")
	}
	if points == 0 {
		t.Fatal("no crash point")
	}
}

// Groups of overlapMin bytes or more are staged while the committer writes
// them, under every policy: a failing write then unstages the batch (never
// applies it), and nothing is staged or applied after the failure.
func TestStageOverlapsLargeWrite(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		for _, fail := range []bool{false, true} {
			t.Run(fmt.Sprintf("%v/fail=%v", policy, fail), func(t *testing.T) {
				ffs := vfs.NewFault(vfs.NewMem())
				var mu sync.Mutex
				var events []string
				log := func(what string) func(b *Batch) {
					return func(b *Batch) {
						mu.Lock()
						defer mu.Unlock()
						events = append(events, fmt.Sprintf("%s:%d", what, b.FirstSeq))
					}
				}
				o := testOpts(ffs, 4<<20)
				o.Sync = policy
				o.Stage, o.Apply, o.Unstage = log("stage"), log("apply"), log("unstage")
				w, err := Open(o, 1, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				big := make([]byte, overlapMin)
				ctx := context.Background()
				if _, err := w.Commit(ctx, [][]byte{big}, nil); err != nil {
					t.Fatal(err)
				}
				if fail {
					ffs.Inject(vfs.Fault{Op: vfs.OpWrite, N: ffs.Count(vfs.OpWrite), Err: syscall.EIO})
				}
				_, err = w.Commit(ctx, [][]byte{big}, nil)
				want := []string{"stage:1", "apply:1", "stage:2", "apply:2"}
				if fail {
					want = []string{"stage:1", "apply:1", "stage:2", "unstage:2"}
					if !errors.Is(err, ErrPoisoned) {
						t.Fatalf("commit with a failing write: %v", err)
					}
					if _, err := w.Commit(ctx, [][]byte{{4}}, nil); !errors.Is(err, ErrPoisoned) {
						t.Fatalf("commit after poison: %v", err)
					}
				} else if err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if fmt.Sprint(events) != fmt.Sprint(want) {
					t.Fatalf("hooks ran %v, want %v", events, want)
				}
			})
		}
	}
}
