package ledger_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// buildRepairFixture writes 3 sealed segments of 100 events and a WAL tail
// of 30 events, and returns the digest after event 50.
func buildRepairFixture(t *testing.T, dir string) ledger.Digest {
	t.Helper()
	ctx := context.Background()
	o := smallOpts(nil)
	o.SegmentBytes = 1 << 30 // seal only on Flush
	l, err := ledger.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 11, OutlierRate: -1})
	var d ledger.Digest
	for s := 0; s < 3; s++ {
		for b := 0; b < 10; b++ {
			if err := l.AppendEvents(ctx, g.Batch(10)); err != nil {
				t.Fatal(err)
			}
			if l.LastSeq() == 50 {
				if d, err = l.Head(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	for b := 0; b < 3; b++ {
		if err := l.AppendEvents(ctx, g.Batch(10)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return d
}

func segFiles(t *testing.T, dir string) []string {
	files, _ := filepath.Glob(filepath.Join(dir, "seg", "*.seg"))
	sort.Strings(files)
	if len(files) != 3 {
		t.Fatalf("want 3 segments, have %d", len(files))
	}
	return files
}

func TestRepairCleanLedgerChangesNothing(t *testing.T) {
	dir := t.TempDir()
	buildRepairFixture(t, dir)
	before := treeHash(t, dir)
	rep, err := ledger.Repair(dir, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean || rep.LostEvents != 0 || rep.LastSeq != 330 {
		t.Fatalf("clean ledger report: %+v", rep)
	}
	if treeHash(t, dir) != before {
		t.Fatal("repair of a clean ledger changed files")
	}
}

func TestRepairDamagedSegment(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d50 := buildRepairFixture(t, dir)
	seg := segFiles(t, dir)[1] // events 101..200
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40 // inside some block's payload
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// Verify notices.
	if l, err := ledger.Open(dir, nil); err == nil {
		if _, verr := l.Verify(ctx, nil); verr == nil {
			t.Fatal("verify missed a flipped bit in a sealed segment")
		}
		l.Close()
	}
	rep, err := ledger.Repair(dir, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.LostEvents == 0 || rep.LostFrom < 101 || rep.LostFrom > 200 || rep.LostTo != 330 {
		t.Fatalf("report: %+v", rep)
	}
	if len(rep.Copied) == 0 {
		t.Fatal("nothing was copied aside")
	}
	for _, p := range rep.Copied {
		rel, _ := filepath.Rel(dir, p)
		if _, err := os.Stat(filepath.Join(rep.Aside, rel)); err != nil {
			t.Fatalf("copy of %s missing: %v", p, err)
		}
	}
	l, err := ledger.Open(dir, nil)
	if err != nil {
		t.Fatalf("open after repair: %v", err)
	}
	defer l.Close()
	if l.LastSeq() != rep.LastSeq || rep.LastSeq != rep.LostFrom-1 {
		t.Fatalf("LastSeq %d, report %+v", l.LastSeq(), rep)
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatalf("verify after repair: %v", err)
	}
	if err := l.VerifyDigest(ctx, d50); err != nil {
		t.Fatalf("a digest of the kept prefix no longer verifies: %v", err)
	}
	// The ledger accepts appends again, continuing the sequence.
	g := workload.New(workload.Config{Seed: 99})
	if err := l.AppendEvents(ctx, g.Batch(3)); err != nil {
		t.Fatal(err)
	}
	if l.LastSeq() != rep.LastSeq+3 {
		t.Fatalf("LastSeq after append %d", l.LastSeq())
	}
}

func TestRepairDamagedWAL(t *testing.T) {
	dir := t.TempDir()
	buildRepairFixture(t, dir)
	wals, _ := filepath.Glob(filepath.Join(dir, "wal", "*.wal"))
	if len(wals) == 0 {
		t.Fatal("no wal files")
	}
	sort.Strings(wals)
	w := wals[0]
	b, _ := os.ReadFile(w)
	// Flip a byte in the first frame (right after the 40-byte header);
	// later frames stay valid, so Open must refuse.
	b[60] ^= 1
	os.WriteFile(w, b, 0o600)
	if _, err := ledger.Open(dir, nil); err == nil {
		t.Fatal("open accepted a WAL with a corrupt frame followed by valid ones")
	}
	rep, err := ledger.Repair(dir, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.LastSeq != 300 || rep.LostFrom != 301 || rep.LostTo != 330 || rep.LostEvents != 30 {
		t.Fatalf("report: %+v", rep)
	}
	l, err := ledger.Open(dir, nil)
	if err != nil {
		t.Fatalf("open after repair: %v", err)
	}
	defer l.Close()
	if l.LastSeq() != 300 {
		t.Fatalf("LastSeq %d", l.LastSeq())
	}
}
