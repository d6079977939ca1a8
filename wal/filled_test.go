package wal

import (
	"context"
	"errors"
	"testing"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// The first file of a log grows by appends (every fdatasync must then also
// persist its size). Once it holds unfilledSwitch bytes, the WAL prepares a
// zero-filled successor and moves to it at the next commit, long before the
// first file is full; replay is unaffected.
func TestEarlySwitchToFilledFile(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts(mem, 16<<20)
	w, _, err := openReplay(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	rec := make([]byte, 4096)
	var commits int
	for w.Stats().Files < 2 || commits < 400 {
		if _, err := w.Commit(context.Background(), [][]byte{rec}, nil); err != nil {
			t.Fatal(err)
		}
		commits++
		if commits > 2000 {
			t.Fatalf("no switch to a filled file after %d commits (%d bytes)", commits, commits*4096)
		}
	}
	if !w.activeFilled || w.num != 2 {
		t.Fatalf("active file %d, filled %v", w.num, w.activeFilled)
	}
	if w.off >= opts.FileSize/2 {
		t.Fatal("switched only at half size")
	}
	size1, err := mem.Stat(testDir + "/" + fileName(1))
	if err != nil {
		t.Fatal(err)
	}
	if size1 > 2*unfilledSwitch {
		t.Fatalf("first file grew to %d bytes before the switch", size1)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w2, rep, err := openReplay(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	n := 0
	for _, b := range rep {
		n += len(b.recs)
	}
	if n != commits {
		t.Fatalf("replayed %d records, committed %d", n, commits)
	}
	if !w2.activeFilled {
		t.Fatal("a reopened filled file is not recognised as filled")
	}
}

// Large commits do not pay for zero-filling: with writes averaging more
// than fillMaxFlush, the WAL neither switches early nor fills the next
// file; if the commits become small again, filling resumes.
func TestLargeCommitsSkipFill(t *testing.T) {
	mem := vfs.NewMem()
	opts := testOpts(mem, 4<<20)
	w, _, err := openReplay(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	big := make([]byte, 256<<10)
	var commits int
	for w.num < 3 {
		if _, err := w.Commit(ctx, [][]byte{big}, nil); err != nil {
			t.Fatal(err)
		}
		if commits++; commits > 100 {
			t.Fatalf("no rotation after %d large commits", commits)
		}
	}
	if commits < 2*int(opts.FileSize)/len(big)-2 {
		t.Fatalf("rotated to file %d after %d commits: an early switch happened", w.num, commits)
	}
	if w.activeFilled {
		t.Fatal("large commits: the next file was zero-filled")
	}
	for _, num := range []uint64{2, 3} {
		size, err := mem.Stat(testDir + "/" + fileName(num))
		if err != nil {
			t.Fatal(err)
		}
		if size >= opts.FileSize {
			t.Fatalf("file %d is %d bytes: zero-filled although commits were large", num, size)
		}
	}
	// Small commits again: the next file is filled.
	small := make([]byte, 512)
	for w.num < 5 {
		if _, err := w.Commit(ctx, [][]byte{small}, nil); err != nil {
			t.Fatal(err)
		}
		if commits++; commits > 100000 {
			t.Fatal("no rotation after small commits")
		}
	}
	if !w.activeFilled {
		t.Fatal("small commits: the next file was not zero-filled")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, rep, err := openReplay(opts, 1)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, b := range rep {
		n += len(b.recs)
	}
	if n != commits {
		t.Fatalf("replayed %d records, committed %d", n, commits)
	}
}

// Damage to a WAL file that is not the last one is reported against that
// file, not the next one where the sequence breaks: frames cut from its
// end, or bytes that are not a frame followed by valid frames later.
func TestDamageNamesTheDamagedFile(t *testing.T) {
	build := func(t *testing.T) (*vfs.MemFS, Options, []int64) {
		mem := vfs.NewMem()
		opts := testOpts(mem, 64<<10)
		w, _, err := openReplay(opts, 1)
		if err != nil {
			t.Fatal(err)
		}
		rec := make([]byte, 3000)
		for w.num < 3 {
			if _, err := w.Commit(context.Background(), [][]byte{rec}, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var sizes []int64
		for num := uint64(1); num <= 3; num++ {
			n, err := mem.Stat(testDir + "/" + fileName(num))
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
		return mem, opts, sizes
	}
	first := testDir + "/" + fileName(1)
	for _, tc := range []struct {
		name   string
		damage func(mem *vfs.MemFS, size int64)
	}{
		{"truncated", func(mem *vfs.MemFS, size int64) {
			b, _ := mem.ReadFile(first)
			mem.WriteFile(first, b[:fileHeaderSize+3100])
		}},
		{"truncated to its header", func(mem *vfs.MemFS, size int64) {
			b, _ := mem.ReadFile(first)
			mem.WriteFile(first, b[:fileHeaderSize])
		}},
		{"bit flipped", func(mem *vfs.MemFS, size int64) {
			b, _ := mem.ReadFile(first)
			b[fileHeaderSize+5000] ^= 1
			mem.WriteFile(first, b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem, opts, sizes := build(t)
			tc.damage(mem, sizes[0])
			_, _, err := openReplay(opts, 1)
			var ce *corrupt.CorruptionError
			if !errors.As(err, &ce) {
				t.Fatalf("want a CorruptionError, got %v", err)
			}
			if ce.File != first {
				t.Fatalf("error names %s, want %s: %v", ce.File, first, err)
			}
		})
	}
}
