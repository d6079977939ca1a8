// Package fuzz holds the project's `go test -fuzz` targets for the
// envelope codecs. It has no non-test code.
//
//   - FuzzEnvelopeMsgpack feeds arbitrary bytes to the canonical msgpack
//     decoder (ledger.UnmarshalCanonical and ledger.DecodeHeader): it must
//     never panic, must stay within its documented allocation bound
//     (ledger.MaxDecodeAllocFactor), and whatever it accepts must be
//     canonical: re-encoding reproduces the input byte for byte and decodes
//     to the same value, and the header fast path agrees with the full
//     decode.
//   - FuzzEnvelopeJSON feeds arbitrary bytes to ledger.UnmarshalEnvelopeJSON:
//     no panic, and an accepted envelope survives JSON and msgpack round
//     trips unchanged.
//
// Seed corpora live in testdata/fuzz/<Target>/ (real encodings and hostile
// headers) and are replayed by a plain `go test ./fuzz`. To fuzz:
//
//	go test ./fuzz -run '^$' -fuzz FuzzEnvelopeMsgpack -fuzztime 60s
//
// Regenerate the seed files with `go test ./fuzz -run TestWriteSeedCorpus
// -write-seeds`.
package fuzz
