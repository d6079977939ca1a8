package jetstream_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/exledger/exledger/jetstream"
	"github.com/exledger/exledger/jetstream/jstest"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgertest"
	"github.com/nats-io/nats.go"
)

var durableCaps = ledgertest.Capabilities{
	AtomicBatches:              true,
	ChainIncludesHypothesis:    true,
	DurableArtifactTransitions: true,
	IdempotentDuplicates:       true,
}

var streamN atomic.Int64

// newStream returns a fresh stream name.
func newStream() string { return fmt.Sprintf("T%d", streamN.Add(1)) }

func openStore(t testing.TB, nc *nats.Conn, o jetstream.Options) *jetstream.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := jetstream.Open(ctx, nc, o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformanceSingleNode(t *testing.T) {
	t.Parallel()
	c := jstest.StartServer(t)
	nc := c.Connect(0)
	ledgertest.RunWith(t, durableCaps, func(t *testing.T) ledger.ExperienceStore {
		s := openStore(t, nc, jetstream.Options{Stream: newStream(), Dir: t.TempDir()})
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// split appends through one Store and reads through another on another
// server with StrictReads, optionally closing and reopening the reader
// before every eighth read: every answer of the suite then comes from a
// replica, and (with reopen) from a replica recovered from its directory
// and the stream.
type split struct {
	t      *testing.T
	w      *jetstream.Store
	rnc    *nats.Conn
	ropts  jetstream.Options
	reopen bool
	mu     sync.RWMutex
	r      *jetstream.Store
	n      int
}

// read runs fn on the reader, held shared so no reopen closes it under fn.
func (s *split) read(fn func(r *jetstream.Store)) {
	if s.reopen {
		s.mu.Lock()
		s.n++
		if s.n%8 == 0 {
			if err := s.r.Close(); err != nil {
				s.t.Errorf("close: %v", err)
			}
			s.r = openStore(s.t, s.rnc, s.ropts)
		}
		s.mu.Unlock()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	fn(s.r)
}

func (s *split) AppendEvent(ctx context.Context, e ledger.ExperienceEventEnvelope) error {
	return s.w.AppendEvent(ctx, e)
}
func (s *split) AppendEvents(ctx context.Context, es []ledger.ExperienceEventEnvelope) error {
	return s.w.AppendEvents(ctx, es)
}
func (s *split) WriteArtifactStateTransition(ctx context.Context, id ledger.ArtifactID, k ledger.ArtifactKind, ev ledger.LifecycleEvent) error {
	return s.w.WriteArtifactStateTransition(ctx, id, k, ev)
}
func (s *split) QueryEvents(ctx context.Context, q ledger.EventQuery) ([]ledger.ExperienceEventEnvelope, error) {
	var out []ledger.ExperienceEventEnvelope
	var err error
	s.read(func(r *jetstream.Store) { out, err = r.QueryEvents(ctx, q) })
	return out, err
}
func (s *split) GetTraceLink(ctx context.Context, id ledger.TraceLinkID) (*ledger.ReplayTrace, error) {
	var out *ledger.ReplayTrace
	var err error
	s.read(func(r *jetstream.Store) { out, err = r.GetTraceLink(ctx, id) })
	return out, err
}

func openSplit(t *testing.T, wnc, rnc *nats.Conn, replicas int, reopen bool) *split {
	stream := newStream()
	w := openStore(t, wnc, jetstream.Options{Stream: stream, Replicas: replicas, Dir: t.TempDir()})
	ro := jetstream.Options{Stream: stream, Dir: t.TempDir(), StrictReads: true}
	s := &split{t: t, w: w, rnc: rnc, ropts: ro, reopen: reopen, r: openStore(t, rnc, ro)}
	t.Cleanup(func() {
		w.Close()
		s.mu.Lock()
		s.r.Close()
		s.mu.Unlock()
	})
	return s
}

func TestConformanceSingleNodeAcrossReopen(t *testing.T) {
	t.Parallel()
	c := jstest.StartServer(t)
	nc := c.Connect(0)
	ledgertest.RunWith(t, durableCaps, func(t *testing.T) ledger.ExperienceStore {
		return openSplit(t, nc, nc, 1, true)
	})
}

// TestConformanceCluster runs the suite on a three-server R3 stream:
// appends through server 1, reads on server 2 (recovered from its
// directory and the stream before every eighth read).
func TestConformanceCluster(t *testing.T) {
	t.Parallel()
	c := jstest.StartCluster(t, 3)
	nc1, nc2 := c.Connect(0), c.Connect(1)
	t.Run("WriterAndReopenedReader", func(t *testing.T) {
		ledgertest.RunWith(t, durableCaps, func(t *testing.T) ledger.ExperienceStore {
			return openSplit(t, nc1, nc2, 3, true)
		})
	})
}
