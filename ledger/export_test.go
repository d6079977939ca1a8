package ledger

import (
	"encoding/binary"
	"testing"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/segment"
)

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

// EncodeBatchWithEstimate runs the append path's encoding step with the
// given recent average event size (the buffer sizing hint).
func EncodeBatchWithEstimate(es []ExperienceEventEnvelope, avg int64) ([][]byte, error) {
	l := &Ledger{opts: (&Options{}).withDefaults()}
	l.avgEvent.Store(avg)
	recs, _, err := l.encodeBatch(es)
	return recs, err
}

// BatchEncoderForBench returns the append path's encoding step bound to
// one ledger, so that the buffer estimate carries from batch to batch as
// in AppendEvents.
func BatchEncoderForBench() func([]ExperienceEventEnvelope) error {
	l := &Ledger{opts: (&Options{}).withDefaults()}
	return func(es []ExperienceEventEnvelope) error {
		sc, err := l.encodeBatchScratch(es)
		if sc != nil {
			sc.release() // as AppendEvents does once the batch is committed
		}
		return err
	}
}

// TreeTestHashOffset returns the file offset of stored hash i of the
// first frame of a TREE file (for tests).
func TreeTestHashOffset(file []byte, i int) int {
	return treeHeaderLen + treeFrameHead + 32*i
}

// TreeTestFixFrame recomputes the checksum of the first frame of a TREE
// file, so a changed hash passes the frame check (for tests).
func TreeTestFixFrame(file []byte) {
	rest := file[treeHeaderLen:]
	nh := int(binary.LittleEndian.Uint32(rest[20:]))
	size := treeFrameHead + 32*nh + 8
	binary.LittleEndian.PutUint64(rest[size-8:], xxhash.Sum64(rest[:size-8]))
}

// LeafHashForTest is the sealer's leaf hash (compared with tlog.RecordHash).
func LeafHashForTest(data []byte) [32]byte { return newLeafHasher().sum(data) }

// SetSealPacing turns the pacing of background seals (sealPace) on or off
// and returns the previous setting.
func SetSealPacing(on bool) bool { old := sealPacing; sealPacing = on; return old }

// BulkCandidateReads returns how many clustered segments queries have read
// in one bulk pass over their candidates' blocks.
func BulkCandidateReads() int64 { return bulkCandidateReads.Load() }

// SealRecordsForBench freezes l's active memtable and returns its event
// count, a function that writes its records as a segment at path in a
// layout exactly as sealOne does (the same writer options, a foreground
// seal's pacing; no index, tree or manifest, which do not depend on the
// layout), and a function that computes only the cluster order. The
// memtable stays frozen (l must not be appended to afterwards).
func SealRecordsForBench(l *Ledger) (n int, write func(path string, layout SealLayout) error, order func() error) {
	l.freezeActive()
	m := l.frozen[len(l.frozen)-1]
	n = len(m.recs)
	write = func(path string, layout SealLayout) error {
		clustered := layout == SealLayoutClustered
		start := [32]byte{1}
		w, err := segment.NewWriter(l.fs, path, l.sealWriterOptions(false, clustered), start)
		if err != nil {
			return err
		}
		if err := writeSealRecords(w, m, n, clustered, start); err != nil {
			w.Abort()
			return err
		}
		_, err = w.Finish(nil)
		return err
	}
	order = func() error {
		_, err := clusterOrder(m, n)
		return err
	}
	return n, write, order
}
