package ledger_test

import (
	"bytes"
	"cmp"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/proof"
	"github.com/exledger/exledger/segment"
	"github.com/exledger/exledger/vfs"
	"github.com/exledger/exledger/workload"
)

// clusterPair builds two ledgers from the same events, one sealed in log
// order and one clustered, with several sealed segments and an unsealed
// tail each.
func clusterPair(t *testing.T) (logL, cl *ledger.Ledger, logFS, clFS *vfs.MemFS, g *workload.Generator, vecs map[ledger.EventID][]float32) {
	t.Helper()
	ctx := context.Background()
	logFS, clFS = vfs.NewMem(), vfs.NewMem()
	lo, co := smallOpts(logFS), smallOpts(clFS)
	lo.SealLayout, co.SealLayout = ledger.SealLayoutLog, ledger.SealLayoutClustered
	lo.EmbeddingDim, co.EmbeddingDim = relDim, relDim
	logL, cl = openT(t, "/l", lo), openT(t, "/l", co)
	g = workload.New(workload.Config{Seed: 23, OutlierRate: -1, Tenants: 4})
	vecs = map[ledger.EventID][]float32{}
	for b := 0; b < 30; b++ {
		evs := g.Batch(50)
		for _, l := range []*ledger.Ledger{logL, cl} {
			var err error
			if b%5 == 4 { // some events carry vectors (the .vec sidecar)
				ves := make([]ledger.VectorEvent, len(evs))
				for i := range evs {
					ves[i] = ledger.VectorEvent{Envelope: evs[i], Vector: relVector(b, i)}
					vecs[evs[i].EventID] = ves[i].Vector
				}
				err = l.AppendVectorEvents(ctx, ves)
			} else {
				err = l.AppendEvents(ctx, evs)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	return logL, cl, logFS, clFS, g, vecs
}

// walkStoredRecords opens every segment file of fsys in name order and
// calls fn with it and each of its records in stored (block) order.
func walkStoredRecords(t *testing.T, fsys vfs.FS, fn func(r *segment.Reader, rec segment.Record)) {
	t.Helper()
	names, err := fsys.List("/l/seg")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.HasSuffix(n, ".seg") {
			continue
		}
		r, err := segment.Open(fsys, filepath.Join("/l/seg", n), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < r.NumBlocks(); i++ {
			b, err := r.Block(i)
			if err != nil {
				r.Close()
				t.Fatal(err)
			}
			for j := 0; j < b.Len(); j++ {
				fn(r, b.Record(j))
			}
		}
		r.Close()
	}
}

// segOrder reads every segment file of fsys in block order and returns,
// per segment, whether it is unordered and its records' (tenant, kind,
// time, seq) keys in stored order.
func segOrder(t *testing.T, fsys vfs.FS) (unordered []bool, keys [][]string) {
	t.Helper()
	var last *segment.Reader
	walkStoredRecords(t, fsys, func(r *segment.Reader, rec segment.Record) {
		if r != last {
			last = r
			unordered = append(unordered, r.Info().Unordered)
			keys = append(keys, nil)
		}
		h, err := ledger.DecodeHeader(rec.Data)
		if err != nil {
			t.Fatal(err)
		}
		keys[len(keys)-1] = append(keys[len(keys)-1], string(h.TenantID)+"\x00"+string(h.Kind)+"\x00"+string(h.OccurredAt))
	})
	return unordered, keys
}

// checkClustered fails unless fsys holds at least min segments, each
// unordered with its records stored sorted by (tenant, kind, time).
func checkClustered(t *testing.T, fsys vfs.FS, min int) {
	t.Helper()
	un, keys := segOrder(t, fsys)
	if len(un) < min {
		t.Fatalf("only %d segments", len(un))
	}
	for i := range un {
		if !un[i] {
			t.Fatalf("segment %d is ordered, want clustered", i)
		}
		for j := 1; j < len(keys[i]); j++ {
			if cmp.Compare(keys[i][j-1], keys[i][j]) > 0 {
				t.Fatalf("segment %d record %d out of cluster order: %q after %q", i, j, keys[i][j], keys[i][j-1])
			}
		}
	}
}

func TestSealClusteredLayout(t *testing.T) {
	ctx := context.Background()
	logL, cl, logFS, clFS, _, _ := clusterPair(t)
	for _, l := range []*ledger.Ledger{logL, cl} {
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	// The clustered ledger's segments are unordered and their records are
	// stored sorted by (tenant, kind, time); the log ones are not.
	checkClustered(t, clFS, 3)
	lun, lkeys := segOrder(t, logFS)
	sorted := 0
	for i := range lun {
		if lun[i] {
			t.Fatalf("log segment %d is unordered", i)
		}
		ok := true
		for j := 1; j < len(lkeys[i]); j++ {
			ok = ok && lkeys[i][j-1] <= lkeys[i][j]
		}
		if ok {
			sorted++
		}
	}
	if sorted == len(lun) {
		t.Fatal("the log-order fixture happens to be clustered: the test shows nothing")
	}
	st, err := cl.Stat(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Segments {
		if !s.Clustered {
			t.Fatalf("Stat: segment %s not clustered", s.Name)
		}
	}
}

func TestSealClusteredSameAnswersAndDigest(t *testing.T) {
	ctx := context.Background()
	logL, cl, _, clFS, g, vecs := clusterPair(t)
	// Seal both (the clustered one on its own schedule too), keeping an
	// unsealed tail: the last batch stays in the memtable.
	for _, l := range []*ledger.Ledger{logL, cl} {
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	tail := g.Batch(30)
	for _, l := range []*ledger.Ledger{logL, cl} {
		if err := l.AppendEvents(ctx, tail); err != nil {
			t.Fatal(err)
		}
	}
	qs := queriesFor(g)
	want := snapshotQueries(t, logL, qs)
	if got := snapshotQueries(t, cl, qs); !equalIDs(want, got) {
		t.Fatal("clustered ledger answers differ from the log-order one")
	}
	hl := checkSameHead(t, logL, cl)
	if _, err := cl.Verify(ctx, nil); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Full scans (ordered by seq) and raw scans agree record for record.
	var lraw, craw [][]byte
	for r, err := range logL.ScanRaw(ctx, ledger.EventQuery{}, 0) {
		if err != nil {
			t.Fatal(err)
		}
		lraw = append(lraw, bytes.Clone(r.Canonical))
	}
	for r, err := range cl.ScanRaw(ctx, ledger.EventQuery{}, 0) {
		if err != nil {
			t.Fatal(err)
		}
		craw = append(craw, bytes.Clone(r.Canonical))
	}
	if len(lraw) != len(craw) || len(lraw) != 1530 {
		t.Fatalf("raw scans: %d and %d records", len(lraw), len(craw))
	}
	for i := range lraw {
		if !bytes.Equal(lraw[i], craw[i]) {
			t.Fatalf("raw scan record %d differs", i)
		}
	}
	// Vectors are keyed by ordinal, not by stored position.
	if len(vecs) != 300 {
		t.Fatalf("%d vectors", len(vecs))
	}
	for id, want := range vecs {
		ve, err := cl.GetVectorEvent(ctx, id)
		if err != nil {
			t.Fatalf("vector of %s: %v", id, err)
		}
		if !equalVec(ve.Vector, want) {
			t.Fatalf("vector of %s: got %v, want %v", id, ve.Vector, want)
		}
	}
	// Proofs: the Merkle tree is over log order whatever the layout.
	s, v := testKeys(t, "test.example/cluster")
	cpL, err := logL.Checkpoint(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	cpC, err := cl.Checkpoint(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	ocL, _ := proof.OpenCheckpoint(cpL, v)
	ocC, err := proof.OpenCheckpoint(cpC, v)
	if err != nil || ocL.Root != ocC.Root || ocL.Size != ocC.Size {
		t.Fatalf("tree heads differ: %v", err)
	}
	all, _ := cl.QueryEvents(ctx, ledger.EventQuery{})
	for _, i := range []int{0, 1, 77, 700, 1499} {
		p, err := cl.ProveInclusion(ctx, all[i].EventID, cpC)
		if err != nil {
			t.Fatal(err)
		}
		if p.Index != int64(i) {
			t.Fatalf("proof index %d for event %d", p.Index, i)
		}
		if _, err := p.Verify(v); err != nil {
			t.Fatal(err)
		}
	}
	// Reopen (the tail is sealed at Close, clustered), then compact with
	// retention: digests hold throughout.
	cl.Close()
	co := smallOpts(clFS)
	co.SealLayout, co.EmbeddingDim = ledger.SealLayoutClustered, relDim
	cl2 := openT(t, "/l", co)
	if got := snapshotQueries(t, cl2, qs); !equalIDs(want, got) {
		t.Fatal("answers changed after reopen")
	}
	if err := cl2.VerifyDigest(ctx, hl); err != nil {
		t.Fatal(err)
	}
	st, _ := cl2.Stat(ctx, false)
	bound := ledger.Timestamp(st.Segments[1].MaxTime + "~")
	rep, err := cl2.Compact(ctx, ledger.CompactOptions{RetainAfter: &bound})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DroppedSegments < 2 {
		t.Fatalf("retention: %+v", rep)
	}
	if err := cl2.VerifyDigest(ctx, hl); err != nil {
		t.Fatalf("digest after compaction: %v", err)
	}
	if _, err := cl2.Verify(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

func equalVec(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestClusteredBulkCandidates: a query whose candidates in a clustered
// segment span more blocks than half the block cache holds reads those
// blocks in one bulk pass; its answers (QueryEvents, Scan and ScanRaw
// from a seq, with and without a limit) are those of a log-order ledger
// of the same events, and a small candidate set keeps reading through the
// cache.
func TestClusteredBulkCandidates(t *testing.T) {
	ctx := context.Background()
	lo, co := smallOpts(vfs.NewMem()), smallOpts(vfs.NewMem())
	lo.SegmentBytes, co.SegmentBytes = 512<<10, 512<<10
	lo.SealLayout, co.SealLayout = ledger.SealLayoutLog, ledger.SealLayoutClustered
	co.CacheBytes = 32 << 10 // a few blocks: most candidate sets go bulk
	logL, cl := openT(t, "/l", lo), openT(t, "/l", co)
	g := workload.New(workload.Config{Seed: 29, OutlierRate: -1, Tenants: 3})
	for b := 0; b < 40; b++ {
		evs := g.Batch(100)
		for _, l := range []*ledger.Ledger{logL, cl} {
			if err := l.AppendEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, l := range []*ledger.Ledger{logL, cl} {
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	if m := cl.Metrics(); m.Segments < 3 || m.SealedEvents != 4000 {
		t.Fatalf("fixture: %d segments, %d sealed events", m.Segments, m.SealedEvents)
	}
	all, err := logL.QueryEvents(ctx, ledger.EventQuery{})
	if err != nil {
		t.Fatal(err)
	}
	ts := g.Tenants()
	start, end := all[700].OccurredAt, all[3300].OccurredAt
	lim := uint64(900)
	qs := []ledger.EventQuery{
		{TimeRange: &ledger.TimeRange{Start: &start, End: &end}},
		{TimeRange: &ledger.TimeRange{Start: &start}, Limit: &lim},
		{TenantID: &ts[0], TimeRange: &ledger.TimeRange{End: &end}},
		{Kinds: []ledger.ExperienceEventKind{ledger.KindProposalCreated, ledger.KindOutcomeRecorded}},
	}
	before := ledger.BulkCandidateReads()
	if !equalIDs(snapshotQueries(t, logL, qs), snapshotQueries(t, cl, qs)) {
		t.Fatal("clustered answers differ from the log-order ones")
	}
	if ledger.BulkCandidateReads() == before {
		t.Fatal("no segment was read in bulk")
	}
	seqOf := func(l *ledger.Ledger, q ledger.EventQuery, from uint64) (out []string) {
		for e, err := range l.ScanSeq(ctx, q, from) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(e.Envelope.EventID)+"@"+itoa(int(e.Seq)))
		}
		for r, err := range l.ScanRaw(ctx, q, from) {
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, itoa(int(r.Seq))+":"+string(r.Canonical))
		}
		return out
	}
	for _, q := range qs {
		for _, from := range []uint64{0, 1234, 2500} {
			w, c := seqOf(logL, q, from), seqOf(cl, q, from)
			if len(w) == 0 || !slicesEqual(w, c) {
				t.Fatalf("from %d: %d log-order results, %d clustered, or they differ", from, len(w), len(c))
			}
		}
	}
	// A candidate set of a block or two (one tenant and kind at one
	// instant) reads through the cache.
	one := all[2000].EventID
	before = ledger.BulkCandidateReads()
	tr := all[2000].OccurredAt
	pq := ledger.EventQuery{TenantID: all[2000].TenantID, Kinds: []ledger.ExperienceEventKind{all[2000].Event.Kind()}, TimeRange: &ledger.TimeRange{Start: &tr, End: &tr}}
	got, err := cl.QueryEvents(ctx, pq)
	if err != nil || len(got) == 0 || !containsID(got, one) {
		t.Fatalf("point time range: %d results, %v", len(got), err)
	}
	if ledger.BulkCandidateReads() != before {
		t.Fatal("a small candidate set was read in bulk")
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func containsID(evs []ledger.ExperienceEventEnvelope, id ledger.EventID) bool {
	for i := range evs {
		if evs[i].EventID == id {
			return true
		}
	}
	return false
}

// TestSealLayoutDefault: the zero value resolves to the clustered layout,
// and a ledger opened without a SealLayout seals clustered segments.
func TestSealLayoutDefault(t *testing.T) {
	for _, c := range []struct{ in, want ledger.SealLayout }{
		{ledger.SealLayoutDefault, ledger.SealLayoutClustered},
		{ledger.SealLayoutLog, ledger.SealLayoutLog},
		{ledger.SealLayoutClustered, ledger.SealLayoutClustered},
	} {
		if got := c.in.Resolved(); got != c.want {
			t.Errorf("%v.Resolved() = %v, want %v", c.in, got, c.want)
		}
	}
	ctx := context.Background()
	mem := vfs.NewMem()
	o := smallOpts(mem)
	o.SealLayout = ledger.SealLayoutDefault
	l := openT(t, "/l", o)
	g := workload.New(workload.Config{Seed: 29, OutlierRate: -1, Tenants: 4})
	for b := 0; b < 20; b++ {
		if err := l.AppendEvents(ctx, g.Batch(50)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	checkClustered(t, mem, 2)
}

// checkSameHead fails unless the log-order and the clustered ledger have
// the same head digest, and returns it.
func checkSameHead(t *testing.T, logL, cl *ledger.Ledger) ledger.Digest {
	t.Helper()
	hl, err := logL.Head()
	if err != nil {
		t.Fatal(err)
	}
	hc, err := cl.Head()
	if err != nil {
		t.Fatal(err)
	}
	if hl.Hash != hc.Hash || hl.Seq != hc.Seq {
		t.Fatalf("digests differ: log %x@%d, clustered %x@%d", hl.Hash, hl.Seq, hc.Hash, hc.Seq)
	}
	return hl
}
