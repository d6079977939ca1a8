package ledger_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// listHookFS calls hook once, before the first List of a directory named
// wal.
type listHookFS struct {
	vfs.FS
	once sync.Once
	hook func()
}

func (f *listHookFS) List(dir string) ([]string, error) {
	if filepath.Base(dir) == "wal" {
		f.once.Do(f.hook)
	}
	return f.FS.List(dir)
}

// TestReadOnlyOpenRacesSeal: a read-only Open beside a writer reads the
// manifest, then the WAL. When the writer seals and drops the WAL files
// in between, the manifest read first needs frames that are gone; the
// open must start again from the new manifest instead of reporting the
// WAL as damaged (ledgerctl export/backup beside a live writer hit this).
func TestReadOnlyOpenRacesSeal(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	w, err := ledger.Open(dir, &ledger.Options{SegmentBytes: 64 << 20, WALFileSize: 128 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	g := workload.New(workload.Config{Seed: 7})
	for i := 0; i < 10; i++ {
		if err := w.AppendEvents(ctx, g.Batch(200)); err != nil {
			t.Fatal(err)
		}
	}
	hooked := false
	fs := &listHookFS{FS: vfs.OS, hook: func() {
		hooked = true
		if err := w.Flush(); err != nil {
			t.Error(err)
		}
		if err := w.AppendEvents(ctx, g.Batch(200)); err != nil {
			t.Error(err)
		}
	}}
	r, err := ledger.Open(dir, &ledger.Options{ReadOnly: true, FS: fs})
	if !hooked {
		t.Fatal("the read-only open never listed the WAL")
	}
	if err != nil {
		t.Fatalf("read-only open beside a sealing writer: %v", err)
	}
	defer r.Close()
	if got, want := r.LastSeq(), w.LastSeq(); got != want {
		t.Fatalf("read-only open sees last seq %d, the writer %d", got, want)
	}
	n := 0
	for _, err := range r.Scan(ctx, ledger.EventQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if uint64(n) != w.LastSeq() {
		t.Fatalf("scanned %d events, want %d", n, w.LastSeq())
	}
}
