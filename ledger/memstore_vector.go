package ledger

import (
	"context"
	"slices"
)

// NewMemStoreWithDim returns an empty store whose vector calls
// (AppendVectorEvents, SearchSimilar) take embeddings of dimension dim. A
// store from NewMemStore has no dimension and refuses them.
func NewMemStoreWithDim(dim int) *MemStore {
	m := NewMemStore()
	if dim > 0 {
		m.dim = dim
	}
	return m
}

// EmbeddingDim returns the store's embedding dimension (0 = none).
func (m *MemStore) EmbeddingDim() int { return m.dim }

// AppendVectorEvents appends events with their embeddings, one by one like
// AppendEvents: each envelope is validated first, then its vector (the
// dimension, then NaN or infinite values, then a zero norm); it stops at
// the first error and the events before it stay stored.
func (m *MemStore) AppendVectorEvents(ctx context.Context, es []VectorEvent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range es {
		if err := validateForStore(&es[i].Envelope); err != nil {
			return err
		}
		if m.dim == 0 {
			return errNoEmbeddingDim()
		}
		if err := checkVector(es[i].Vector, m.dim, ""); err != nil {
			return err
		}
		if err := m.appendLocked(&es[i].Envelope); err != nil {
			return err
		}
		if m.vecs == nil {
			m.vecs = make(map[int][]float32)
		}
		m.vecs[len(m.events)-1] = slices.Clone(es[i].Vector)
	}
	return nil
}

// SearchSimilar returns up to q.Limit (0 = 10) events with a vector that
// match q.Filter (its Limit ignored), nearest first by cosine distance,
// ties in insertion order. It is the exact oracle of Ledger.SearchSimilar.
// Events appended without a vector are never results.
func (m *MemStore) SearchSimilar(ctx context.Context, q SimilarQuery) ([]SimilarEvent, error) {
	if err := checkSimilarQuery(ctx, &q, m.dim); err != nil {
		return nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	qn := norm32(q.Vector)
	top := newTopK(similarLimit(&q))
	for i, v := range m.vecs {
		if !matches(&m.events[i], &q.Filter, false) {
			continue
		}
		top.push(simHit{dist: cosDistance(q.Vector, qn, v, norm32(v)), pos: uint64(i)})
	}
	hits := top.sorted()
	out := make([]SimilarEvent, len(hits))
	for j, h := range hits {
		out[j] = SimilarEvent{Envelope: cloneEnvelope(&m.events[h.pos]), Distance: h.dist}
	}
	return out, nil
}
