// Package workload generates realistic, deterministic Converge experience
// traffic for benchmarks, the demo, crash tests and differential tests.
//
// A Generator is created from a Config whose zero value is usable. The same
// Config (in particular the same Seed) always yields the identical sequence
// of envelopes, on every platform and Go version that keeps math/rand/v2's
// PCG and Zipf algorithms (the Go 1 compatibility promise covers both).
//
// # What the traffic looks like
//
//   - All 14 event kinds, with a skewed mix: ProposalCreated,
//     ProposalValidated, RecallExecuted and OutcomeRecorded dominate;
//     gate decisions and artifact rollbacks are rare (see KindWeights).
//   - Tenants, correlations and chains are drawn from fixed pools with a
//     Zipf skew (the first pool entry is the most popular); about 15% of the
//     events carry no tenant and about 10% no correlation id.
//   - event_id is unique within a Generator, in two mixed forms: a
//     ULID-like 26-character Crockford base32 string and "evt-<seed>-<n>".
//   - occurred_at is RFC 3339 UTC, mostly whole seconds ("...:05Z"), some
//     with milliseconds; it mostly increases, with about 5% of events out
//     of order and about 2% reusing the previous timestamp exactly.
//   - ReplayTraceRecorded registers trace links from a pool; about 20% of
//     them re-record an id that was already recorded (GetTraceLink must
//     return the latest). BackendInvoked, ReplayabilityDowngraded and
//     RecallExecuted mostly mention recorded links, sometimes unknown ones.
//   - Chain ids are payload, not validated: a few contain spaces and
//     non-ASCII text. Event, tenant and correlation ids always pass
//     ledger.Validate.
//   - Envelope JSON sizes range from ~200 B to ~4 KB; a rare outlier
//     (Config.OutlierRate) carries a ~64 KB payload.
//
// # Sharing
//
// Generated envelopes are independent values except that immutable pool
// data (strings, and the RawJSON structured payloads) is shared between
// envelopes. Callers must not modify the bytes of a StructuredPayload.
//
// A Generator is not safe for concurrent use.
package workload
