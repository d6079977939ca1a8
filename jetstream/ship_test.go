package jetstream_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/exledger/exledger/jetstream"
	"github.com/exledger/exledger/jetstream/jstest"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// shipRun runs Ship until stop is called; shipped reports progress.
type shipRun struct {
	cancel  context.CancelFunc
	done    chan error
	mu      sync.Mutex
	shipped uint64
}

func startShip(t *testing.T, l *ledger.Ledger, js natsjs.JetStream, stream string, maxBody int) *shipRun {
	return startShipTo(t, l, js, stream, 3, maxBody)
}

func startShipTo(t *testing.T, l *ledger.Ledger, js natsjs.JetStream, stream string, replicas, maxBody int) *shipRun {
	ctx, cancel := context.WithCancel(context.Background())
	r := &shipRun{cancel: cancel, done: make(chan error, 1)}
	go func() {
		r.done <- jetstream.Ship(ctx, l, js, jetstream.ShipOptions{
			Stream: stream, Replicas: replicas, MaxBatchBytes: maxBody,
			Shipped: func(seq uint64) { r.mu.Lock(); r.shipped = seq; r.mu.Unlock() },
		})
	}()
	return r
}

// waitShipped waits until the ledger's events up to seq are acknowledged.
func (r *shipRun) waitShipped(t *testing.T, seq uint64) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		s := r.shipped
		r.mu.Unlock()
		if s >= seq {
			return
		}
		select {
		case err := <-r.done:
			t.Fatalf("Ship returned early: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	t.Fatalf("ledger seq %d not shipped after 30s", seq)
}

func (r *shipRun) stop(t *testing.T) {
	r.cancel()
	if err := <-r.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Ship: %v, want context.Canceled", err)
	}
}

// TestShip ships an embedded ledger into an R3 stream while it is
// appended to, stops the shipper twice (a crash: it keeps no local
// state), and checks that a Store built from the stream holds the same
// events with the same hash chain.
func TestShip(t *testing.T) {
	c := jstest.StartCluster(t, 3)
	js, err := natsjs.New(c.Connect(0))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	l, err := ledger.Open(t.TempDir(), &ledger.Options{Sync: ledger.SyncNever})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	g := workload.New(workload.Config{Seed: 9})
	appendSome := func(n int) {
		for range n {
			if err := l.AppendEvents(ctx, g.Batch(1+int(g.Count()%37))); err != nil {
				t.Fatal(err)
			}
		}
	}
	stream := newStream()
	appendSome(40) // a backlog before the first run
	const maxBody = 16 << 10
	for round := range 3 {
		r := startShip(t, l, js, stream, maxBody)
		appendSome(30) // appended while shipping
		r.waitShipped(t, l.LastSeq())
		r.stop(t)
		appendSome(5 * round) // appended while no shipper runs
	}
	r := startShip(t, l, js, stream, maxBody)
	r.waitShipped(t, l.LastSeq())
	r.stop(t)

	want, err := l.Head()
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, c.Connect(1), jetstream.Options{Stream: stream, Dir: t.TempDir()})
	defer s.Close()
	h, err := s.Head()
	if err != nil {
		t.Fatal(err)
	}
	if h.Digest.Seq != want.Seq || h.Digest.Hash != want.Hash {
		t.Fatalf("replica head %d/%s, source ledger %d/%s", h.Digest.Seq, h.Digest.HashHex, want.Seq, want.HashHex)
	}
	if st := s.Stats(); st.Rejected != 0 || st.Foreign != 0 || st.Gaps != 0 {
		t.Fatalf("replica stats %+v", st)
	}
	if h.StreamSeq < 3 {
		t.Fatalf("only %d messages shipped", h.StreamSeq)
	}

	// Another ledger cannot ship into this stream.
	other, err := ledger.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	err = jetstream.Ship(ctx, other, js, jetstream.ShipOptions{Stream: stream})
	if !errors.Is(err, jetstream.ErrStreamMismatch) {
		t.Fatalf("shipping another ledger: %v, want ErrStreamMismatch", err)
	}
}
