package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgertest"
	"github.com/exledger/exledger/vfs"
)

func TestSimilarMemStore(t *testing.T) {
	ledgertest.RunSimilar(t, ledgertest.SimilarConfig{
		Open: func(t *testing.T, dim int) ledgertest.SimilarStore { return ledger.NewMemStoreWithDim(dim) },
	})
}

// vecOpts are small options so the suite's batches span several sealed
// segments and a memtable.
func vecOpts(fsys vfs.FS, dim int) *ledger.Options {
	o := smallOpts(fsys)
	o.SegmentBytes = 4 << 10
	o.EmbeddingDim = dim
	return o
}

func TestSimilarLedger(t *testing.T) {
	ledgertest.RunSimilar(t, ledgertest.SimilarConfig{
		Open: func(t *testing.T, dim int) ledgertest.SimilarStore {
			return openT(t, t.TempDir(), vecOpts(nil, dim))
		},
	})
}

// TestSimilarLedgerAcrossReopen checks every answer again after a reopen,
// alternately recovering the tail from the WAL and after sealing it.
func TestSimilarLedgerAcrossReopen(t *testing.T) {
	ledgertest.RunSimilar(t, ledgertest.SimilarConfig{
		Open: func(t *testing.T, dim int) ledgertest.SimilarStore {
			fsys := vfs.NewMem()
			l := openT(t, "/l", vecOpts(fsys, dim))
			return &vecLedger{Ledger: l, fs: fsys, dim: dim}
		},
		Reopen: func(t *testing.T, st ledgertest.SimilarStore) ledgertest.SimilarStore {
			v := st.(*vecLedger)
			v.n++
			if v.n%2 == 0 {
				if err := v.Flush(); err != nil {
					t.Fatalf("flush: %v", err)
				}
			}
			o := vecOpts(v.fs, v.dim)
			o.KeepTailOnClose = v.n%2 == 1
			if err := v.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			// Reopen without the dimension: it comes from the manifest.
			o.EmbeddingDim = 0
			return &vecLedger{Ledger: openT(t, "/l", o), fs: v.fs, dim: v.dim, n: v.n}
		},
	})
}

type vecLedger struct {
	*ledger.Ledger
	fs  vfs.FS
	dim int
	n   int
}

func vecEvent(id, tenant string, seed int, v ...float32) ledger.VectorEvent {
	e := ledger.ExperienceEventEnvelope{
		EventID:    ledger.EventID(id),
		OccurredAt: ledger.Timestamp(fmt.Sprintf("2026-01-01T00:00:%02dZ", seed%60)),
		Event:      &ledger.FactPromoted{ProposalID: "p-1", FactID: ledger.FactID(fmt.Sprintf("fact-%d", seed)), PromotedBy: "test", Reason: "r"},
	}
	if tenant != "" {
		t := ledger.TenantID(tenant)
		e.TenantID = &t
	}
	return ledger.VectorEvent{Envelope: e, Vector: v}
}

