package ledger

import "testing"

// EncodeBatchForBench runs the append path's encoding step (for benchmarks).
func EncodeBatchForBench(es []ExperienceEventEnvelope) error {
	l := &Ledger{opts: (&Options{}).withDefaults()}
	_, _, err := l.encodeBatch(es)
	return err
}

// SharedDecoder decodes successive envelopes as a scan does, with strings
// sharing arrays across envelopes (for tests).
type SharedDecoder struct{ d *envelopeDecoder }

func NewSharedDecoder() SharedDecoder { return SharedDecoder{newEnvelopeDecoder()} }

func (s SharedDecoder) Decode(b []byte) (ExperienceEventEnvelope, error) { return s.d.decode(b) }

// KeyNames returns the names of the pre-encoded keys of msgpack.go.
func KeyNames(t *testing.T) map[string]bool {
	names := map[string]bool{}
	for _, v := range keyConsts(t) {
		names[v[1:]] = true
	}
	return names
}
