package ledger_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/exledger/exledger/internal/vfs"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// Large scans decode on several goroutines; results must still come in log
// order, stop exactly when the consumer stops, honour limits and
// cancellation, and leave no goroutine behind.
func TestParallelScan(t *testing.T) {
	ctx := context.Background()
	l := openT(t, "/l", smallOpts(vfs.NewMem()))
	g := workload.New(workload.Config{Seed: 31, OutlierRate: -1})
	for i := 0; i < 30; i++ {
		if err := l.AppendEvents(ctx, g.Batch(100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendEvents(ctx, g.Batch(50)); err != nil {
		t.Fatal(err)
	}
	if l.Metrics().Segments < 3 {
		t.Fatalf("want several segments, have %d", l.Metrics().Segments)
	}
	base := runtime.NumGoroutine()
	var prev uint64
	n := 0
	for e, err := range l.ScanSeq(ctx, ledger.EventQuery{}, 1) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != prev+1 {
			t.Fatalf("seq %d after %d", e.Seq, prev)
		}
		prev = e.Seq
		n++
	}
	if n != 3050 {
		t.Fatalf("scanned %d events", n)
	}
	for _, k := range []int{1, 255, 256, 257, 1000, 3049} {
		got := 0
		for _, err := range l.Scan(ctx, ledger.EventQuery{}) {
			if err != nil {
				t.Fatal(err)
			}
			got++
			if got == k {
				break
			}
		}
		if got != k {
			t.Fatalf("stopped after %d, want %d", got, k)
		}
	}
	lim := uint64(700)
	evs, err := l.QueryEvents(ctx, ledger.EventQuery{Limit: &lim})
	if err != nil || len(evs) != 700 {
		t.Fatalf("limit 700: %d, %v", len(evs), err)
	}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := 0
	var lastErr error
	for _, err := range l.Scan(cctx, ledger.EventQuery{}) {
		if err != nil {
			lastErr = err
			break
		}
		got++
		if got == 300 {
			cancel()
		}
	}
	if !errors.Is(lastErr, context.Canceled) {
		t.Fatalf("cancelled scan: got %d events, err %v", got, lastErr)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > base {
		t.Fatalf("goroutines: %d after scans, %d before", g, base)
	}
}
