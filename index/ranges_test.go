package index

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestRangeBuilder(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for iter := range 300 {
		span := uint64(1 + r.IntN(400000))
		set := make([]bool, span)
		var rb rangeBuilder
		// Random disjoint intervals: cut [0, span) into pieces and keep some.
		var pieces []ordRange
		for s := uint64(0); s < span; {
			var l uint64
			switch r.IntN(3) {
			case 0:
				l = 1
			case 1:
				l = uint64(1 + r.IntN(20))
			default:
				l = uint64(1 + r.IntN(1+iter*300))
			}
			e := min(s+l, span)
			if r.IntN(2) == 0 {
				pieces = append(pieces, ordRange{s, e})
				for i := s; i < e; i++ {
					set[i] = true
				}
			}
			s = e
		}
		r.Shuffle(len(pieces), func(i, j int) { pieces[i], pieces[j] = pieces[j], pieces[i] })
		for _, p := range pieces {
			rb.add(p.start, p.end)
		}
		got := rb.bitmap().ToArray()
		var want []uint32
		for i, ok := range set {
			if ok {
				want = append(want, uint32(i))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("iteration %d: got %d values, want %d", iter, len(got), len(want))
		}
	}
}
