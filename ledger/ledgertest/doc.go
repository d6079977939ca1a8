// Package ledgertest is the conformance suite for ledger.ExperienceStore
// implementations. It states the store contract of SPEC §4 as executable
// tests, and replays the oracle corpus recorded from the real Rust
// InMemoryExperienceStore (converge v3.7.3), so that any store can be
// checked against the reference answers byte for byte.
//
// # Use
//
//	func TestConformance(t *testing.T) {
//		ledgertest.Run(t, func(t *testing.T) ledger.ExperienceStore {
//			return ledger.NewMemStore()
//		})
//	}
//
// Run is for stores that must behave exactly like the reference
// (ledger.MemStore). RunWith takes Capabilities for stores that
// deliberately differ (the durable ledger.Ledger, SPEC §5). The open
// function is called once per subtest and must return a fresh, empty store;
// it should close the store with t.Cleanup.
//
// # Capabilities
//
// Each capability switches one row of SPEC §5 from the reference behaviour
// to the durable one. Nothing is skipped because of a capability: the
// suite tests the durable behaviour on its own, and transforms the corpus
// replay so that the comparison with the reference stays exact.
//
//   - AtomicBatches: AppendEvents is all-or-nothing. The suite checks that
//     a batch with an invalid element is rejected with that element's
//     exact error and leaves the store (and trace links) unchanged. In the
//     corpus replay, a batch whose element k is invalid is first appended
//     whole (must fail, store unchanged), then replayed as the valid prefix
//     [0,k) as one batch plus element k alone (must fail with the
//     reference's error), which is equivalent to the reference.
//   - ChainIncludesHypothesis: the chain filter also matches
//     HypothesisResolved. Expected answers come from the suite's own
//     brute-force query model with the durable rule; the same model with
//     the reference rule must reproduce every corpus query exactly, which
//     is what makes it trustworthy.
//   - DurableArtifactTransitions: WriteArtifactStateTransition generates
//     unique ids, occurred_at = the LifecycleEvent's timestamp (now, RFC
//     3339 UTC, when empty) and tenant_id = the LifecycleEvent's tenant
//     when it is a valid id (absent otherwise). The suite checks that
//     directly; the corpus replay appends, with AppendEvent, the exact
//     envelope the reference produced ("evt-{n}", epoch, no tenant).
//   - IdempotentDuplicates: a byte-identical re-append is a no-op; the same
//     event_id with other content is rejected with ErrInvalidQuery
//     "duplicate event_id" (a whole batch containing one too, with
//     AtomicBatches). The corpus re-appends duplicate ids and expects them
//     kept, so RunWith skips the corpus replay (with a t.Log saying why)
//     when this capability is set. A store with an option that keeps
//     duplicates must then be run a second time with
//     IdempotentDuplicates=false to cover the replay; e.g. the Ledger test
//     calls RunWith twice: default options with IdempotentDuplicates=true,
//     and AllowDuplicates with IdempotentDuplicates=false.
//
// # What is covered
//
// Every variant round-trips unchanged (envelopes are compared by their
// canonical serde JSON); insertion order; no aliasing between the caller's
// values and the store; every validation message of SPEC §4 with its exact
// text, check order and byte limits, and that a rejected envelope stores
// nothing (not even its trace link); each filter alone and a deterministic
// random sample of combinations checked against the brute-force model;
// inclusive, inverted, empty and prefix time bounds with hand-computed
// answers; limits 0, 1, N, N+1 and u64 max; tenant isolation and
// untenanted events; correlation filters and untenanted runs; the chain
// rule; trace links (last write wins, absent gives (nil, nil), mentions do
// not register, exact id match); batch, artifact-transition and duplicate
// semantics per capability; concurrent writers and readers; and the corpus
// replay: every op result with its exact error, the final contents byte for
// byte, all 155 queries (ids and positions, in order), all trace-link probes
// and summary.json.
//
// Under testing.Short the random query sample and the concurrency test are
// smaller, and corpus query results are compared by id everywhere but by
// full content only for duplicated ids and every 16th result.
package ledgertest
