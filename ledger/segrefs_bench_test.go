package ledger_test

import (
	"context"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// BenchmarkSegmentHoldPaths times the read paths that hold the ledger's
// segments (segrefs.go: one atomic add to take them, one to release
// them) on a ledger of 50,000 events in 50 sealed segments: a
// point lookup by id, a trace-link lookup, a one-result query and a
// one-event append (SyncNever, duplicate check on). allocs/op must not
// grow with the holds; ns/op is the per-read cost.
func BenchmarkSegmentHoldPaths(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	o := &ledger.Options{Sync: ledger.SyncNever, SegmentBytes: 128 << 10, SegmentAge: -1}
	l, err := ledger.Open(dir, o)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	g := workload.New(workload.Config{Seed: 5, OutlierRate: -1, Tenants: 8})
	var ids []ledger.EventID
	for range 50 {
		evs := g.Batch(1000)
		for _, e := range evs[:10] {
			ids = append(ids, e.EventID)
		}
		if err := l.AppendEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Flush(); err != nil {
		b.Fatal(err)
	}
	ledger.TreeHashesInMemoryForTest(l)
	b.Logf("%d segments", l.Metrics().Segments)
	ts := g.Tenants()
	one := uint64(1)
	q := ledger.EventQuery{TenantID: &ts[3], Kinds: []ledger.ExperienceEventKind{ledger.KindOutcomeRecorded}, Limit: &one}
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := l.Get(ctx, ids[i%len(ids)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("tracelink", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := l.GetTraceLink(ctx, "tl-none"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("query1", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if evs, err := l.QueryEvents(ctx, q); err != nil || len(evs) != 1 {
				b.Fatal(len(evs), err)
			}
		}
	})
	b.Run("append1", func(b *testing.B) {
		evs := g.Batch(b.N)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := l.AppendEvents(ctx, evs[i:i+1]); err != nil {
				b.Fatal(err)
			}
		}
	})
}
