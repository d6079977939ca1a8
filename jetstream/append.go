package jetstream

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/exledger/exledger/jetstream/wire"
	"github.com/exledger/exledger/ledger"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// AppendEvent appends one event (see Append).
func (s *Store) AppendEvent(ctx context.Context, e ledger.ExperienceEventEnvelope) error {
	_, err := s.Append(ctx, []ledger.ExperienceEventEnvelope{e})
	return err
}

// AppendEvents appends a batch atomically (see Append).
func (s *Store) AppendEvents(ctx context.Context, es []ledger.ExperienceEventEnvelope) error {
	_, err := s.Append(ctx, es)
	return err
}

// WriteArtifactStateTransition appends the ArtifactStateTransitioned event
// that ledger.Ledger.WriteArtifactStateTransition would (built once here,
// so every node stores the same bytes).
func (s *Store) WriteArtifactStateTransition(ctx context.Context, id ledger.ArtifactID, kind ledger.ArtifactKind, ev ledger.LifecycleEvent) error {
	if s.closed.Load() {
		return ledger.ErrClosed
	}
	return s.AppendEvent(ctx, ledger.ArtifactTransitionEnvelope(id, kind, ev))
}

// Append validates es like the embedded ledger (same checks, same error
// texts), publishes it as one stream message and waits for JetStream's
// acknowledgement (at R3: a majority of the stream's servers hold it) and
// then for the local ledger to apply it, whose outcome it returns:
//
//   - nil: the batch is in the log of every node (events already present
//     with identical content were no-ops, as in the embedded ledger);
//   - an InvalidQuery "duplicate event_id ... with different content"
//     error: every node rejected the whole batch;
//   - a batch whose message body would exceed the maximum (see
//     Options.MaxBatchBytes) is rejected with an InvalidQuery error before
//     anything is published.
//
// A publish that times out (e.g. during a leader change) is retried with
// the same message id, so JetStream stores it once; a caller retrying
// after an error is equally safe. Other errors are ctx's, ledger.ErrClosed,
// and Storage errors (stream unreachable; the batch may or may not be in
// the stream, and retrying it is safe).
func (s *Store) Append(ctx context.Context, es []ledger.ExperienceEventEnvelope) (Ack, error) {
	return s.appendBatch(ctx, es, nil)
}

// appendBatch is Append; vecs, when not nil, holds each event's vector
// (AppendVectorEvents).
func (s *Store) appendBatch(ctx context.Context, es []ledger.ExperienceEventEnvelope, vecs [][]float32) (Ack, error) {
	if s.closed.Load() {
		return Ack{}, ledger.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return Ack{}, err
	}
	if len(es) == 0 {
		return Ack{}, nil
	}
	if err := s.Err(); err != nil {
		return Ack{}, err
	}
	body, recs, err := s.encode(es, vecs)
	if err != nil {
		return Ack{}, err
	}
	b := newBatch(wire.BatchSubject(s.opts.Stream, es), body, len(es))
	if vecs != nil {
		b.dim = s.l.EmbeddingDim()
	}
	b.compress(s.opts.Compression)
	if len(b.payload) > s.maxBody {
		return Ack{}, ledger.InvalidQuery(fmt.Sprintf(
			"batch of %d events is %d bytes as a JetStream message, over the maximum of %d bytes (the server's max_payload less %d bytes for headers); split it into smaller batches",
			len(es), len(b.payload), s.maxBody, headerRoom))
	}
	ctx, cancel := withDefaultTimeout(ctx, s.opts.Timeout)
	defer cancel()
	in := s.register(b.msgID)
	defer s.unregister(b.msgID, in)
	ack, err := s.publish(ctx, &b)
	if err != nil {
		return Ack{}, err
	}
	res := Ack{Stream: ack.Stream, Seq: ack.Sequence, Duplicate: ack.Duplicate}
	if err := s.WaitApplied(ctx, ack.Sequence); err != nil {
		return res, err
	}
	s.mu.Lock()
	outcome, known := in.results[ack.Sequence]
	s.mu.Unlock()
	if !known {
		// The message was applied before this call registered its
		// interest: a deduplicated retry of a batch published earlier.
		outcome = s.outcomeOf(ctx, es, recs, vecs, ack.Sequence)
	}
	return res, outcome
}

// encode runs the embedded ledger's checks in its order and returns the
// message body and the canonical encoding of each event (sub-slices of
// the body). With vecs, each event's vector is checked right after the
// event, and the body ends with the vector section.
func (s *Store) encode(es []ledger.ExperienceEventEnvelope, vecs [][]float32) (body []byte, recs [][]byte, err error) {
	for i := range es {
		if es[i].Event == nil {
			return nil, nil, ledger.InvalidQuery("event must not be null")
		}
		if err := ledger.Validate(es[i]); err != nil {
			return nil, nil, err
		}
		if vecs != nil {
			if err := s.l.CheckVector(vecs[i]); err != nil {
				return nil, nil, err
			}
		}
	}
	// The body is built in place: a 4-byte length, then the event; sized
	// from the previous batches so that it rarely grows (and copies).
	if avg := s.avgRecord.Load(); avg > 0 {
		body = make([]byte, 0, len(es)*int(avg+avg/8))
	}
	ends := make([]int, len(es))
	size := 0
	for i := range es {
		body = append(body, 0, 0, 0, 0)
		start := len(body)
		body, err = ledger.AppendCanonical(body, &es[i])
		if err != nil {
			return nil, nil, ledger.InvalidQuery(fmt.Sprintf("event %d: %v", i, err))
		}
		n := len(body) - start
		if n > s.maxEvent {
			return nil, nil, ledger.InvalidQuery(fmt.Sprintf("event %s is %d bytes, over the maximum event size of %d bytes", es[i].EventID, n, s.maxEvent))
		}
		binary.BigEndian.PutUint32(body[start-wire.RecordHeader:], uint32(n))
		size += n
		ends[i] = len(body)
	}
	if size > s.maxBatch {
		return nil, nil, ledger.InvalidQuery(fmt.Sprintf("batch is %d bytes, over the maximum batch size of %d bytes", size, s.maxBatch))
	}
	s.avgRecord.Store(int64(len(body) / len(es)))
	if vecs != nil {
		body = wire.AppendVectors(body, vecs, s.l.EmbeddingDim())
	}
	// Slice only now: body may have moved while growing.
	recs = make([][]byte, len(es))
	start := 0
	for i, end := range ends {
		recs[i] = body[start+wire.RecordHeader : end : end]
		start = end
	}
	return body, recs, nil
}

