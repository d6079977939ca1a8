package wal

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

func TestRoundTripRotationReopen(t *testing.T) {
	for _, fileSize := range []int64{256, 1024, 4096, 1 << 20} {
		t.Run(fmt.Sprint(fileSize), func(t *testing.T) {
			mem := vfs.NewMem()
			opts := testOpts(mem, fileSize)
			w, rep, err := openReplay(opts, 1)
			if err != nil || len(rep) != 0 {
				t.Fatalf("fresh open: %v %v", rep, err)
			}
			if w.NextSeq() != 1 {
				t.Fatalf("NextSeq %d", w.NextSeq())
			}
			all := commitN(t, w, 0, 60)
			// A batch much larger than a file.
			big := [][]byte{make([]byte, 3000), {1, 2, 3}}
			seq, err := w.Commit(context.Background(), big, nil)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, committed{idx: -1, seq: seq, recs: big})
			all = append(all, commitN(t, w, 60, 80)...)
			for i := 1; i < len(all); i++ {
				if all[i].seq != all[i-1].last()+1 {
					t.Fatalf("sequence not dense at %d: %d after %d", i, all[i].seq, all[i-1].last())
				}
			}
			st := w.Stats()
			if st.Commits != uint64(len(all)) || st.Batches != uint64(len(all)) || st.Syncs < st.Batches {
				t.Fatalf("stats %+v", st)
			}
			if fileSize < 4096 && st.Files < 3 {
				t.Fatalf("expected rotation, stats %+v", st)
			}
			if st.Files != len(walFiles(t, mem)) {
				t.Fatalf("Stats.Files %d, directory has %d", st.Files, len(walFiles(t, mem)))
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}

			w, rep, err = openReplay(opts, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkPrefix(rep, all, 1, len(all)); err != nil {
				t.Fatal(err)
			}
			if len(rep) != len(all) {
				t.Fatalf("replayed %d of %d", len(rep), len(all))
			}
			if w.NextSeq() != all[len(all)-1].last()+1 {
				t.Fatalf("reopen NextSeq %d", w.NextSeq())
			}
			more := commitN(t, w, 80, 90)
			if more[0].seq != all[len(all)-1].last()+1 {
				t.Fatalf("reopen did not continue the sequence: %d", more[0].seq)
			}
			all = append(all, more...)
			w.Close()

			// startSeq in the middle of a batch replays that batch.
			mid := all[40]
			for _, start := range []uint64{mid.seq, mid.last(), mid.last() + 1} {
				w, rep, err = openReplay(opts, start)
				if err != nil {
					t.Fatal(err)
				}
				if err := checkPrefix(rep, all, start, len(all)); err != nil {
					t.Fatalf("startSeq %d: %v", start, err)
				}
				w.Close()
			}
		})
	}
}

