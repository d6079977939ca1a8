package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/exledger/exledger/ledger"
)

func ExampleImportJSONL() {
	dir, _ := os.MkdirTemp("", "exledger-example")
	defer os.RemoveAll(dir)
	l, err := ledger.Open(dir, nil)
	if err != nil {
		panic(err)
	}
	defer l.Close()

	input := `{"event_id":"evt-1","occurred_at":"2026-01-01T00:00:00Z","tenant_id":"acme","correlation_id":null,"event":{"type":"OutcomeRecorded","data":{"chain_id":"c1","step":"Reasoning","passed":true,"stop_reason":null,"latency_ms":12,"tokens":null,"cost_microdollars":null,"backend":null}}}
{"event_id":"evt-2","occurred_at":"2026-01-01T00:00:01Z","tenant_id":"acme","correlation_id":null,"event":{"type":"OutcomeRecorded","data":{"chain_id":"c1","step":"Reasoning","passed":false,"stop_reason":null,"latency_ms":40,"tokens":null,"cost_microdollars":null,"backend":null}}}
{"event_id":"","occurred_at":"2026-01-01T00:00:02Z","tenant_id":"acme","correlation_id":null,"event":{"type":"OutcomeRecorded","data":{"chain_id":"c1","step":"Reasoning","passed":true,"stop_reason":null,"latency_ms":9,"tokens":null,"cost_microdollars":null,"backend":null}}}
`
	rep, err := ledger.ImportJSONL(context.Background(), l, strings.NewReader(input), ledger.ImportOptions{BatchSize: 2})
	fmt.Printf("imported %d events in %d batches\n", rep.Events, rep.Batches)
	var ie *ledger.ImportError
	if errors.As(err, &ie) {
		fmt.Println("rejected line", ie.Line)
	}
	// Output:
	// imported 2 events in 1 batches
	// rejected line 3
}

func ExampleExportJSONL() {
	dir, _ := os.MkdirTemp("", "exledger-example")
	defer os.RemoveAll(dir)
	l, err := ledger.Open(dir, nil)
	if err != nil {
		panic(err)
	}
	defer l.Close()
	ctx := context.Background()
	tenant := ledger.TenantID("acme")
	latency := uint64(5)
	for i, t := range []ledger.TenantID{"acme", "globex", "acme"} {
		t := t
		err := l.AppendEvent(ctx, ledger.ExperienceEventEnvelope{
			EventID:    ledger.EventID(fmt.Sprintf("evt-%d", i+1)),
			OccurredAt: ledger.Timestamp(fmt.Sprintf("2026-01-01T00:00:0%dZ", i)),
			TenantID:   &t,
			Event:      &ledger.OutcomeRecorded{ChainID: "c1", Step: ledger.DecisionStepReasoning, Passed: true, LatencyMs: &latency},
		})
		if err != nil {
			panic(err)
		}
	}
	n, err := ledger.ExportJSONL(ctx, l, ledger.EventQuery{TenantID: &tenant}, os.Stdout)
	fmt.Println(n, err)
	// Output:
	// {"event_id":"evt-1","occurred_at":"2026-01-01T00:00:00Z","tenant_id":"acme","correlation_id":null,"event":{"type":"OutcomeRecorded","data":{"chain_id":"c1","step":"Reasoning","passed":true,"stop_reason":null,"latency_ms":5,"tokens":null,"cost_microdollars":null,"backend":null}}}
	// {"event_id":"evt-3","occurred_at":"2026-01-01T00:00:02Z","tenant_id":"acme","correlation_id":null,"event":{"type":"OutcomeRecorded","data":{"chain_id":"c1","step":"Reasoning","passed":true,"stop_reason":null,"latency_ms":5,"tokens":null,"cost_microdollars":null,"backend":null}}}
	// 2 <nil>
}
