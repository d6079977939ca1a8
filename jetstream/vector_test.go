package jetstream_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/exledger/exledger/jetstream"
	"github.com/exledger/exledger/jetstream/jstest"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgertest"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

func vecOpts(dim int) *ledger.Options { return &ledger.Options{EmbeddingDim: dim} }

// reopenable is a single Store that the suite may close and reopen from
// its directory and the stream.
type reopenable struct {
	*jetstream.Store
	nc   *nats.Conn
	opts jetstream.Options
}

// The similarity suite against a Store on one server, every answer
// checked again after the Store is reopened (its ledger's dimension then
// comes from its manifest).
func TestSimilarSingleNode(t *testing.T) {
	t.Parallel()
	c := jstest.StartServer(t)
	nc := c.Connect(0)
	ledgertest.RunSimilar(t, ledgertest.SimilarConfig{
		Open: func(t *testing.T, dim int) ledgertest.SimilarStore {
			o := jetstream.Options{Stream: newStream(), Dir: t.TempDir(), LedgerOptions: vecOpts(dim)}
			r := &reopenable{Store: openStore(t, nc, o), nc: nc, opts: o}
			t.Cleanup(func() { r.Close() })
			return r
		},
		Reopen: func(t *testing.T, st ledgertest.SimilarStore) ledgertest.SimilarStore {
			r := st.(*reopenable)
			if err := r.Store.Close(); err != nil {
				t.Fatalf("close: %v", err)
			}
			r.opts.LedgerOptions = nil
			r.Store = openStore(t, r.nc, r.opts)
			return r
		},
	})
}

// vsplit appends through one Store and searches through another, on
// another server of an R3 cluster, with StrictReads.
type vsplit struct {
	*split
}

func (v vsplit) AppendVectorEvents(ctx context.Context, es []ledger.VectorEvent) error {
	return v.w.AppendVectorEvents(ctx, es)
}

func (v vsplit) SearchSimilar(ctx context.Context, q ledger.SimilarQuery) ([]ledger.SimilarEvent, error) {
	var out []ledger.SimilarEvent
	var err error
	v.read(func(r *jetstream.Store) { out, err = r.SearchSimilar(ctx, q) })
	return out, err
}

func TestSimilarCluster(t *testing.T) {
	t.Parallel()
	c := jstest.StartCluster(t, 3)
	nc1, nc2 := c.Connect(0), c.Connect(1)
	ledgertest.RunSimilar(t, ledgertest.SimilarConfig{
		Open: func(t *testing.T, dim int) ledgertest.SimilarStore {
			stream := newStream()
			w := openStore(t, nc1, jetstream.Options{Stream: stream, Replicas: 3, Dir: t.TempDir(), LedgerOptions: vecOpts(dim)})
			ro := jetstream.Options{Stream: stream, Dir: t.TempDir(), StrictReads: true, LedgerOptions: vecOpts(dim)}
			s := &split{t: t, w: w, rnc: nc2, ropts: ro, r: openStore(t, nc2, ro)}
			t.Cleanup(func() {
				w.Close()
				s.r.Close()
			})
			return vsplit{s}
		},
	})
}

