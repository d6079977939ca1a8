package ledgertest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/exledger/exledger/ledger"
)

// testTraceLinks: only ReplayTraceRecorded registers a trace, the last
// accepted write wins, absent ids give (nil, nil), ids are compared exactly.
func (s *suite) testTraceLinks(t *testing.T) {
	st := s.open(t)
	wantTrace := func(id ledger.TraceLinkID, want *ledger.ReplayTrace) {
		t.Helper()
		if got, w := canonTrace(t, mustTrace(t, st, id)), canonTrace(t, want); got != w {
			t.Fatalf("GetTraceLink(%q):\n got  %s\n want %s", id, clip(got), clip(w))
		}
	}
	a, b, c := localTrace(10), remoteTrace(11), localTrace(12)
	mustAppend(t, st, rtr("tl-e1", "tl-1", a))
	wantTrace("tl-1", &a)
	// Last write wins, across tenants and batches.
	second := rtr("tl-e2", "tl-1", b)
	second.TenantID = ptr(ledger.TenantID("tenant-b"))
	if err := st.AppendEvents(bg, []env{second}); err != nil {
		t.Fatal(err)
	}
	wantTrace("tl-1", &b)
	// A rejected re-record does not overwrite.
	bad := rtr("tl e3", "tl-1", c)
	wantInvalid(t, "invalid ReplayTraceRecorded", st.AppendEvent(bg, bad), "event_id"+invalidChars)
	wantTrace("tl-1", &b)
	// Events that only mention a trace id do not register it.
	mustAppend(t, st,
		mk("tl-e4", "2026-05-01T00:00:00Z", "", "", &ledger.BackendInvoked{BackendName: "x", TraceLinkID: "tl-mention", Step: ledger.DecisionStepReasoning}),
		mk("tl-e5", "2026-05-01T00:00:00Z", "", "", &ledger.ReplayabilityDowngraded{TraceLinkID: "tl-mention", From: ledger.ReplayabilityDeterministic, To: ledger.ReplayabilityNone, Reason: ledger.DowngradeNoSeedProvided}),
		mk("tl-e6", "2026-05-01T00:00:00Z", "", "", func() ledger.ExperienceEvent {
			ev := sampleEvent(ledger.KindRecallExecuted, 6, "").(*ledger.RecallExecuted)
			ev.TraceLinkID = ptr(ledger.TraceLinkID("tl-mention"))
			return ev
		}()),
	)
	wantTrace("tl-mention", nil)
	// Registered after a mention.
	mustAppend(t, st, rtr("tl-e7", "tl-mention", c))
	wantTrace("tl-mention", &c)
	// Exact id comparison.
	for _, id := range []ledger.TraceLinkID{"", "TL-1", "tl-1 ", "tl-", "tl-10", "never-seen", "tl-ü"} {
		wantTrace(id, nil)
	}
	mustAppend(t, st, rtr("tl-e8", "tl-ü", a), rtr("tl-e9", "", b))
	wantTrace("tl-ü", &a)
	wantTrace("", &b)
	wantTrace("tl-1", &b)
	// Three rewrites in one batch: the last one wins.
	if err := st.AppendEvents(bg, []env{rtr("tl-e10", "tl-2", a), rtr("tl-e11", "tl-2", b), rtr("tl-e12", "tl-2", c)}); err != nil {
		t.Fatal(err)
	}
	wantTrace("tl-2", &c)
	if got := queryAll(t, st); len(got) != 11 {
		t.Fatalf("stored %d envelopes, want 11", len(got))
	}
}

