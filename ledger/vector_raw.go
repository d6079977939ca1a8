package ledger

import (
	"context"
	"iter"
	"slices"
)

// RawVectorRecord is a RawRecord with the event's vector.
type RawVectorRecord struct {
	RawRecord
	// Vector is the event's vector, nil when it was stored without one.
	// It is the caller's to keep.
	Vector []float32
}

// ScanRawVectors is ScanRaw with each event's vector: the canonical bytes
// (not decoded) and the vector of every event matching q from sequence
// fromSeq on, in log order. A replicator that ships a ledger with vectors
// (package jetstream's Ship) reads it to copy events and vectors without
// re-encoding. In a ledger without an embedding dimension every Vector is
// nil.
func (l *Ledger) ScanRawVectors(ctx context.Context, q EventQuery, fromSeq uint64) iter.Seq2[RawVectorRecord, error] {
	return func(yield func(RawVectorRecord, error) bool) {
		var v view
		defer func() { v.release() }()
		for r, err := range l.ScanRaw(ctx, q, fromSeq) {
			if err != nil {
				yield(RawVectorRecord{}, err)
				return
			}
			// As in ScanVectors: a snapshot taken after the scan's own
			// holds every event the scan yields, and vectors never
			// change once committed.
			if v.mts == nil || r.Seq > v.lastSeq() {
				v.release()
				v = l.snapshot()
			}
			vec, err := l.vectorAtSeq(&v, r.Seq)
			if err != nil {
				yield(RawVectorRecord{}, err)
				return
			}
			if !yield(RawVectorRecord{RawRecord: r, Vector: slices.Clone(vec)}, nil) {
				return
			}
		}
	}
}
