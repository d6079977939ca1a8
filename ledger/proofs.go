package ledger

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/proof"
)

// TreeHead is the root of the Merkle tree over the first Size events.
type TreeHead struct {
	Size int64     `json:"tree_size"`
	Root tlog.Hash `json:"tree_root"`
}

// withTree runs fn on the tree caught up to size leaves of a snapshot
// (size < 0: every committed event), holding the tree's lock.
func (l *Ledger) withTree(ctx context.Context, size int64, fn func(v *view, size int64, r tlog.HashReader) error) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if l.opts.NoMerkleTree || l.tree == nil {
		return fmt.Errorf("%w: the ledger was opened with NoMerkleTree", ErrNoTree)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	v := l.snapshot()
	defer v.release()
	last := int64(v.lastSeq())
	if size < 0 {
		size = last
	}
	if size > last {
		return &IntegrityError{File: l.dir, Seq: uint64(size), Reason: fmt.Sprintf("tree size %d is past the ledger's end (seq %d): events were removed, or the checkpoint is of another ledger", size, last)}
	}
	t := l.tree
	<-t.building
	t.mu.Lock()
	defer t.mu.Unlock()
	if err := l.catchUp(&v, uint64(size), nil); err != nil {
		return err
	}
	return fn(&v, size, &treeReader{l: l, v: &v, memo: map[int64][]tlog.Hash{}})
}

// TreeHead returns the size and root hash of the Merkle tree over every
// committed event (size = the last sequence number).
func (l *Ledger) TreeHead(ctx context.Context) (TreeHead, error) { return l.TreeHeadAt(ctx, -1) }

// TreeHeadAt returns the root hash of the Merkle tree over the first size
// events (size < 0: every committed event). After retention, a size inside
// the dropped prefix is computed from the kept leaf hashes (ErrNoTree if
// they were lost).
func (l *Ledger) TreeHeadAt(ctx context.Context, size int64) (TreeHead, error) {
	var th TreeHead
	err := l.withTree(ctx, size, func(_ *view, size int64, r tlog.HashReader) error {
		root, err := tlog.TreeHash(size, r)
		th = TreeHead{Size: size, Root: root}
		return err
	})
	return th, err
}

// Checkpoint returns a signed checkpoint (C2SP tlog-checkpoint note) of
// the tree over every committed event. Its origin is the signer's name.
func (l *Ledger) Checkpoint(ctx context.Context, s note.Signer) ([]byte, error) {
	th, err := l.TreeHead(ctx)
	if err != nil {
		return nil, err
	}
	return proof.SignCheckpoint(proof.Checkpoint{Origin: s.Name(), Size: th.Size, Root: th.Root}, s)
}

// checkpointBody parses a signed checkpoint without checking its
// signatures (the ledger has no public key; the verifier checks them).
func checkpointBody(signed []byte) (proof.Checkpoint, error) {
	i := bytes.LastIndex(signed, []byte("\n\n"))
	if i < 0 {
		return proof.Checkpoint{}, fmt.Errorf("checkpoint: not a signed note")
	}
	return proof.ParseCheckpoint(signed[:i+1])
}

// matchCheckpoint checks that the tree's root at c.Size is c.Root.
func (l *Ledger) matchCheckpoint(c proof.Checkpoint, r tlog.HashReader) error {
	root, err := tlog.TreeHash(c.Size, r)
	if err != nil {
		return err
	}
	if root != c.Root {
		return &IntegrityError{File: l.dir, Seq: uint64(c.Size), Reason: fmt.Sprintf("the checkpoint's root for tree size %d is not this ledger's: events at or before seq %d differ, or the checkpoint is of another log", c.Size, c.Size)}
	}
	return nil
}

