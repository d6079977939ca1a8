package wal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// dirState is the listing of testDir and a hash of every file in it.
func dirState(t testing.TB, mem *vfs.MemFS) string {
	t.Helper()
	names, err := mem.List(testDir)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, n := range names {
		d, err := mem.ReadFile(filepath.Join(testDir, n))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %d %x\n", n, len(d), sha256.Sum256(d))
	}
	return b.String()
}

func sameReplay(a, b []got) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d batches vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i].seq != b[i].seq || !equalRecs(a[i].recs, b[i].recs) {
			return fmt.Errorf("batch %d: seq %d vs %d", i, a[i].seq, b[i].seq)
		}
	}
	return nil
}

// TestReadOnlyChangesNothing opens damaged and clean images read-only:
// the replay and next sequence number equal those of a read-write open of
// the same image, corruption is still reported, and neither the directory
// listing nor any file's bytes change (no mutating operation at all).
func TestReadOnlyChangesNothing(t *testing.T) {
	fx := buildFixture(t, 14)
	if len(fx.paths) < 3 {
		t.Fatalf("fixture has %d files, want >= 3", len(fx.paths))
	}
	lastF := len(fx.paths) - 1 // the last file holding frames
	for len(fx.ends[lastF]) == 0 {
		lastF-- // a pre-created spare
	}
	if len(fx.ends[lastF]) < 2 {
		t.Fatalf("unexpected fixture layout: %v", fx.ends)
	}
	// Torn tail: a flipped byte in the last frame of the last file.
	torn := bytes.Clone(fx.data[lastF])
	ends := fx.ends[lastF]
	torn[ends[len(ends)-2]+45] ^= 0x40
	// Corruption: a flipped byte in the first frame of file 0.
	bad := bytes.Clone(fx.data[0])
	bad[60] ^= 1
	tmp := filepath.Join(testDir, fileName(uint64(len(fx.paths)+1))+".tmp")

	all := fx.files(len(fx.paths)-1, fx.data[len(fx.paths)-1], false)
	withTorn := fx.files(lastF, torn, true)
	withTornTmp := fx.files(lastF, torn, true)
	withTornTmp[tmp] = []byte("half-made file")
	corruptFirst := fx.files(0, bad, true)

	lastSeq := fx.all[len(fx.all)-1].last()
	cases := []struct {
		name     string
		files    map[string][]byte
		startSeq uint64
		corrupt  bool
		torn     bool
	}{
		{"clean", all, 1, false, false},
		{"clean from the middle", all, fx.all[5].seq, false, false},
		{"torn tail", withTorn, 1, false, true},
		{"torn tail and tmp file", withTornTmp, 1, false, true},
		{"start past the log", withTornTmp, lastSeq + 10, false, true},
		{"corrupt first file", corruptFirst, 1, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := image(t, tc.files)
			before, ops := dirState(t, mem), mem.Ops()
			var logBuf bytes.Buffer
			opts := testOpts(mem, fixtureFileSize)
			opts.ReadOnly = true
			opts.Logger = slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
			ro, roRep, roErr := openReplay(opts, tc.startSeq)

			// A read-write open of an identical image is the reference.
			rw, rwRep, rwErr := openReplay(testOpts(image(t, tc.files), fixtureFileSize), tc.startSeq)
			if tc.corrupt {
				var ce *CorruptionError
				if !errors.As(roErr, &ce) || !errors.Is(rwErr, corrupt.ErrCorrupt) {
					t.Fatalf("read-only: %v; read-write: %v; want corruption", roErr, rwErr)
				}
				if ce.File != fx.paths[0] {
					t.Fatalf("corruption reported in %s", ce.File)
				}
				// A quiet log fails the same way twice: one rescan, no more.
				if n := strings.Count(logBuf.String(), "rescanning"); n != 1 {
					t.Fatalf("%d rescans of a stable corruption, want 1", n)
				}
			} else {
				if roErr != nil || rwErr != nil {
					t.Fatalf("read-only: %v; read-write: %v", roErr, rwErr)
				}
				if err := sameReplay(roRep, rwRep); err != nil {
					t.Fatalf("read-only replay differs from read-write: %v", err)
				}
				if ro.NextSeq() != rw.NextSeq() {
					t.Fatalf("NextSeq %d, read-write %d", ro.NextSeq(), rw.NextSeq())
				}
				want := len(fx.all)
				if tc.torn {
					want--
				}
				if err := checkPrefix(roRep, fx.all, tc.startSeq, want); err != nil {
					t.Fatal(err)
				}
				if got := strings.Contains(logBuf.String(), "torn tail"); got != tc.torn {
					t.Fatalf("torn tail logged: %v, want %v; log:\n%s", got, tc.torn, logBuf.String())
				}
				if _, err := ro.Commit(context.Background(), [][]byte{{1}}, nil); !errors.Is(err, ErrReadOnly) {
					t.Fatalf("Commit: %v", err)
				}
				if err := ro.Sync(); !errors.Is(err, ErrReadOnly) {
					t.Fatalf("Sync: %v", err)
				}
				if err := ro.Checkpoint(lastSeq); !errors.Is(err, ErrReadOnly) {
					t.Fatalf("Checkpoint: %v", err)
				}
				if err := ro.Close(); err != nil {
					t.Fatalf("Close: %v", err)
				}
				if err := ro.Close(); err != nil {
					t.Fatalf("second Close: %v", err)
				}
				if _, err := ro.Commit(context.Background(), [][]byte{{1}}, nil); !errors.Is(err, ErrClosed) {
					t.Fatalf("Commit after Close: %v", err)
				}
				rw.Close()
			}
			if n := mem.Ops(); n != ops {
				t.Fatalf("read-only open performed %d mutating operations", n-ops)
			}
			if after := dirState(t, mem); after != before {
				t.Fatalf("directory changed:\nbefore:\n%safter:\n%s", before, after)
			}
		})
	}
}

