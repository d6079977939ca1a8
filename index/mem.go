package index

import (
	"fmt"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"
)

// memBuffer is how many recent ordinals Mem keeps unsorted (scanned
// linearly by TimeRange) before sorting them into a run.
const memBuffer = 256

// Mem indexes the unsealed tail of the ledger in memory.
//
// Mem is not internally locked. Add must not run concurrently with any
// other method; the read methods (Len, Postings, FieldRanks, TimeRange,
// EventID) only read and may run concurrently with each other (the
// ledger holds an RWMutex: write lock for Add, read lock for queries;
// the sealer reads a frozen memtable's Mem without it). Every bitmap or
// slice returned is a copy the caller owns, so an Iterator from Eval stays
// valid after the lock is released and more events are added.
type Mem struct {
	n     uint32
	err   error
	times []string // by ordinal
	// terms holds the postings of every term but event ids, one map per
	// field (string keys: the runtime's fast string-map paths).
	terms  [numFields + 1]map[string]memPosting
	ids    map[string]uint32
	dupIDs map[string][]uint32 // ids seen more than once: every ordinal

	// Time order: runs of ordinals each sorted by (time, ordinal), sizes
	// shrinking geometrically (merged like a binary counter), plus the
	// last < memBuffer ordinals unsorted.
	runs [][]uint32
	buf  []uint32
}

// memPosting is a term's postings in a Mem: its first ordinal, and a
// bitmap of all of them once it has more than one.
type memPosting struct {
	first uint32
	bm    *roaring.Bitmap
}

// NewMem returns an empty in-memory index.
func NewMem() *Mem {
	m := &Mem{
		ids:    make(map[string]uint32),
		dupIDs: make(map[string][]uint32),
	}
	for f := FieldTenant; f < FieldEventID; f++ {
		m.terms[f] = make(map[string]memPosting)
	}
	return m
}

// Reserve sizes an empty Mem for about n events: the event-id map and the
// time column are allocated once at that size instead of growing (a map
// that grows rehashes every key it holds, each time it doubles). It does
// nothing once an event was added, or for n <= 0.
func (m *Mem) Reserve(n int) {
	if m.n != 0 || n <= 0 {
		return
	}
	m.ids = make(map[string]uint32, n)
	m.times = make([]string, 0, n)
}

// Len returns the number of events added.
func (m *Mem) Len() int { return int(m.n) }

// Add indexes the event with ordinal ord, which must equal Len(). A wrong
// ordinal or an unknown field poisons the Mem: every later call returns
// the error (wrapping ErrOrdinals or ErrField).
func (m *Mem) Add(ord uint32, time string, terms []Term) {
	if m.err != nil {
		return
	}
	if ord != m.n || m.n == 1<<32-1 {
		m.err = fmt.Errorf("index: mem add ordinal %d, want %d: %w", ord, m.n, ErrOrdinals)
		return
	}
	for _, t := range terms {
		if !t.Field.valid() {
			m.err = fmt.Errorf("index: mem add ordinal %d: %w %d", ord, ErrField, t.Field)
			return
		}
	}
	m.n++
	m.times = append(m.times, time)
	for _, t := range terms {
		if t.Field == FieldEventID {
			if first, ok := m.ids[t.Value]; !ok {
				m.ids[t.Value] = ord
			} else if first != ord {
				l := m.dupIDs[t.Value]
				if len(l) == 0 {
					l = append(l, first)
				}
				if l[len(l)-1] != ord {
					m.dupIDs[t.Value] = append(l, ord)
				}
			}
			continue
		}
		ps := m.terms[t.Field]
		p, ok := ps[t.Value]
		switch {
		case !ok:
			ps[t.Value] = memPosting{first: ord}
		case p.bm != nil:
			p.bm.Add(ord)
		case p.first != ord:
			ps[t.Value] = memPosting{first: p.first, bm: roaring.BitmapOf(p.first, ord)}
		}
	}
	m.buf = append(m.buf, ord)
	if len(m.buf) == memBuffer {
		m.flush()
	}
}

func (m *Mem) less(a, b uint32) bool {
	if c := strings.Compare(m.times[a], m.times[b]); c != 0 {
		return c < 0
	}
	return a < b
}

