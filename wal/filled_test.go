package wal

import (
	"context"
	"testing"

	"github.com/exledger/exledger/internal/vfs"
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