// Exactly once with vectors: a retried vector batch is a no-op on every
// node; the same ids with another vector are the duplicate-id error, and
// both nodes keep the first vector and reach the same digest.
func TestVectorBatchExactlyOnce(t *testing.T) {
	t.Parallel()
	c := jstest.StartServer(t)
	nc := c.Connect(0)
	ctx := context.Background()
	stream := newStream()
	a := openStore(t, nc, jetstream.Options{Stream: stream, Dir: t.TempDir(), LedgerOptions: vecOpts(3)})
	defer a.Close()
	b := openStore(t, nc, jetstream.Options{Stream: stream, Dir: t.TempDir(), StrictReads: true, LedgerOptions: vecOpts(3)})
	defer b.Close()
	ev := func(id string, v ...float32) ledger.VectorEvent {
		return ledger.VectorEvent{Envelope: ledger.ExperienceEventEnvelope{
			EventID: ledger.EventID(id), OccurredAt: "2026-01-01T00:00:00Z",
			Event: &ledger.FactPromoted{ProposalID: "p", FactID: ledger.FactID(id), PromotedBy: "t", Reason: "r"},
		}, Vector: v}
	}
	batch := []ledger.VectorEvent{ev("x", 1, 0, 0), ev("y", 0, 1, 0)}
	for i := range 2 {
		if err := a.AppendVectorEvents(ctx, batch); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	err := a.AppendVectorEvents(ctx, []ledger.VectorEvent{ev("x", 0, 0, 1)})
	if err == nil || !strings.Contains(err.Error(), "duplicate event_id x with different content") {
		t.Fatalf("other vector under the same id: %v", err)
	}
	for _, st := range []*jetstream.Store{a, b} {
		if err := st.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		res, err := st.SearchSimilar(ctx, ledger.SimilarQuery{Vector: []float32{0, 0, 1}, Limit: 5})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 2 {
			t.Fatalf("%s: %d results, want 2 (x and y once each)", st.Dir(), len(res))
		}
		for _, r := range res {
			if r.Distance != 1 {
				t.Fatalf("%s: %s at distance %v: the conflicting vector was stored", st.Dir(), r.Envelope.EventID, r.Distance)
			}
		}
	}
	ha, _ := a.Head()
	hb, _ := b.Head()
	if ha.StreamSeq != hb.StreamSeq || ha.Digest.Seq != 2 || ha.Digest.Hash != hb.Digest.Hash {
		t.Fatalf("heads differ: %+v %+v", ha, hb)
	}
}

// A node whose ledger has another embedding dimension than the writer's
// stops with a clear error at the first vector batch instead of diverging:
// a running Store fails, and one opened afterwards fails to catch up.
func TestVectorDimensionMismatchStopsNode(t *testing.T) {
	t.Parallel()
	c := jstest.StartServer(t)
	nc := c.Connect(0)
	ctx := context.Background()
	stream := newStream()
	w := openStore(t, nc, jetstream.Options{Stream: stream, Dir: t.TempDir(), LedgerOptions: vecOpts(2)})
	defer w.Close()
	r := openStore(t, nc, jetstream.Options{Stream: stream, Dir: t.TempDir()})
	defer r.Close()
	e := ledger.VectorEvent{Envelope: ledger.ExperienceEventEnvelope{
		EventID: "v", OccurredAt: "2026-01-01T00:00:00Z",
		Event: &ledger.FactPromoted{ProposalID: "p", FactID: "f", PromotedBy: "t", Reason: "r"},
	}, Vector: []float32{1, 2}}
	if err := w.AppendVectorEvents(ctx, []ledger.VectorEvent{e}); err != nil {
		t.Fatal(err)
	}
	const want = "carries vectors of dimension 2"
	deadline := time.Now().Add(30 * time.Second)
	for r.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("running node without a dimension: %v", err)
	}
	if r.AppliedSeq() != 0 {
		t.Fatal("the node without a dimension applied the vector batch")
	}
	octx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	s, err := jetstream.Open(octx, nc, jetstream.Options{Stream: stream, Dir: t.TempDir(), LedgerOptions: vecOpts(3)})
	if err == nil {
		s.Close()
		t.Fatal("a node of dimension 3 opened on a stream of dimension-2 vectors")
	}
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("opening a node of dimension 3: %v", err)
	}
}

