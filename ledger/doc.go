// Package ledger is exledger's public API: the experience-event data model,
// its Converge-compatible JSON form, the ExperienceStore contract, the
// in-memory reference store (MemStore, the test oracle) and the durable,
// tamper-evident Ledger.
//
// # Data model
//
// The types mirror the Rust crates converge-core / converge-experience
// 3.7.3 (see SPEC.md). An ExperienceEventEnvelope carries an event id, an
// opaque occurred_at Timestamp, optional tenant and correlation ids and one
// ExperienceEvent. The 14 event variants are structs named after their
// kind (ProposalCreated, ..., GateDecisionRecorded).
//
// Conventions:
//
//   - Pointer convention: an envelope's Event always holds a POINTER to a
//     variant struct (&ProposalCreated{...}). Decoders only produce
//     pointers and encoders only accept pointers; the Kind methods have
//     value receivers, so a value also satisfies ExperienceEvent, but it
//     is rejected by the encoders. NewEvent(kind) returns a zero pointer.
//   - Option<T> is a Go pointer (nil = None); Vec<T> a slice; HashMap a Go
//     map. Decoders normalise empty arrays and empty maps to nil, so a
//     decoded value is reflect.DeepEqual to one built with nil slices;
//     encoders treat nil and empty alike. EnvelopesEqual compares by JSON
//     form and ignores that distinction.
//   - Unit enums are named string types with constants (DecisionStep,
//     Replayability, ...). Enums with data are structs with a
//     discriminant: ArtifactKind and BudgetResource {Kind, Other};
//     StopReason {Kind, one pointer per data variant}; GateVerdict
//     {Kind, RejectReason}; ReplayTrace {Type, Local, Remote} and
//     PolicySnapshot {Type, Kernel, Routing, Recall}, where exactly the
//     pointer matching the discriminant is non-nil.
//   - KernelProposal.StructuredPayload is arbitrary JSON kept as compact
//     canonical bytes (RawJSON) with object key order preserved, as
//     serde_json's preserve_order feature does; nil means absent.
//
// # JSON
//
// MarshalEnvelopeJSON / AppendEnvelopeJSON write exactly the bytes of
// serde_json::to_string (struct keys in declaration order, serde's string
// escaping, ryu float formatting, f32 fields with 32-bit shortest digits,
// HashMap keys sorted). UnmarshalEnvelopeJSON is as strict as
// serde_json::from_slice: duplicate struct fields, missing required
// fields, null for non-Option fields, unknown variants, floats or
// out-of-range values in integer fields, invalid UTF-8, lone surrogates,
// raw control characters and trailing characters are all errors
// (*JSONError, classified by JSONErrorClass); unknown fields are ignored
// and duplicate keys inside HashMap fields keep the last value. The test
// vectors produced by the real Rust types (testdata/golden) are the judge.
//
// Known deliberate differences from serde_json 1.0.87: floats are parsed
// with correct rounding (serde's default parser may be off by one ulp for
// inputs with more than ~17 significant digits or huge exponents), and a
// finite number too large for an f32 field is rejected instead of becoming
// infinity (which serde would write as null and then fail to read).
//
// # Store contract
//
// ExperienceStore (SPEC §4) appends envelopes after Validate accepts them,
// queries them with an EventQuery (all filters AND-ed; byte-wise inclusive
// time range; limit keeps the first N), records artifact state transitions
// and returns the latest ReplayTrace registered by a ReplayTraceRecorded
// event. Errors are *StoreError values matched with errors.Is against
// ErrStorage, ErrInvalidQuery and ErrNotFound; their texts equal the Rust
// Display output ("Invalid query: event_id must not be empty").
//
// Invariants every implementation keeps:
//
//   - nothing is recorded for an envelope that fails Validate, and a
//     rejected ReplayTraceRecorded registers no trace;
//   - stored envelopes are returned unchanged (their JSON form is
//     byte-identical to what was appended);
//   - ChainIDOf / TraceLinkIDOf / ArtifactIDOf define which payload ids an
//     event carries; MemStore narrows the chain filter to the reference's
//     four kinds, Ledger also matches HypothesisResolved (SPEC §5).
//
// MemStore follows the reference in-memory store exactly and serves as the
// oracle in differential tests; Ledger is durable and differs only where
// SPEC §5 says so (atomic batches, idempotent retries, restart-safe
// generated ids, durability).
//
// # Vectors
//
// A Ledger opened with Options.EmbeddingDim (and a MemStore from
// NewMemStoreWithDim) also stores embeddings: AppendVectorEvents commits
// events with their vectors atomically (one WAL frame), and SearchSimilar
// returns the events nearest to a query vector by cosine distance, after
// the query's EventQuery filters have selected the candidates (so a recall
// never crosses tenants). Vectors live beside the events, outside the
// canonical bytes and the hash chain, in a checksummed per-segment file
// (docs/format.md §10). Distances are computed in float32 by one kernel
// (dot32) on every path, so the same query always gives the same answer;
// ties are broken by log order. docs/semantics.md lists the differences
// from Converge's LanceDB store.
//
// # Repair
//
// Repair salvages a damaged ledger offline, losing only what is damaged:
// the events of every segment block and WAL frame that still verifies are
// kept, only those of damaged blocks and frames are lost. Lost sequence
// numbers are never reused or shifted: the manifest records them as gaps
// (feature "gaps"; Gaps, Stat.Gaps, VerifyReport.Gaps), queries and scans
// skip them, and the hash chain is verified on both sides of each gap, from
// the chain value stored after the damaged block where it survives.
// VerifyDigest of a digest inside a gap, or past a gap where the chain
// restarted, fails with an *UnprovenError (ErrUnproven), not an integrity
// error. docs/format.md §8.6 gives the rules, docs/guarantees.md G14 what is
// promised and tested.
//
// # Audit proofs
//
// The Ledger keeps an RFC 6962 Merkle tree over its events in log order
// (golang.org/x/mod/sumdb/tlog; leaf = the canonical bytes), stored as
// chunk-level hashes in the ledger-level TREE file by the sealer, off the
// append path (4 bytes per event). Checkpoint signs a C2SP checkpoint of
// it; ProveInclusion and ProveConsistency return proofs that package
// proof verifies with nothing of the engine linked. Compaction and
// clustering change no proof; retention keeps the dropped prefix's hashes.
// VerifyDigest and the proofs compare content, never the ledger id.
// Options.NoMerkleTree turns the tree off. See docs/proofs.md.
//
// # Operations
//
// Segments replaced by Compact are unlinked at once and closed when the
// last read that started before the switch ends: every read that uses
// segment files (queries, scan iterators, point lookups, proofs, Verify,
// Backup, an append's duplicate check) holds the set of segments it
// started with by reference count (segrefs.go); an iterator neither run to
// its end nor stopped keeps its set, and so the replaced segments' files,
// open until Close. docs/operations.md, Open files.
//
// Metrics returns counters and lock-free fixed-bucket histograms (append,
// fdatasync, seal, compaction and per-plan query latency, group-commit
// size), on-disk bytes by kind, recovery figures and the poisoned state;
// ledger/ledgerprom exports them to Prometheus. Options.Tracer takes a
// span per append, query, seal and compaction (ledger/ledgerotel adapts
// OpenTelemetry); unset, it costs a nil check. Follow wakes on commits in
// the writing process; TailReader follows a ledger another process writes
// by reading only the new WAL frames (ledger/ledgertail adds file-change
// notification). This package imports none of client_golang,
// OpenTelemetry or fsnotify (TestCoreDependencies).
package ledger
