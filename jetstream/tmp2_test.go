package jetstream_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/exledger/exledger/jetstream"
	"github.com/exledger/exledger/jetstream/jstest"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

func TestTmpApplyRate(t *testing.T) {
	c := jstest.StartServer(t)
	nc := c.Connect(0)
	ctx := context.Background()
	g := workload.New(workload.Config{Seed: 1})
	var batches [][]ledger.ExperienceEventEnvelope
	for range 30 {
		batches = append(batches, g.Batch(1000))
	}
	o := jetstream.Options{Stream: newStream(), Dir: t.TempDir()}
	s := openStore(t, nc, o)
	t0 := time.Now()
	for _, b := range batches {
		if err := s.AppendEvents(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("store append serial: %.0f ev/s\n", 30000/time.Since(t0).Seconds())
	s.Close()
	t0 = time.Now()
	s2 := openStore(t, nc, jetstream.Options{Stream: o.Stream, Dir: t.TempDir()})
	fmt.Printf("catch-up apply: %.0f ev/s\n", 30000/time.Since(t0).Seconds())
	s2.Close()
	l, _ := ledger.Open(t.TempDir(), nil)
	t0 = time.Now()
	for _, b := range batches {
		if err := l.AppendEvents(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("embedded serial SyncAlways: %.0f ev/s\n", 30000/time.Since(t0).Seconds())
	l.Close()
	l, _ = ledger.Open(t.TempDir(), &ledger.Options{Sync: ledger.SyncNever})
	t0 = time.Now()
	for _, b := range batches {
		if err := l.AppendEvents(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Printf("embedded serial SyncNever: %.0f ev/s\n", 30000/time.Since(t0).Seconds())
	l.Close()
}
