package ledgertest

import (
	"math"
	"strings"
	"testing"

	"github.com/exledger/exledger/ledger"
)

func (s *suite) testEmpty(t *testing.T) {
	st := s.open(t)
	if got := queryAll(t, st); len(got) != 0 {
		t.Fatalf("empty store returned %d envelopes", len(got))
	}
	if got := mustQuery(t, st, ledger.EventQuery{Kinds: ledger.AllKinds, Limit: ptr(uint64(10))}); len(got) != 0 {
		t.Fatalf("empty store returned %d envelopes for all kinds", len(got))
	}
	if rt := mustTrace(t, st, "tl-none"); rt != nil {
		t.Fatalf("empty store returned a trace: %+v", rt)
	}
	if err := st.AppendEvents(bg, nil); err != nil {
		t.Fatalf("AppendEvents(nil): %v", err)
	}
	if err := st.AppendEvents(bg, []env{}); err != nil {
		t.Fatalf("AppendEvents(empty): %v", err)
	}
	if got := queryAll(t, st); len(got) != 0 {
		t.Fatalf("empty batches stored %d envelopes", len(got))
	}
}

// testRoundTrip appends one envelope of every variant (plus a few with
// extreme values) and requires the query result to be byte-identical on the
// wire to what was appended.
func (s *suite) testRoundTrip(t *testing.T) {
	st := s.open(t)
	var want []env
	for i, k := range ledger.AllKinds {
		e := mk("rt-"+string(k), "2026-04-0"+string(rune('1'+i%9))+"T10:00:00Z", "tenant-a", "run-1",
			sampleEvent(k, i, "chain-rt"))
		want = append(want, e)
	}
	// Second forms of the data-carrying enums and the extremes.
	want = append(want,
		mk(strings.Repeat("x", 256), strings.Repeat("9", 64), strings.Repeat("T", 256), strings.Repeat("c", 256),
			&ledger.ReplayTraceRecorded{TraceLinkID: "tl-remote", TraceLink: remoteTrace(3)}),
		mk("rt-outcome-min", "2026-04-10T00:00:00Z", "", "", &ledger.OutcomeRecorded{
			ChainID: "", Step: ledger.DecisionStepReasoning, StopReason: &ledger.StopReason{Kind: ledger.StopConverged},
		}),
		mk("rt-hyp-nocontra", "2026-04-11T00:00:00Z", "", "run-9", &ledger.HypothesisResolved{
			ChainID: "c", Confidence: math.Copysign(0, -1), Outcome: ledger.HypothesisUnresolved,
		}),
		mk("rt-gate-approve", "2026-04-12T00:00:00Z", "tenant-b", "", &ledger.GateDecisionRecorded{
			Decision: ledger.GateDecision{Verdict: ledger.GateVerdict{Kind: ledger.GateApprove}},
			Request:  ledger.GateRequest{Timeout: ledger.GateTimeout{Action: ledger.TimeoutReject}},
		}),
		mk("rt-big", "2026-04-13T00:00:00Z", "tenant-b", "", &ledger.FactPromoted{
			ProposalID: "p", FactID: "f", PromotedBy: "a", Reason: strings.Repeat("0123456789abcdef", 4096),
		}),
	)
	mustAppend(t, st, want...)
	sameEnvelopes(t, "query all", queryAll(t, st), want)
	for _, e := range want {
		got := mustQuery(t, st, ledger.EventQuery{Kinds: []ledger.ExperienceEventKind{e.Event.Kind()}})
		found := false
		for _, g := range got {
			found = found || canon(t, g) == canon(t, e)
		}
		if !found {
			t.Fatalf("kind query %s did not return %q unchanged", e.Event.Kind(), e.EventID)
		}
	}
	if rt := mustTrace(t, st, "tl-remote"); canonTrace(t, rt) != canonTrace(t, ptr(remoteTrace(3))) {
		t.Fatalf("GetTraceLink(tl-remote) = %s", canonTrace(t, rt))
	}
}

