package ledger

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/exledger/exledger/vfs"
)

// featureGaps is the manifest feature of recorded repair gaps (the
// manifest's "gaps" list). A ledger names it the first time Repair loses
// events.
const featureGaps = "gaps"

func init() { registerFeature(featureGaps) }

// SeqRange is an inclusive range of sequence numbers.
type SeqRange struct {
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

// Len returns the number of sequence numbers in r.
func (r SeqRange) Len() uint64 { return r.To - r.From + 1 }

// gapRecord is the manifest's record of a hole Repair left in the log.
//
// Over seqs From..To the hash chain is not proven: the events of the Lost
// ranges are gone (their seqs are never reused); the other seqs of the range
// are kept, in segments that lie wholly inside From..To ("inner" segments),
// but the chain value before them did not survive: Repair chains them from
// ChainBefore over the kept events alone, and only each inner segment's
// internal consistency is checked. ChainBefore is the chain value
// after From-1 (proven by the events before the gap); ChainAfter is the
// chain value after To, from which the next seq is chained. With Anchored it
// is the value the original chain stored after To (a block-end value or a
// checkpoint that survived), so the chain is proven again from To+1 and
// digests taken before the damage at seqs >= To stay provable. Without
// Anchored no stored value survived: ChainAfter = ChainBefore, To is the
// last lost seq, and the chain restarts there (older digests past the gap
// cannot be proven).
type gapRecord struct {
	From        uint64     `json:"from"`
	To          uint64     `json:"to"`
	Lost        []SeqRange `json:"lost"`
	ChainBefore string     `json:"chain_before"`
	ChainAfter  string     `json:"chain_after"`
	Anchored    bool       `json:"anchored"`
	At          string     `json:"at"`
}

// Gap describes a hole Repair left in the log (see Ledger.Gaps).
type Gap struct {
	// From..To is the range over which the hash chain is not proven.
	From, To uint64
	// Lost are the sequence ranges whose events are gone; LostEvents
	// counts them. The other UnprovenEvents of From..To are kept (queries
	// return them) but their chain values are not proven.
	Lost           []SeqRange
	LostEvents     uint64
	UnprovenEvents uint64
	// ChainBefore is the chain value after From-1; ChainAfter the value
	// after To. Anchored: ChainAfter is a value the chain stored before the
	// damage (proven from To+1 on); otherwise the chain restarts at the gap.
	ChainBefore, ChainAfter [32]byte
	Anchored                bool
	At                      string // when Repair recorded it (RFC 3339, UTC)
}

func (g *gapRecord) public() Gap {
	out := Gap{From: g.From, To: g.To, Lost: append([]SeqRange(nil), g.Lost...), Anchored: g.Anchored, At: g.At}
	for _, r := range g.Lost {
		out.LostEvents += r.Len()
	}
	out.UnprovenEvents = g.To - g.From + 1 - out.LostEvents
	out.ChainBefore, _ = parseHash(g.ChainBefore)
	out.ChainAfter, _ = parseHash(g.ChainAfter)
	return out
}

// Gaps returns the holes Repair recorded, in sequence order.
func (l *Ledger) Gaps() []Gap {
	gs := l.man.Load().Gaps
	out := make([]Gap, len(gs))
	for i := range gs {
		out[i] = gs[i].public()
	}
	return out
}

// lost reports whether seq is in one of g's lost ranges.
func (g *gapRecord) lost(seq uint64) bool {
	for _, r := range g.Lost {
		if seq >= r.From && seq <= r.To {
			return true
		}
	}
	return false
}

// checkGapRecords checks the gap list on its own: ascending, disjoint,
// well-formed.
func checkGapRecords(gs []gapRecord) error {
	var prevTo uint64
	for i := range gs {
		g := &gs[i]
		if g.From == 0 || g.To < g.From || (i > 0 && g.From <= prevTo) {
			return fmt.Errorf("gap %d: range %d-%d out of order", i, g.From, g.To)
		}
		if len(g.Lost) == 0 || g.Lost[0].From != g.From {
			return fmt.Errorf("gap %d-%d does not start with a lost range", g.From, g.To)
		}
		var pt uint64
		for j, r := range g.Lost {
			if r.To < r.From || r.From < g.From || r.To > g.To || (j > 0 && r.From <= pt+1) {
				return fmt.Errorf("gap %d-%d: lost range %d-%d out of order", g.From, g.To, r.From, r.To)
			}
			pt = r.To
		}
		if _, err := parseHash(g.ChainBefore); err != nil {
			return fmt.Errorf("gap %d-%d: chain_before: %v", g.From, g.To, err)
		}
		if _, err := parseHash(g.ChainAfter); err != nil {
			return fmt.Errorf("gap %d-%d: chain_after: %v", g.From, g.To, err)
		}
		if !g.Anchored && (g.ChainAfter != g.ChainBefore || pt != g.To) {
			return fmt.Errorf("gap %d-%d: an unanchored gap must end with its lost range and keep the chain value", g.From, g.To)
		}
		prevTo = g.To
	}
	return nil
}

// chainSpan is what the chain walk needs of one segment.
type chainSpan struct {
	first, last uint64
	start, end  [32]byte
}

// errChainWalk describes where walkChain found a break.
type errChainWalk struct {
	seg    int // index of the offending segment, -1: a gap record
	reason string
}

func (e *errChainWalk) Error() string { return e.reason }

// walkChain checks that segments and gap records tile the log from
// (base, baseH) on: each segment continues the previous one's seq and
// chain, except across a gap record, whose ChainBefore must be the chain
// reached, whose inner segments lie in order between its lost ranges, and after which the next segment starts at
// To+1 with ChainAfter. It returns the next seq and the chain value before
// it.
func walkChain(base uint64, baseH [32]byte, spans []chainSpan, gaps []gapRecord) (uint64, [32]byte, error) {
	n, h := base, baseH
	i, gi := 0, 0
	for i < len(spans) || gi < len(gaps) {
		if gi < len(gaps) && gaps[gi].From == n {
			g := &gaps[gi]
			before, _ := parseHash(g.ChainBefore)
			if before != h {
				return n, h, &errChainWalk{seg: -1, reason: fmt.Sprintf("gap %d-%d does not continue the hash chain before it", g.From, g.To)}
			}
			// Inner segments: their chain values prove nothing (the value
			// before them did not survive), so only their internal
			// consistency (Reader.Verify) and their seqs are checked.
			inner := g.From
			for i < len(spans) && spans[i].last <= g.To {
				s := spans[i]
				if s.first <= inner || g.lost(s.first) || g.lost(s.last) {
					return n, h, &errChainWalk{seg: i, reason: fmt.Sprintf("segment %d-%d inside gap %d-%d does not fit it", s.first, s.last, g.From, g.To)}
				}
				for _, r := range g.Lost {
					if r.From >= s.first && r.From <= s.last {
						return n, h, &errChainWalk{seg: i, reason: fmt.Sprintf("segment %d-%d holds lost seqs of gap %d-%d", s.first, s.last, g.From, g.To)}
					}
				}
				inner = s.last
				i++
			}
			n, h = g.To+1, mustHash(g.ChainAfter)
			gi++
			continue
		}
		if gi < len(gaps) && gaps[gi].From < n {
			return n, h, &errChainWalk{seg: -1, reason: fmt.Sprintf("gap %d-%d overlaps the segments before it", gaps[gi].From, gaps[gi].To)}
		}
		if i == len(spans) {
			return n, h, &errChainWalk{seg: -1, reason: fmt.Sprintf("gap %d-%d does not follow the log (which ends before seq %d)", gaps[gi].From, gaps[gi].To, n)}
		}
		s := spans[i]
		if s.first != n || s.last < s.first {
			return n, h, &errChainWalk{seg: i, reason: fmt.Sprintf("segment %d-%d does not continue the sequence at %d", s.first, s.last, n)}
		}
		if s.start != h {
			return n, h, &errChainWalk{seg: i, reason: fmt.Sprintf("segment %d-%d does not continue the hash chain of its predecessor", s.first, s.last)}
		}
		n, h = s.last+1, s.end
		i++
	}
	return n, h, nil
}

func mustHash(s string) [32]byte {
	h, _ := parseHash(s)
	return h
}

// base returns the first seq the manifest's log starts at and the chain
// value before it: after the last retention record, else where the first
// gap or segment starts.
func (m *ledgerManifest) base() (uint64, [32]byte) {
	if r := m.Retention; len(r) > 0 {
		h, _ := parseHash(r[len(r)-1].ChainAt)
		return r[len(r)-1].DroppedThroughSeq + 1, h
	}
	if len(m.Gaps) > 0 && (len(m.Segments) == 0 || m.Gaps[0].From < m.Segments[0].FirstSeq) {
		return m.Gaps[0].From, mustHash(m.Gaps[0].ChainBefore)
	}
	if len(m.Segments) > 0 {
		return m.Segments[0].FirstSeq, mustHash(m.Segments[0].ChainStart)
	}
	return 1, [32]byte{}
}

func manifestSpans(segs []manifestSeg) []chainSpan {
	sp := make([]chainSpan, len(segs))
	for i, s := range segs {
		sp[i] = chainSpan{first: s.FirstSeq, last: s.LastSeq, start: mustHash(s.ChainStart), end: mustHash(s.ChainEnd)}
	}
	return sp
}

func viewSpans(segs []*sealedSeg) []chainSpan {
	sp := make([]chainSpan, len(segs))
	for i, s := range segs {
		sp[i] = chainSpan{first: s.info.FirstSeq, last: s.info.LastSeq, start: s.info.ChainStart, end: s.info.ChainEnd}
	}
	return sp
}

// tail returns the seq after everything the manifest holds (segments and
// gap records) and the chain value before it: where the WAL continues.
func (m *ledgerManifest) tail() (uint64, [32]byte) {
	b, bh := m.base()
	n, h, _ := walkChain(b, bh, manifestSpans(m.Segments), m.Gaps)
	return n, h
}

// gapAt returns the gap record covering seq, or nil.
func (m *ledgerManifest) gapAt(seq uint64) *gapRecord {
	for i := range m.Gaps {
		if seq >= m.Gaps[i].From && seq <= m.Gaps[i].To {
			return &m.Gaps[i]
		}
	}
	return nil
}

// ErrUnproven is matched (errors.Is) by VerifyDigest's error when the
// digest cannot be checked because of a hole Repair recorded: its seq is
// inside a gap, or the chain restarted at a gap before it. It is not an
// integrity violation: the events on both sides still verify.
var ErrUnproven = errors.New("ledger: digest not provable across a repair gap")

// UnprovenError says why a digest cannot be proven and what is: the chain
// is proven up to ProvenTo and again from ProvenFrom (0: nowhere after the
// gap).
type UnprovenError struct {
	Seq        uint64
	Gap        Gap
	ProvenTo   uint64
	ProvenFrom uint64
	Reason     string
}

func (e *UnprovenError) Error() string {
	return fmt.Sprintf("digest at seq %d cannot be proven: %s", e.Seq, e.Reason)
}

// Is matches ErrUnproven.
func (e *UnprovenError) Is(t error) bool { return t == ErrUnproven }

// innerSeg reports whether a segment holding first..last lies inside a
// recorded gap (it holds kept but chain-unproven events).
func (m *ledgerManifest) innerSeg(first, last uint64) bool {
	for _, g := range m.Gaps {
		if first > g.From && last <= g.To {
			return true
		}
	}
	return false
}

// dropObsoleteWAL handles the WAL files a repair sealed (m.WALObsolete):
// a writable Open removes them, syncs wal/ and stores the manifest without
// the list (a crash in between repeats it); a read-only Open hides them
// from the WAL. It returns the file system the WAL is opened with.
func (l *Ledger) dropObsoleteWAL(m *ledgerManifest) (vfs.FS, error) {
	if len(m.WALObsolete) == 0 {
		return l.fs, nil
	}
	walDir := filepath.Join(l.dir, walDirName)
	if l.opts.ReadOnly {
		hide := map[string]bool{}
		for _, n := range m.WALObsolete {
			hide[filepath.Join(walDir, n)] = true
		}
		return hideFS{FS: l.fs, dir: walDir, hide: hide}, nil
	}
	for i := len(m.WALObsolete) - 1; i >= 0; i-- {
		p := filepath.Join(walDir, m.WALObsolete[i])
		if err := l.fs.Remove(p); err != nil && !isNotExist(err) {
			return nil, Storage("remove "+p, err)
		}
	}
	if err := l.fs.SyncDir(walDir); err != nil {
		return nil, Storage("sync "+walDir, err)
	}
	m2 := m.clone()
	m2.WALObsolete = nil
	if err := storeManifest(l.fs, l.dir, m2); err != nil {
		return nil, Storage("manifest", err)
	}
	l.man.Store(m2)
	return l.fs, nil
}

// hideFS hides some files of one directory (List, Open, Stat).
type hideFS struct {
	vfs.FS
	dir  string
	hide map[string]bool
}

func (h hideFS) List(dir string) ([]string, error) {
	names, err := h.FS.List(dir)
	if err != nil || filepath.Clean(dir) != h.dir {
		return names, err
	}
	out := names[:0:0]
	for _, n := range names {
		if !h.hide[filepath.Join(h.dir, n)] {
			out = append(out, n)
		}
	}
	return out, nil
}

func (h hideFS) Open(name string) (vfs.File, error) {
	if h.hide[filepath.Clean(name)] {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return h.FS.Open(name)
}

func (h hideFS) Stat(name string) (int64, error) {
	if h.hide[filepath.Clean(name)] {
		return 0, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return h.FS.Stat(name)
}
