package ledger_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
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

// TestScanRaw checks the header-only scan against the full one: the same
// events in the same order, each header equal to HeaderOf the decoded
// event and the bytes equal to its canonical encoding, over sealed
// segments and the memtable, for filtered queries, limits and start points.
func TestScanRaw(t *testing.T) {
	ctx := context.Background()
	l := openT(t, "/l", smallOpts(vfs.NewMem()))
	defer l.Close()
	g := workload.New(workload.Config{Seed: 33, OutlierRate: -1})
	for i := 0; i < 20; i++ {
		if err := l.AppendEvents(ctx, g.Batch(150)); err != nil {
			t.Fatal(err)
		}
		if i == 12 {
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	tn := g.Tenants()[0]
	kind := ledger.ExperienceEventKind("ProposalCreated")
	start, end := ledger.Timestamp("2026-01-01"), ledger.Timestamp("2026-06-30")
	lim := uint64(700)
	queries := map[string]ledger.EventQuery{
		"all":        {},
		"tenant":     {TenantID: &tn},
		"kind":       {Kinds: []ledger.ExperienceEventKind{kind}},
		"time":       {TimeRange: &ledger.TimeRange{Start: &start, End: &end}},
		"limit":      {Limit: &lim},
		"tenantKind": {TenantID: &tn, Kinds: []ledger.ExperienceEventKind{kind}},
	}
	for name, q := range queries {
		for _, from := range []uint64{0, 1, 1234, 2950} {
			t.Run(fmt.Sprintf("%s/from=%d", name, from), func(t *testing.T) {
				var want []ledger.SeqEnvelope
				for e, err := range l.ScanSeq(ctx, q, from) {
					if err != nil {
						t.Fatal(err)
					}
					want = append(want, e)
				}
				i := 0
				for r, err := range l.ScanRaw(ctx, q, from) {
					if err != nil {
						t.Fatal(err)
					}
					if i >= len(want) {
						t.Fatalf("raw scan returned more than %d records", len(want))
					}
					w := want[i]
					if r.Seq != w.Seq {
						t.Fatalf("record %d: seq %d, want %d", i, r.Seq, w.Seq)
					}
					if r.Header != ledger.HeaderOf(&w.Envelope) {
						t.Fatalf("seq %d: header %+v, want %+v", r.Seq, r.Header, ledger.HeaderOf(&w.Envelope))
					}
					enc, err := ledger.MarshalCanonical(&w.Envelope)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(r.Canonical, enc) {
						t.Fatalf("seq %d: canonical bytes differ", r.Seq)
					}
					i++
				}
				if i != len(want) {
					t.Fatalf("raw scan returned %d records, want %d", i, len(want))
				}
			})
		}
	}
}
