// Package proof verifies exledger's audit proofs offline: signed
// checkpoints, inclusion proofs (one event is in the log a checkpoint
// commits to) and consistency proofs (a later checkpoint's log extends an
// earlier one's without rewriting it).
//
// It imports nothing of the engine, only the standard library and
// golang.org/x/mod/sumdb/{tlog,note}, so an auditor's program can link
// this package alone (TestVerifierDependencies keeps it so).
//
// # Tree
//
// The log is an RFC 6962 Merkle tree over the events in log order: leaf i
// (0-based, the event with sequence number i+1) hashes SHA-256(0x00 ‖
// canonical event bytes), an interior node SHA-256(0x01 ‖ left ‖ right)
// (tlog.RecordHash and tlog.NodeHash). The canonical bytes are the
// event's msgpack form (docs/format.md §6); an inclusion proof carries
// them next to the event's Converge JSON.
//
// # Checkpoint
//
// A checkpoint is the C2SP tlog-checkpoint text
//
//	<origin>
//	<tree size, decimal>
//	<root hash, standard base64>
//	[extension lines]
//
// signed as a note (golang.org/x/mod/sumdb/note, Ed25519). The origin
// must equal the signing key's name, so a checkpoint of one log cannot be
// presented as another's.
//
// # Proof files
//
// Inclusion and consistency proofs are JSON documents with a "format"
// field ("exledger-inclusion-proof/v1", "exledger-consistency-proof/v1");
// the fields are documented on Inclusion and Consistency and in
// docs/proofs.md. A proof file must be exactly the encoding Marshal
// writes (two-space indented JSON and a final newline): a file whose
// bytes differ from the re-encoding of what it parses to is rejected, so
// no change to a proof file goes unnoticed, however harmless to JSON.
//
// Every failure to verify wraps ErrInvalid.
package proof