// ProveInclusion returns the proof that the event with this id is in the
// tree of a signed checkpoint (from Checkpoint, now or earlier). The
// checkpoint must match this ledger (its root at that size), and the
// event must be within it. An event dropped by retention cannot be
// proven (Stat's ProofsFrom is the first sequence number that can).
func (l *Ledger) ProveInclusion(ctx context.Context, id EventID, signedCheckpoint []byte) (*proof.Inclusion, error) {
	c, err := checkpointBody(signedCheckpoint)
	if err != nil {
		return nil, err
	}
	var p *proof.Inclusion
	err = l.withTree(ctx, c.Size, func(v *view, size int64, r tlog.HashReader) error {
		seq, canon, err := l.findSeq(v, id)
		if err != nil {
			return err
		}
		if int64(seq) > size {
			return NotFound(fmt.Sprintf("event %s (seq %d) is not in the checkpoint's tree of size %d", id, seq, size))
		}
		if err := l.matchCheckpoint(c, r); err != nil {
			return err
		}
		path, err := tlog.ProveRecord(size, int64(seq-1), r)
		if err != nil {
			return err
		}
		env, err := UnmarshalCanonical(canon)
		if err != nil {
			return err
		}
		js, err := MarshalEnvelopeJSON(env)
		if err != nil {
			return err
		}
		p = &proof.Inclusion{Format: proof.FormatInclusion, Index: int64(seq - 1), Event: json.RawMessage(js), Canonical: canon, Checkpoint: string(signedCheckpoint), Path: path}
		return nil
	})
	return p, err
}

// ProveConsistency returns the proof that the tree of newCheckpoint
// extends the tree of oldCheckpoint. Both must match this ledger. After
// retention dropped a prefix, an old checkpoint of any size still proves:
// the leaf hashes of the dropped events are kept (TREELEAVES and TREE's
// leaves frame; docs/proofs.md, Retention). If they were lost, an old
// size inside the dropped prefix that is not a multiple of 16 gives an
// error wrapping ErrNoTree (or a corruption error), never a wrong proof.
func (l *Ledger) ProveConsistency(ctx context.Context, oldCheckpoint, newCheckpoint []byte) (*proof.Consistency, error) {
	oc, err := checkpointBody(oldCheckpoint)
	if err != nil {
		return nil, fmt.Errorf("old %w", err)
	}
	nc, err := checkpointBody(newCheckpoint)
	if err != nil {
		return nil, fmt.Errorf("new %w", err)
	}
	if oc.Size > nc.Size {
		return nil, fmt.Errorf("old checkpoint (size %d) is larger than the new one (size %d)", oc.Size, nc.Size)
	}
	var p *proof.Consistency
	err = l.withTree(ctx, nc.Size, func(v *view, size int64, r tlog.HashReader) error {
		if err := l.matchCheckpoint(nc, r); err != nil {
			return err
		}
		if err := l.matchCheckpoint(oc, r); err != nil {
			return err
		}
		var path tlog.TreeProof
		if oc.Size > 0 {
			var err error
			if path, err = tlog.ProveTree(nc.Size, oc.Size, r); err != nil {
				return err
			}
		}
		p = &proof.Consistency{Format: proof.FormatConsistency, Old: string(oldCheckpoint), New: string(newCheckpoint), Path: path}
		return nil
	})
	return p, err
}

// findSeq returns the sequence number and canonical bytes of the event
// with this id (the first one under AllowDuplicates).
func (l *Ledger) findSeq(v *view, id EventID) (uint64, []byte, error) {
	for _, s := range v.segs {
		ords, err := s.ix.EventID(string(id))
		if err != nil {
			return 0, nil, l.readErr(s.r.Path(), err)
		}
		for _, o := range ords {
			seq := s.info.FirstSeq + uint64(o)
			rec, err := s.r.Get(seq)
			if err != nil {
				return 0, nil, l.readErr(s.r.Path(), err)
			}
			if h, err := DecodeHeader(rec.Data); err == nil && h.EventID == id {
				return seq, rec.Data, nil
			}
		}
	}
	for i, m := range v.mts {
		l.mu.RLock()
		ords, _ := m.idx.EventID(string(id))
		l.mu.RUnlock()
		for _, o := range ords {
			if int(o) < v.ns[i] {
				return m.base + uint64(o), v.recs[i][o], nil
			}
		}
	}
	return 0, nil, NotFound(fmt.Sprintf("event %s", id))
}
