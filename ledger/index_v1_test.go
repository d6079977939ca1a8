package ledger_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// TestIndexVersion1Files: a ledger whose index files are in format
// version 1 (written before version 2) opens without rebuilding them,
// answers queries like the same ledger with version 2 files, passes
// Verify, and Repair keeps the valid version 1 files; a damaged one is
// rebuilt in the current version.
func TestIndexVersion1Files(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	g := workload.New(workload.Config{Seed: 17, Tenants: 3})
	l := openT(t, dir, smallOpts(nil))
	var tenant *ledger.TenantID
	var kind ledger.ExperienceEventKind
	for range 30 {
		b := g.Batch(20)
		for _, e := range b {
			if tenant == nil && e.TenantID != nil {
				tenant, kind = e.TenantID, e.Kind()
			}
		}
		if err := l.AppendEvents(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	queries := []ledger.EventQuery{{}, {TenantID: tenant}, {TenantID: tenant, Kinds: []ledger.ExperienceEventKind{kind}}}
	var want []int
	for _, q := range queries {
		r, err := l.QueryEvents(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, len(r))
	}
	l.Close()
	n, err := ledger.RewriteIndexesV1(dir)
	if err != nil || n < 2 {
		t.Fatalf("rewrote %d index files: %v", n, err)
	}
	idx, _ := filepath.Glob(filepath.Join(dir, "seg", "*.idx"))
	for _, p := range idx {
		b, _ := os.ReadFile(p)
		if index.FileVersion(b) != 1 {
			t.Fatalf("%s: version %d", p, index.FileVersion(b))
		}
	}
	before := treeHash(t, dir)
	l = openT(t, dir, smallOpts(nil))
	if m := l.Metrics(); m.RecoveryIndexRebuilds != 0 {
		t.Fatalf("Open rebuilt %d version 1 indexes", m.RecoveryIndexRebuilds)
	}
	for i, q := range queries {
		r, err := l.QueryEvents(ctx, q)
		if err != nil || len(r) != want[i] {
			t.Fatalf("query %d over version 1 indexes: %d events (want %d), %v", i, len(r), want[i], err)
		}
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatalf("Verify with version 1 indexes: %v", err)
	}
	l.Close()
	if after := treeHash(t, dir); after != before {
		t.Fatal("opening, querying and verifying changed the files")
	}
	rep, err := ledger.Repair(dir, smallOpts(nil), t.TempDir())
	if err != nil || len(rep.RebuiltIndexes) != 0 || len(rep.Damaged) != 0 {
		t.Fatalf("Repair of valid version 1 indexes: %+v, %v", rep, err)
	}
	// A damaged version 1 file: Repair rebuilds it, in version 2.
	b, _ := os.ReadFile(idx[0])
	b[len(b)/2] ^= 1
	if err := os.WriteFile(idx[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err = ledger.Repair(dir, smallOpts(nil), t.TempDir())
	if err != nil || len(rep.RebuiltIndexes) != 1 || len(rep.Damaged) != 1 {
		t.Fatalf("Repair of a damaged version 1 index: %+v, %v", rep, err)
	}
	if b, _ := os.ReadFile(idx[0]); index.FileVersion(b) != 2 {
		t.Fatalf("rebuilt index is version %d", index.FileVersion(b))
	}
	l = openT(t, dir, smallOpts(nil))
	defer l.Close()
	for i, q := range queries {
		r, err := l.QueryEvents(ctx, q)
		if err != nil || len(r) != want[i] {
			t.Fatalf("query %d after repair: %d events (want %d), %v", i, len(r), want[i], err)
		}
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatalf("Verify after repair: %v", err)
	}
}
