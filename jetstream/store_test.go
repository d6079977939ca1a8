package jetstream_test

import (
	"context"
	"fmt"
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
	c := jstest.StartServer(t)
	nc := c.Connect(0)
	ledgertest.RunWith(t, durableCaps, func(t *testing.T) ledger.ExperienceStore {
		s := openStore(t, nc, jetstream.Options{Stream: newStream(), Dir: t.TempDir()})
		t.Cleanup(func() { s.Close() })
		return s
	})
}
