// Package wire is the message format of exledger's JetStream streams
// (package jetstream): subjects, headers and the batch body, for Go
// consumers that read a stream without a Store. It depends on the ledger
// codecs and the NATS client only, not on a server.
//
// A message is one atomic batch of events. Subject:
// exledger.<stream>.<tenant>.<kind>, each token escaped by EscapeToken,
// with TokenNoTenant for untenanted events and TokenMixed when the batch's
// events differ in tenant (or kind). Headers: Exledger-Format "1",
// Exledger-Events (count), Exledger-Sha256 (hex SHA-256 of the body),
// Nats-Msg-Id (the deduplication id), Exledger-Encoding (snappy or zstd
// when the payload is the compressed body), Exledger-Vector-Dim (a body
// with a vector section), and from Ship also Exledger-Ledger-Id and
// Exledger-Ledger-Seq. Body: for each event, its
// canonical msgpack length as a u32 big-endian, then the canonical msgpack
// bytes (ledger.UnmarshalCanonical decodes them). docs/jetstream.md §4 has
// the byte tables and a worked example (testdata/message-v1.golden).
//
// DecodeBatch checks a message and splits its body; it never panics and
// allocates no more than its input justifies (FuzzDecodeBatch).
package wire
