// Package jetstream replicates an exledger experience ledger through a NATS
// JetStream stream: several processes (on several machines) append to and
// query one shared ledger, and the audit trail survives the loss of a
// machine. docs/jetstream.md is the design document; this is a summary.
//
// # Roles
//
// The stream is the source of truth and the replication log (Raft at R3,
// deduplication by message id). Every node (a Store) materializes it into
// a local exledger ledger in its own directory, applying the messages in
// stream order; queries, trace links, scans and Follow are answered by
// that ledger. Appends go to the stream: Append returns after JetStream's
// acknowledgement (at R3 a majority of servers hold the batch) and after
// the local ledger applied it, whose outcome it returns.
//
// # Invariants
//
//   - Order: the ledger's log order is the stream order, on every node;
//     one AppendEvents batch is one stream message, so it is atomic in the
//     stream and in every ledger (all of it or none).
//   - Determinism: applying a message depends only on the stream prefix
//     before it (the ledger's checks and its idempotent append), so every
//     node accepts or rejects the same messages and has the same hash
//     chain: the same head digest for the same stream sequence.
//   - Exactly once: a message's id is the SHA-256 of its body (event ids
//     and contents), so a retried publish is deduplicated by JetStream; a
//     publish after the deduplication window, or a replay after a crash,
//     is an idempotent no-op in the ledger; other content under an
//     existing event id is rejected by every node with the embedded
//     ledger's error.
//   - Position: a node's position (the last applied stream sequence) is
//     written beside the ledger (jetstream.state) after the ledger is
//     synced, so it never runs ahead of the ledger; re-applying from an
//     older position is a no-op. A missing or damaged position file makes
//     the node re-apply the whole stream; a new node builds its ledger
//     from the stream.
//   - Vectors: AppendVectorEvents publishes the vectors in the batch's
//     message (a vector section covered by its SHA-256), so every node
//     stores the same vectors and SearchSimilar gives the same answer on
//     every node; every node's ledger must have the stream's embedding
//     dimension, and one that differs stops instead of diverging.
//
// Ship is the embedded case: it copies a local ledger's committed events
// (with their vectors, for a ledger with an embedding dimension) into a
// stream in the same format, resuming from the stream's last message
// after a crash.
//
// Package jstest starts embedded NATS servers (one, or a loopback cluster)
// for tests and benchmarks.
package jetstream