// testInsertionOrder: results come back in append order, whatever the
// timestamps.
func (s *suite) testInsertionOrder(t *testing.T) {
	st := s.open(t)
	times := []string{"2026-09-01T00:00:00Z", "2026-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2026-05-01T00:00:00Z", "2026-01-01T00:00:00Z", "not-a-timestamp"}
	var want []env
	for i, at := range times {
		want = append(want, mk("ord-"+string(rune('a'+i)), at, "tenant-a", "run-1",
			sampleEvent(ledger.KindFactPromoted, i, "")))
	}
	mustAppend(t, st, want...)
	sameEnvelopes(t, "insertion order", queryAll(t, st), want)
	sameEnvelopes(t, "insertion order (tenant filter)",
		mustQuery(t, st, ledger.EventQuery{TenantID: ptr(ledger.TenantID("tenant-a"))}), want)
}

// testNoAliasing: neither mutating an appended value afterwards nor
// mutating query results may change what the store returns later.
func (s *suite) testNoAliasing(t *testing.T) {
	st := s.open(t)
	e := mk("alias-1", "2026-01-01T00:00:00Z", "tenant-a", "run-1", sampleEvent(ledger.KindOutcomeRecorded, 1, "chain-a"))
	r := rtr("alias-2", "tl-alias", localTrace(2))
	orig := []env{
		mk("alias-1", "2026-01-01T00:00:00Z", "tenant-a", "run-1", sampleEvent(ledger.KindOutcomeRecorded, 1, "chain-a")),
		rtr("alias-2", "tl-alias", localTrace(2)),
	}
	mustAppend(t, st, e)
	if err := st.AppendEvents(bg, []env{r}); err != nil {
		t.Fatal(err)
	}
	// Mutate the caller's values after the append.
	*e.TenantID = "tenant-z"
	oc := e.Event.(*ledger.OutcomeRecorded)
	oc.Metadata["k1"] = "changed"
	*oc.Tokens = 1
	r.Event.(*ledger.ReplayTraceRecorded).TraceLink.Local.Seed = 7
	r.Event.(*ledger.ReplayTraceRecorded).TraceLink.Local.Recall.CandidateIDs[0] = "mutated"
	sameEnvelopes(t, "after mutating inputs", queryAll(t, st), orig)

	// Mutate the results.
	got := queryAll(t, st)
	*got[0].TenantID = "tenant-z"
	got[0].Event.(*ledger.OutcomeRecorded).Metadata["k1"] = "changed"
	got[1].Event.(*ledger.ReplayTraceRecorded).TraceLink.Local.Recall.CandidateScores[0] = 42
	sameEnvelopes(t, "after mutating results", queryAll(t, st), orig)

	tr := mustTrace(t, st, "tl-alias")
	if tr == nil || tr.Local == nil {
		t.Fatalf("GetTraceLink(tl-alias) = %v", tr)
	}
	tr.Local.Seed = 99
	tr.Local.Recall.CandidateIDs[1] = "mutated"
	want := localTrace(2)
	if got := mustTrace(t, st, "tl-alias"); canonTrace(t, got) != canonTrace(t, &want) {
		t.Fatalf("trace changed through a returned pointer: %s", canonTrace(t, got))
	}
}

// validationCase is one row of the SPEC §4 validation table.
type validationCase struct {
	name string
	mut  func(e *env)
	msg  string // "" = must be accepted
}

const invalidChars = " contains invalid characters; only alphanumeric, '-', '_', '.' are allowed"

