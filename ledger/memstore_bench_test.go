package ledger_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/exledger/exledger/ledger"
)

// benchEnvelopes returns n envelopes cycling through the golden payloads,
// with unique ids and 8 tenants.
func benchEnvelopes(b *testing.B, n int) []ledger.ExperienceEventEnvelope {
	g := goldenEnvelopes(b)
	out := make([]ledger.ExperienceEventEnvelope, n)
	for i := range out {
		e := g[i%len(g)]
		e.EventID = ledger.EventID(fmt.Sprintf("bench-%d", i))
		tn := ledger.TenantID(fmt.Sprintf("tenant-%d", i%8))
		e.TenantID = &tn
		out[i] = e
	}
	return out
}

func BenchmarkMemStoreAppendEvent(b *testing.B) {
	envs := benchEnvelopes(b, 4096)
	ctx := context.Background()
	m := ledger.NewMemStore()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.AppendEvent(ctx, envs[i%len(envs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkMemStoreQueryTenant(b *testing.B) {
	const n = 10000
	envs := benchEnvelopes(b, n)
	ctx := context.Background()
	m := ledger.NewMemStore()
	if err := m.AppendEvents(ctx, envs); err != nil {
		b.Fatal(err)
	}
	tn := ledger.TenantID("tenant-3")
	q := ledger.EventQuery{TenantID: &tn}
	b.ReportAllocs()
	b.ResetTimer()
	var got int
	for i := 0; i < b.N; i++ {
		r, err := m.QueryEvents(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		got = len(r)
	}
	if got != n/8 {
		b.Fatalf("got %d results", got)
	}
	b.ReportMetric(float64(b.N)*n/b.Elapsed().Seconds(), "scanned/s")
}

func BenchmarkMemStoreQueryKindLimit(b *testing.B) {
	envs := benchEnvelopes(b, 10000)
	ctx := context.Background()
	m := ledger.NewMemStore()
	if err := m.AppendEvents(ctx, envs); err != nil {
		b.Fatal(err)
	}
	limit := uint64(10)
	q := ledger.EventQuery{Kinds: []ledger.ExperienceEventKind{ledger.KindGateDecisionRecorded}, Limit: &limit}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r, err := m.QueryEvents(ctx, q); err != nil || len(r) != 10 {
			b.Fatal(err, len(r))
		}
	}
}

func BenchmarkCloneEnvelope(b *testing.B) {
	envs := benchEnvelopes(b, 80)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = ledger.CloneEnvelope(envs[i%len(envs)])
	}
}
