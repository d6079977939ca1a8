package ledger

import (
	"context"
	"strconv"
	"sync"
)

// MemStore is the reference in-memory ExperienceStore: a faithful Go port of
// converge's InMemoryExperienceStore (v3.7.3). It is the oracle the durable
// Ledger is tested against, so it follows the LEFT column of SPEC §5 in every
// row, including the ones a durable store deliberately improves on:
//
//   - every envelope is validated (Validate) before anything is recorded; a
//     rejected ReplayTraceRecorded does not register its trace;
//   - events are kept in insertion order, duplicates (same event_id) are kept;
//   - AppendEvents appends one by one and stops at the first error; the
//     envelopes before it stay stored (no rollback);
//   - WriteArtifactStateTransition stores the event as "evt-{n}" (a per-store
//     counter starting at 0) with occurred_at = DefaultTimestamp (the epoch)
//     and no tenant or correlation id;
//   - the chain filter only matches ProposalCreated, ProposalValidated,
//     OutcomeRecorded and BudgetExceeded (not HypothesisResolved);
//   - trace links come only from ReplayTraceRecorded; the last write wins.
//
// Query semantics (SPEC §4): filters are AND-ed; kinds is an any-of set
// (empty = no filter); tenant and correlation filters never match an envelope
// lacking that field; time bounds are inclusive byte-wise string comparisons
// (an inverted range matches nothing); limit keeps the first N (0 = none).
//
// Aliasing: MemStore deep-copies every envelope it stores and every envelope
// or trace it returns, so neither the caller's values passed in nor the
// values handed out share memory with the store. Callers may mutate results
// freely.
//
// MemStore is safe for concurrent use. The zero value is not usable; call
// NewMemStore.
type MemStore struct {
	mu     sync.RWMutex
	events []ExperienceEventEnvelope
	traces map[TraceLinkID]*ReplayTrace
	nextID uint64 // counter behind the "evt-{n}" ids of artifact transitions
	// dim is the embedding dimension (0: vector calls are refused); vecs
	// maps an index of events to its vector (vector.go).
	dim  int
	vecs map[int][]float32
}

var _ ExperienceStore = (*MemStore)(nil)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{traces: make(map[TraceLinkID]*ReplayTrace)}
}

// validateForStore runs Validate and additionally rejects an envelope
// without an event (which the Rust type system cannot express).
func validateForStore(e *ExperienceEventEnvelope) error {
	if err := Validate(*e); err != nil {
		return err
	}
	if e.Event == nil {
		return InvalidQuery("event must not be nil")
	}
	return nil
}

// appendLocked validates and records one envelope. m.mu must be held for
// writing.
func (m *MemStore) appendLocked(e *ExperienceEventEnvelope) error {
	if err := validateForStore(e); err != nil {
		return err
	}
	c := cloneEnvelope(e)
	m.events = append(m.events, c)
	if rt, ok := replayTraceRecordedOf(c.Event); ok {
		t := rt.TraceLink // c is already a private copy
		m.traces[rt.TraceLinkID] = &t
	}
	return nil
}

// replayTraceRecordedOf returns the payload when ev is a
// ReplayTraceRecorded (pointer or value form).
func replayTraceRecordedOf(ev ExperienceEvent) (*ReplayTraceRecorded, bool) {
	switch x := ev.(type) {
	case *ReplayTraceRecorded:
		return x, x != nil
	case ReplayTraceRecorded:
		return &x, true
	}
	return nil, false
}

// AppendEvent validates e and appends it. ctx is only checked for
// cancellation before the call does anything.
func (m *MemStore) AppendEvent(ctx context.Context, e ExperienceEventEnvelope) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.appendLocked(&e)
}

// AppendEvents appends es one by one and stops at the first invalid
// envelope, returning its error; the envelopes before it stay stored
// (reference semantics, not atomic). The batch is applied under one lock, so
// concurrent readers see either none of it or the whole applied prefix.
func (m *MemStore) AppendEvents(ctx context.Context, es []ExperienceEventEnvelope) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range es {
		if err := m.appendLocked(&es[i]); err != nil {
			return err
		}
	}
	return nil
}

// WriteArtifactStateTransition appends an ArtifactStateTransitioned event
// with event_id "evt-{n}" (n counts this store's transitions from 0),
// occurred_at DefaultTimestamp and no tenant or correlation id, exactly like
// the reference store (the LifecycleEvent's own timestamp and tenant_id only
// appear inside the payload).
func (m *MemStore) WriteArtifactStateTransition(ctx context.Context, id ArtifactID, kind ArtifactKind, ev LifecycleEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := ExperienceEventEnvelope{
		EventID:    EventID("evt-" + strconv.FormatUint(m.nextID, 10)),
		OccurredAt: DefaultTimestamp,
		Event: &ArtifactStateTransitioned{
			ArtifactID:   id,
			ArtifactKind: kind,
			Event:        ev,
		},
	}
	m.nextID++
	return m.appendLocked(&e)
}

// QueryEvents returns deep copies of the matching envelopes in insertion
// order. It never fails except for a cancelled ctx.
func (m *MemStore) QueryEvents(ctx context.Context, q EventQuery) ([]ExperienceEventEnvelope, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	var out []ExperienceEventEnvelope
	if q.Limit != nil && *q.Limit == 0 {
		return out, nil
	}
	for i := range m.events {
		e := &m.events[i]
		if !matches(e, &q, false) {
			continue
		}
		out = append(out, cloneEnvelope(e))
		if q.Limit != nil && uint64(len(out)) >= *q.Limit {
			break
		}
	}
	return out, nil
}

// GetTraceLink returns a copy of the trace of the most recent
// ReplayTraceRecorded with that id, or (nil, nil) when there is none.
func (m *MemStore) GetTraceLink(ctx context.Context, id TraceLinkID) (*ReplayTrace, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	t, ok := m.traces[id]
	if !ok {
		return nil, nil
	}
	return cloneReplayTrace(t), nil
}

// Len returns the number of stored envelopes.
func (m *MemStore) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.events)
}

// Summary returns Summarize over every stored envelope in insertion order.
func (m *MemStore) Summary() ExperienceEventSummary {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return Summarize(m.events)
}

// matches reports whether e matches every filter of q, ignoring q.Limit.
// includeHypothesis selects the chain rule: false is the reference rule (only
// ProposalCreated, ProposalValidated, OutcomeRecorded and BudgetExceeded match
// a chain filter), true is the durable Ledger's rule (HypothesisResolved
// matches too).
func matches(e *ExperienceEventEnvelope, q *EventQuery, includeHypothesis bool) bool {
	if q.TenantID != nil && (e.TenantID == nil || *e.TenantID != *q.TenantID) {
		return false
	}
	if !q.TimeRange.Contains(e.OccurredAt) {
		return false
	}
	if len(q.Kinds) > 0 {
		k := e.Kind()
		found := false
		for _, qk := range q.Kinds {
			if qk == k {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	if q.CorrelationID != nil && (e.CorrelationID == nil || *e.CorrelationID != *q.CorrelationID) {
		return false
	}
	if q.ChainID != nil {
		c, ok := filterChainID(e.Event, includeHypothesis)
		if !ok || c != *q.ChainID {
			return false
		}
	}
	return true
}

// filterChainID returns the chain id a chain filter compares against.
func filterChainID(ev ExperienceEvent, includeHypothesis bool) (ChainID, bool) {
	if ev == nil {
		return "", false
	}
	if !includeHypothesis && ev.Kind() == KindHypothesisResolved {
		return "", false
	}
	return ChainIDOf(ev)
}
