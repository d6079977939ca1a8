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

// consume applies messages from it until it fails.
func (s *Store) consume(ctx context.Context, it jetstream.MessagesContext) error {
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return err
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("message metadata: %w", err)
		}
		seq := meta.Sequence.Stream
		applied := s.applied.Load()
		if seq <= applied {
			continue // delivered again after a consumer reset
		}
		if seq > applied+1 {
			// Only a deleted message leaves a hole (the stream denies
			// deletes, so this needs an operator's doing).
			s.nGaps.Add(seq - applied - 1)
			s.log.Error("stream sequence gap: messages missing from the stream", "from", applied+1, "to", seq-1)
		}
		if err := s.apply(ctx, seq, msg); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			s.fail(err)
			return err
		}
	}
}

// apply applies one stream message. A message every node must skip (not
// an exledger batch, damaged, or rejected by the ledger's checks: e.g. an
// event id present with other content) advances the position with its
// outcome recorded; an error of the local ledger (I/O) is returned and
// stops the Store without advancing.
func (s *Store) apply(ctx context.Context, seq uint64, msg jetstream.Msg) error {
	var outcome error
	msgID := msg.Headers().Get(wire.HeaderMsgID)
	recs, err := wire.DecodeBatch(msg.Headers(), msg.Data())
	var envs []ledger.ExperienceEventEnvelope
	if err == nil {
		envs = make([]ledger.ExperienceEventEnvelope, len(recs))
		for i, r := range recs {
			if envs[i], err = ledger.UnmarshalCanonical(r); err != nil {
				err = fmt.Errorf("event %d: %w", i, err)
				break
			}
		}
	}
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	if err != nil {
		s.nForeign.Add(1)
		s.log.Warn("skipping stream message", "seq", seq, "subject", msg.Subject(), "err", err)
		outcome = ledger.InvalidQuery(fmt.Sprintf("stream message %d is not a valid exledger batch: %v", seq, err))
	} else {
		err := s.l.AppendEvents(ctx, envs)
		var se *ledger.StoreError
		switch {
		case err == nil:
			s.nApplied.Add(1)
		case errors.As(err, &se) && se.Kind == ledger.ErrKindInvalidQuery:
			// Deterministic: the same on every node for this stream prefix.
			s.nRejected.Add(1)
			outcome = err
		default:
			return fmt.Errorf("applying stream message %d to the ledger: %w", seq, err)
		}
	}
	s.ledgerSeq = s.l.LastSeq()
	if s.firstMsgID == "" && msgID != "" {
		s.firstMsgID = msgID
	}
	s.mu.Lock()
	if in := s.interest[msgID]; in != nil {
		in.results[seq] = outcome
	}
	s.applied.Store(seq)
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
