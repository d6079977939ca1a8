package ledger_test

import (
	"context"
	"fmt"
	"os"

	"github.com/exledger/exledger/ledger"
)

// The LanceDB adapter's own test, on a durable ledger: three events with
// vectors pointing north, east and south; the query [0.9, 0.1, 0, 0] finds
// north first. A tenant filter applies before the ranking.
func ExampleLedger_SearchSimilar() {
	dir, _ := os.MkdirTemp("", "similar")
	defer os.RemoveAll(dir)
	l, err := ledger.Open(dir, &ledger.Options{EmbeddingDim: 4})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	ctx := context.Background()
	event := func(id, tenant string) ledger.ExperienceEventEnvelope {
		t := ledger.TenantID(tenant)
		return ledger.ExperienceEventEnvelope{
			EventID: ledger.EventID(id), OccurredAt: "2026-01-01T00:00:00Z", TenantID: &t,
			Event: &ledger.FactPromoted{ProposalID: "p-1", FactID: ledger.FactID("fact-" + id), PromotedBy: "agent", Reason: "seen"},
		}
	}
	err = l.AppendVectorEvents(ctx, []ledger.VectorEvent{
		{Envelope: event("north", "acme"), Vector: []float32{1, 0, 0, 0}},
		{Envelope: event("east", "acme"), Vector: []float32{0, 1, 0, 0}},
		{Envelope: event("south", "acme"), Vector: []float32{-1, 0, 0, 0}},
		{Envelope: event("rival-north", "rival"), Vector: []float32{0.9, 0.1, 0, 0}},
	})
	if err != nil {
		panic(err)
	}
	acme := ledger.TenantID("acme")
	res, err := l.SearchSimilar(ctx, ledger.SimilarQuery{
		Vector: []float32{0.9, 0.1, 0, 0},
		Limit:  2,
		Filter: ledger.EventQuery{TenantID: &acme},
	})
	if err != nil {
		panic(err)
	}
	for _, r := range res {
		fmt.Printf("%s %.4f\n", r.Envelope.EventID, r.Distance)
	}
	_, err = l.SearchSimilar(ctx, ledger.SimilarQuery{Vector: []float32{1, 0}})
	fmt.Println(err)
	// Output:
	// north 0.0061
	// east 0.8896
	// Invalid query: query vector dimension mismatch: expected 4, got 2
}