func randVec(r *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// vecCorpus appends n random vector events (tenants t0..t3) in batches of
// 7, with a plain event after every third batch.
func vecCorpus(t *testing.T, st ledgertest.SimilarStore, r *rand.Rand, dim, n int) {
	t.Helper()
	ctx := context.Background()
	var batch []ledger.VectorEvent
	for i := range n {
		batch = append(batch, vecEvent(fmt.Sprintf("e%05d", i), fmt.Sprintf("t%d", i%4), i, randVec(r, dim)...))
		if len(batch) == 7 || i == n-1 {
			if err := st.AppendVectorEvents(ctx, batch); err != nil {
				t.Fatalf("append: %v", err)
			}
			batch = batch[:0]
			if i%21 == 20 {
				p := vecEvent(fmt.Sprintf("p%05d", i), "t0", i).Envelope
				if err := st.AppendEvent(ctx, p); err != nil {
					t.Fatalf("append: %v", err)
				}
			}
		}
	}
}

// sameAnswers requires bit-identical answers from the ledger and the oracle.
func sameAnswers(t *testing.T, what string, l, oracle ledgertest.SimilarStore, qs []ledger.SimilarQuery) {
	t.Helper()
	ctx := context.Background()
	for i, q := range qs {
		got, err := l.SearchSimilar(ctx, q)
		if err != nil {
			t.Fatalf("%s: query %d: %v", what, i, err)
		}
		want, err := oracle.SearchSimilar(ctx, q)
		if err != nil {
			t.Fatalf("%s: oracle query %d: %v", what, i, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%s: query %d: %d results, oracle %d", what, i, len(got), len(want))
		}
		for j := range got {
			if got[j].Envelope.EventID != want[j].Envelope.EventID || math.Float32bits(got[j].Distance) != math.Float32bits(want[j].Distance) {
				t.Fatalf("%s: query %d result %d: %s@%v, oracle %s@%v", what, i, j,
					got[j].Envelope.EventID, got[j].Distance, want[j].Envelope.EventID, want[j].Distance)
			}
		}
	}
}

func randQueries(r *rand.Rand, dim, n int) []ledger.SimilarQuery {
	var qs []ledger.SimilarQuery
	for i := range n {
		q := ledger.SimilarQuery{Vector: randVec(r, dim), Limit: 1 + i%15}
		if i%2 == 1 {
			ten := ledger.TenantID(fmt.Sprintf("t%d", i%4))
			q.Filter.TenantID = &ten
		}
		qs = append(qs, q)
	}
	return qs
}

// TestSimilarBitIdentical: the ledger (sealed segments, compacted segments
// and memtable) gives the oracle's distances bit for bit.
func TestSimilarBitIdentical(t *testing.T) {
	const dim = 37 // not a multiple of the kernel's 8 lanes
	r := rand.New(rand.NewPCG(11, 12))
	fsys := vfs.NewMem()
	l := openT(t, "/l", vecOpts(fsys, dim))
	oracle := ledger.NewMemStoreWithDim(dim)
	vecCorpus(t, l, rand.New(rand.NewPCG(1, 1)), dim, 600)
	vecCorpus(t, oracle, rand.New(rand.NewPCG(1, 1)), dim, 600)
	// One more event, so the memtable is not empty whatever sealed last.
	last := vecEvent("last", "t1", 7, randVec(r, dim)...)
	for _, st := range []ledgertest.SimilarStore{l, oracle} {
		if err := st.AppendVectorEvents(context.Background(), []ledger.VectorEvent{last}); err != nil {
			t.Fatal(err)
		}
	}
	qs := randQueries(r, dim, 40)
	if m := l.Metrics(); m.Segments < 3 || m.MemEvents == 0 {
		t.Fatalf("want several segments and a memtable, have %d segments, %d unsealed", m.Segments, m.MemEvents)
	}
	sameAnswers(t, "sealed+memtable", l, oracle, qs)
	if _, err := l.Compact(context.Background(), ledger.CompactOptions{TargetBytes: 64 << 10}); err != nil {
		t.Fatal(err)
	}
	sameAnswers(t, "compacted", l, oracle, qs)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, "/l", vecOpts(fsys, 0))
	sameAnswers(t, "reopened", l, oracle, qs)
	rep, err := l.Verify(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Vectors != 601 {
		t.Fatalf("verify checked %d vectors, want 601", rep.Vectors)
	}
}

func TestVectorIdempotentRetry(t *testing.T) {
	ctx := context.Background()
	for _, sealed := range []bool{false, true} {
		l := openT(t, t.TempDir(), vecOpts(nil, 3))
		a := vecEvent("a", "x", 1, 1, 2, 3)
		b := vecEvent("b", "x", 2, 3, 2, 1)
		if err := l.AppendVectorEvents(ctx, []ledger.VectorEvent{a, b}); err != nil {
			t.Fatal(err)
		}
		if sealed {
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.AppendVectorEvents(ctx, []ledger.VectorEvent{a, b}); err != nil {
			t.Fatalf("sealed=%v: identical retry: %v", sealed, err)
		}
		if n := l.LastSeq(); n != 2 {
			t.Fatalf("sealed=%v: identical retry stored events: last seq %d", sealed, n)
		}
		other := a
		other.Vector = []float32{1, 2, 3.5}
		err := l.AppendVectorEvents(ctx, []ledger.VectorEvent{other})
		if !errors.Is(err, ledger.ErrInvalidQuery) || err.Error() != "Invalid query: duplicate event_id a with different content" {
			t.Fatalf("sealed=%v: other vector: %v", sealed, err)
		}
		if err := l.AppendEvent(ctx, a.Envelope); err == nil || !strings.Contains(err.Error(), "duplicate event_id a") {
			t.Fatalf("sealed=%v: same event without its vector: %v", sealed, err)
		}
		// A retry inside one batch: the second copy is dropped.
		c := vecEvent("c", "x", 3, 0, 0, 1)
		if err := l.AppendVectorEvents(ctx, []ledger.VectorEvent{c, c}); err != nil {
			t.Fatal(err)
		}
		if n := l.LastSeq(); n != 3 {
			t.Fatalf("last seq %d, want 3", n)
		}
	}
}

// TestVectorAtomicBatch: a bad vector anywhere rejects the whole batch.
func TestVectorAtomicBatch(t *testing.T) {
	ctx := context.Background()
	l := openT(t, t.TempDir(), vecOpts(nil, 2))
	err := l.AppendVectorEvents(ctx, []ledger.VectorEvent{vecEvent("a", "", 1, 1, 0), vecEvent("b", "", 2, 1)})
	if err == nil || err.Error() != "Invalid query: vector dimension mismatch: expected 2, got 1" {
		t.Fatalf("got %v", err)
	}
	if l.LastSeq() != 0 {
		t.Fatal("a rejected batch stored events")
	}
}

// TestVectorsOutsideTheChain: vectors change neither the hash chain nor
// the events' canonical bytes.
func TestVectorsOutsideTheChain(t *testing.T) {
	ctx := context.Background()
	withVec := openT(t, t.TempDir(), vecOpts(nil, 3))
	plain := openT(t, t.TempDir(), smallOpts(nil))
	for i := range 50 {
		e := vecEvent(fmt.Sprintf("e%d", i), "x", i, float32(i), 1, 2)
		if err := withVec.AppendVectorEvents(ctx, []ledger.VectorEvent{e}); err != nil {
			t.Fatal(err)
		}
		if err := plain.AppendEvent(ctx, e.Envelope); err != nil {
			t.Fatal(err)
		}
	}
	withVec.Flush()
	h1, _ := withVec.Head()
	h2, _ := plain.Head()
	if h1.Hash != h2.Hash || h1.Seq != h2.Seq {
		t.Fatalf("heads differ: %s vs %s", h1.HashHex, h2.HashHex)
	}
}

func TestEmbeddingDimFixed(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, vecOpts(nil, 8))
	l.Close()
	if _, err := ledger.Open(dir, vecOpts(nil, 9)); err == nil || !strings.Contains(err.Error(), "Options.EmbeddingDim is 9 but the ledger's embedding dimension is 8") {
		t.Fatalf("other dimension: %v", err)
	}
	l2 := openT(t, dir, vecOpts(nil, 0))
	if d := l2.EmbeddingDim(); d != 8 {
		t.Fatalf("dimension %d from the manifest, want 8", d)
	}
	l2.Close()
	// A ledger created without one refuses the vector calls.
	l3 := openT(t, t.TempDir(), smallOpts(nil))
	if _, err := l3.SearchSimilar(context.Background(), ledger.SimilarQuery{Vector: []float32{1}}); !errors.Is(err, ledger.ErrInvalidQuery) {
		t.Fatalf("no dimension: %v", err)
	}
}

// TestVectorsBackupAndRetention: a backup carries the vector files and the
// unsealed vectors; retention drops whole segments with their files.
func TestVectorsBackupAndRetention(t *testing.T) {
	ctx := context.Background()
	const dim = 5
	dir := t.TempDir()
	l := openT(t, dir, vecOpts(nil, dim))
	oracle := ledger.NewMemStoreWithDim(dim)
	vecCorpus(t, l, rand.New(rand.NewPCG(2, 2)), dim, 300)
	vecCorpus(t, oracle, rand.New(rand.NewPCG(2, 2)), dim, 300)
	qs := randQueries(rand.New(rand.NewPCG(3, 3)), dim, 20)
	bdir := filepath.Join(t.TempDir(), "copy")
	if _, err := l.Backup(ctx, bdir); err != nil {
		t.Fatal(err)
	}
	b := openT(t, bdir, nil)
	sameAnswers(t, "backup", b, oracle, qs)
	b.Close()
	// Retention: the first segment (events 0..~20, times :00..:20) goes.
	bound := ledger.Timestamp("2026-01-01T00:00:30Z")
	rep, err := l.Compact(ctx, ledger.CompactOptions{RetainAfter: &bound})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DroppedSegments == 0 {
		t.Fatal("retention dropped nothing")
	}
	l.Close()
	names, _ := os.ReadDir(filepath.Join(dir, "seg"))
	have := map[string]bool{}
	for _, n := range names {
		have[n.Name()] = true
	}
	vecs := 0
	for n := range have {
		if base, ok := strings.CutSuffix(n, ".vec"); ok {
			vecs++
			if !have[base+".seg"] {
				t.Fatalf("vector file %s outlived its segment", n)
			}
		}
	}
	if vecs == 0 {
		t.Fatal("no vector file left")
	}
	l = openT(t, dir, nil)
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// TestVectorOrphanRemoved: a vector file the manifest does not name (a
// crash mid-seal) is removed at Open.
func TestVectorOrphanRemoved(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, vecOpts(nil, 2))
	l.Close()
	orphan := filepath.Join(dir, "seg", "0000000000000001-0000000000000002-000009.vec")
	if err := os.WriteFile(orphan, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, nil)
	l.Close()
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan vector file kept: %v", err)
	}
}

// TestVectorFileDamageAndRepair: a flipped byte in a vector file is
// reported by SearchSimilar and Verify; Repair keeps the segment's events
// without their vectors and says how many it dropped.
func TestVectorFileDamageAndRepair(t *testing.T) {
	ctx := context.Background()
	const dim = 4
	dir := t.TempDir()
	l := openT(t, dir, vecOpts(nil, dim))
	vecCorpus(t, l, rand.New(rand.NewPCG(9, 9)), dim, 200)
	l.Close()
	vecs, _ := filepath.Glob(filepath.Join(dir, "seg", "*.vec"))
	if len(vecs) < 2 {
		t.Fatalf("%d vector files", len(vecs))
	}
	victim := vecs[len(vecs)/2]
	b, _ := os.ReadFile(victim)
	b[len(b)/2] ^= 0x10
	os.WriteFile(victim, b, 0o600)

	l = openT(t, dir, nil)
	_, err := l.SearchSimilar(ctx, ledger.SimilarQuery{Vector: []float32{1, 0, 0, 0}})
	var ce *ledger.CorruptionError
	if !errors.As(err, &ce) || filepath.Base(ce.File) != filepath.Base(victim) {
		t.Fatalf("search over a damaged vector file: %v", err)
	}
	_, err = l.Verify(ctx, nil)
	var ie *ledger.IntegrityError
	if !errors.As(err, &ie) || filepath.Base(ie.File) != filepath.Base(victim) {
		t.Fatalf("verify: %v", err)
	}
	events := l.LastSeq()
	l.Close()
	rep, err := ledger.Repair(dir, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.LostVectors == 0 || rep.LostEvents != 0 {
		t.Fatalf("repair: %+v", rep)
	}
	l = openT(t, dir, nil)
	if _, err := l.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if l.LastSeq() != events {
		t.Fatalf("repair kept %d of %d events", l.LastSeq(), events)
	}
	got, err := l.SearchSimilar(ctx, ledger.SimilarQuery{Vector: []float32{1, 0, 0, 0}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(got)) != 200-rep.LostVectors {
		t.Fatalf("%d vectors searchable after repair, want %d", len(got), 200-rep.LostVectors)
	}
}

// TestVectorJSONLRoundTrip: export --vectors and import give back every
// vector bit for bit, including values with long shortest forms.
func TestVectorJSONLRoundTrip(t *testing.T) {
	ctx := context.Background()
	src := openT(t, t.TempDir(), vecOpts(nil, 4))
	vals := [][]float32{
		{0.1, 1.0 / 3, -2.5e-7, 16777217},
		{1.1754944e-38, 1e-45, 3.4e18, -0},
		{float32(math.Pi), float32(math.E), -1, 123456.79},
	}
	for i, v := range vals {
		if err := src.AppendVectorEvents(ctx, []ledger.VectorEvent{vecEvent(fmt.Sprintf("v%d", i), "x", i, v...)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := src.AppendEvent(ctx, vecEvent("plain", "x", 9).Envelope); err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if n, err := ledger.ExportVectorJSONL(ctx, src, ledger.EventQuery{}, &buf); err != nil || n != 4 {
		t.Fatalf("export: %d, %v", n, err)
	}
	dst := openT(t, t.TempDir(), vecOpts(nil, 4))
	if _, err := ledger.ImportJSONL(ctx, dst, strings.NewReader(buf.String()), ledger.ImportOptions{BatchSize: 3}); err != nil {
		t.Fatal(err)
	}
	i := 0
	for ve, err := range dst.ScanVectors(ctx, ledger.EventQuery{}, 1) {
		if err != nil {
			t.Fatal(err)
		}
		if i < len(vals) {
			for j := range vals[i] {
				if math.Float32bits(ve.Vector[j]) != math.Float32bits(vals[i][j]) {
					t.Fatalf("event %d component %d: %v, want %v", i, j, ve.Vector[j], vals[i][j])
				}
			}
		} else if ve.Vector != nil {
			t.Fatalf("the plain event came back with a vector %v", ve.Vector)
		}
		i++
	}
	if i != 4 {
		t.Fatalf("%d events", i)
	}
	// A line with a bad vector is refused with its line number.
	bad := `{"event_id":"b1","occurred_at":"t","event":{"type":"FactPromoted","data":{"proposal_id":"p","fact_id":"f","promoted_by":"a","reason":"r","requires_human":false}},"vector":[1,2]}`
	_, err := ledger.ImportJSONL(ctx, dst, strings.NewReader(bad+"\n"), ledger.ImportOptions{})
	var ie *ledger.ImportError
	if !errors.As(err, &ie) || ie.Line != 1 || !strings.Contains(err.Error(), "vector dimension mismatch: expected 4, got 2") {
		t.Fatalf("bad vector line: %v", err)
	}
}

// clustered returns n vectors of dimension dim drawn around 64 random
// centres (embedding-like structure; uniform random vectors have none).
func clustered(r *rand.Rand, n, dim int, spread float64) [][]float32 {
	centres := make([][]float32, 64)
	for i := range centres {
		centres[i] = randVec(r, dim)
	}
	out := make([][]float32, n)
	for i := range out {
		c := centres[r.IntN(len(centres))]
		v := make([]float32, dim)
		for j := range v {
			v[j] = c[j] + float32(spread*r.NormFloat64())
		}
		out[i] = v
	}
	return out
}

// TestANNRecall: searches that use the approximate index find at least
// 90% of the exact top 10 (unfiltered and tenant-filtered) on clustered
// vectors, and every distance they report is the exact one.
func TestANNRecall(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	ctx := context.Background()
	const dim, n = 32, 12000
	r := rand.New(rand.NewPCG(21, 22))
	vecs := clustered(r, n, dim, 0.35)
	dir := t.TempDir()
	o := vecOpts(nil, dim)
	o.SegmentBytes = 64 << 20
	o.VectorIndex.MinCandidates = 1000
	l := openT(t, dir, o)
	var batch []ledger.VectorEvent
	for i, v := range vecs {
		batch = append(batch, vecEvent(fmt.Sprintf("a%05d", i), fmt.Sprintf("t%d", i%4), i, v...))
		if len(batch) == 500 {
			if err := l.AppendVectorEvents(ctx, batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.BuildVectorIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	st, _ := l.Stat(ctx, false)
	if st.VectorIndexBytes == 0 {
		t.Fatal("no approximate index was written")
	}
	l.Close()
	ann := openT(t, dir, o)
	eo := *o
	eo.VectorIndex.Exact = true
	eo.ReadOnly = true
	exact := openT(t, dir, &eo)
	hits, total := 0, 0
	for i := range 60 {
		q := ledger.SimilarQuery{Vector: clustered(r, 1, dim, 0.35)[0], Limit: 10}
		if i%2 == 1 {
			ten := ledger.TenantID(fmt.Sprintf("t%d", i%4))
			q.Filter.TenantID = &ten
		}
		got, err := ann.SearchSimilar(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		want, err := exact.SearchSimilar(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		q.Limit = n
		all, _ := exact.SearchSimilar(ctx, q)
		dist := map[ledger.EventID]float32{}
		for _, w := range all {
			dist[w.Envelope.EventID] = w.Distance
		}
		in := map[ledger.EventID]bool{}
		for _, w := range want {
			in[w.Envelope.EventID] = true
		}
		for _, g := range got {
			if math.Float32bits(dist[g.Envelope.EventID]) != math.Float32bits(g.Distance) {
				t.Fatalf("approximate search reports %s at %v, exact distance %v", g.Envelope.EventID, g.Distance, dist[g.Envelope.EventID])
			}
			if q.Filter.TenantID != nil && *g.Envelope.TenantID != *q.Filter.TenantID {
				t.Fatalf("filtered search returned tenant %s", *g.Envelope.TenantID)
			}
			if in[g.Envelope.EventID] {
				hits++
			}
		}
		total += len(want)
	}
	recall := float64(hits) / float64(total)
	t.Logf("recall@10 = %.3f over 60 queries (%d vectors, one segment)", recall, n)
	if recall < 0.9 {
		t.Fatalf("recall@10 %.3f < 0.9", recall)
	}
}

// TestVectorCallerBuffersNotKept: the ledger keeps its own copy of every
// vector (the memtable's views into its encoded batch): overwriting the
// caller's slices after AppendVectorEvents changes nothing, before and
// after the seal, and the vectors read back are the appended ones bit for
// bit (odd batch sizes and events without vectors shift the alignment of
// the records in the batch buffer).
func TestVectorCallerBuffersNotKept(t *testing.T) {
	ctx := context.Background()
	const dim = 5
	l, err := ledger.Open(t.TempDir(), &ledger.Options{EmbeddingDim: dim, SegmentBytes: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := rand.New(rand.NewPCG(9, 9))
	want := map[ledger.EventID][]float32{}
	for b := range 7 {
		var batch []ledger.VectorEvent
		for i := range 2*b + 1 {
			id := fmt.Sprintf("c%d-%d", b, i)
			if i%3 == 2 {
				if err := l.AppendEvents(ctx, []ledger.ExperienceEventEnvelope{vecEvent(id+"-plain", "t0", i).Envelope}); err != nil {
					t.Fatal(err)
				}
			}
			v := randVec(r, dim)
			vid := id + strings.Repeat("x", i) // varying record sizes
			want[ledger.EventID(vid)] = slices.Clone(v)
			batch = append(batch, vecEvent(vid, "t0", i, v...))
		}
		if err := l.AppendVectorEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
		for _, e := range batch {
			for j := range e.Vector {
				e.Vector[j] = float32(math.NaN())
			}
		}
	}
	check := func(stage string) {
		t.Helper()
		n := 0
		for e, err := range l.ScanVectors(ctx, ledger.EventQuery{}, 0) {
			if err != nil {
				t.Fatal(err)
			}
			w, ok := want[e.Envelope.EventID]
			if !ok {
				if e.Vector != nil {
					t.Fatalf("%s: %s has a vector", stage, e.Envelope.EventID)
				}
				continue
			}
			n++
			if !slices.Equal(e.Vector, w) {
				t.Fatalf("%s: %s: vector %v, appended %v", stage, e.Envelope.EventID, e.Vector, w)
			}
			res, err := l.SearchSimilar(ctx, ledger.SimilarQuery{Vector: w, Limit: 1})
			if err != nil || len(res) != 1 || res[0].Distance > 1e-6 {
				t.Fatalf("%s: search for %s: %v %v", stage, e.Envelope.EventID, res, err)
			}
		}
		if n != len(want) {
			t.Fatalf("%s: %d vectors, want %d", stage, n, len(want))
		}
	}
	check("memtable")
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	check("sealed")
}