// testBatch: AppendEvents stops at the first invalid envelope; reference
// stores keep the prefix, atomic stores keep nothing.
func (s *suite) testBatch(t *testing.T) {
	st := s.open(t)
	pre := mk("b-0", "2026-01-01T00:00:00Z", "tenant-a", "", sampleEvent(ledger.KindFactPromoted, 0, ""))
	mustAppend(t, st, pre)
	v1 := mk("b-1", "2026-01-02T00:00:00Z", "tenant-a", "run-1", sampleEvent(ledger.KindOutcomeRecorded, 1, "c"))
	v2 := rtr("b-2", "tl-batch-before", localTrace(2))
	bad := mk("b-3", "", "tenant-a", "", sampleEvent(ledger.KindFactPromoted, 3, "")) // empty occurred_at
	bad2 := mk("b 4", "2026-01-02T00:00:00Z", "", "", sampleEvent(ledger.KindFactPromoted, 4, ""))
	v3 := rtr("b-5", "tl-batch-after", localTrace(5))
	err := st.AppendEvents(bg, []env{v1, v2, bad, bad2, v3})
	wantInvalid(t, "batch with invalid elements", err, "occurred_at must not be empty")
	got := queryAll(t, st)
	if s.caps.AtomicBatches {
		sameEnvelopes(t, "after rejected atomic batch", got, []env{pre})
		if rt := mustTrace(t, st, "tl-batch-before"); rt != nil {
			t.Fatalf("rejected atomic batch registered a trace")
		}
	} else {
		sameEnvelopes(t, "after partially applied batch", got, []env{pre, v1, v2})
		if rt := mustTrace(t, st, "tl-batch-before"); rt == nil {
			t.Fatalf("reference batch: the trace before the invalid element was not registered")
		}
	}
	if rt := mustTrace(t, st, "tl-batch-after"); rt != nil {
		t.Fatalf("a trace after the invalid element was registered")
	}
	// Invalid first element: nothing stored in either mode.
	err = st.AppendEvents(bg, []env{bad2, v3})
	wantInvalid(t, "batch with invalid first element", err, "event_id"+invalidChars)
	if n := len(queryAll(t, st)); n != len(got) {
		t.Fatalf("batch with invalid first element changed the store: %d -> %d", len(got), n)
	}
	// Invalid last element.
	v6 := mk("b-6", "2026-01-06T00:00:00Z", "", "", sampleEvent(ledger.KindBudgetExceeded, 6, "c"))
	bad3 := mk("b-7", "2026-01-07T00:00:00Z", "", "", sampleEvent(ledger.KindFactPromoted, 7, ""))
	bad3.CorrelationID = ptr(ledger.CorrelationID(strings.Repeat("r", 257)))
	wantInvalid(t, "batch with invalid last element", st.AppendEvents(bg, []env{v6, bad3}), "correlation_id exceeds maximum length of 256 characters")
	want := got
	if !s.caps.AtomicBatches {
		want = append(slices.Clone(got), v6)
	}
	sameEnvelopes(t, "after batch with invalid last element", queryAll(t, st), want)
	// A valid batch is stored whole, in order, after what was there.
	var batch []env
	for i := 0; i < 25; i++ {
		batch = append(batch, mk(fmt.Sprintf("b-ok-%02d", i), fmt.Sprintf("2026-02-%02dT00:00:00Z", 28-i), "tenant-b", "run-b",
			sampleEvent(ledger.AllKinds[i%len(ledger.AllKinds)], i, "c")))
	}
	if err := st.AppendEvents(bg, batch); err != nil {
		t.Fatalf("valid batch: %v", err)
	}
	sameEnvelopes(t, "after valid batch", queryAll(t, st), append(slices.Clone(want), batch...))
}