// register notes that an appender waits for the outcome of msgID.
func (s *Store) register(msgID string) *interest {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.interest[msgID]
	if in == nil {
		in = &interest{results: map[uint64]error{}}
		s.interest[msgID] = in
	}
	in.refs++
	return in
}

func (s *Store) unregister(msgID string, in *interest) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if in.refs--; in.refs == 0 {
		delete(s.interest, msgID)
	}
}

// perAttempt bounds one publish attempt; a leader election takes a few
// seconds at most.
const perAttempt = 5 * time.Second

// publish sends b and waits for JetStream's acknowledgement, retrying
// transient failures with the same message id until ctx ends.
func (s *Store) publish(ctx context.Context, b *batch) (*jetstream.PubAck, error) {
	ack, err := publishBatch(ctx, s.js, s.opts.Stream, b.newMsg(), s.log, func() bool {
		s.nRetries.Add(1)
		return !s.closed.Load()
	})
	if err == nil {
		s.nPublished.Add(1)
		if ack.Duplicate {
			s.nDup.Add(1)
		}
	}
	if err == errStop {
		err = ledger.ErrClosed
	}
	return ack, err
}

var errStop = errors.New("jetstream: stopped")

// publishBatch publishes m to stream, retrying transient failures (no
// stream leader during an election, timeouts, reconnects) with the same
// message until ctx ends; before each retry it calls retry, which may
// stop it (errStop). Permanent failures are Storage errors.
func publishBatch(ctx context.Context, js jetstream.JetStream, stream string, m *nats.Msg, log *slog.Logger, retry func() bool) (*jetstream.PubAck, error) {
	wait := 25 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, perAttempt)
		ack, err := js.PublishMsg(actx, m, jetstream.WithExpectStream(stream))
		cancel()
		if err == nil {
			return ack, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if !retryable(err) {
			return nil, ledger.Storage("jetstream: publish", err)
		}
		if !retry() {
			return nil, errStop
		}
		log.Debug("publish failed, retrying", "subject", m.Subject, "err", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// retryable tells transient publish failures (no leader, timeouts,
// reconnects) from permanent ones.
func retryable(err error) bool {
	switch {
	case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrBadSubject), errors.Is(err, jetstream.ErrStreamNotFound):
		return false
	}
	var api *jetstream.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode {
		case jetstream.JSErrCodeStreamMessageExceedsMaximum, jetstream.JSErrCodeStreamNotFound,
			jetstream.JSErrCodeBadRequest, jetstream.JSErrCodeJetStreamNotEnabled,
			jetstream.JSErrCodeJetStreamNotEnabledForAccount:
			return false
		}
	}
	return true
}

// outcomeOf works out, from the local ledger, the outcome of the stream
// message seq whose content is byte-identical to recs (and vecs, for a
// vector batch; the message id is the body's SHA-256): the embedded
// ledger's answer to appending es now. All events present with identical
// content (and vectors): the batch was applied (nil). One present with
// other content (or repeated in the batch with other content): every node
// rejected it, with this error.
func (s *Store) outcomeOf(ctx context.Context, es []ledger.ExperienceEventEnvelope, recs [][]byte, vecs [][]float32, seq uint64) error {
	type stored struct {
		rec []byte
		vec []float32
	}
	seen := make(map[ledger.EventID]stored, len(es))
	missing := 0
	for i := range es {
		id := es[i].EventID
		var vec []float32
		if vecs != nil {
			vec = vecs[i]
		}
		prev, ok := seen[id]
		if !ok {
			var e ledger.ExperienceEventEnvelope
			var err error
			if vecs != nil {
				var ve ledger.VectorEvent
				ve, err = s.l.GetVectorEvent(ctx, id)
				e, prev.vec = ve.Envelope, ve.Vector
			} else {
				e, err = s.l.Get(ctx, id)
			}
			switch {
			case err == nil:
				if prev.rec, err = ledger.MarshalCanonical(&e); err != nil {
					return ledger.Storage("jetstream: re-encoding a stored event", err)
				}
				ok = true
			case errors.Is(err, ledger.ErrNotFound):
			default:
				return err
			}
		}
		if !ok {
			seen[id] = stored{recs[i], vec}
			missing++
			continue
		}
		if !bytes.Equal(prev.rec, recs[i]) || (vecs != nil && !sameVector(prev.vec, vec)) {
			return ledger.InvalidQuery(fmt.Sprintf("duplicate event_id %s with different content", id))
		}
	}
	if missing > 0 {
		return ledger.Storage(fmt.Sprintf("jetstream: stream message %d (this batch, published before) was not applied and its outcome is no longer known", seq), nil)
	}
	return nil
}

// sameVector compares two vectors bit for bit (nil: no vector).
func sameVector(a, b []float32) bool {
	if (a == nil) != (b == nil) || len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}
