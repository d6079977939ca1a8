package ledgertest

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/exledger/exledger/ledger"
)

type env = ledger.ExperienceEventEnvelope

func ptr[T any](v T) *T { return &v }

// canon returns the canonical (serde-compatible) JSON of e; the suite
// compares envelopes by it, so "equal" means "the same bytes on the wire".
func canon(t testing.TB, e env) string {
	t.Helper()
	b, err := marshalEnvelope(e)
	if err != nil {
		t.Fatalf("marshal envelope %q: %v", e.EventID, err)
	}
	return string(b)
}

func canonTrace(t testing.TB, rt *ledger.ReplayTrace) string {
	t.Helper()
	if rt == nil {
		return "null"
	}
	b, err := marshalTrace(*rt)
	if err != nil {
		t.Fatalf("marshal trace: %v", err)
	}
	return string(b)
}

func mustAppend(t testing.TB, s ledger.ExperienceStore, es ...env) {
	t.Helper()
	for _, e := range es {
		if err := s.AppendEvent(bg, e); err != nil {
			t.Fatalf("AppendEvent(%q): %v", e.EventID, err)
		}
	}
}

func mustQuery(t testing.TB, s ledger.ExperienceStore, q ledger.EventQuery) []env {
	t.Helper()
	got, err := s.QueryEvents(bg, q)
	if err != nil {
		t.Fatalf("QueryEvents(%s): %v", describeQuery(q), err)
	}
	return got
}

func queryAll(t testing.TB, s ledger.ExperienceStore) []env {
	t.Helper()
	return mustQuery(t, s, ledger.EventQuery{})
}

func mustTrace(t testing.TB, s ledger.ExperienceStore, id ledger.TraceLinkID) *ledger.ReplayTrace {
	t.Helper()
	rt, err := s.GetTraceLink(bg, id)
	if err != nil {
		t.Fatalf("GetTraceLink(%q) returned an error (absent must be nil, nil): %v", id, err)
	}
	return rt
}

func ids(es []env) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = string(e.EventID)
	}
	return out
}

// sameEnvelopes fails unless got equals want element by element (canonical
// JSON) and in order.
func sameEnvelopes(t testing.TB, what string, got, want []env) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d envelopes %v, want %d %v", what, len(got), trimIDs(ids(got)), len(want), trimIDs(ids(want)))
	}
	for i := range want {
		if g, w := canon(t, got[i]), canon(t, want[i]); g != w {
			t.Fatalf("%s: envelope %d differs:\n got  %s\n want %s", what, i, clip(g), clip(w))
		}
	}
}

func trimIDs(s []string) []string {
	if len(s) > 20 {
		return append(s[:20:20], fmt.Sprintf("...(%d more)", len(s)-20))
	}
	return s
}

func clip(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

// wantInvalid fails unless err is an ErrInvalidQuery whose text is exactly
// "Invalid query: "+msg.
func wantInvalid(t testing.TB, what string, err error, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: got nil error, want %q", what, "Invalid query: "+msg)
	}
	if !errors.Is(err, ledger.ErrInvalidQuery) {
		t.Fatalf("%s: error %q (%T) does not match ledger.ErrInvalidQuery", what, err, err)
	}
	if errors.Is(err, ledger.ErrStorage) || errors.Is(err, ledger.ErrNotFound) {
		t.Fatalf("%s: error %q matches a second error kind", what, err)
	}
	if got := err.Error(); got != "Invalid query: "+msg {
		t.Fatalf("%s: error text %q, want %q", what, got, "Invalid query: "+msg)
	}
}

func describeQuery(q ledger.EventQuery) string {
	var b strings.Builder
	b.WriteString("{")
	if q.TenantID != nil {
		fmt.Fprintf(&b, " tenant=%q", *q.TenantID)
	}
	if q.TimeRange != nil {
		b.WriteString(" time=[")
		if q.TimeRange.Start != nil {
			fmt.Fprintf(&b, "%q", *q.TimeRange.Start)
		} else {
			b.WriteString("-")
		}
		b.WriteString(",")
		if q.TimeRange.End != nil {
			fmt.Fprintf(&b, "%q", *q.TimeRange.End)
		} else {
			b.WriteString("-")
		}
		b.WriteString("]")
	}
	if len(q.Kinds) > 0 {
		fmt.Fprintf(&b, " kinds=%v", q.Kinds)
	}
	if q.CorrelationID != nil {
		fmt.Fprintf(&b, " corr=%q", *q.CorrelationID)
	}
	if q.ChainID != nil {
		fmt.Fprintf(&b, " chain=%q", *q.ChainID)
	}
	if q.Limit != nil {
		if *q.Limit == math.MaxUint64 {
			b.WriteString(" limit=u64max")
		} else {
			fmt.Fprintf(&b, " limit=%d", *q.Limit)
		}
	}
	b.WriteString(" }")
	return b.String()
}

// ---- the independent brute-force query model ----

// modelMatch is the suite's own statement of the query rules (SPEC §4),
// written independently of any store. chainHyp selects the durable chain
// rule (HypothesisResolved matches a chain filter) over the reference one.
func modelMatch(e *env, q *ledger.EventQuery, chainHyp bool) bool {
	if q.TenantID != nil {
		if e.TenantID == nil || string(*e.TenantID) != string(*q.TenantID) {
			return false
		}
	}
	if q.CorrelationID != nil {
		if e.CorrelationID == nil || string(*e.CorrelationID) != string(*q.CorrelationID) {
			return false
		}
	}
	if q.TimeRange != nil {
		at := string(e.OccurredAt)
		if s := q.TimeRange.Start; s != nil && strings.Compare(at, string(*s)) < 0 {
			return false
		}
		if en := q.TimeRange.End; en != nil && strings.Compare(at, string(*en)) > 0 {
			return false
		}
	}
	if len(q.Kinds) != 0 {
		hit := false
		for _, k := range q.Kinds {
			hit = hit || k == e.Event.Kind()
		}
		if !hit {
			return false
		}
	}
	if q.ChainID != nil {
		var chain ledger.ChainID
		switch ev := e.Event.(type) {
		case *ledger.ProposalCreated:
			chain = ev.ChainID
		case *ledger.ProposalValidated:
			chain = ev.ChainID
		case *ledger.OutcomeRecorded:
			chain = ev.ChainID
		case *ledger.BudgetExceeded:
			chain = ev.ChainID
		case *ledger.HypothesisResolved:
			if !chainHyp {
				return false
			}
			chain = ev.ChainID
		default:
			return false
		}
		if chain != *q.ChainID {
			return false
		}
	}
	return true
}

// modelQuery returns the positions (in all) of the answer to q.
func modelQuery(all []env, q ledger.EventQuery, chainHyp bool) []int {
	var out []int
	for i := range all {
		if q.Limit != nil && uint64(len(out)) >= *q.Limit {
			break
		}
		if modelMatch(&all[i], &q, chainHyp) {
			out = append(out, i)
		}
	}
	return out
}

func pick(all []env, pos []int) []env {
	out := make([]env, len(pos))
	for i, p := range pos {
		out[i] = all[p]
	}
	return out
}
