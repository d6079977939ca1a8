package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/index"
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
	// TreeRoot, when set, is the root hash of the Merkle tree over events
	// 1..Seq (standard base64, as in checkpoints); VerifyDigest then
	// checks it too. Head leaves it empty; ledgerctl digest fills it.
	TreeRoot string `json:"tree_root,omitempty"`
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
	defer v.release()
	h, seq, err := l.chainAt(&v, v.lastSeq())
	if err != nil {
		return Digest{}, err
	}
	return Digest{LedgerID: l.man.Load().LedgerID, Seq: seq, Hash: h, HashHex: hashHex(h)}, nil
}

// viewBase returns the first seq of the view's log and the chain value
// before it (its first segment's, unless a recorded gap precedes it).
func (l *Ledger) viewBase(v *view) (uint64, [32]byte) {
	m := l.man.Load()
	if len(v.segs) > 0 && (len(m.Gaps) == 0 || m.Gaps[0].From > v.segs[0].info.FirstSeq) {
		return v.segs[0].info.FirstSeq, v.segs[0].info.ChainStart
	}
	return m.base()
}

// viewTail returns the seq after the view's segments and gap records and
// the chain value before it: where its memtables continue.
func (l *Ledger) viewTail(v *view) (uint64, [32]byte, error) {
	b, bh := l.viewBase(v)
	return walkChain(b, bh, viewSpans(v.segs), l.man.Load().Gaps)
}

func unproven(g *gapRecord, seq uint64, reason string) *UnprovenError {
	e := &UnprovenError{Seq: seq, Gap: g.public(), ProvenTo: g.From - 1, Reason: reason}
	if g.Anchored {
		e.ProvenFrom = g.To + 1
	}
	return e
}

