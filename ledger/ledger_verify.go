package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/exledger/exledger/segment"
)

// Digest is a ledger head: the hash-chain value after event Seq. Saved
// elsewhere, it lets VerifyDigest prove later that the ledger still extends
// it (nothing at or before Seq was changed, removed, inserted or reordered).
type Digest struct {
	LedgerID string   `json:"ledger_id"`
	Seq      uint64   `json:"seq"`
	Hash     [32]byte `json:"-"`
	HashHex  string   `json:"hash"`
}

// ErrIntegrity is matched (errors.Is) by the errors of Verify and
// VerifyDigest that report tampering or damage rather than an I/O failure.
var ErrIntegrity = errors.New("ledger: integrity violation")

// IntegrityError describes a failed verification: the file, offset and
// sequence number where it was found.
type IntegrityError struct {
	File   string
	Offset int64
	Seq    uint64
	Reason string
}

func (e *IntegrityError) Error() string {
	return fmt.Sprintf("integrity violation in %s at offset %d (seq %d): %s", e.File, e.Offset, e.Seq, e.Reason)
}

// Is matches ErrIntegrity.
func (e *IntegrityError) Is(t error) bool { return t == ErrIntegrity }

// Head returns the current digest: the last sequence number and the chain
// value after it.
func (l *Ledger) Head() (Digest, error) {
	if l.closed.Load() {
		return Digest{}, ErrClosed
	}
	v := l.snapshot()
	h, seq, err := l.chainAt(&v, v.lastSeq())
	if err != nil {
		return Digest{}, err
	}
	return Digest{LedgerID: l.man.Load().LedgerID, Seq: seq, Hash: h, HashHex: hashHex(h)}, nil
}

// chainBase returns the chain value before the first retained event.
func (l *Ledger) chainBase(v *view) [32]byte {
	if len(v.segs) > 0 {
		return v.segs[0].info.ChainStart
	}
	if r := l.man.Load().Retention; len(r) > 0 {
		h, _ := parseHash(r[len(r)-1].ChainAt)
		return h
	}
	return [32]byte{}
}

// chainAt computes the chain value after sequence number seq.
func (l *Ledger) chainAt(v *view, seq uint64) ([32]byte, uint64, error) {
	h := l.chainBase(v)
	if seq == 0 {
		return h, 0, nil
	}
	for _, s := range v.segs {
		if seq > s.info.LastSeq {
			h = s.info.ChainEnd
			continue
		}
		if seq < s.info.FirstSeq {
			return h, seq, &IntegrityError{File: s.r.Path(), Seq: seq, Reason: "sequence number precedes the retained data"}
		}
		h = s.info.ChainStart
		var derr error
		err := s.r.Scan(s.info.FirstSeq, func(rec segment.Record) bool {
			if rec.Seq > seq {
				return false
			}
			h = segment.ChainNext(h, rec.Data)
			return true
		})
		if err == nil {
			err = derr
		}
		return h, seq, err
	}
	for i, m := range v.mts {
		for j := 0; j < v.ns[i]; j++ {
			s := m.base + uint64(j)
			if s > seq {
				return h, seq, nil
			}
			h = segment.ChainNext(h, v.recs[i][j])
		}
	}
	return h, seq, nil
}

// VerifyDigest proves that the ledger still extends d: the chain value
// after d.Seq recomputed from the stored events equals d.Hash.
//
// It compares content, not identity: d.LedgerID is not checked, so a copy
// made by export and import, a restored backup or a replica verifies
// against the original's digests as long as it holds the same events in
// the same order. A caller that wants to tell the user the digest came
// from another ledger compares d.LedgerID with ID() itself (ledgerctl
// verify prints it as a note).
func (l *Ledger) VerifyDigest(ctx context.Context, d Digest) error {
	if l.closed.Load() {
		return ErrClosed
	}
	v := l.snapshot()
	if d.Seq > v.lastSeq() {
		return &IntegrityError{File: l.dir, Seq: d.Seq, Reason: fmt.Sprintf("ledger ends at seq %d, before the digest's seq %d (events were removed)", v.lastSeq(), d.Seq)}
	}
	h, _, err := l.chainAt(&v, d.Seq)
	if err != nil {
		return err
	}
	if h != d.Hash {
		return &IntegrityError{File: l.dir, Seq: d.Seq, Reason: "hash chain differs from the saved digest: events at or before this seq were altered"}
	}
	return nil
}