func TestReadOnlyMissingDir(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts(mem, 0)
	opts.ReadOnly = true
	if _, err := Open(opts, 1, nil); err == nil {
		t.Fatal("read-only open of a missing directory succeeded")
	}
	if _, err := mem.Stat(testDir); err == nil || mem.Ops() != 0 {
		t.Fatalf("read-only open created something: stat %v, ops %d", err, mem.Ops())
	}
}

// TestReadOnlyBesideWriter opens the log read-only while a read-write WAL
// is appending to it: each read-only open replays a prefix of what was
// committed that includes every commit acknowledged before it started,
// and the writer is unaffected.
func TestReadOnlyBesideWriter(t *testing.T) {
	for _, policy := range []SyncPolicy{SyncAlways, SyncNever} {
		t.Run(policy.String(), func(t *testing.T) {
			mem := vfs.NewMem()
			opts := Options{FS: mem, Dir: testDir, Salt: 0x5a17, FileSize: 4096, Sync: policy}
			w, _, err := openReplay(opts, 1)
			if err != nil {
				t.Fatal(err)
			}
			roOpts := opts
			roOpts.ReadOnly = true

			// Sequential: what is committed so far is exactly what is seen.
			done := commitN(t, w, 0, 30)
			ro, rep, err := openReplay(roOpts, 1)
			if err != nil {
				t.Fatal(err)
			}
			if err := checkPrefix(rep, done, 1, len(done)); err != nil || len(rep) != len(done) {
				t.Fatalf("read-only beside writer: %d of %d batches: %v", len(rep), len(done), err)
			}
			if ro.NextSeq() != w.NextSeq() {
				t.Fatalf("NextSeq %d, writer %d", ro.NextSeq(), w.NextSeq())
			}
			ro.Close()

			// Concurrent: a writer goroutine keeps committing (and rotating)
			// while read-only opens run.
			n := 200
			if testing.Short() {
				n = 80
			}
			var mu sync.Mutex
			acked := done
			writerDone := make(chan struct{})
			// The writer goes on until the reader has made a few opens, so
			// the two overlap however the scheduler runs them.
			var opens atomic.Int64
			go func() {
				defer close(writerDone)
				for i := 30; i < 30+n || (opens.Load() < 3 && i < 30+50*n); i++ {
					recs := batchRecords(i)
					seq, err := w.Commit(context.Background(), recs, nil)
					if err != nil {
						t.Errorf("commit %d: %v", i, err)
						return
					}
					mu.Lock()
					acked = append(acked, committed{idx: i, seq: seq, recs: recs})
					mu.Unlock()
				}
			}()
			type obs struct {
				rep      []got
				mustHave int
			}
			var seen []obs
			rescans := 0
			for running := true; running; {
				select {
				case <-writerDone:
					running = false
				default:
				}
				mu.Lock()
				mustHave := len(acked)
				mu.Unlock()
				var logBuf bytes.Buffer
				o := roOpts
				o.Logger = slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
				ro, rep, err := openReplay(o, 1)
				if err != nil {
					t.Fatalf("read-only open %d during commits: %v", len(seen), err)
				}
				rescans += strings.Count(logBuf.String(), "rescanning")
				ro.Close()
				seen = append(seen, obs{rep, mustHave})
				opens.Add(1)
			}
			for i, o := range seen {
				if err := checkPrefix(o.rep, acked, 1, o.mustHave); err != nil {
					t.Fatalf("read-only open %d: %v", i, err)
				}
			}
			if len(seen) < 2 {
				t.Fatalf("only %d read-only opens ran", len(seen))
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			w2, rep2, err := openReplay(opts, 1)
			if err != nil {
				t.Fatal(err)
			}
			w2.Close()
			if err := checkPrefix(rep2, acked, 1, len(acked)); err != nil || len(rep2) != len(acked) {
				t.Fatalf("writer reopened: %d of %d: %v", len(rep2), len(acked), err)
			}
			t.Logf("%d read-only opens (%d rescans), %d batches, %d files", len(seen), rescans, len(acked), len(walFiles(t, mem)))
		})
	}
}

// hookFS calls hook (once) when the file named at is opened.
type hookFS struct {
	vfs.FS
	at   string
	hook func()
}

func (h *hookFS) Open(name string) (vfs.File, error) {
	if name == h.at && h.hook != nil {
		hook := h.hook
		h.hook = nil
		hook()
	}
	return h.FS.Open(name)
}

// TestReadOnlyRescansRacingSnapshot reproduces the race a read-only open
// has with a writer: it reads the active file N, then, before it opens
// the pre-created file N+1, the writer fills N and rotates into N+1. The
// first scan sees a sequence gap at the start of N+1; the read-only open
// must rescan and succeed with everything committed.
func TestReadOnlyRescansRacingSnapshot(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts(mem, 2048)
	w, _, err := openReplay(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var all []committed
	// Commit until a spare file exists beside a half-full active file.
	for i := 0; len(walFiles(t, mem)) < 3; i++ {
		all = append(all, commitN(t, w, i, i+1)...)
	}
	files := walFiles(t, mem)
	spare := files[len(files)-1]
	hook := func() {
		for i := len(all); ; i++ {
			d, _ := mem.ReadFile(spare)
			if len(d) >= 44 && le.Uint32(d[40:]) == frameMagic {
				return
			}
			all = append(all, commitN(t, w, i, i+1)...)
		}
	}
	var logBuf bytes.Buffer
	roOpts := opts
	roOpts.ReadOnly = true
	roOpts.FS = &hookFS{FS: mem, at: spare, hook: hook}
	roOpts.Logger = slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	before := len(all)
	ro, rep, err := openReplay(roOpts, 1)
	if err != nil {
		t.Fatalf("read-only open racing a rotation: %v\n%s", err, logBuf.String())
	}
	ro.Close()
	if len(all) == before {
		t.Fatal("the hook committed nothing: no race was staged")
	}
	if n := strings.Count(logBuf.String(), "rescanning"); n != 1 {
		t.Fatalf("%d rescans, want 1; log:\n%s", n, logBuf.String())
	}
	if err := checkPrefix(rep, all, 1, len(all)); err != nil {
		t.Fatal(err)
	}
}
