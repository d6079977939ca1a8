package wal

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"github.com/exledger/exledger/vfs"
)

// TestStatsHistogramsAndPoison checks the operational figures of Stats:
// one group-commit observation per write, one sync-latency observation
// per fdatasync, and Poisoned after a failed fdatasync.
func TestStatsHistogramsAndPoison(t *testing.T) {
	mem := vfs.NewMem()
	ffs := vfs.NewFault(mem)
	opts := testOpts(ffs, 1<<20)
	w, err := Open(opts, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		if _, err := w.Commit(ctx, batchRecords(i), nil); err != nil {
			t.Fatal(err)
		}
	}
	st := w.Stats()
	if st.GroupCommits.Count != 5 || st.GroupCommits.Sum != 5 {
		t.Fatalf("sequential commits: group histogram count %d sum %d, want 5 groups of 1", st.GroupCommits.Count, st.GroupCommits.Sum)
	}
	if st.SyncLatency.Count != st.Syncs || st.Syncs == 0 {
		t.Fatalf("sync latency count %d, syncs %d", st.SyncLatency.Count, st.Syncs)
	}
	if st.SyncLatency.Sum <= 0 {
		t.Fatalf("sync latency sum %d", st.SyncLatency.Sum)
	}
	if st.Poisoned {
		t.Fatal("poisoned before any failure")
	}
	ffs.Inject(vfs.Fault{Op: vfs.OpSync, N: ffs.Count(vfs.OpSync), Err: syscall.EIO})
	if _, err := w.Commit(ctx, [][]byte{{1}}, nil); !errors.Is(err, ErrPoisoned) {
		t.Fatalf("commit with failing sync: %v", err)
	}
	if !w.Stats().Poisoned {
		t.Fatal("Stats().Poisoned false after a failed fdatasync")
	}
	w.Close()
}
