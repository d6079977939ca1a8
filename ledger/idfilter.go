package ledger

import (
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/exledger/exledger/index"
)

// idFilter is a ledger-wide Bloom filter over the event ids of every sealed
// segment, so the duplicate check of an append costs one probe instead of
// one probe per segment. It only ever answers "certainly not sealed" or
// "maybe": a maybe falls back to the per-segment indexes, which are exact.
//
// It is built in the background after Open from the segments' event-id
// tables (until then, ready is false and every lookup falls back), and every
// seal adds its ids before the segment replaces its memtable. Ids are never
// removed (compaction keeps them; retention leaves stale bits, which only
// cost a fallback). It grows by adding filters of twice the capacity.
type idFilter struct {
	mu      sync.RWMutex
	filters []*bloom32
	ready   atomic.Bool
}

// bloom32 is a blocked Bloom filter over 32-bit hashes: each key sets k
// bits inside one 512-bit block (one cache line).
type bloom32 struct {
	blocks [][8]uint64
	n, cap int
}

const bloomK = 7

func newBloom32(capacity int) *bloom32 {
	// About 12 bits per key.
	nb := max(1, capacity*12/512)
	return &bloom32{blocks: make([][8]uint64, nb), cap: capacity}
}

func mix32(h uint32) uint64 {
	x := uint64(h) + 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (b *bloom32) add(h uint32) {
	x := mix32(h)
	blk := &b.blocks[(x>>32)*uint64(len(b.blocks))>>32]
	for i := 0; i < bloomK; i++ {
		bit := x & 511
		blk[bit>>6] |= 1 << (bit & 63)
		x = bits.RotateLeft64(x, 9) // next 9 bits
	}
	b.n++
}

func (b *bloom32) has(h uint32) bool {
	x := mix32(h)
	blk := &b.blocks[(x>>32)*uint64(len(b.blocks))>>32]
	for i := 0; i < bloomK; i++ {
		bit := x & 511
		if blk[bit>>6]&(1<<(bit&63)) == 0 {
			return false
		}
		x = bits.RotateLeft64(x, 9)
	}
	return true
}

func (f *idFilter) add(hs []uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, h := range hs {
		if len(f.filters) == 0 || f.filters[len(f.filters)-1].n >= f.filters[len(f.filters)-1].cap {
			c := 1 << 20
			if k := len(f.filters); k > 0 {
				c = 2 * f.filters[k-1].cap
			}
			f.filters = append(f.filters, newBloom32(c))
		}
		f.filters[len(f.filters)-1].add(h)
	}
}

// reserve makes the first filter hold n ids (at least the usual first
// size) when none exists yet, so that a large ledger's filter is built
// once at its size instead of by doubling (which leaves up to twice the
// memory in smaller filters).
func (f *idFilter) reserve(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.filters) == 0 {
		f.filters = append(f.filters, newBloom32(max(n, 1<<20)))
	}
}

// maySealed reports whether an id may be in a sealed segment. Before the
// filter is built it always says maybe.
func (f *idFilter) maySealed(h uint32) bool {
	if !f.ready.Load() {
		return true
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, b := range f.filters {
		if b.has(h) {
			return true
		}
	}
	return false
}

// build adds the ids of the given segments and marks the filter ready.
// Segments sealed meanwhile are added by the sealer itself.
func (f *idFilter) build(segs []*sealedSeg, stop <-chan struct{}) error {
	var total int
	for _, s := range segs {
		total += int(s.info.Count)
	}
	f.reserve(total + total/4)
	buf := make([]uint32, 0, 1<<16)
	for _, s := range segs {
		select {
		case <-stop:
			return nil
		default:
		}
		buf = buf[:0]
		if err := s.ix.EventIDHashes(func(h uint32) { buf = append(buf, h) }); err != nil {
			return err
		}
		f.add(buf)
	}
	f.ready.Store(true)
	return nil
}

func eventIDHash(id EventID) uint32 { return index.EventIDHash32(string(id)) }
