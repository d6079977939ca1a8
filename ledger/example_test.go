package ledger_test

import (
	"context"
	"fmt"
	"os"

	"github.com/exledger/exledger/ledger"
)

func tenant(s string) *ledger.TenantID { t := ledger.TenantID(s); return &t }

func exampleEvents() []ledger.ExperienceEventEnvelope {
	chain := ledger.ChainID("chain-1")
	return []ledger.ExperienceEventEnvelope{
		{
			EventID: "evt-1", OccurredAt: "2026-05-01T10:00:00Z", TenantID: tenant("acme"),
			Event: &ledger.OutcomeRecorded{ChainID: chain, Step: ledger.DecisionStepPlanning, Passed: true},
		},
		{
			EventID: "evt-2", OccurredAt: "2026-05-01T10:00:05Z", TenantID: tenant("acme"),
			Event: &ledger.BudgetExceeded{ChainID: chain, Resource: ledger.BudgetResource{Kind: ledger.BudgetTokens}, Limit: "1000"},
		},
		{
			EventID: "evt-3", OccurredAt: "2026-05-01T10:00:09Z", TenantID: tenant("globex"),
			Event: &ledger.OutcomeRecorded{ChainID: "chain-2", Step: ledger.DecisionStepReasoning, Passed: false},
		},
	}
}

// Open a durable ledger, append a batch atomically, and query it by tenant.
func ExampleOpen() {
	dir, _ := os.MkdirTemp("", "exledger-example")
	defer os.RemoveAll(dir)

	l, err := ledger.Open(dir, nil) // nil options: durable defaults (fsync per commit)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	ctx := context.Background()
	if err := l.AppendEvents(ctx, exampleEvents()); err != nil {
		fmt.Println(err)
		return
	}
	evs, err := l.QueryEvents(ctx, ledger.EventQuery{TenantID: tenant("acme")})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range evs {
		fmt.Println(e.EventID, e.Event.Kind())
	}
	// Output:
	// evt-1 OutcomeRecorded
	// evt-2 BudgetExceeded
}

// Validation errors carry the Converge error text and match ErrInvalidQuery.
func ExampleValidate() {
	err := ledger.Validate(ledger.ExperienceEventEnvelope{EventID: "has space", OccurredAt: "2026-01-01T00:00:00Z",
		Event: &ledger.FactPromoted{}})
	fmt.Println(err)
	// Output:
	// Invalid query: event_id contains invalid characters; only alphanumeric, '-', '_', '.' are allowed
}

// The hash chain makes the ledger tamper-evident: save a digest, verify later.
func ExampleLedger_VerifyDigest() {
	dir, _ := os.MkdirTemp("", "exledger-example")
	defer os.RemoveAll(dir)
	l, _ := ledger.Open(dir, nil)
	defer l.Close()
	ctx := context.Background()
	l.AppendEvents(ctx, exampleEvents())
	d, _ := l.Head()
	fmt.Println("head seq:", d.Seq)
	fmt.Println("verify:", l.VerifyDigest(ctx, d))
	// Output:
	// head seq: 3
	// verify: <nil>
}

// MemStore is the reference behaviour: batches are not atomic.
func ExampleNewMemStore() {
	s := ledger.NewMemStore()
	ctx := context.Background()
	evs := exampleEvents()
	evs[1].EventID = "" // invalid: the batch stops here, evt-1 stays
	fmt.Println(s.AppendEvents(ctx, evs))
	all, _ := s.QueryEvents(ctx, ledger.EventQuery{})
	fmt.Println(len(all))
	// Output:
	// Invalid query: event_id must not be empty
	// 1
}

// Stream every event's header and canonical bytes without decoding the
// event bodies: a tally by tenant and kind, or a copy to another system.
func ExampleLedger_ScanRaw() {
	dir, _ := os.MkdirTemp("", "exledger-example")
	defer os.RemoveAll(dir)

	l, err := ledger.Open(dir, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	ctx := context.Background()
	if err := l.AppendEvents(ctx, exampleEvents()); err != nil {
		fmt.Println(err)
		return
	}
	for r, err := range l.ScanRaw(ctx, ledger.EventQuery{}, 0) {
		if err != nil {
			fmt.Println(err)
			return
		}
		// r.Canonical decodes with ledger.UnmarshalCanonical when needed.
		fmt.Println(r.Seq, r.Header.TenantID, r.Header.Kind, len(r.Canonical) > 0)
	}
	// Output:
	// 1 acme OutcomeRecorded true
	// 2 acme BudgetExceeded true
	// 3 globex OutcomeRecorded true
}