func validationCases() []validationCase {
	long := strings.Repeat("a", 257)
	return []validationCase{
		{"event_id empty", func(e *env) { e.EventID = "" }, "event_id must not be empty"},
		{"event_id 257 bytes", func(e *env) { e.EventID = ledger.EventID(long) }, "event_id exceeds maximum length of 256 characters"},
		{"event_id 129 two-byte chars", func(e *env) { e.EventID = ledger.EventID(strings.Repeat("é", 129)) }, "event_id exceeds maximum length of 256 characters"},
		{"event_id space", func(e *env) { e.EventID = "evt 1" }, "event_id" + invalidChars},
		{"event_id colon", func(e *env) { e.EventID = "evt:1" }, "event_id" + invalidChars},
		{"event_id slash", func(e *env) { e.EventID = "evt/1" }, "event_id" + invalidChars},
		{"event_id unicode", func(e *env) { e.EventID = "évt-1" }, "event_id" + invalidChars},
		{"event_id newline", func(e *env) { e.EventID = "evt-1\n" }, "event_id" + invalidChars},
		{"event_id NUL", func(e *env) { e.EventID = "evt\x00" }, "event_id" + invalidChars},
		{"event_id plus", func(e *env) { e.EventID = "evt+1" }, "event_id" + invalidChars},
		{"occurred_at empty", func(e *env) { e.OccurredAt = "" }, "occurred_at must not be empty"},
		{"occurred_at 65 bytes", func(e *env) { e.OccurredAt = ledger.Timestamp(strings.Repeat("1", 65)) }, "occurred_at exceeds maximum length of 64 characters"},
		{"occurred_at 22 three-byte chars", func(e *env) { e.OccurredAt = ledger.Timestamp(strings.Repeat("時", 22)) }, "occurred_at exceeds maximum length of 64 characters"},
		{"tenant_id empty", func(e *env) { e.TenantID = ptr(ledger.TenantID("")) }, "tenant_id must not be empty"},
		{"tenant_id 257 bytes", func(e *env) { e.TenantID = ptr(ledger.TenantID(long)) }, "tenant_id exceeds maximum length of 256 characters"},
		{"tenant_id injection", func(e *env) { e.TenantID = ptr(ledger.TenantID("t' OR 1=1")) }, "tenant_id" + invalidChars},
		{"tenant_id slash", func(e *env) { e.TenantID = ptr(ledger.TenantID("tenant/a")) }, "tenant_id" + invalidChars},
		{"correlation_id empty", func(e *env) { e.CorrelationID = ptr(ledger.CorrelationID("")) }, "correlation_id must not be empty"},
		{"correlation_id 257 bytes", func(e *env) { e.CorrelationID = ptr(ledger.CorrelationID(long)) }, "correlation_id exceeds maximum length of 256 characters"},
		{"correlation_id slash", func(e *env) { e.CorrelationID = ptr(ledger.CorrelationID("run/1")) }, "correlation_id" + invalidChars},
		{"correlation_id tab", func(e *env) { e.CorrelationID = ptr(ledger.CorrelationID("run\t1")) }, "correlation_id" + invalidChars},
		// Check order: event_id, occurred_at, tenant_id, correlation_id.
		{"order event_id before occurred_at", func(e *env) { e.EventID = "a b"; e.OccurredAt = "" }, "event_id" + invalidChars},
		{"order occurred_at before tenant", func(e *env) {
			e.OccurredAt = ledger.Timestamp(strings.Repeat("1", 65))
			e.TenantID = ptr(ledger.TenantID(""))
		}, "occurred_at exceeds maximum length of 64 characters"},
		{"order tenant before correlation", func(e *env) {
			e.TenantID = ptr(ledger.TenantID("x y"))
			e.CorrelationID = ptr(ledger.CorrelationID(""))
		}, "tenant_id" + invalidChars},
		{"order all bad", func(e *env) {
			e.EventID = ""
			e.OccurredAt = ""
			e.TenantID = ptr(ledger.TenantID(""))
			e.CorrelationID = ptr(ledger.CorrelationID(""))
		}, "event_id must not be empty"},
	}
}