// chainAt computes the chain value after sequence number seq. A seq inside
// a recorded gap (other than its last, after which the chain value is
// recorded) has no provable chain value: *UnprovenError.
func (l *Ledger) chainAt(v *view, seq uint64) ([32]byte, uint64, error) {
	base, h := l.viewBase(v)
	if seq == 0 || seq == base-1 {
		return h, seq, nil
	}
	if g := l.man.Load().gapAt(seq); g != nil {
		if seq == g.To {
			return mustHash(g.ChainAfter), seq, nil
		}
		what := "kept but chain-unproven"
		if g.lost(seq) {
			what = "lost"
		}
		return h, seq, unproven(g, seq, fmt.Sprintf("seq %d is inside gap %d-%d recorded by repair (its event is %s)", seq, g.From, g.To, what))
	}
	for _, s := range v.segs {
		if seq > s.info.LastSeq {
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
	if seq < base {
		return h, seq, &IntegrityError{File: l.dir, Seq: seq, Reason: "sequence number precedes the retained data"}
	}
	_, h, err := l.viewTail(v)
	if err != nil {
		return h, seq, &IntegrityError{File: l.dir, Seq: seq, Reason: err.Error()}
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
// after d.Seq recomputed from the stored events equals d.Hash. Across a
// gap Repair recorded with a surviving chain value (Gap.Anchored) the proof
// starts from that value; a digest whose seq is inside a gap, or after a
// gap where the chain restarted and whose value differs, fails with an
// *UnprovenError (ErrUnproven), not an integrity error.
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
	defer v.release()
	if d.Seq > v.lastSeq() {
		return &IntegrityError{File: l.dir, Seq: d.Seq, Reason: fmt.Sprintf("ledger ends at seq %d, before the digest's seq %d (events were removed)", v.lastSeq(), d.Seq)}
	}
	h, _, err := l.chainAt(&v, d.Seq)
	if err != nil {
		return err
	}
	if h != d.Hash {
		gs := l.man.Load().Gaps
		for i := len(gs) - 1; i >= 0; i-- {
			if g := &gs[i]; !g.Anchored && g.To < d.Seq {
				return unproven(g, d.Seq, fmt.Sprintf("the hash chain restarted at gap %d-%d recorded by repair (no stored chain value survived it), so a digest taken before the repair cannot be proven past seq %d", g.From, g.To, g.From-1))
			}
		}
		return &IntegrityError{File: l.dir, Seq: d.Seq, Reason: "hash chain differs from the saved digest: events at or before this seq were altered"}
	}
	if d.TreeRoot != "" {
		want, err := tlog.ParseHash(d.TreeRoot)
		if err != nil {
			return fmt.Errorf("digest tree_root %q: %w", d.TreeRoot, err)
		}
		err = l.withTree(ctx, int64(d.Seq), func(_ *view, size int64, r tlog.HashReader) error {
			root, err := tlog.TreeHash(size, r)
			if err != nil {
				return err
			}
			if root != want {
				return &IntegrityError{File: l.dir, Seq: d.Seq, Reason: "Merkle tree root differs from the saved digest's"}
			}
			return nil
		})
		if err != nil && !errors.Is(err, ErrNoTree) {
			return err
		}
	}
	return nil
}

// VerifyReport summarises a full verification.
type VerifyReport struct {
	Segments int
	Events   uint64
	Vectors  uint64 // vectors of sealed segments whose files were checked
	Head     Digest
	// Gaps are the holes Repair recorded: the chain is verified on both
	// sides of each, not across it. LostEvents and UnprovenEvents sum
	// theirs.
	Gaps                       []Gap
	LostEvents, UnprovenEvents uint64
	// TreeChunks is the number of Merkle tree chunks (16 events each)
	// checked against their events (chunks retention dropped: against
	// their kept leaf hashes); every stored tree node was also checked
	// against a rebuild.
	TreeChunks int64
}

// Verify checks every block checksum, every segment's hash chain and its
// continuity across segments, every index against the data it was built
// from, every vector file (read again from disk: checksum, header against
// the manifest, finite values), the in-memory tail, and the stored Merkle
// tree against a rebuild. progress, if set, is called after each
// segment with the number of events verified so far.
func (l *Ledger) Verify(ctx context.Context, progress func(events uint64)) (VerifyReport, error) {
	var rep VerifyReport
	if l.closed.Load() {
		return rep, ErrClosed
	}
	v := l.snapshot()
	defer v.release()
	for _, g := range l.man.Load().Gaps {
		pg := g.public()
		rep.Gaps = append(rep.Gaps, pg)
		rep.LostEvents += pg.LostEvents
		rep.UnprovenEvents += pg.UnprovenEvents
	}
	// Continuity of sequence and chain across segments and recorded gaps.
	_, prevEnd, err := l.viewTail(&v)
	if err != nil {
		var we *errChainWalk
		if errors.As(err, &we) && we.seg >= 0 {
			s := v.segs[we.seg]
			return rep, &IntegrityError{File: s.r.Path(), Seq: s.info.FirstSeq, Reason: we.reason}
		}
		return rep, &IntegrityError{File: l.dir, Reason: err.Error()}
	}
	for _, s := range v.segs {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		if err := s.r.Verify(); err != nil {
			return rep, toIntegrity(err, s.r.Path(), seqAtOffset(s, err))
		}
		ipath := l.segPath(s.name, ".idx")
		got, err := readAll(l.fs, ipath)
		if err != nil {
			return rep, toIntegrity(err, ipath, s.info.FirstSeq)
		}
		want, err := buildIndexLike(s.r, got)
		if err != nil {
			return rep, toIntegrity(err, s.r.Path(), s.info.FirstSeq)
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
	n, err := l.verifyTree(ctx, &v)
	if err != nil {
		return rep, err
	}
	rep.TreeChunks = n
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

// buildIndexLike rebuilds a segment's index in the format version of an
// existing index file got: a version 1 file (written before version 2)
// is valid when it equals the version 1 encoding of the records; any
// other file is compared with the current encoding.
func buildIndexLike(r *segment.Reader, got []byte) ([]byte, error) {
	if index.FileVersion(got) == 1 {
		return buildIndexVersion(r, 1)
	}
	return buildIndex(r)
}