// Ship carries vectors: a ledger with an embedding dimension (vector
// batches, events without a vector, sealed segments and a memtable) is
// shipped in small messages by two shipper runs; a Store built from the
// stream has the same head and answers SearchSimilar exactly as the
// source ledger does, filters included.
func TestShipVectors(t *testing.T) {
	t.Parallel()
	const dim = 8
	c := jstest.StartServer(t)
	nc := c.Connect(0)
	ctx := context.Background()
	l, err := ledger.Open(t.TempDir(), &ledger.Options{EmbeddingDim: dim, SegmentBytes: 16 << 10, Sync: ledger.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	vec := func() []float32 {
		v := make([]float32, dim)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	n := 0
	appendSome := func(batches int) {
		for range batches {
			var es []ledger.VectorEvent
			for range 1 + r.IntN(20) {
				tenant := ledger.TenantID(fmt.Sprintf("t%d", n%3))
				es = append(es, ledger.VectorEvent{Envelope: ledger.ExperienceEventEnvelope{
					EventID: ledger.EventID(fmt.Sprintf("e%d", n)), OccurredAt: ledger.Timestamp(fmt.Sprintf("2026-01-01T00:%02d:00Z", n%60)),
					TenantID: &tenant,
					Event:    &ledger.FactPromoted{ProposalID: "p", FactID: ledger.FactID(fmt.Sprintf("f%d", n)), PromotedBy: "t", Reason: "r"},
				}, Vector: vec()})
				n++
			}
			if err := l.AppendVectorEvents(ctx, es); err != nil {
				t.Fatal(err)
			}
			if r.IntN(4) == 0 { // an event without a vector
				e := es[0].Envelope
				e.EventID = ledger.EventID(fmt.Sprintf("plain%d", n))
				n++
				if err := l.AppendEvent(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	stream := newStream()
	const maxBody = 4 << 10 // several messages per ledger batch
	appendSome(20)
	run := startShipTo(t, l, js, stream, 1, maxBody)
	appendSome(20)
	run.waitShipped(t, l.LastSeq())
	run.stop(t)
	if err := l.Flush(); err != nil { // vectors in sealed segments
		t.Fatal(err)
	}
	appendSome(10)
	run = startShipTo(t, l, js, stream, 1, maxBody)
	run.waitShipped(t, l.LastSeq())
	run.stop(t)

	s := openStore(t, nc, jetstream.Options{Stream: stream, Dir: t.TempDir(), LedgerOptions: vecOpts(dim)})
	defer s.Close()
	want, err := l.Head()
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Head()
	if err != nil {
		t.Fatal(err)
	}
	if h.Digest.Seq != want.Seq || h.Digest.Hash != want.Hash {
		t.Fatalf("replica head %d/%s, source %d/%s", h.Digest.Seq, h.Digest.HashHex, want.Seq, want.HashHex)
	}
	if h.StreamSeq < 10 {
		t.Fatalf("only %d messages: the cut at MaxBatchBytes was not exercised", h.StreamSeq)
	}
	t1 := ledger.TenantID("t1")
	for i := range 20 {
		q := ledger.SimilarQuery{Vector: vec(), Limit: 1 + i*5}
		if i%2 == 1 {
			q.Filter.TenantID = &t1
		}
		got, err := s.SearchSimilar(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		exp, err := l.SearchSimilar(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if len(exp) == 0 || len(got) != len(exp) {
			t.Fatalf("query %d: %d results on the replica, %d on the source", i, len(got), len(exp))
		}
		for j := range exp {
			if got[j].Envelope.EventID != exp[j].Envelope.EventID || math.Float32bits(got[j].Distance) != math.Float32bits(exp[j].Distance) {
				t.Fatalf("query %d result %d: %s at %v on the replica, %s at %v on the source", i, j,
					got[j].Envelope.EventID, got[j].Distance, exp[j].Envelope.EventID, exp[j].Distance)
			}
		}
	}
	// Events stored without a vector have none on the replica either.
	plain := 0
	for ve, err := range s.Scan(ctx, ledger.EventQuery{}) {
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(string(ve.EventID), "plain") {
			got, err := s.GetVectorEvent(ctx, ve.EventID)
			if err != nil || got.Vector != nil {
				t.Fatalf("%s on the replica: vector %v, %v", ve.EventID, got.Vector, err)
			}
			plain++
		}
	}
	if plain == 0 {
		t.Fatal("no event without a vector was shipped")
	}
}
