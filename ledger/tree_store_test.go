package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/proof"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// TestTreeGroupsReadFromFile: a tree of several groups of 64 chunks, most
// of whose chunk hashes are read from TREE (not kept in memory) after a
// reopen, proves every sampled event and every kept checkpoint exactly as
// the reference tree does, before and after more appends and reopens; a
// chunk hash altered in the file (its frame checksum fixed up) fails the
// proofs that need it and Verify with an integrity error, never a wrong
// proof.
func TestTreeGroupsReadFromFile(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	o := smallOpts(fsys)
	s, v := testKeys(t, "test.example/groups")
	l := openT(t, "/l", o)
	evs := workload.New(workload.Config{Seed: 11}).Batch(6000)
	var cps [][]byte
	appendTo := func(l *ledger.Ledger, from, to int) {
		for i := from; i < to; {
			n := min(to-i, 1+(i*7)%333)
			if err := l.AppendEvents(ctx, evs[i:i+n]); err != nil {
				t.Fatal(err)
			}
			i += n
			if i%5 == 0 {
				if err := l.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			cp, err := l.Checkpoint(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			cps = append(cps, cp)
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	check := func(l *ledger.Ledger, what string) {
		t.Helper()
		ref := refFromLedger(t, l)
		cp, err := l.Checkpoint(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		c, err := proof.OpenCheckpoint(cp, v)
		if err != nil {
			t.Fatal(err)
		}
		if c.Root != ref.root(t, ref.n) {
			t.Fatalf("%s: root %s, reference %s", what, c.Root, ref.root(t, ref.n))
		}
		for i := int64(0); i < ref.n; i += 37 {
			p, err := l.ProveInclusion(ctx, evs[i].EventID, cp)
			if err != nil {
				t.Fatalf("%s: index %d: %v", what, i, err)
			}
			if p.Index != i || !bytes.Equal(p.Canonical, ref.recs[i]) {
				t.Fatalf("%s: proof of index %d for %d", what, p.Index, i)
			}
			if err := tlog.CheckRecord(p.Path, ref.n, c.Root, i, tlog.RecordHash(ref.recs[i])); err != nil {
				t.Fatalf("%s: index %d: %v", what, i, err)
			}
		}
		for k, old := range cps {
			if k%3 != 0 && k != len(cps)-1 {
				continue
			}
			oc, err := proof.OpenCheckpoint(old, v)
			if err != nil {
				t.Fatal(err)
			}
			p, err := l.ProveConsistency(ctx, old, cp)
			if err != nil {
				t.Fatalf("%s: consistency from %d: %v", what, oc.Size, err)
			}
			if err := tlog.CheckTree(p.Path, ref.n, c.Root, oc.Size, ref.root(t, oc.Size)); err != nil {
				t.Fatalf("%s: consistency from %d: %v", what, oc.Size, err)
			}
		}
		if _, err := l.Verify(ctx, nil); err != nil {
			t.Fatalf("%s: verify: %v", what, err)
		}
	}
	appendTo(l, 0, 4500)
	check(l, "written")
	l.Close()

	l = openT(t, "/l", o)
	hs, chunks := ledger.TreeHashesInMemoryForTest(l)
	if chunks != 4500/16 {
		t.Fatalf("reopened: %d chunks, want %d", chunks, 4500/16)
	}
	// 4 complete groups: their 2·4-1 group-tree hashes, and the 25 chunk
	// hashes of the fifth group (instead of the 2·281 stored hashes).
	if hs > 2*(int(chunks)/64)+64 {
		t.Fatalf("reopened: %d hashes in memory for %d chunks", hs, chunks)
	}
	check(l, "reopened")
	appendTo(l, 4500, 6000)
	check(l, "extended")
	l.Close()
	l = openT(t, "/l", o)
	check(l, "reopened twice")
	l.Close()

	orig, err := fsys.ReadFile("/l/TREE")
	if err != nil {
		t.Fatal(err)
	}
	// A torn tail: the file is rewritten from its valid frames (groups
	// read from the old file) and caught up from the events.
	fsys.WriteFile("/l/TREE", orig[:len(orig)-13])
	l = openT(t, "/l", o)
	check(l, "torn")
	l.Close()
	if b, _ := fsys.ReadFile("/l/TREE"); len(b) == len(orig)-13 {
		t.Fatal("torn TREE not rewritten")
	}

	// Alter chunk 5's hash (group 0) with its frame's checksum fixed up.
	bad := append([]byte(nil), orig...)
	off, frame := ledger.TreeTestChunkHashOffset(bad, 5)
	if off < 0 {
		t.Fatal("chunk 5 is in no frame")
	}
	bad[off] ^= 0x01
	ledger.TreeTestFixFrameAt(bad, frame)
	fsys.WriteFile("/l/TREE", bad)
	l = openT(t, "/l", o)
	defer l.Close()
	cp, err := l.Checkpoint(ctx, s) // the root needs no node below group level
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.ProveInclusion(ctx, evs[5*16+3].EventID, cp); !errors.Is(err, ledger.ErrIntegrity) {
		t.Fatalf("proof through an altered chunk hash: %v", err)
	}
	if _, err := l.Verify(ctx, nil); !errors.Is(err, ledger.ErrIntegrity) {
		t.Fatalf("verify of an altered chunk hash: %v", err)
	}
}