func acceptCases() []validationCase {
	allowed := "ABCXYZabcxyz0189.-_"
	return []validationCase{
		{"event_id 256 bytes", func(e *env) { e.EventID = ledger.EventID(strings.Repeat("a", 256)) }, ""},
		{"every allowed char", func(e *env) { e.EventID = ledger.EventID(allowed) }, ""},
		{"single char ids", func(e *env) {
			e.EventID = "."
			e.TenantID = ptr(ledger.TenantID("-"))
			e.CorrelationID = ptr(ledger.CorrelationID("_"))
		}, ""},
		{"occurred_at 64 bytes", func(e *env) { e.OccurredAt = ledger.Timestamp(strings.Repeat("9", 64)) }, ""},
		{"occurred_at 21 three-byte chars", func(e *env) { e.OccurredAt = ledger.Timestamp(strings.Repeat("時", 21)) }, ""},
		{"occurred_at garbage", func(e *env) { e.OccurredAt = "not a timestamp / at all" }, ""},
		{"occurred_at one byte", func(e *env) { e.OccurredAt = " " }, ""},
		{"tenant 256 bytes", func(e *env) { e.TenantID = ptr(ledger.TenantID(strings.Repeat("T", 256))) }, ""},
		{"correlation 256 bytes", func(e *env) { e.CorrelationID = ptr(ledger.CorrelationID(strings.Repeat("c", 256))) }, ""},
		{"payload ids unvalidated", func(e *env) {
			e.Event = &ledger.ReplayTraceRecorded{TraceLinkID: "tl with spaces/and:colons ü", TraceLink: localTrace(4)}
		}, ""},
	}
}

// testValidation: every rejected envelope yields the exact message, kind
// ErrInvalidQuery, and stores nothing (not even its trace link), through
// AppendEvent and through a one-element AppendEvents.
func (s *suite) testValidation(t *testing.T) {
	for _, c := range validationCases() {
		t.Run(c.name, func(t *testing.T) {
			st := s.open(t)
			base := rtr("val-ok", "tl-val", localTrace(1))
			base.TenantID = ptr(ledger.TenantID("tenant-a"))
			base.CorrelationID = ptr(ledger.CorrelationID("run-1"))
			e := base
			c.mut(&e)
			wantInvalid(t, "AppendEvent", st.AppendEvent(bg, e), c.msg)
			wantInvalid(t, "AppendEvents([e])", st.AppendEvents(bg, []env{e}), c.msg)
			if got := queryAll(t, st); len(got) != 0 {
				t.Fatalf("rejected envelope was stored: %v", ids(got))
			}
			if rt := mustTrace(t, st, "tl-val"); rt != nil {
				t.Fatalf("rejected ReplayTraceRecorded registered its trace")
			}
			// The store still works afterwards.
			mustAppend(t, st, base)
			if got := queryAll(t, st); len(got) != 1 {
				t.Fatalf("after a valid append: %d envelopes", len(got))
			}
			if rt := mustTrace(t, st, "tl-val"); rt == nil {
				t.Fatalf("valid ReplayTraceRecorded did not register its trace")
			}
		})
	}
}

func (s *suite) testValidationAccepts(t *testing.T) {
	st := s.open(t)
	var want []env
	for i, c := range acceptCases() {
		e := mk("acc-"+string(rune('a'+i)), "2026-01-01T00:00:00Z", "tenant-a", "run-1",
			sampleEvent(ledger.KindFactPromoted, i, ""))
		c.mut(&e)
		if err := st.AppendEvent(bg, e); err != nil {
			t.Fatalf("%s: rejected: %v", c.name, err)
		}
		want = append(want, e)
	}
	sameEnvelopes(t, "accepted edge cases", queryAll(t, st), want)
	if rt := mustTrace(t, st, "tl with spaces/and:colons ü"); rt == nil {
		t.Fatalf("trace with an unvalidated id was not registered")
	}
}
