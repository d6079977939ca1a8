package ledger_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// treeHash hashes every file name, size and content below dir.
func treeHash(t *testing.T, dir string) [32]byte {
	t.Helper()
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		h.Write([]byte(p))
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

func TestReadOnlyChangesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o := smallOpts(nil)
	w, err := ledger.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 9})
	for i := 0; i < 20; i++ {
		if err := w.AppendEvents(ctx, g.Batch(20)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.AppendEvents(ctx, g.Batch(7)); err != nil { // a WAL tail
		t.Fatal(err)
	}
	want, _ := w.QueryEvents(ctx, ledger.EventQuery{})
	// A read-only open beside the live writer (which holds the lock).
	ro, err := ledger.Open(dir, &ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open beside a writer: %v", err)
	}
	got, err := ro.QueryEvents(ctx, ledger.EventQuery{})
	if err != nil || len(got) != len(want) {
		t.Fatalf("read-only query: %d events (want %d), %v", len(got), len(want), err)
	}
	if _, err := ro.Verify(ctx, nil); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if err := ro.AppendEvent(ctx, g.Next()); !errors.Is(err, ledger.ErrReadOnly) {
		t.Fatalf("append on read-only: %v", err)
	}
	if err := ro.Flush(); !errors.Is(err, ledger.ErrReadOnly) {
		t.Fatalf("flush on read-only: %v", err)
	}
	ro.Close()
	w.Close()
	// Delete an index: read-only rebuilds it in memory only.
	idx, _ := filepath.Glob(filepath.Join(dir, "seg", "*.idx"))
	if len(idx) == 0 {
		t.Fatal("no index files")
	}
	os.Remove(idx[0])
	before := treeHash(t, dir)
	ro, err = ledger.Open(dir, &ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	got, err = ro.QueryEvents(ctx, ledger.EventQuery{})
	if err != nil || len(got) != len(want) {
		t.Fatalf("read-only query after index loss: %d events, %v", len(got), err)
	}
	ro.Close()
	if after := treeHash(t, dir); after != before {
		t.Fatal("a read-only open changed the ledger's files")
	}
	// A missing directory is not created.
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := ledger.Open(missing, &ledger.Options{ReadOnly: true}); !errors.Is(err, ledger.ErrNotLedger) {
		t.Fatalf("read-only open of a missing dir: %v", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("read-only open created the directory")
	}
}