func TestCheckpointRemovesCoveredFiles(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts(mem, 512)
	w, _, err := openReplay(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	all := commitN(t, w, 0, 40)
	// Independent view of each file's sequence range.
	type rng struct {
		path        string
		first, last uint64
	}
	var ranges []rng
	for _, p := range walFiles(t, mem) {
		data, _ := mem.ReadFile(p)
		r := rng{path: p}
		ends := frameEnds(data)
		off := int64(40)
		for _, e := range ends {
			seq := le.Uint64(data[off+16:])
			n := uint64(le.Uint32(data[off+32:]))
			if r.first == 0 {
				r.first = seq
			}
			r.last = seq + n - 1
			off = e
		}
		ranges = append(ranges, r)
	}
	if len(ranges) < 4 {
		t.Fatalf("need several files, have %d", len(ranges))
	}
	// Checkpoint exactly at the end of the second file, then one past.
	active := len(ranges) - 1 // the last file with frames; a spare has none
	for ranges[active].last == 0 {
		active--
	}
	covered := func(seq uint64) int { // files fully <= seq, never the active one
		n := 0
		for n < active && ranges[n].last <= seq {
			n++
		}
		return n
	}
	for _, tc := range []struct {
		seq         uint64
		wantRemoved int
	}{
		{ranges[0].last - 1, 0},
		{ranges[1].last, covered(ranges[1].last)},
		{ranges[2].last + 1, covered(ranges[2].last + 1)},
	} {
		if tc.wantRemoved == 0 && tc.seq >= ranges[0].last {
			t.Fatal("bad fixture")
		}
		if err := w.Checkpoint(tc.seq); err != nil {
			t.Fatal(err)
		}
		files := walFiles(t, mem)
		if len(files) != len(ranges)-tc.wantRemoved || files[0] != ranges[tc.wantRemoved].path {
			t.Fatalf("checkpoint %d: files %v, want %d removed", tc.seq, files, tc.wantRemoved)
		}
		if w.Stats().Files != len(files) {
			t.Fatalf("Stats.Files %d vs %d", w.Stats().Files, len(files))
		}
	}
	// The active file is never removed.
	if err := w.Checkpoint(1 << 60); err != nil {
		t.Fatal(err)
	}
	remaining := walFiles(t, mem) // the active file, maybe the pre-created one
	if len(remaining) > 2 || len(remaining) != w.Stats().Files {
		t.Fatalf("after full checkpoint: %v (Stats.Files %d)", remaining, w.Stats().Files)
	}
	last := all[len(all)-1].last()
	w.Close()
	// The removals are durable.
	crashed := mem.Crash(vfs.CrashDropDirEntries, nil)
	if files := walFiles(t, crashed); len(files) != len(remaining) {
		t.Fatalf("checkpoint removals not durable: %v", files)
	}
	// Reopen from the checkpoint: nothing before it is needed.
	w, rep, err := openReplay(testOpts(crashed, 512), last+1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep) != 0 && rep[len(rep)-1].seq > last {
		t.Fatalf("replayed %v", rep)
	}
	if w.NextSeq() != last+1 {
		t.Fatalf("NextSeq %d want %d", w.NextSeq(), last+1)
	}
	w.Close()
	// Asking for sequences the log no longer has is corruption.
	w, rep, err = openReplay(testOpts(crashed, 512), 1)
	if err == nil {
		w.Close()
		if len(rep) != 0 {
			t.Fatalf("log starting at %d replayed for startSeq 1", rep[0].seq)
		}
	} else if !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("open needing checkpointed sequences: %v", err)
	}
}

func TestStartSeqBeyondLog(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts(mem, 512)
	w, _, _ := openReplay(opts, 1)
	all := commitN(t, w, 0, 10)
	w.Close()
	start := all[len(all)-1].last() + 100
	w, rep, err := openReplay(opts, start)
	if err != nil || len(rep) != 0 {
		t.Fatalf("open: %v %v", rep, err)
	}
	if w.NextSeq() != start {
		t.Fatalf("NextSeq %d", w.NextSeq())
	}
	more := commitN(t, w, 10, 15)
	w.Close()
	// No gap is left behind: the old files were dropped.
	w, rep, err = openReplay(opts, start)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkPrefix(rep, more, start, len(more)); err != nil || len(rep) != len(more) {
		t.Fatalf("%v (%d replayed)", err, len(rep))
	}
	w.Close()
}

