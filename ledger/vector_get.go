package ledger

import (
	"context"
	"fmt"
	"time"
)

// GetVectorEvent returns the event with the given id and its vector (nil
// when it was stored without one), or a NotFound error: Get with the
// vector. A replicating writer (package jetstream) uses it to work out
// whether a retried batch was applied or rejected.
func (l *Ledger) GetVectorEvent(ctx context.Context, id EventID) (VectorEvent, error) {
	defer l.observePoint(planEventID, time.Now())
	if l.closed.Load() {
		return VectorEvent{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return VectorEvent{}, err
	}
	v := l.snapshot()
	defer v.release()
	for _, s := range v.segs {
		b, vec, ok, err := s.findID(id, true)
		if err != nil {
			return VectorEvent{}, l.readErr(s.r.Path(), err)
		}
		if ok {
			e, err := UnmarshalCanonical(b)
			return VectorEvent{Envelope: e, Vector: append([]float32(nil), vec...)}, err
		}
	}
	for i, m := range v.mts {
		l.mu.RLock()
		ords, _ := m.idx.EventID(string(id))
		var rec []byte
		var vec []float32
		for _, o := range ords {
			if int(o) < v.ns[i] {
				rec = m.recs[o]
				if int(o) < len(v.vecs[i]) {
					vec = v.vecs[i][o]
				}
				break
			}
		}
		l.mu.RUnlock()
		if rec != nil {
			e, err := UnmarshalCanonical(rec)
			return VectorEvent{Envelope: e, Vector: append([]float32(nil), vec...)}, err
		}
	}
	return VectorEvent{}, NotFound(fmt.Sprintf("event %s", id))
}