// testArtifactTransitions checks WriteArtifactStateTransition per the
// capability.
func (s *suite) testArtifactTransitions(t *testing.T) {
	st := s.open(t)
	lc := func(i int, at string, tenant *string) ledger.LifecycleEvent {
		return ledger.LifecycleEvent{
			FromState: ledger.StateDeprecated, ToState: ledger.StateActive, // illegal moves are recorded anyway
			Timestamp: at, Actor: fmt.Sprintf("actor-%d", i), Reason: "r", TicketRef: ptr("T-9"), TenantID: tenant,
		}
	}
	type call struct {
		id   ledger.ArtifactID
		kind ledger.ArtifactKind
		ev   ledger.LifecycleEvent
	}
	calls := []call{
		{"art-1", ledger.ArtifactKind{Kind: ledger.ArtifactKindAdapter}, lc(0, "2026-07-01T10:00:00Z", ptr("tenant-a"))},
		{"art-2", ledger.ArtifactKind{Kind: ledger.ArtifactKindOther, Other: "x y"}, lc(1, "", nil)},
		{"art 3/ü", ledger.ArtifactKind{Kind: ledger.ArtifactKindPolicy}, lc(2, "2026-07-02T10:00:00.123Z", ptr("bad tenant!"))},
	}
	before := time.Now().UTC().Add(-2 * time.Second)
	// A caller event already in the evt-N namespace.
	caller := mk("evt-1", "2026-01-01T00:00:00Z", "tenant-a", "", sampleEvent(ledger.KindFactPromoted, 1, ""))
	for i, c := range calls {
		if err := st.WriteArtifactStateTransition(bg, c.id, c.kind, c.ev); err != nil {
			t.Fatalf("WriteArtifactStateTransition %d: %v", i, err)
		}
		if i == 0 {
			mustAppend(t, st, caller)
		}
	}
	after := time.Now().UTC().Add(2 * time.Second)
	got := queryAll(t, st)
	if len(got) != 4 {
		t.Fatalf("stored %d envelopes, want 4", len(got))
	}
	if canon(t, got[1]) != canon(t, caller) {
		t.Fatalf("caller envelope changed: %s", canon(t, got[1]))
	}
	trans := []env{got[0], got[2], got[3]}
	seen := map[ledger.EventID]bool{}
	for i, e := range trans {
		c := calls[i]
		wantPayload := &ledger.ArtifactStateTransitioned{ArtifactID: c.id, ArtifactKind: c.kind, Event: c.ev}
		probe := e
		probe.Event = wantPayload
		if canon(t, e) != canon(t, probe) {
			t.Fatalf("transition %d payload:\n got  %s\n want %s", i, canon(t, e), canon(t, probe))
		}
		if e.CorrelationID != nil {
			t.Fatalf("transition %d has correlation id %q", i, *e.CorrelationID)
		}
		if err := ledger.Validate(e); err != nil {
			t.Fatalf("transition %d stored an invalid envelope: %v", i, err)
		}
		if !s.caps.DurableArtifactTransitions {
			if want := ledger.EventID(fmt.Sprintf("evt-%d", i)); e.EventID != want {
				t.Fatalf("transition %d id %q, want %q", i, e.EventID, want)
			}
			if e.OccurredAt != ledger.DefaultTimestamp {
				t.Fatalf("transition %d occurred_at %q, want the epoch", i, e.OccurredAt)
			}
			if e.TenantID != nil {
				t.Fatalf("transition %d tenant %q, want none", i, *e.TenantID)
			}
			continue
		}
		if seen[e.EventID] || e.EventID == caller.EventID {
			t.Fatalf("transition %d id %q is not unique", i, e.EventID)
		}
		seen[e.EventID] = true
		if c.ev.Timestamp != "" {
			if e.OccurredAt != ledger.Timestamp(c.ev.Timestamp) {
				t.Fatalf("transition %d occurred_at %q, want the lifecycle timestamp %q", i, e.OccurredAt, c.ev.Timestamp)
			}
		} else {
			at, err := time.Parse(time.RFC3339Nano, string(e.OccurredAt))
			if err != nil || !strings.HasSuffix(string(e.OccurredAt), "Z") {
				t.Fatalf("transition %d occurred_at %q is not RFC 3339 UTC (%v)", i, e.OccurredAt, err)
			}
			if at.Before(before) || at.After(after) {
				t.Fatalf("transition %d occurred_at %q is not now", i, e.OccurredAt)
			}
		}
		switch {
		case c.ev.TenantID != nil && ledger.Validate(mk("x", "x", *c.ev.TenantID, "", nil)) == nil:
			if e.TenantID == nil || string(*e.TenantID) != *c.ev.TenantID {
				t.Fatalf("transition %d tenant %v, want %q", i, e.TenantID, *c.ev.TenantID)
			}
		default:
			if e.TenantID != nil {
				t.Fatalf("transition %d tenant %q, want none (lifecycle tenant absent or invalid)", i, *e.TenantID)
			}
		}
	}
	// Transitions are found by kind.
	byKind := mustQuery(t, st, ledger.EventQuery{Kinds: kinds(ledger.KindArtifactStateTransitioned)})
	if !slices.Equal(ids(byKind), ids(trans)) {
		t.Fatalf("kind query: %v want %v", ids(byKind), ids(trans))
	}
}

