package ledger

import (
	"context"
	"iter"
)

// ScanMap is ScanSeq with a function applied to every event on the scan's
// own goroutines: it yields, in log order, f's result for every event
// matching q with seq >= fromSeq (0 or 1 = the beginning). A long scan
// reads, decompresses and decodes segments on several goroutines; f runs
// there, right after an event is decoded, so per-event work of a bulk
// reader (an exporter's encoding) is spread over the cores while the
// results still arrive in order. f is called concurrently from several
// goroutines and must be safe for that; it must not keep env beyond the
// call (the event's strings may be kept: they are not reused).
//
// f gets the length of the event's canonical encoding (a measure of its
// size that does not depend on f) and arena, a buffer shared by the events
// decoded together: f may append to *arena and keep the bytes it
// appended in its result (they are never modified afterwards), which
// costs an allocation per batch of events instead of one per event.
// q.Limit, if set, bounds the number of results.
func ScanMap[T any](ctx context.Context, l *Ledger, q EventQuery, fromSeq uint64, f func(env *ExperienceEventEnvelope, size int, arena *[]byte) T) iter.Seq2[SeqResult[T], error] {
	return func(yield func(SeqResult[T], error) bool) {
		iq, limit, ok, err := l.scanStart(ctx, &q)
		if !ok {
			if err != nil {
				yield(SeqResult[T]{}, err)
			}
			return
		}
		v := l.snapshot()
		defer v.release()
		codec := func(q *EventQuery, raw []byte, a *chunkArena) (T, bool, error) {
			var zero T
			env, match, err := envelopeCodec(q, raw, a)
			if err != nil || !match {
				return zero, match, err
			}
			if cap(a.raw)-len(a.raw) < mapArenaFree {
				a.raw = make([]byte, 0, mapArenaBytes)
			}
			return f(&env, len(raw), &a.raw), true, nil
		}
		err = scanLogOrder(l, ctx, &v, &q, &iq, max(fromSeq, 1), limit, codec, func(seq uint64, r *T) bool {
			return yield(SeqResult[T]{Seq: seq, V: *r}, nil)
		})
		if err != nil {
			yield(SeqResult[T]{}, err)
		}
	}
}

// SeqResult is one result of ScanMap: an event's sequence number and what
// the scan's function made of it.
type SeqResult[T any] struct {
	Seq uint64
	V   T
}

const (
	// mapArenaBytes is the size of a new ScanMap arena; one is started
	// when less than mapArenaFree bytes are left in the current one.
	mapArenaBytes = 128 << 10
	mapArenaFree  = 4 << 10
)
