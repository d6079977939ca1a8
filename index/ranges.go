package index

import (
	"cmp"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
)

// ordRange is a half-open interval of ordinals [start, end).
type ordRange struct{ start, end uint64 }

// rangeBuilder turns disjoint intervals, given in any order, into a
// bitmap in O(k log k + containers) time. Adding many intervals one by one
// with Bitmap.AddRange is quadratic inside a run container; here each
// 2^16-ordinal chunk is built once, as ranges, an array or a dense block.
type rangeBuilder struct {
	iv    []ordRange
	vals  []uint32
	words []uint64
}

func (b *rangeBuilder) add(start, end uint64) {
	if start >= end {
		return
	}
	if n := len(b.iv); n > 0 && b.iv[n-1].end == start {
		b.iv[n-1].end = end // extend: common when times follow ordinals
		return
	}
	b.iv = append(b.iv, ordRange{start, end})
}

// addOrds adds single ordinals, coalescing consecutive ones.
func (b *rangeBuilder) addOrds(ords []uint32) {
	for _, o := range ords {
		b.add(uint64(o), uint64(o)+1)
	}
}

const chunkBits = 16

func (b *rangeBuilder) bitmap() *roaring.Bitmap {
	bm := roaring.New()
	if len(b.iv) == 0 {
		return bm
	}
	slices.SortFunc(b.iv, func(x, y ordRange) int { return cmp.Compare(x.start, y.start) })
	// Merge touching intervals after sorting.
	out := b.iv[:1]
	for _, r := range b.iv[1:] {
		if last := &out[len(out)-1]; r.start <= last.end {
			last.end = max(last.end, r.end)
		} else {
			out = append(out, r)
		}
	}
	iv := out
	for len(iv) > 0 {
		chunk := iv[0].start >> chunkBits
		lo, hi := chunk<<chunkBits, (chunk+1)<<chunkBits
		// Intervals (clipped) that touch this chunk.
		n, card := 0, uint64(0)
		for n < len(iv) && iv[n].start < hi {
			card += min(iv[n].end, hi) - max(iv[n].start, lo)
			n++
		}
		switch {
		case n <= 4:
			for _, r := range iv[:n] {
				bm.AddRange(max(r.start, lo), min(r.end, hi))
			}
		case card <= 4096:
			b.vals = b.vals[:0]
			for _, r := range iv[:n] {
				for v := max(r.start, lo); v < min(r.end, hi); v++ {
					b.vals = append(b.vals, uint32(v))
				}
			}
			bm.AddMany(b.vals)
		default:
			if b.words == nil {
				b.words = make([]uint64, 1<<chunkBits/64)
			}
			clear(b.words)
			for _, r := range iv[:n] {
				s, e := max(r.start, lo)-lo, min(r.end, hi)-lo
				for s < e {
					w, bit := s/64, s%64
					span := min(64-bit, e-s)
					mask := ^uint64(0)
					if span < 64 {
						mask = (1<<span - 1) << bit
					}
					b.words[w] |= mask
					s += span
				}
			}
			part := roaring.FromDense(b.words, true)
			bm.Or(roaring.AddOffset64(part, int64(lo)))
		}
		// The last interval may continue into the next chunk.
		if last := iv[n-1]; last.end > hi {
			iv = iv[n-1:]
			iv[0].start = hi
		} else {
			iv = iv[n:]
		}
	}
	return bm
}
