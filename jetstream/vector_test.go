package jetstream_test

import (
	"context"
	"errors"
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

// Ship refuses a ledger with vectors rather than ship events without them.
func TestShipRefusesVectors(t *testing.T) {
	t.Parallel()
	c := jstest.StartServer(t)
	nc := c.Connect(0)
	l, err := ledger.Open(t.TempDir(), vecOpts(4))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	err = jetstream.Ship(context.Background(), l, js, jetstream.ShipOptions{Stream: newStream()})
	if !errors.Is(err, jetstream.ErrShipVectors) {
		t.Fatalf("Ship of a vector ledger: %v", err)
	}
}