func TestGroupCommitConcurrent(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncInterval(time.Millisecond), SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			const writers, perWriter = 64, 15
			mem := vfs.NewMem()
			var prepared, applied []uint64
			var nextPrep uint64 = 1
			var errs []string
			opts := Options{FS: mem, Dir: testDir, Salt: 7, FileSize: 4096, Sync: policy}
			opts.Prepare = func(b *Batch) error {
				if b.FirstSeq != nextPrep {
					errs = append(errs, fmt.Sprintf("Prepare saw seq %d, want %d", b.FirstSeq, nextPrep))
				}
				nextPrep += uint64(len(b.Records))
				prepared = append(prepared, b.FirstSeq)
				return nil
			}
			opts.Apply = func(b *Batch) {
				if b.Aux.(int) != int(b.Records[0][0]) {
					errs = append(errs, "Aux not passed through")
				}
				applied = append(applied, b.FirstSeq)
			}
			w, err := Open(opts, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			type res struct{ seq, n uint64 }
			results := make([][]res, writers)
			var wg sync.WaitGroup
			for g := 0; g < writers; g++ {
				wg.Add(1)
				go func(g int) {
					defer wg.Done()
					for i := 0; i < perWriter; i++ {
						n := 1 + (g+i)%3
						recs := make([][]byte, n)
						for j := range recs {
							recs[j] = []byte{byte(g), byte(i), byte(j)}
						}
						seq, err := w.Commit(context.Background(), recs, g)
						if err != nil {
							t.Error(err)
							return
						}
						results[g] = append(results[g], res{seq, uint64(n)})
					}
				}(g)
			}
			wg.Wait()
			st := w.Stats()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			for _, e := range errs {
				t.Fatal(e)
			}
			// Dense and distinct.
			owner := map[uint64]int{}
			var total uint64
			for g, rs := range results {
				for _, r := range rs {
					for s := r.seq; s < r.seq+r.n; s++ {
						if o, dup := owner[s]; dup {
							t.Fatalf("seq %d given to writers %d and %d", s, o, g)
						}
						owner[s] = g
					}
					total += r.n
				}
			}
			for s := uint64(1); s <= total; s++ {
				if _, ok := owner[s]; !ok {
					t.Fatalf("seq %d missing (total %d)", s, total)
				}
			}
			if len(applied) != writers*perWriter || len(prepared) != len(applied) {
				t.Fatalf("applied %d prepared %d", len(applied), len(prepared))
			}
			for i := 1; i < len(applied); i++ {
				if applied[i] <= applied[i-1] || prepared[i] != applied[i] {
					t.Fatalf("Apply order %v... not seq order", applied[i-1:i+1])
				}
			}
			t.Logf("policy=%s commits=%d frames=%d syncs=%d commits/sync=%.1f", policy, st.Commits, st.Batches, st.Syncs, float64(st.Commits)/float64(max(st.Syncs, 1)))
			// Everything is recovered.
			w, rep, err := openReplay(Options{FS: mem, Dir: testDir, Salt: 7, FileSize: 4096}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep) != writers*perWriter {
				t.Fatalf("replayed %d", len(rep))
			}
			for i, g := range rep {
				if g.seq != applied[i] {
					t.Fatalf("replay order differs at %d", i)
				}
				own := owner[g.seq]
				if int(g.recs[0][0]) != own {
					t.Fatalf("batch at %d has writer %d's records, seq owned by %d", g.seq, g.recs[0][0], own)
				}
			}
			w.Close()
		})
	}
}

