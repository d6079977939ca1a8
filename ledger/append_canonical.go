package ledger

import (
	"context"
	"errors"
	"fmt"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/wal"
)

// AppendCanonicalBatch appends a batch given as canonical encodings
// (AppendCanonical's output) the way AppendEvents appends the decoded
// envelopes, and stores the given bytes, saving the re-encoding: replicas
// that receive events already encoded (package jetstream) use it. Each
// record is decoded first (an undecodable or non-canonical one is rejected
// with InvalidQuery "event <i>: ..."), then checked like AppendEvents does
// (Validate, the event and batch size limits, the duplicate rules), and
// the batch is committed atomically. recs must not be modified afterwards:
// the ledger keeps them until they are sealed.
func (l *Ledger) AppendCanonicalBatch(ctx context.Context, recs [][]byte) error {
	return l.appendCanonical(ctx, recs, nil)
}

// AppendCanonicalVectorBatch is AppendCanonicalBatch for events with
// vectors, what AppendVectorEvents is to AppendEvents: vecs[i] is the
// vector of recs[i] (nil: the event has none), checked like
// AppendVectorEvents checks it, right after its event is validated. The
// batch, events and vectors, is one WAL frame. vecs must have the length
// of recs; the vectors are copied.
func (l *Ledger) AppendCanonicalVectorBatch(ctx context.Context, recs [][]byte, vecs [][]float32) error {
	if len(vecs) != len(recs) {
		return InvalidQuery(fmt.Sprintf("%d vectors for %d events", len(vecs), len(recs)))
	}
	return l.appendCanonical(ctx, recs, vecs)
}

// CheckVector applies AppendVectorEvents' checks to v (the ledger's
// embedding dimension, finite values, a non-zero norm) and returns the
// InvalidQuery error it would give. A replicating writer (package
// jetstream) uses it to refuse a batch before publishing it.
func (l *Ledger) CheckVector(v []float32) error { return l.checkVector(v) }

func (l *Ledger) appendCanonical(ctx context.Context, recs [][]byte, vecs [][]float32) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(recs) == 0 {
		return nil
	}
	ents := make([]entry, len(recs))
	termBuf := make([]index.Term, 0, 7*len(recs))
	total := 0
	var walRecs [][]byte
	if vecs != nil {
		walRecs = make([][]byte, len(recs))
	}
	for i, rec := range recs {
		env, err := UnmarshalCanonical(rec)
		if err != nil {
			return InvalidQuery(fmt.Sprintf("event %d: %v", i, err))
		}
		if err := Validate(env); err != nil {
			return err
		}
		var vec []float32
		if vecs != nil {
			walRecs[i] = rec
			if vecs[i] != nil {
				if err := l.checkVector(vecs[i]); err != nil {
					return err
				}
				vec = append([]float32(nil), vecs[i]...)
				w := appendVecRecord(make([]byte, 0, vecRecordHeader+4*len(vec)+len(rec)), vec)
				walRecs[i] = append(w, rec...)
				total += len(walRecs[i]) - len(rec)
			}
		}
		if len(rec) > l.opts.MaxEventBytes {
			return InvalidQuery(fmt.Sprintf("event %s is %d bytes, over the maximum event size of %d bytes", env.EventID, len(rec), l.opts.MaxEventBytes))
		}
		total += len(rec)
		h := HeaderOf(&env)
		n := len(termBuf)
		termBuf = termsOf(&h, termBuf)
		ents[i] = newEntry(env.EventID, string(env.OccurredAt), termBuf[n:len(termBuf):len(termBuf)])
		ents[i].vec = vec
	}
	if total > l.opts.MaxBatchBytes {
		return batchTooLarge(total, l.opts.MaxBatchBytes)
	}
	if walRecs != nil {
		recs = walRecs
	}
	// From here on as in AppendEvents (keep the two in step).
	if err := l.waitForSealer(ctx); err != nil {
		return err
	}
	if _, err := l.wal.Commit(ctx, recs, ents); err != nil {
		var se *StoreError
		if errors.As(err, &se) {
			return err
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if errors.Is(err, wal.ErrClosed) {
			return ErrClosed
		}
		return Storage("append", err)
	}
	l.appends.Add(1)
	return nil
}
