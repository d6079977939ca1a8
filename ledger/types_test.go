package ledger

import (
	"errors"
	"fmt"
	"testing"
)

func TestStoreErrors(t *testing.T) {
	cause := errors.New("disk on fire")
	cases := []struct {
		err      error
		text     string
		sentinel error
	}{
		{InvalidQuery("bad"), "Invalid query: bad", ErrInvalidQuery},
		// The cause's text follows the message, so the error says why.
		{Storage("write failed", cause), "Storage error: write failed: disk on fire", ErrStorage},
		{Storage("write failed", nil), "Storage error: write failed", ErrStorage},
		{NotFound("x"), "Not found: x", ErrNotFound},
	}
	sentinels := []error{ErrInvalidQuery, ErrStorage, ErrNotFound}
	for _, c := range cases {
		if c.err.Error() != c.text {
			t.Errorf("text %q want %q", c.err.Error(), c.text)
		}
		wrapped := fmt.Errorf("ctx: %w", c.err)
		for _, s := range sentinels {
			if got := errors.Is(wrapped, s); got != (s == c.sentinel) {
				t.Errorf("%q: errors.Is(%v) = %v", c.text, s, got)
			}
		}
		if errors.Is(c.err, ErrClosed) {
			t.Errorf("%q matches ErrClosed", c.text)
		}
	}
	if !errors.Is(Storage("w", cause), cause) {
		t.Error("Storage does not unwrap to its cause")
	}
	if errors.Unwrap(InvalidQuery("x")) != nil {
		t.Error("InvalidQuery has a cause")
	}
	if ErrKindInvalidQuery.String() != "InvalidQuery" || ErrKindStorage.String() != "StorageError" || ErrKindNotFound.String() != "NotFound" {
		t.Error("ErrorKind names")
	}
}

func TestKinds(t *testing.T) {
	if len(AllKinds) != 14 {
		t.Fatalf("%d kinds", len(AllKinds))
	}
	seen := map[ExperienceEventKind]bool{}
	for i, k := range AllKinds {
		if seen[k] {
			t.Fatalf("duplicate kind %s", k)
		}
		seen[k] = true
		if got, ok := ParseKind(string(k)); !ok || got != k {
			t.Errorf("ParseKind(%s) = %v %v", k, got, ok)
		}
		if k.Index() != i || !k.Valid() {
			t.Errorf("%s: index %d valid %v", k, k.Index(), k.Valid())
		}
		ev := NewEvent(k)
		if ev == nil || ev.Kind() != k {
			t.Errorf("NewEvent(%s) = %#v", k, ev)
		}
	}
	for _, s := range []string{"", "proposalCreated", "Bogus", "fact_promoted"} {
		if _, ok := ParseKind(s); ok {
			t.Errorf("ParseKind(%q) accepted", s)
		}
		if ExperienceEventKind(s).Valid() || NewEvent(ExperienceEventKind(s)) != nil {
			t.Errorf("%q treated as valid", s)
		}
	}
	if AllKinds[0] != KindProposalCreated || AllKinds[13] != KindGateDecisionRecorded || AllKinds[12] != KindHypothesisResolved {
		t.Error("AllKinds order")
	}
}

func TestPayloadIDHelpers(t *testing.T) {
	tl := TraceLinkID("tl")
	chainKinds := map[ExperienceEventKind]bool{KindProposalCreated: true, KindProposalValidated: true,
		KindOutcomeRecorded: true, KindBudgetExceeded: true, KindHypothesisResolved: true}
	traceKinds := map[ExperienceEventKind]bool{KindReplayTraceRecorded: true, KindReplayabilityDowngraded: true,
		KindBackendInvoked: true, KindRecallExecuted: true}
	artifactKinds := map[ExperienceEventKind]bool{KindArtifactStateTransitioned: true, KindArtifactRollbackRecorded: true}
	for _, k := range AllKinds {
		ev := NewEvent(k)
		// Fill the relevant ids through a JSON-independent switch.
		switch e := ev.(type) {
		case *ProposalCreated:
			e.ChainID = "c"
		case *ProposalValidated:
			e.ChainID = "c"
		case *OutcomeRecorded:
			e.ChainID = "c"
		case *BudgetExceeded:
			e.ChainID = "c"
		case *HypothesisResolved:
			e.ChainID = "c"
		case *ReplayTraceRecorded:
			e.TraceLinkID = tl
		case *ReplayabilityDowngraded:
			e.TraceLinkID = tl
		case *BackendInvoked:
			e.TraceLinkID = tl
		case *RecallExecuted:
			e.TraceLinkID = &tl
		case *ArtifactStateTransitioned:
			e.ArtifactID = "a"
		case *ArtifactRollbackRecorded:
			e.Rollback.ArtifactID = "a"
		}
		if c, ok := ChainIDOf(ev); ok != chainKinds[k] || (ok && c != "c") {
			t.Errorf("ChainIDOf(%s) = %q %v", k, c, ok)
		}
		if id, ok := TraceLinkIDOf(ev); ok != traceKinds[k] || (ok && id != tl) {
			t.Errorf("TraceLinkIDOf(%s) = %q %v", k, id, ok)
		}
		if id, ok := ArtifactIDOf(ev); ok != artifactKinds[k] || (ok && id != "a") {
			t.Errorf("ArtifactIDOf(%s) = %q %v", k, id, ok)
		}
	}
	if _, ok := TraceLinkIDOf(&RecallExecuted{}); ok {
		t.Error("RecallExecuted without trace_link_id reported one")
	}
	if _, ok := ChainIDOf(nil); ok {
		t.Error("nil event has a chain")
	}
}

func TestContentHashParse(t *testing.T) {
	h, err := ParseContentHash("00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF")
	if err != nil || h[1] != 0x11 || h[31] != 0xff {
		t.Fatalf("%x %v", h, err)
	}
	if h.String() != "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" {
		t.Fatal(h.String())
	}
	for _, s := range []string{"", "00", "0x112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"} {
		if _, err := ParseContentHash(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestTimeRangeContains(t *testing.T) {
	ts := func(s string) *Timestamp { v := Timestamp(s); return &v }
	a, b := ts("2026-01-01T00:00:01Z"), ts("2026-01-01T00:00:03Z")
	for _, tc := range []struct {
		tr   *TimeRange
		t    string
		want bool
	}{
		{nil, "2026-01-01T00:00:00Z", true},
		{&TimeRange{}, "2026-01-01T00:00:00Z", true},
		{&TimeRange{Start: a}, "2026-01-01T00:00:00Z", false},
		{&TimeRange{Start: a}, "2026-01-01T00:00:01Z", true},
		{&TimeRange{End: b}, "2026-01-01T00:00:03Z", true},
		{&TimeRange{End: b}, "2026-01-01T00:00:04Z", false},
		{&TimeRange{Start: a, End: b}, "2026-01-01T00:00:02Z", true},
		{&TimeRange{Start: b, End: a}, "2026-01-01T00:00:02Z", false},
	} {
		if got := tc.tr.Contains(Timestamp(tc.t)); got != tc.want {
			t.Errorf("%+v.Contains(%s) = %v, want %v", tc.tr, tc.t, got, tc.want)
		}
	}
}
