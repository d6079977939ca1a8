package ledger

import "context"

// ExperienceStore is the experience-store boundary (SPEC §4). It is
// implemented by MemStore (the reference oracle) and by the durable Ledger.
// Implementations are safe for concurrent use.
type ExperienceStore interface {
	// AppendEvent validates e (see Validate) and records it.
	AppendEvent(ctx context.Context, e ExperienceEventEnvelope) error
	// AppendEvents records a batch (atomicity differs per implementation,
	// SPEC §5).
	AppendEvents(ctx context.Context, es []ExperienceEventEnvelope) error
	// QueryEvents returns the envelopes matching every filter of q.
	QueryEvents(ctx context.Context, q EventQuery) ([]ExperienceEventEnvelope, error)
	// WriteArtifactStateTransition appends an ArtifactStateTransitioned
	// event built from its arguments.
	WriteArtifactStateTransition(ctx context.Context, id ArtifactID, kind ArtifactKind, ev LifecycleEvent) error
	// GetTraceLink returns the trace of the most recent ReplayTraceRecorded
	// with that id, or (nil, nil) when there is none.
	GetTraceLink(ctx context.Context, id TraceLinkID) (*ReplayTrace, error)
}

// TimeRange bounds occurred_at, both ends inclusive, byte-wise; a nil end is
// open.
type TimeRange struct {
	Start, End *Timestamp
}

// Contains reports whether t lies in the range (bounds inclusive, compared
// byte-wise); a nil range or bound does not restrict.
func (tr *TimeRange) Contains(t Timestamp) bool {
	return tr == nil || (tr.Start == nil || t >= *tr.Start) && (tr.End == nil || t <= *tr.End)
}

// EventQuery selects events; every non-nil filter must hold (AND). Kinds is
// an any-of set; empty means no kind filter. Limit keeps the first N.
type EventQuery struct {
	TenantID      *TenantID
	TimeRange     *TimeRange
	Kinds         []ExperienceEventKind
	CorrelationID *CorrelationID
	ChainID       *ChainID
	Limit         *uint64
}
