package ledgertest

import (
	"context"
	"testing"

	"github.com/exledger/exledger/ledger"
)

// Capabilities describes where a store under test deliberately departs from
// the reference semantics (SPEC §5). The zero value is the reference
// (ledger.MemStore).
type Capabilities struct {
	// AtomicBatches: AppendEvents validates the whole batch first and
	// commits all of it or none of it (durable Ledger). Reference: one by
	// one, stop at the first error, earlier envelopes stay.
	AtomicBatches bool
	// ChainIncludesHypothesis: the chain filter also matches
	// HypothesisResolved (it carries a chain_id). Reference: only
	// ProposalCreated, ProposalValidated, OutcomeRecorded, BudgetExceeded.
	ChainIncludesHypothesis bool
	// DurableArtifactTransitions: WriteArtifactStateTransition generates
	// unique ids (not "evt-{n}"), occurred_at = LifecycleEvent.Timestamp
	// (now, RFC 3339 UTC, when empty) and tenant_id =
	// LifecycleEvent.TenantID when it is a valid id. Reference: "evt-{n}"
	// from a per-store counter, epoch timestamp, no tenant.
	DurableArtifactTransitions bool
	// IdempotentDuplicates: re-appending a byte-identical envelope is a
	// no-op; the same event_id with other content is rejected with
	// ErrInvalidQuery "duplicate event_id". Reference: duplicates are
	// kept. The corpus replay needs duplicates kept, so RunWith skips it
	// (with a t.Log) when this is set; see the package doc.
	IdempotentDuplicates bool
}

// Run runs the whole conformance suite against stores with the reference
// capabilities (all false), i.e. stores that must behave exactly like
// ledger.MemStore, including the corpus replay.
func Run(t *testing.T, open func(t *testing.T) ledger.ExperienceStore) {
	RunWith(t, Capabilities{}, open)
}

// RunWith runs the conformance suite against stores with the given
// capabilities. Every subtest opens a fresh store with open.
func RunWith(t *testing.T, caps Capabilities, open func(t *testing.T) ledger.ExperienceStore) {
	runWith(t, caps, open, true)
}

// runWith is RunWith with the corpus replay optional (the suite's own
// mutation tests leave it out to stay fast).
func runWith(t *testing.T, caps Capabilities, open func(t *testing.T) ledger.ExperienceStore, corpus bool) {
	s := &suite{caps: caps, open: open}
	t.Run("Empty", s.testEmpty)
	t.Run("RoundTripAllVariants", s.testRoundTrip)
	t.Run("InsertionOrder", s.testInsertionOrder)
	t.Run("NoAliasing", s.testNoAliasing)
	t.Run("Validation", s.testValidation)
	t.Run("ValidationAccepts", s.testValidationAccepts)
	t.Run("FiltersAlone", s.testFiltersAlone)
	t.Run("FiltersCombinedModel", s.testFiltersCombined)
	t.Run("TimeBounds", s.testTimeBounds)
	t.Run("Limit", s.testLimit)
	t.Run("TenantIsolation", s.testTenantIsolation)
	t.Run("Correlation", s.testCorrelation)
	t.Run("Chain", s.testChain)
	t.Run("TraceLinks", s.testTraceLinks)
	t.Run("Batch", s.testBatch)
	t.Run("ArtifactTransitions", s.testArtifactTransitions)
	t.Run("Duplicates", s.testDuplicates)
	t.Run("Concurrent", s.testConcurrent)
	if !corpus {
		return
	}
	t.Run("Corpus", func(t *testing.T) {
		if caps.IdempotentDuplicates {
			t.Log("corpus replay skipped: the corpus re-appends duplicate event_ids and expects them kept " +
				"(reference semantics); run RunWith again on a store configured to allow duplicates " +
				"with IdempotentDuplicates=false to cover it")
			return
		}
		s.testCorpus(t)
	})
}

type suite struct {
	caps Capabilities
	open func(t *testing.T) ledger.ExperienceStore
}

var bg = context.Background()