// VerifyReport summarises a full verification.
type VerifyReport struct {
	Segments int
	Events   uint64
	Vectors  uint64 // vectors of sealed segments whose files were checked
	Head     Digest
}

// Verify checks every block checksum, every segment's hash chain and its
// continuity across segments, every index against the data it was built
// from, every vector file (read again from disk: checksum, header against
// the manifest, finite values), and the in-memory tail. progress, if set, is called after each
// segment with the number of events verified so far.
func (l *Ledger) Verify(ctx context.Context, progress func(events uint64)) (VerifyReport, error) {
	var rep VerifyReport
	if l.closed.Load() {
		return rep, ErrClosed
	}
	v := l.snapshot()
	prevEnd := l.chainBase(&v)
	for _, s := range v.segs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if s.info.ChainStart != prevEnd {
			return rep, &IntegrityError{File: s.r.Path(), Seq: s.info.FirstSeq, Reason: "segment does not continue the hash chain of its predecessor"}
		}
		if err := s.r.Verify(); err != nil {
			return rep, toIntegrity(err, s.r.Path(), seqAtOffset(s, err))
		}
		want, err := buildIndex(s.r)
		if err != nil {
			return rep, toIntegrity(err, s.r.Path(), s.info.FirstSeq)
		}
		ipath := l.segPath(s.name, ".idx")
		got, err := readAll(l.fs, ipath)
		if err != nil {
			return rep, toIntegrity(err, ipath, s.info.FirstSeq)
		}
		if !bytes.Equal(got, want) {
			return rep, &IntegrityError{File: ipath, Seq: s.info.FirstSeq, Reason: "index does not match the data it indexes"}
		}
		if s.vec != nil {
			if _, err := loadVecFile(l.fs, s.vec.path, s.vec.dim, s.vec.count, s.vec.n); err != nil {
				return rep, toIntegrity(err, s.vec.path, s.info.FirstSeq)
			}
			rep.Vectors += s.vec.n
		}
		prevEnd = s.info.ChainEnd
		rep.Segments++
		rep.Events += s.info.Count
		if progress != nil {
			progress(rep.Events)
		}
	}
	h := prevEnd
	for i, m := range v.mts {
		for j := 0; j < v.ns[i]; j++ {
			if _, err := DecodeHeader(v.recs[i][j]); err != nil {
				return rep, &IntegrityError{File: "wal", Seq: m.base + uint64(j), Reason: err.Error()}
			}
			h = segment.ChainNext(h, v.recs[i][j])
			rep.Events++
		}
	}
	rep.Head = Digest{LedgerID: l.man.Load().LedgerID, Seq: v.lastSeq(), Hash: h, HashHex: hashHex(h)}
	if progress != nil {
		progress(rep.Events)
	}
	return rep, nil
}

// seqAtOffset returns the first sequence number of the block holding the
// offset of a corruption error (the segment's first seq when unknown).
func seqAtOffset(s *sealedSeg, err error) uint64 {
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		return s.info.FirstSeq
	}
	for i := 0; i < s.r.NumBlocks(); i++ {
		bi := s.r.BlockInfo(i)
		if ce.Offset >= bi.Offset && ce.Offset < bi.Offset+int64(bi.Length) {
			return bi.FirstSeq
		}
	}
	return s.info.FirstSeq
}

func toIntegrity(err error, file string, seq uint64) error {
	if ce, ok := err.(*CorruptionError); ok {
		return &IntegrityError{File: ce.File, Offset: ce.Offset, Seq: seq, Reason: ce.Reason}
	}
	var ce *CorruptionError
	if asCorruption(err, &ce) {
		return &IntegrityError{File: ce.File, Offset: ce.Offset, Seq: seq, Reason: ce.Reason}
	}
	return fmt.Errorf("%s: %w", file, err)
}

func asCorruption(err error, target **CorruptionError) bool { return errors.As(err, target) }
