package ledger_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/proof"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// refTree is an independent tlog tree over a ledger's canonical events,
// built with tlog alone: the oracle for the ledger's tree.
type refTree struct {
	hashes []tlog.Hash
	n      int64
	recs   [][]byte
}

func (m *refTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *refTree) add(t testing.TB, rec []byte) {
	hs, err := tlog.StoredHashes(m.n, rec, m)
	if err != nil {
		t.Fatal(err)
	}
	m.hashes = append(m.hashes, hs...)
	m.recs = append(m.recs, bytes.Clone(rec))
	m.n++
}

func (m *refTree) root(t testing.TB, n int64) tlog.Hash {
	h, err := tlog.TreeHash(n, m)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// refFromLedger builds the reference tree from the ledger's events.
func refFromLedger(t testing.TB, l *ledger.Ledger) *refTree {
	t.Helper()
	m := &refTree{}
	for r, err := range l.ScanRaw(context.Background(), ledger.EventQuery{}, 0) {
		if err != nil {
			t.Fatal(err)
		}
		m.add(t, r.Canonical)
	}
	return m
}

func testKeys(t testing.TB, name string) (note.Signer, note.Verifier) {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, v
}

// TestTreeProofsEveryIndex appends events one at a time up to 300 (sealing
// every few dozen, so leaves come from segments and the memtable) and,
// at each size, proves every event included; each proof is checked with
// tlog.CheckRecord against the reference root and with the proof package.
func TestTreeProofsEveryIndex(t *testing.T) {
	ctx := context.Background()
	s, v := testKeys(t, "test.example/ledger")
	l := openT(t, "/l", smallOpts(vfs.NewMem()))
	evs := workload.New(workload.Config{Seed: 3}).Batch(300)
	ref := &refTree{}
	for n := 1; n <= len(evs); n++ {
		if err := l.AppendEvents(ctx, evs[n-1:n]); err != nil {
			t.Fatal(err)
		}
		if n%37 == 0 {
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if int64(len(ref.recs)) < int64(n) {
			ref = refFromLedger(t, l)
		}
		cp, err := l.Checkpoint(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		c, err := proof.OpenCheckpoint(cp, v)
		if err != nil {
			t.Fatal(err)
		}
		if c.Size != int64(n) || c.Root != ref.root(t, int64(n)) {
			t.Fatalf("n=%d: checkpoint %d %s, reference root %s", n, c.Size, c.Root, ref.root(t, int64(n)))
		}
		if n > 64 && n%23 != 0 && n != len(evs) {
			continue // every index of every size up to 64, then of some sizes
		}
		for i := 0; i < n; i++ {
			p, err := l.ProveInclusion(ctx, evs[i].EventID, cp)
			if err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
			if p.Index != int64(i) || !bytes.Equal(p.Canonical, ref.recs[i]) {
				t.Fatalf("n=%d i=%d: proof of index %d", n, i, p.Index)
			}
			if err := tlog.CheckRecord(p.Path, int64(n), c.Root, int64(i), tlog.RecordHash(ref.recs[i])); err != nil {
				t.Fatalf("n=%d i=%d: tlog.CheckRecord: %v", n, i, err)
			}
			b, _ := p.Marshal()
			q, err := proof.ParseInclusion(b)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := q.Verify(v); err != nil {
				t.Fatalf("n=%d i=%d: %v", n, i, err)
			}
		}
	}
}

// TestTreeConsistencyEveryPair keeps a checkpoint at every size of a small
// ledger and proves consistency between every pair, also after compaction
// with clustering and after a reopen.
func TestTreeConsistencyEveryPair(t *testing.T) {
	ctx := context.Background()
	s, v := testKeys(t, "log")
	fsys := vfs.NewMem()
	l := openT(t, "/l", smallOpts(fsys))
	evs := workload.New(workload.Config{Seed: 4, OutlierRate: -1}).Batch(70)
	cps := [][]byte{nil}
	cp0, err := l.Checkpoint(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	cps[0] = cp0
	for n := 1; n <= len(evs); n++ {
		if err := l.AppendEvents(ctx, evs[n-1:n]); err != nil {
			t.Fatal(err)
		}
		if n%29 == 0 {
			l.Flush()
		}
		cp, err := l.Checkpoint(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		cps = append(cps, cp)
	}
	check := func(l *ledger.Ledger, what string) {
		ref := refFromLedger(t, l)
		for o := 0; o < len(cps); o++ {
			for n := o; n < len(cps); n++ {
				p, err := l.ProveConsistency(ctx, cps[o], cps[n])
				if err != nil {
					t.Fatalf("%s: %d→%d: %v", what, o, n, err)
				}
				if o > 0 {
					if err := tlog.CheckTree(p.Path, int64(n), ref.root(t, int64(n)), int64(o), ref.root(t, int64(o))); err != nil {
						t.Fatalf("%s: %d→%d: tlog.CheckTree: %v", what, o, n, err)
					}
				}
				if _, _, err := p.Verify(v); err != nil {
					t.Fatalf("%s: %d→%d: %v", what, o, n, err)
				}
			}
		}
	}
	check(l, "live")
	if _, err := l.Compact(ctx, ledger.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	check(l, "compacted")
	l.Close()
	l2 := openT(t, "/l", smallOpts(fsys))
	check(l2, "reopened")
	// A checkpoint of another log is refused.
	other := openT(t, "/o", smallOpts(fsys))
	if err := other.AppendEvents(ctx, workload.New(workload.Config{Seed: 77}).Batch(95)); err != nil {
		t.Fatal(err)
	}
	if _, err := other.ProveConsistency(ctx, cps[50], cps[70]); !errors.Is(err, ledger.ErrIntegrity) {
		t.Fatalf("another ledger's checkpoints: %v", err)
	}
}

// TestTreeSurvivesCompactionAndRetention: compaction with clustering
// changes no checkpoint; retention keeps consistency from older
// checkpoints and Stat says from where inclusion proofs are possible.
func TestTreeSurvivesCompactionAndRetention(t *testing.T) {
	ctx := context.Background()
	s, v := testKeys(t, "log")
	fsys := vfs.NewMem()
	o := smallOpts(fsys)
	l := openT(t, "/l", o)
	g := workload.New(workload.Config{Seed: 8, OutlierRate: -1})
	var all []ledger.ExperienceEventEnvelope
	var cps [][]byte
	for i := 0; i < 8; i++ {
		b := g.Batch(53)
		all = append(all, b...)
		if err := l.AppendEvents(ctx, b); err != nil {
			t.Fatal(err)
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		cp, _ := l.Checkpoint(ctx, s)
		cps = append(cps, cp)
	}
	before, err := l.TreeHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each segment rewritten alone, clustered.
	if _, err := l.Compact(ctx, ledger.CompactOptions{TargetBytes: 1}); err != nil {
		t.Fatal(err)
	}
	after, _ := l.TreeHead(ctx)
	if before != after {
		t.Fatalf("compaction changed the tree head: %+v → %+v", before, after)
	}
	// Retention: drop events older than the 4th batch's first.
	bound := all[3*53].OccurredAt
	rep, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &bound, TargetBytes: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DroppedEvents == 0 {
		t.Fatal("nothing dropped")
	}
	st, _ := l.Stat(ctx, false)
	if st.ProofsFrom != rep.DroppedThroughSeq+1 || st.TreeBytes == 0 {
		t.Fatalf("stat: proofs from %d, dropped through %d, tree bytes %d", st.ProofsFrom, rep.DroppedThroughSeq, st.TreeBytes)
	}
	// 48-byte header, then 520 bytes per wholly dropped chunk of 16.
	if want := int64(48 + 520*(rep.DroppedThroughSeq/16)); st.TreeLeavesBytes != want {
		t.Fatalf("stat: %d bytes of kept leaf hashes, want %d", st.TreeLeavesBytes, want)
	}
	if h, _ := l.TreeHead(ctx); h != after {
		t.Fatalf("retention changed the tree head")
	}
	// Reopen: the tree comes from TREE (it cannot be rebuilt any more).
	l.Close()
	l = openT(t, "/l", o)
	if h, err := l.TreeHead(ctx); err != nil || h != after {
		t.Fatalf("after reopen: %+v %v", h, err)
	}
	last := cps[len(cps)-1]
	// Every older checkpoint, inside the dropped prefix or not, still
	// proves (the dropped events' leaf hashes are kept).
	proveAll := func(l *ledger.Ledger, what string) {
		t.Helper()
		for i, cp := range cps {
			p, err := l.ProveConsistency(ctx, cp, last)
			if err != nil {
				t.Fatalf("%s: checkpoint %d: %v", what, i, err)
			}
			if _, _, err := p.Verify(v); err != nil {
				t.Fatalf("%s: checkpoint %d: %v", what, i, err)
			}
		}
	}
	proveAll(l, "reopened")
	if _, err := l.ProveInclusion(ctx, all[0].EventID, last); err == nil {
		t.Fatal("a dropped event proved included")
	}
	p, err := l.ProveInclusion(ctx, all[len(all)-1].EventID, last)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(v); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// A backup carries TREE: after retention it cannot be rebuilt.
	if _, err := l.Backup(ctx, "/bk"); err != nil {
		t.Fatal(err)
	}
	bk := openT(t, "/bk", o)
	if h, err := bk.TreeHead(ctx); err != nil || h != after {
		t.Fatalf("backup's tree head: %+v %v", h, err)
	}
	proveAll(bk, "backup")
	if _, err := bk.Verify(ctx, nil); err != nil {
		t.Fatalf("backup: verify: %v", err)
	}
}

// TestTreeRetentionCutsAChunk drops every sealed segment (the cut falls
// inside a chunk of 16): the tree keeps the dropped leaves of that chunk,
// so later appends extend it, across reopen and backup, and consistency
// from the old checkpoints still proves.
func TestTreeRetentionCutsAChunk(t *testing.T) {
	ctx := context.Background()
	s, v := testKeys(t, "log")
	fsys := vfs.NewMem()
	o := smallOpts(fsys)
	l := openT(t, "/l", o)
	g := workload.New(workload.Config{Seed: 18, OutlierRate: -1})
	if err := l.AppendEvents(ctx, g.Batch(101)); err != nil { // 101: not a multiple of 16
		t.Fatal(err)
	}
	l.Flush()
	old, _ := l.Checkpoint(ctx, s)
	bound := ledger.Timestamp("9999")
	rep, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &bound})
	if err != nil || rep.DroppedThroughSeq != 101 {
		t.Fatalf("retention: %+v %v", rep, err)
	}
	if err := l.AppendEvents(ctx, g.Batch(60)); err != nil {
		t.Fatal(err)
	}
	check := func(l *ledger.Ledger, what string) {
		cp, err := l.Checkpoint(ctx, s)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		p, err := l.ProveConsistency(ctx, old, cp)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, _, err := p.Verify(v); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if _, err := l.Verify(ctx, nil); err != nil {
			t.Fatalf("%s: verify: %v", what, err)
		}
	}
	check(l, "live")
	l.Flush()
	check(l, "sealed")
	if _, err := l.Backup(ctx, "/bk"); err != nil {
		t.Fatal(err)
	}
	l.Close()
	check(openT(t, "/l", o), "reopened")
	check(openT(t, "/bk", o), "backup")
}

// TestTreeFileRebuiltAndVerified: a missing or torn TREE is rebuilt at
// Open (and said so in the log); a TREE whose frames check out but hold a
// wrong hash is caught by Verify.
func TestTreeFileRebuiltAndVerified(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	var logBuf bytes.Buffer
	o := smallOpts(fsys)
	o.Logger = newTextLogger(&logBuf)
	l := openT(t, "/l", o)
	if err := l.AppendEvents(ctx, workload.New(workload.Config{Seed: 9}).Batch(400)); err != nil {
		t.Fatal(err)
	}
	want, _ := l.TreeHead(ctx)
	l.Close()
	orig, err := fsys.ReadFile("/l/TREE")
	if err != nil || len(orig) < 100 {
		t.Fatalf("TREE: %d bytes, %v", len(orig), err)
	}
	reopen := func(what string) *ledger.Ledger {
		l := openT(t, "/l", o)
		if h, err := l.TreeHead(ctx); err != nil || h != want {
			t.Fatalf("%s: tree head %+v %v", what, h, err)
		}
		if _, err := l.Verify(ctx, nil); err != nil {
			t.Fatalf("%s: verify: %v", what, err)
		}
		l.Close()
		return l
	}
	fsys.Remove("/l/TREE")
	logBuf.Reset()
	reopen("missing")
	if !bytes.Contains(logBuf.Bytes(), []byte("building it from the events")) {
		t.Errorf("log does not say the tree is built: %s", logBuf.String())
	}
	if b, _ := fsys.ReadFile("/l/TREE"); !bytes.Equal(b, orig) {
		t.Error("rebuilt TREE differs from the original")
	}
	fsys.WriteFile("/l/TREE", orig[:len(orig)-13])
	reopen("torn")
	fsys.WriteFile("/l/TREE", append(append([]byte(nil), orig...), 1, 2, 3))
	reopen("garbage tail")
	bad := append([]byte(nil), orig...)
	bad[20] ^= 1 // header
	fsys.WriteFile("/l/TREE", bad)
	reopen("bad header")

	// A wrong hash in a frame whose checksum is fixed up: Open's spot check
	// looks at the last chunk only, Verify at all.
	bad = append([]byte(nil), orig...)
	off := ledger.TreeTestHashOffset(bad, 0)
	bad[off] ^= 0x80
	ledger.TreeTestFixFrame(bad)
	fsys.WriteFile("/l/TREE", bad)
	l2 := openT(t, "/l", o)
	if _, err := l2.Verify(ctx, nil); !errors.Is(err, ledger.ErrIntegrity) {
		t.Fatalf("verify of a tampered TREE: %v", err)
	}
}

// TestTreeOff: with NoMerkleTree no TREE is written and proofs fail.
func TestTreeOff(t *testing.T) {
	ctx := context.Background()
	fsys := vfs.NewMem()
	o := smallOpts(fsys)
	o.NoMerkleTree = true
	l := openT(t, "/l", o)
	l.AppendEvents(ctx, workload.New(workload.Config{Seed: 9}).Batch(100))
	l.Flush()
	if _, err := l.TreeHead(ctx); !errors.Is(err, ledger.ErrNoTree) {
		t.Fatal(err)
	}
	if _, err := fsys.Stat("/l/TREE"); err == nil {
		t.Fatal("TREE written with the tree off")
	}
}

// TestTreeCrashDuringMaintenance crashes at every mutating file-system
// operation of a run that appends and seals (so tree maintenance happens
// between the segment, the manifest and the WAL checkpoint), in every
// crash mode; each reopened image must hold every acknowledged event and
// a tree equal to a rebuild (TreeHead against the reference, Verify).
func TestTreeCrashDuringMaintenance(t *testing.T) {
	ctx := context.Background()
	evs := workload.New(workload.Config{Seed: 12, OutlierRate: -1}).Batch(200)
	run := func(fsys vfs.FS) int {
		o := smallOpts(fsys)
		o.Sync = ledger.SyncAlways
		l, err := ledger.Open("/l", o)
		if err != nil {
			return 0
		}
		defer l.Close()
		acked := 0
		for i := 0; i < len(evs); i += 25 {
			if err := l.AppendEvents(ctx, evs[i:i+25]); err != nil {
				return acked
			}
			acked = i + 25
			if i%50 == 25 {
				if err := l.Flush(); err != nil {
					return acked
				}
			}
		}
		return acked
	}
	probe := vfs.NewMem()
	run(probe)
	total := probe.Ops()
	rng := mrand.New(mrand.NewSource(1))
	step := 1
	if testing.Short() {
		step = 7
	}
	for n := 1; n < total; n += step {
		mem := vfs.NewMem()
		mem.SetCrashAfter(n)
		acked := run(mem)
		for _, mode := range vfs.CrashModes {
			img := mem.Crash(mode, rng)
			l, err := ledger.Open("/l", smallOpts(img))
			if err != nil {
				if acked == 0 {
					continue
				}
				t.Fatalf("op %d mode %v: open: %v", n, mode, err)
			}
			if got := l.LastSeq(); got < uint64(acked) {
				t.Fatalf("op %d mode %v: %d events after the crash, %d acknowledged", n, mode, got, acked)
			}
			ref := refFromLedger(t, l)
			h, err := l.TreeHead(ctx)
			if err != nil || h.Size != ref.n || h.Root != ref.root(t, ref.n) {
				t.Fatalf("op %d mode %v: tree head %+v %v, reference size %d", n, mode, h, err, ref.n)
			}
			if _, err := l.Verify(ctx, nil); err != nil {
				t.Fatalf("op %d mode %v: verify: %v", n, mode, err)
			}
			l.Close()
		}
	}
}

func newTextLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// TestTreeLeafHash: the sealer's leaf hash is tlog.RecordHash.
func TestTreeLeafHash(t *testing.T) {
	for _, n := range []int{0, 1, 55, 56, 63, 64, 65, 1000, 70000} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*7 + n)
		}
		if got, want := ledger.LeafHashForTest(b), tlog.RecordHash(b); got != [32]byte(want) {
			t.Fatalf("%d bytes: %x, tlog says %x", n, got, want)
		}
	}
}
