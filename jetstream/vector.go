package jetstream

import (
	"context"

	"github.com/exledger/exledger/ledger"
)

// AppendVectorEvents appends events with their embeddings
// (ledger.Ledger.AppendVectorEvents) as one stream message: each event is
// validated, then its vector against the local ledger's embedding
// dimension (Options.LedgerOptions.EmbeddingDim; every node of a stream
// must use the same), with the embedded ledger's messages; the batch is
// published with a vector section (docs/jetstream.md §4) and applied by
// every node's ledger with its vectors, all or none. Acknowledgement,
// retries and the duplicate rules are Append's; an event retried with
// another vector (or none) is the duplicate-id error.
func (s *Store) AppendVectorEvents(ctx context.Context, es []ledger.VectorEvent) error {
	envs := make([]ledger.ExperienceEventEnvelope, len(es))
	vecs := make([][]float32, len(es))
	for i := range es {
		envs[i] = es[i].Envelope
		vecs[i] = es[i].Vector
		if vecs[i] == nil {
			vecs[i] = []float32{} // refused as a dimension mismatch, as by the ledger
		}
	}
	_, err := s.appendBatch(ctx, envs, vecs)
	return err
}

// SearchSimilar is answered by the local ledger
// (ledger.Ledger.SearchSimilar; see Options.StrictReads).
func (s *Store) SearchSimilar(ctx context.Context, q ledger.SimilarQuery) ([]ledger.SimilarEvent, error) {
	if err := s.beforeRead(ctx); err != nil {
		return nil, err
	}
	return s.l.SearchSimilar(ctx, q)
}

// GetVectorEvent returns the event with this id and its vector (nil when
// it was stored without one) from the local ledger
// (ledger.Ledger.GetVectorEvent; see Options.StrictReads).
func (s *Store) GetVectorEvent(ctx context.Context, id ledger.EventID) (ledger.VectorEvent, error) {
	if err := s.beforeRead(ctx); err != nil {
		return ledger.VectorEvent{}, err
	}
	return s.l.GetVectorEvent(ctx, id)
}
