package jetstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/exledger/exledger/jetstream/wire"
	"github.com/exledger/exledger/ledger"
	"github.com/nats-io/nats.go/jetstream"
)

// run applies the stream to the local ledger in stream order, from
// applied+1, until ctx ends or applying fails. It reads with an ordered
// consumer (ephemeral, in order, re-created by the client on any gap or
// server change); the durable position is the local ledger plus the
// position file, so the node never depends on server-side consumer state
// that could disagree with its ledger.
func (s *Store) run(ctx context.Context) {
	defer s.wg.Done()
	pull := jetstream.PullMaxBytes(max(16<<20, 4*(s.maxBody+headerRoom)))
	for wait := 20 * time.Millisecond; ctx.Err() == nil; {
		next := s.applied.Load() + 1
		cons, err := s.js.OrderedConsumer(ctx, s.opts.Stream, jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy,
			OptStartSeq:   next,
		})
		if err == nil {
			var it jetstream.MessagesContext
			it, err = cons.Messages(pull)
			if err == nil {
				err = s.consume(ctx, it)
				it.Stop()
				if err == nil {
					wait = 20 * time.Millisecond
				}
			}
		}
		if ctx.Err() != nil {
			return
		}
		if s.Err() != nil {
			return
		}
		s.nResets.Add(1)
		s.log.Warn("stream consumer stopped; re-creating it", "next_seq", s.applied.Load()+1, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// decoded is a stream message checked and split, waiting to be applied.
type decoded struct {
	seq     uint64
	msgID   string
	subject string
	recs    [][]byte
	vecs    [][]float32 // nil: no vector section
	dim     int
	err     error // not an exledger batch, or damaged
}

// consume applies messages from it until it fails. It is a pipeline of
// two goroutines: this one receives, decompresses and checks messages,
// the other applies them to the ledger in order.
func (s *Store) consume(ctx context.Context, it jetstream.MessagesContext) error {
	items := make(chan decoded, 4)
	applied := make(chan error, 1)
	go func() {
		for d := range items {
			if err := s.apply(ctx, d); err != nil {
				if ctx.Err() == nil {
					s.fail(err)
				}
				applied <- err
				return
			}
		}
		applied <- nil
	}()
	queued := s.applied.Load()
	var err error
	for {
		var msg jetstream.Msg
		if msg, err = it.Next(jetstream.NextContext(ctx)); err != nil {
			break
		}
		meta, merr := msg.Metadata()
		if merr != nil {
			err = fmt.Errorf("message metadata: %w", merr)
			break
		}
		seq := meta.Sequence.Stream
		if seq <= queued {
			continue // delivered again after a consumer reset
		}
		if seq > queued+1 {
			// Only a deleted message leaves a hole (the stream denies
			// deletes, so this needs an operator's doing).
			s.nGaps.Add(seq - queued - 1)
			s.log.Error("stream sequence gap: messages missing from the stream", "from", queued+1, "to", seq-1)
		}
		d := decoded{seq: seq, msgID: msg.Headers().Get(wire.HeaderMsgID), subject: msg.Subject()}
		var b wire.Batch
		b, d.err = wire.Decode(msg.Headers(), msg.Data())
		d.recs, d.vecs, d.dim = b.Recs, b.Vectors, b.Dim
		select {
		case items <- d:
			queued = seq
		case aerr := <-applied:
			return aerr
		}
	}
	close(items)
	if aerr := <-applied; aerr != nil {
		return aerr
	}
	return err
}

// apply applies one stream message. A message every node must skip (not
// an exledger batch, damaged, or rejected by the ledger's checks: e.g. an
// event id present with other content) advances the position with its
// outcome recorded; an error of the local ledger (I/O) is returned and
// stops the Store without advancing.
func (s *Store) apply(ctx context.Context, d decoded) error {
	var outcome error
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if d.err != nil {
		s.nForeign.Add(1)
		s.log.Warn("skipping stream message", "seq", d.seq, "subject", d.subject, "err", d.err)
		outcome = ledger.InvalidQuery(fmt.Sprintf("stream message %d is not a valid exledger batch: %v", d.seq, d.err))
	} else {
		var err error
		if d.vecs != nil {
			if dim := s.l.EmbeddingDim(); dim != d.dim {
				// Not the message's fault: this node is configured
				// unlike the writer. Stop rather than diverge.
				return fmt.Errorf("stream message %d carries vectors of dimension %d, this node's ledger has embedding dimension %d: open it with LedgerOptions.EmbeddingDim = %d", d.seq, d.dim, dim, d.dim)
			}
			err = s.l.AppendCanonicalVectorBatch(ctx, d.recs, d.vecs)
		} else {
			err = s.l.AppendCanonicalBatch(ctx, d.recs)
		}
		var se *ledger.StoreError
		switch {
		case err == nil:
			s.nApplied.Add(1)
		case errors.As(err, &se) && se.Kind == ledger.ErrKindInvalidQuery:
			// Deterministic: the same on every node for this stream prefix.
			s.nRejected.Add(1)
			outcome = err
		default:
			return fmt.Errorf("applying stream message %d to the ledger: %w", d.seq, err)
		}
	}
	s.ledgerSeq = s.l.LastSeq()
	if s.firstMsgID == "" && d.msgID != "" {
		s.firstMsgID = d.msgID
	}
	s.mu.Lock()
	if in := s.interest[d.msgID]; in != nil {
		in.results[d.seq] = outcome
	}
	s.applied.Store(d.seq)
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
	return nil
}

// fail stops the Store: waiters get err.
func (s *Store) fail(err error) {
	s.log.Error("applying the stream failed; the store is stopped", "err", err)
	s.mu.Lock()
	if s.fatal == nil {
		s.fatal = ledger.Storage("jetstream", err)
	}
	close(s.notify)
	s.notify = make(chan struct{})
	s.mu.Unlock()
}

// checkpointer writes the position file every CheckpointInterval while
// the position moves.
func (s *Store) checkpointer(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.checkpoint(); err != nil {
			s.fail(fmt.Errorf("writing the position file: %w", err))
			return
		}
	}
}

// checkpoint syncs the ledger, then records the position taken before the
// sync (so the file never claims more than the ledger durably holds).
func (s *Store) checkpoint() error {
	s.applyMu.Lock()
	p := position{
		Version: 1, Stream: s.opts.Stream, FirstMsgID: s.firstMsgID, LedgerID: s.l.ID(),
		AppliedSeq: s.applied.Load(), LedgerSeq: s.ledgerSeq,
	}
	s.applyMu.Unlock()
	if p.AppliedSeq == s.lastCkpt {
		return nil
	}
	if err := s.l.Sync(); err != nil {
		return err
	}
	if err := writePosition(s.fs, s.opts.Dir, p); err != nil {
		return err
	}
	s.lastCkpt = p.AppliedSeq
	return nil
}