func (m *Mem) cmp(a, b uint32) int {
	if c := strings.Compare(m.times[a], m.times[b]); c != 0 {
		return c
	}
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

// flush sorts the buffer into a run and merges runs of similar size.
func (m *Mem) flush() {
	run := slices.Clone(m.buf)
	slices.SortFunc(run, m.cmp)
	m.buf = m.buf[:0]
	m.runs = append(m.runs, run)
	for k := len(m.runs); k >= 2 && len(m.runs[k-2]) <= 2*len(m.runs[k-1]); k = len(m.runs) {
		m.runs[k-2] = m.merge(m.runs[k-2], m.runs[k-1])
		m.runs = m.runs[:k-1]
	}
}

// merge merges two sorted runs, copying stretches found by galloping so
// that mostly-ordered input costs little more than a copy.
func (m *Mem) merge(a, b []uint32) []uint32 {
	out := make([]uint32, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		// Take a's elements <= b[0] (ties cannot occur: ordinals differ).
		i := m.gallop(a, b[0])
		out = append(out, a[:i]...)
		a = a[i:]
		if len(a) == 0 {
			break
		}
		j := m.gallop(b, a[0])
		out = append(out, b[:j]...)
		b = b[j:]
	}
	out = append(out, a...)
	out = append(out, b...)
	return out
}

// gallop returns how many leading elements of s sort before x.
func (m *Mem) gallop(s []uint32, x uint32) int {
	hi := 1
	for hi <= len(s) && m.less(s[hi-1], x) {
		hi *= 2
	}
	lo := hi / 2
	hi = min(hi, len(s))
	// s[:lo] < x; answer in [lo, hi].
	for lo < hi {
		mid := lo + (hi-lo)/2
		if m.less(s[mid], x) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// Postings returns a copy of term t's ordinals (empty when absent). For
// FieldEventID the answer is exact.
func (m *Mem) Postings(t Term) (*roaring.Bitmap, error) {
	if m.err != nil {
		return nil, m.err
	}
	if !t.Field.valid() {
		return nil, fmt.Errorf("index: mem postings: %w %d", ErrField, t.Field)
	}
	if t.Field == FieldEventID {
		ords, _ := m.EventID(t.Value)
		return roaring.BitmapOf(ords...), nil
	}
	if p, ok := m.terms[t.Field][t.Value]; ok {
		if p.bm != nil {
			return p.bm.Clone(), nil
		}
		return roaring.BitmapOf(p.first), nil
	}
	return roaring.New(), nil
}

// FieldRanks sets ranks[o], for every ordinal o < len(ranks) with a term
// of field f (not FieldEventID), to 1 + the rank of that term's value
// among the field's distinct values in byte-wise order; the other entries
// are left as they are. It returns how many distinct values the field
// has. It is meant for fields with at most one term per event (tenant,
// kind): an ordinal with several gets the rank of its greatest value. It
// costs a sort of the distinct values and a pass over their postings,
// with no map lookup or string comparison per ordinal.
func (m *Mem) FieldRanks(f Field, ranks []uint32) (int, error) {
	if m.err != nil {
		return 0, m.err
	}
	if !f.valid() || f == FieldEventID {
		return 0, fmt.Errorf("index: mem field ranks: %w %d", ErrField, f)
	}
	ps := m.terms[f]
	values := make([]string, 0, len(ps))
	for v := range ps {
		values = append(values, v)
	}
	slices.Sort(values)
	var buf []uint32
	for i, v := range values {
		r := uint32(i + 1)
		p := ps[v]
		if p.bm == nil {
			if int(p.first) < len(ranks) {
				ranks[p.first] = r
			}
			continue
		}
		if buf == nil {
			buf = make([]uint32, 256)
		}
		it := p.bm.ManyIterator()
		for k := it.NextMany(buf); k > 0; k = it.NextMany(buf) {
			for _, o := range buf[:k] {
				if int(o) < len(ranks) {
					ranks[o] = r
				}
			}
		}
	}
	return len(values), nil
}

// TimeRange returns the ordinals whose time lies in [*start, *end] (nil
// bound = open, inverted = nothing). Cost: a binary search per run plus
// the size of the answer plus at most memBuffer comparisons.
func (m *Mem) TimeRange(start, end *string) (*roaring.Bitmap, error) {
	if m.err != nil {
		return nil, m.err
	}
	bm := roaring.New()
	if start != nil && end != nil && *start > *end {
		return bm, nil
	}
	if start == nil && end == nil {
		bm.AddRange(0, uint64(m.n))
		return bm, nil
	}
	in := func(t string) bool {
		return (start == nil || *start <= t) && (end == nil || t <= *end)
	}
	var rb rangeBuilder
	for _, run := range m.runs {
		lo, hi := 0, len(run)
		if start != nil {
			lo, _ = slices.BinarySearchFunc(run, *start, func(o uint32, s string) int {
				if m.times[o] < s {
					return -1
				}
				return 1
			})
		}
		if end != nil {
			hi, _ = slices.BinarySearchFunc(run, *end, func(o uint32, e string) int {
				if m.times[o] <= e {
					return -1
				}
				return 1
			})
		}
		rb.addOrds(run[lo:hi])
	}
	for _, o := range m.buf {
		if in(m.times[o]) {
			rb.add(uint64(o), uint64(o)+1)
		}
	}
	return rb.bitmap(), nil
}

// EventID returns the ordinals of events with exactly this id,
// ascending (nil when none).
func (m *Mem) EventID(id string) ([]uint32, error) {
	if m.err != nil {
		return nil, m.err
	}
	if l, ok := m.dupIDs[id]; ok {
		return slices.Clone(l), nil
	}
	if o, ok := m.ids[id]; ok {
		return []uint32{o}, nil
	}
	return nil, nil
}

// Encode returns the sealed index file for everything added, byte for
// byte what a Builder given the same Adds would produce, without
// re-extracting or re-hashing the terms. It only reads m.
func (m *Mem) Encode() ([]byte, error) {
	if m.err != nil {
		return nil, m.err
	}
	nterms := 0
	for _, ps := range m.terms {
		nterms += len(ps)
	}
	b := &Builder{
		terms: make(map[Term]int, nterms),
		lists: make([][]uint32, 0, nterms),
		times: make([]ordTime, len(m.times)),
		ids:   make([]idEntry, 0, len(m.ids)),
	}
	for i, t := range m.times {
		b.times[i] = ordTime{ord: uint32(i), time: t}
	}
	for f, ps := range m.terms {
		for v, p := range ps {
			b.terms[Term{Field: Field(f), Value: v}] = len(b.lists)
			if p.bm != nil {
				b.lists = append(b.lists, p.bm.ToArray())
			} else {
				b.lists = append(b.lists, []uint32{p.first})
			}
		}
	}
	for id, o := range m.ids {
		h := hashString(id)
		if dups, ok := m.dupIDs[id]; ok {
			for _, d := range dups {
				b.ids = append(b.ids, idEntry{h: h, ord: d})
			}
			continue
		}
		b.ids = append(b.ids, idEntry{h: h, ord: o})
	}
	return b.Encode()
}