// testDuplicates checks duplicate event_id handling per the capability.
func (s *suite) testDuplicates(t *testing.T) {
	st := s.open(t)
	a := mk("dup-1", "2026-01-01T00:00:00Z", "tenant-a", "run-1", sampleEvent(ledger.KindOutcomeRecorded, 1, "c"))
	same := mk("dup-1", "2026-01-01T00:00:00Z", "tenant-a", "run-1", sampleEvent(ledger.KindOutcomeRecorded, 1, "c"))
	other := mk("dup-1", "2026-01-01T00:00:00Z", "tenant-a", "run-1", sampleEvent(ledger.KindOutcomeRecorded, 2, "c"))
	b := mk("dup-2", "2026-01-02T00:00:00Z", "tenant-a", "", sampleEvent(ledger.KindFactPromoted, 3, ""))
	mustAppend(t, st, a)
	if !s.caps.IdempotentDuplicates {
		mustAppend(t, st, same, other)
		if err := st.AppendEvents(bg, []env{b, a}); err != nil {
			t.Fatal(err)
		}
		sameEnvelopes(t, "duplicates kept", queryAll(t, st), []env{a, same, other, b, a})
		got := mustQuery(t, st, ledger.EventQuery{Kinds: kinds(ledger.KindOutcomeRecorded)})
		if len(got) != 4 {
			t.Fatalf("duplicates by kind: %d, want 4", len(got))
		}
		return
	}
	// Byte-identical retry: a no-op.
	if err := st.AppendEvent(bg, same); err != nil {
		t.Fatalf("identical re-append: %v", err)
	}
	sameEnvelopes(t, "after identical retry", queryAll(t, st), []env{a})
	// Same id, other content: rejected.
	err := st.AppendEvent(bg, other)
	if err == nil || !errors.Is(err, ledger.ErrInvalidQuery) || !strings.Contains(err.Error(), "duplicate event_id") {
		t.Fatalf("conflicting duplicate: got %v, want ErrInvalidQuery \"duplicate event_id\"", err)
	}
	// Other metadata under the same id is also a conflict.
	moved := same
	moved.OccurredAt = "2026-01-01T00:00:01Z"
	if err := st.AppendEvent(bg, moved); err == nil || !errors.Is(err, ledger.ErrInvalidQuery) {
		t.Fatalf("duplicate with another occurred_at: got %v", err)
	}
	sameEnvelopes(t, "after conflicting duplicates", queryAll(t, st), []env{a})
	if s.caps.AtomicBatches {
		err := st.AppendEvents(bg, []env{b, other})
		if err == nil || !errors.Is(err, ledger.ErrInvalidQuery) || !strings.Contains(err.Error(), "duplicate event_id") {
			t.Fatalf("batch with a conflicting duplicate: got %v", err)
		}
		sameEnvelopes(t, "after rejected batch", queryAll(t, st), []env{a})
		if err := st.AppendEvents(bg, []env{b, same}); err != nil {
			t.Fatalf("batch with an identical retry: %v", err)
		}
		sameEnvelopes(t, "after batch with a retry", queryAll(t, st), []env{a, b})
	}
	// A retry of the identical envelope still works after other appends.
	if err := st.AppendEvent(bg, a); err != nil {
		t.Fatalf("late identical re-append: %v", err)
	}
	if got := mustQuery(t, st, ledger.EventQuery{Kinds: kinds(ledger.KindOutcomeRecorded)}); len(got) != 1 {
		t.Fatalf("identical retries stored %d copies", len(got))
	}
}

// testConcurrent runs writers and readers at once. Readers check that every
// answer is a consistent prefix per writer (each writer's events appear in
// its own order, without gaps) and that the store never shrinks.
func (s *suite) testConcurrent(t *testing.T) {
	st := s.open(t)
	writers, per := 4, 40
	if testing.Short() {
		per = 15
	}
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	done := make(chan struct{})
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			tenant := fmt.Sprintf("tenant-%d", w)
			for i := 0; i < per; i++ {
				e := mk(fmt.Sprintf("w%d-%03d", w, i), fmt.Sprintf("2026-01-01T00:00:%02dZ", i%60), tenant, "",
					sampleEvent(ledger.AllKinds[i%len(ledger.AllKinds)], i, "c"))
				var err error
				if i%5 == 4 {
					err = st.AppendEvents(bg, []env{e})
				} else {
					err = st.AppendEvent(bg, e)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}(w)
	}
	var rg sync.WaitGroup
	for r := 0; r < 2; r++ {
		rg.Add(1)
		go func(r int) {
			defer rg.Done()
			last := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				var q ledger.EventQuery
				if r == 1 {
					q.TenantID = ptr(ledger.TenantID("tenant-1"))
				}
				got, err := st.QueryEvents(bg, q)
				if err != nil {
					errc <- err
					return
				}
				if r == 0 && len(got) < last {
					errc <- fmt.Errorf("store shrank from %d to %d", last, len(got))
					return
				}
				last = len(got)
				next := make([]int, writers)
				for _, e := range got {
					var w, i int
					if _, err := fmt.Sscanf(string(e.EventID), "w%d-%d", &w, &i); err != nil || w < 0 || w >= writers {
						errc <- fmt.Errorf("unexpected event id %q", e.EventID)
						return
					}
					if i != next[w] {
						errc <- fmt.Errorf("writer %d: saw event %d, expected %d (order or gap)", w, i, next[w])
						return
					}
					next[w]++
				}
				_, _ = st.GetTraceLink(bg, "tl-1")
			}
		}(r)
	}
	wg.Wait()
	close(done)
	rg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	got := queryAll(t, st)
	if len(got) != writers*per {
		t.Fatalf("stored %d envelopes, want %d", len(got), writers*per)
	}
	for w := 0; w < writers; w++ {
		tn := ledger.TenantID(fmt.Sprintf("tenant-%d", w))
		if n := len(mustQuery(t, st, ledger.EventQuery{TenantID: &tn})); n != per {
			t.Fatalf("writer %d: %d envelopes, want %d", w, n, per)
		}
	}
}