func TestPrepareApply(t *testing.T) {
	mem := vfs.NewMem()
	var applied []string
	opts := testOpts(mem, 1024)
	errBad := errors.New("bad batch")
	opts.Prepare = func(b *Batch) error {
		switch b.Aux {
		case "fail":
			return errBad
		case "dedupe": // drop every record
			b.Records = nil
		case "shrink":
			b.Records = b.Records[:1]
		case "grow":
			b.Records = append(b.Records, make([]byte, 2000))
		}
		return nil
	}
	opts.Apply = func(b *Batch) { applied = append(applied, fmt.Sprintf("%v@%d/%d", b.Aux, b.FirstSeq, len(b.Records))) }
	opts.MaxBatchBytes = 1000
	w, err := Open(opts, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	two := [][]byte{{1}, {2}}
	steps := []struct {
		aux     string
		wantSeq uint64
		wantErr error
	}{
		{"plain", 1, nil},
		{"fail", 0, errBad},
		{"dedupe", 3, nil},
		{"shrink", 3, nil},
		{"grow", 0, ErrBatchTooLarge},
		{"plain", 4, nil},
	}
	for _, s := range steps {
		seq, err := w.Commit(ctx, two, s.aux)
		if !errors.Is(err, s.wantErr) || seq != s.wantSeq {
			t.Fatalf("%s: seq %d err %v, want %d %v", s.aux, seq, err, s.wantSeq, s.wantErr)
		}
	}
	if _, err := w.Commit(ctx, [][]byte{make([]byte, 997)}, nil); !errors.Is(err, ErrBatchTooLarge) {
		t.Fatalf("oversized commit: %v", err)
	}
	if seq, err := w.Commit(ctx, [][]byte{make([]byte, 996)}, nil); err != nil || seq != 6 {
		t.Fatalf("batch at the limit: %d %v", seq, err)
	}
	if err := w.Poisoned(); err != nil {
		t.Fatalf("Prepare errors must not poison: %v", err)
	}
	w.Close()
	want := []string{"plain@1/2", "dedupe@3/0", "shrink@3/1", "plain@4/2", "<nil>@6/1"}
	if fmt.Sprint(applied) != fmt.Sprint(want) {
		t.Fatalf("applied %v\nwant    %v", applied, want)
	}
	_, rep, err := openReplay(testOpts(mem, 1024), 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep) != 4 || rep[1].seq != 3 || len(rep[1].recs) != 1 || rep[2].seq != 4 || rep[3].seq != 6 {
		t.Fatalf("replay %v", rep)
	}
}

func TestContextCancel(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts(mem, 4096)
	block := make(chan struct{})
	entered := make(chan struct{}, 10)
	opts.Prepare = func(b *Batch) error {
		if b.Aux == "block" {
			entered <- struct{}{}
			<-block
		}
		return nil
	}
	w, err := Open(opts, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := make(chan error)
	go func() { _, err := w.Commit(ctx, [][]byte{{1}}, "block"); done <- err }()
	<-entered // the committer is busy inside Prepare
	cctx, cancel := context.WithCancel(ctx)
	res := make(chan error)
	go func() { _, err := w.Commit(cctx, [][]byte{{2}}, nil); res <- err }()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-res; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled commit: %v", err)
	}
	close(block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if seq, err := w.Commit(ctx, [][]byte{{3}}, nil); err != nil || seq != 2 {
		t.Fatalf("after cancel: seq %d err %v (cancelled batch must not consume seqs)", seq, err)
	}
	if _, err := w.Commit(cctx, [][]byte{{4}}, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("already-cancelled ctx: %v", err)
	}
	w.Close()
	_, rep, _ := openReplay(testOpts(mem, 4096), 1)
	if len(rep) != 2 || rep[1].recs[0][0] != 3 {
		t.Fatalf("cancelled batch was written: %v", rep)
	}
}

func TestPoisonIsSticky(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpWrite, vfs.OpSync} {
		t.Run(op.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			ffs := vfs.NewFault(mem)
			w, err := Open(testOpts(ffs, 1<<20), 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := w.Commit(ctx, [][]byte{{1}}, nil); err != nil {
				t.Fatal(err)
			}
			ffs.Inject(vfs.Fault{Op: op, N: ffs.Count(op), Err: syscall.EIO})
			_, err = w.Commit(ctx, [][]byte{{2}}, nil)
			if !errors.Is(err, ErrPoisoned) || !errors.Is(err, syscall.EIO) {
				t.Fatalf("failing commit: %v", err)
			}
			syncsBefore := ffs.Count(vfs.OpSync)
			for i := 0; i < 3; i++ {
				if _, err := w.Commit(ctx, [][]byte{{3}}, nil); !errors.Is(err, ErrPoisoned) {
					t.Fatalf("commit after poison: %v", err)
				}
			}
			if err := w.Sync(); !errors.Is(err, ErrPoisoned) {
				t.Fatalf("Sync after poison: %v", err)
			}
			if err := w.Close(); !errors.Is(err, ErrPoisoned) {
				t.Fatalf("Close after poison: %v", err)
			}
			if ffs.Count(vfs.OpSync) != syncsBefore {
				t.Fatal("fsync was retried after poison")
			}
			if _, err := w.Commit(ctx, [][]byte{{3}}, nil); !errors.Is(err, ErrClosed) && !errors.Is(err, ErrPoisoned) {
				t.Fatalf("commit after close: %v", err)
			}
			// Reopen: the first batch is there; the failed one is either
			// fully there (sync failure: bytes in cache) or absent.
			_, rep, err := openReplay(testOpts(mem, 1<<20), 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep) < 1 || len(rep) > 2 || rep[0].recs[0][0] != 1 {
				t.Fatalf("replay %v", rep)
			}
		})
	}
}

// Poisoned reports the poison error, if any (test helper).
func (w *WAL) Poisoned() error { return w.poisonErr() }

func TestCloseAndErrClosed(t *testing.T) {
	mem := vfs.NewMem()
	w, err := Open(testOpts(mem, 4096), 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	commitN(t, w, 0, 3)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := w.Commit(context.Background(), [][]byte{{1}}, nil); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if err := w.Sync(); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
	if err := w.Checkpoint(1); !errors.Is(err, ErrClosed) {
		t.Fatal(err)
	}
}

func TestSyncPolicies(t *testing.T) {
	if SyncAlways.String() != "always" || SyncNever.String() != "never" || SyncInterval(2*time.Millisecond).String() != "interval(2ms)" || SyncInterval(0) != SyncAlways {
		t.Fatal("policy names")
	}
	ctx := context.Background()
	t.Run("never", func(t *testing.T) {
		mem := vfs.NewMem()
		opts := testOpts(mem, 1<<20)
		opts.Sync = SyncNever
		w, _ := Open(opts, 1, nil)
		for i := 0; i < 20; i++ {
			w.Commit(ctx, [][]byte{{byte(i)}}, nil)
		}
		if s := w.Stats().Syncs; s != 0 {
			t.Fatalf("SyncNever synced %d times", s)
		}
		// Nothing acknowledged is durable yet...
		if _, rep, _ := openReplay(testOpts(mem.Crash(vfs.CrashDropUnsynced, nil), 1<<20), 1); len(rep) != 0 {
			t.Fatalf("unsynced data survived: %d", len(rep))
		}
		// ...until Sync.
		if err := w.Sync(); err != nil {
			t.Fatal(err)
		}
		if _, rep, _ := openReplay(testOpts(mem.Crash(vfs.CrashDropUnsynced, nil), 1<<20), 1); len(rep) != 20 {
			t.Fatalf("after Sync: %d", len(rep))
		}
		w.Close()
	})
	t.Run("interval", func(t *testing.T) {
		mem := vfs.NewMem()
		opts := testOpts(mem, 1<<20)
		opts.Sync = SyncInterval(5 * time.Millisecond)
		w, _ := Open(opts, 1, nil)
		for i := 0; i < 20; i++ {
			w.Commit(ctx, [][]byte{{byte(i)}}, nil)
		}
		if s := w.Stats().Syncs; s > 2 {
			t.Fatalf("interval policy synced %d times for 20 quick commits", s)
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, rep, _ := openReplay(testOpts(mem.Crash(vfs.CrashDropUnsynced, nil), 1<<20), 1)
			if len(rep) == 20 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("background sync never happened (%d durable)", len(rep))
			}
			time.Sleep(5 * time.Millisecond)
		}
		w.Close()
	})
}

func TestSaltAndForeignFrames(t *testing.T) {
	mem := vfs.NewMem()
	w, _ := Open(testOpts(mem, 512), 1, nil)
	commitN(t, w, 0, 12)
	w.Close()
	files := walFiles(t, mem)
	if len(files) < 3 {
		t.Fatalf("files %v", files)
	}
	// Another ledger's salt is refused loudly.
	other := testOpts(mem, 512)
	other.Salt++
	if _, _, err := openReplay(other, 1); !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("foreign salt: %v", err)
	}
	// A frame copied from file 1 into file 2 (a stale frame in a recycled
	// file) is not valid there.
	f1, _ := mem.ReadFile(files[0])
	f2, _ := mem.ReadFile(files[1])
	e1, e2 := frameEnds(f1), frameEnds(f2)
	frame := f1[40:e1[0]]
	tail := append(append([]byte(nil), f2[:e2[len(e2)-1]]...), frame...)
	m2 := image(t, map[string][]byte{files[0]: f1, files[1]: tail})
	w, rep, err := openReplay(testOpts(m2, 512), 1)
	if err != nil {
		t.Fatalf("stale frame at the tail should be a torn tail: %v", err)
	}
	w.Close()
	if n, _ := m2.Stat(files[1]); n != e2[len(e2)-1] {
		t.Fatalf("stale frame not truncated: size %d", n)
	}
	for _, g := range rep {
		if g.seq == le.Uint64(frame[16:]) && len(rep) > 0 && g.seq != rep[0].seq {
			t.Fatal("stale frame replayed")
		}
	}
	// A duplicated frame (valid checksum, same file) breaks the sequence.
	dup := append(append([]byte(nil), f1[:e1[1]]...), f1[e1[0]:e1[1]]...)
	m3 := image(t, map[string][]byte{files[0]: dup})
	if _, _, err := openReplay(testOpts(m3, 512), 1); !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("duplicated frame: %v", err)
	}
	// A missing middle file.
	m4 := image(t, map[string][]byte{files[0]: f1, files[2]: must(mem.ReadFile(files[2]))})
	if _, _, err := openReplay(testOpts(m4, 512), 1); !errors.Is(err, corrupt.ErrCorrupt) {
		t.Fatalf("missing file: %v", err)
	}
	// A leftover temporary file is removed.
	m5 := image(t, map[string][]byte{files[0]: f1, filepath.Join(testDir, "0000000000000002.wal.tmp"): {1, 2, 3}})
	w, rep, err = openReplay(testOpts(m5, 512), 1)
	if err != nil || len(rep) != len(e1) {
		t.Fatalf("tmp leftover: %d %v", len(rep), err)
	}
	w.Close()
	if _, err := m5.Stat(filepath.Join(testDir, "0000000000000002.wal.tmp")); err == nil {
		t.Fatal("tmp file not removed")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestStageApplyUnstage checks the hooks' contract: Stage runs for every
// batch of a group, in commit order, before Apply (or Unstage when the
// group fails); a batch is never both applied and unstaged; nothing is
// staged or applied after a failure.
func TestStageApplyUnstage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy SyncPolicy
		fail   vfs.Op // fault on the 2nd commit; OpAny = none
	}{
		{"always", SyncAlways, vfs.OpAny},
		{"never", SyncNever, vfs.OpAny},
		{"always-sync-fails", SyncAlways, vfs.OpSync},
		{"always-write-fails", SyncAlways, vfs.OpWrite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			ffs := vfs.NewFault(mem)
			var mu sync.Mutex
			var events []string
			log := func(what string) func(b *Batch) {
				return func(b *Batch) {
					mu.Lock()
					defer mu.Unlock()
					events = append(events, fmt.Sprintf("%s:%d", what, b.FirstSeq))
				}
			}
			o := testOpts(ffs, 1<<20)
			o.Sync = tc.policy
			o.Stage, o.Apply, o.Unstage = log("stage"), log("apply"), log("unstage")
			w, err := Open(o, 1, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			ctx := context.Background()
			if _, err := w.Commit(ctx, [][]byte{{1}, {2}}, nil); err != nil {
				t.Fatal(err)
			}
			if tc.fail != vfs.OpAny {
				ffs.Inject(vfs.Fault{Op: tc.fail, N: ffs.Count(tc.fail), Err: syscall.EIO})
			}
			_, err = w.Commit(ctx, [][]byte{{3}}, nil)
			want := []string{"stage:1", "apply:1", "stage:3", "apply:3"}
			switch tc.fail {
			case vfs.OpSync:
				// Staged while the failing fdatasync was in flight.
				want = []string{"stage:1", "apply:1", "stage:3", "unstage:3"}
				if !errors.Is(err, ErrPoisoned) {
					t.Fatalf("commit with a failing sync: %v", err)
				}
			case vfs.OpWrite:
				// The write failed: nothing was staged.
				want = []string{"stage:1", "apply:1"}
				if !errors.Is(err, ErrPoisoned) {
					t.Fatalf("commit with a failing write: %v", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
			}
			if tc.fail != vfs.OpAny {
				if _, err := w.Commit(ctx, [][]byte{{4}}, nil); !errors.Is(err, ErrPoisoned) {
					t.Fatalf("commit after poison: %v", err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(events) != fmt.Sprint(want) {
				t.Fatalf("hooks ran %v, want %v", events, want)
			}
		})
	}
}
