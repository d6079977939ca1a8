package index

import (
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// Source is what Eval queries: a sealed Index or the in-memory Mem. Both
// return bitmaps the caller owns.
type Source interface {
	Postings(Term) (*roaring.Bitmap, error)
	TimeRange(start, end *string) (*roaring.Bitmap, error)
}

var (
	_ Source = (*Index)(nil)
	_ Source = (*Mem)(nil)
)

// Query is a conjunction of disjunctions plus an inclusive time range.
type Query struct {
	// All: an event matches when, for every non-empty inner slice, it has
	// at least one of that slice's terms. Empty inner slices are ignored.
	All [][]Term
	// Start, End bound occurred_at inclusively (byte-wise); nil is open.
	// Start > End matches nothing.
	Start, End *string
}

// Iterator yields ascending ordinals.
type Iterator interface {
	// Next returns the next ordinal, or ok == false when exhausted.
	Next() (ord uint32, ok bool)
	// Seek makes the next Next return an ordinal >= ord (if any).
	Seek(ord uint32)
}

// Eval evaluates q over src, whose ordinals are 0..n-1 (results are
// clipped to that range). It fetches each clause's postings (an OR-set is
// unioned), fetches the time range as one more clause, orders the
// clauses by cardinality and returns a lazy leapfrog intersection driven
// by the most selective one: a caller that stops after k results pays for
// about k steps of it. A query with no clauses and no bounds yields
// 0..n-1. The iterator owns its bitmaps and does not touch src again.
func Eval(src Source, q Query, n uint32) (Iterator, error) {
	var sets []*roaring.Bitmap
	for _, clause := range q.All {
		if len(clause) == 0 {
			continue
		}
		var bm *roaring.Bitmap
		if len(clause) == 1 {
			var err error
			if bm, err = src.Postings(clause[0]); err != nil {
				return nil, err
			}
		} else {
			parts := make([]*roaring.Bitmap, 0, len(clause))
			for _, t := range clause {
				p, err := src.Postings(t)
				if err != nil {
					return nil, err
				}
				if p != nil && !p.IsEmpty() {
					parts = append(parts, p)
				}
			}
			bm = roaring.FastOr(parts...)
		}
		if bm == nil || bm.IsEmpty() {
			return emptyIter{}, nil
		}
		sets = append(sets, bm)
	}
	if q.Start != nil || q.End != nil {
		if q.Start != nil && q.End != nil && *q.Start > *q.End {
			return emptyIter{}, nil
		}
		bm, err := src.TimeRange(q.Start, q.End)
		if err != nil {
			return nil, err
		}
		if bm == nil || bm.IsEmpty() {
			return emptyIter{}, nil
		}
		sets = append(sets, bm)
	}
	if len(sets) == 0 {
		return &rangeIter{next: 0, end: uint64(n)}, nil
	}
	type sized struct {
		bm   *roaring.Bitmap
		card uint64
	}
	ss := make([]sized, len(sets))
	for i, bm := range sets {
		ss[i] = sized{bm, bm.GetCardinality()}
	}
	slices.SortStableFunc(ss, func(a, b sized) int {
		switch {
		case a.card < b.card:
			return -1
		case a.card > b.card:
			return 1
		}
		return 0
	})
	if len(ss) == 1 {
		return &oneIter{it: ss[0].bm.Iterator(), end: uint64(n)}, nil
	}
	it := &andIter{end: uint64(n), its: make([]roaring.IntPeekable, len(ss))}
	for i, s := range ss {
		it.its[i] = s.bm.Iterator()
	}
	return it, nil
}

type emptyIter struct{}

func (emptyIter) Next() (uint32, bool) { return 0, false }
func (emptyIter) Seek(uint32)          {}

// rangeIter yields next..end-1.
type rangeIter struct{ next, end uint64 }

func (r *rangeIter) Next() (uint32, bool) {
	if r.next >= r.end {
		return 0, false
	}
	v := r.next
	r.next++
	return uint32(v), true
}

func (r *rangeIter) Seek(ord uint32) { r.next = max(r.next, uint64(ord)) }

// oneIter walks a single bitmap.
type oneIter struct {
	it  roaring.IntPeekable
	end uint64
}

func (o *oneIter) Next() (uint32, bool) {
	if !o.it.HasNext() {
		return 0, false
	}
	x := o.it.Next()
	if uint64(x) >= o.end {
		o.end = 0 // exhausted for good
		return 0, false
	}
	return x, true
}

func (o *oneIter) Seek(ord uint32) { o.it.AdvanceIfNeeded(ord) }

// andIter is a leapfrog intersection over bitmap iterators, the first
// (smallest) one leading.
type andIter struct {
	its    []roaring.IntPeekable
	target uint64 // next result must be >= target
	end    uint64 // results must be < end
	done   bool
}

func (a *andIter) Seek(ord uint32) { a.target = max(a.target, uint64(ord)) }

func (a *andIter) Next() (uint32, bool) {
	if a.done {
		return 0, false
	}
	for {
		if a.target >= a.end {
			a.done = true
			return 0, false
		}
		lead := a.its[0]
		lead.AdvanceIfNeeded(uint32(a.target))
		if !lead.HasNext() {
			a.done = true
			return 0, false
		}
		x := lead.PeekNext()
		if uint64(x) >= a.end {
			a.done = true
			return 0, false
		}
		match := true
		for _, it := range a.its[1:] {
			it.AdvanceIfNeeded(x)
			if !it.HasNext() {
				a.done = true
				return 0, false
			}
			if y := it.PeekNext(); y != x {
				a.target = uint64(y)
				match = false
				break
			}
		}
		if match {
			a.target = uint64(x) + 1
			return x, true
		}
	}
}
