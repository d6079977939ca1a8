package ledger

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exledger/exledger/index"
)

// idFilter is a ledger-wide Bloom filter over the event ids of every sealed
// segment, so the duplicate check of an append costs one probe instead of
// one probe per segment. It only ever answers "certainly not sealed" or
// "maybe": a maybe falls back to the per-segment indexes, which are exact.
//
// Its keys are the leading bits of the ids' 64-bit hashes that the
// segments' event-id tables keep (index.EventIDPrefixBits: 32 plus the
// table's bucket bits, 45 for a segment of 100k events), not 32-bit
// hashes: with 32-bit keys about N/2³² of new ids collide with one of N
// sealed ids (2.3% at 100M), each such "maybe" probing every segment, so
// the append's cost grew with the ledger. With b-bit keys the collisions
// are N/2^b (3·10⁻⁶ at 100M, b = 45) and the false-positive rate is the
// Bloom filter's own (~0.5% at 12 bits per key), whatever the size. The
// memory is the same (12 bits per id). Ids with different prefix lengths
// go to different filters (one per length, the length is a filter's);
// a lookup probes each.
//
// It is built lazily: not at Open (at 100M events it takes ~179 MB and
// ~13 s of CPU, which a process that only reads would pay for nothing),
// but in the background from the first append whose duplicate check
// reaches the sealed segments (start, called by prepare), from the
// segments' event-id tables as of that batch. Until the build ends, ready
// is false and every lookup falls back to the per-segment indexes (exact,
// as before the filter existed); a lookup never sees a half-built filter.
// Every seal adds its ids before the segment replaces its memtable,
// whether or not the build has started, so a segment the build's snapshot
// lacks is covered by its seal. Ids are never removed (compaction keeps
// them; retention leaves stale bits, which only cost a fallback). It
// grows by adding filters of twice the capacity.
type idFilter struct {
	mu      sync.RWMutex
	filters []*bloomPrefix
	ready   atomic.Bool
	// started is set once, by the first caller of start (or by a test).
	started atomic.Bool
	// afterSeg, if set (tests), is called by build after each segment's
	// ids are added, with the number of segments done.
	afterSeg func(done int)
}

// bloomBlocks is a blocked Bloom filter over 64-bit keys: each key sets
// bloomK bits inside one 512-bit block (one cache line), about 12 bits per
// key at capacity.
type bloomBlocks struct {
	blocks [][8]uint64
	n, cap int
}

const bloomK = 7

func newBloomBlocks(capacity int) bloomBlocks {
	nb := max(1, capacity*12/512)
	return bloomBlocks{blocks: make([][8]uint64, nb), cap: capacity}
}

func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func (b *bloomBlocks) add(key uint64) {
	x := mix64(key)
	blk := &b.blocks[(x>>32)*uint64(len(b.blocks))>>32]
	for i := 0; i < bloomK; i++ {
		bit := x & 511
		blk[bit>>6] |= 1 << (bit & 63)
		x = bits.RotateLeft64(x, 9) // next 9 bits
	}
	b.n++
}

func (b *bloomBlocks) has(key uint64) bool {
	x := mix64(key)
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

// bloomPrefix is a blocked Bloom filter over the leading bits bits of
// 64-bit id hashes (the other bits are ignored).
type bloomPrefix struct {
	bloomBlocks
	mask uint64 // the leading bits bits
	bits uint8
}

func newBloomPrefix(capacity int, bits uint8) *bloomPrefix {
	return &bloomPrefix{bloomBlocks: newBloomBlocks(capacity), bits: bits, mask: ^uint64(0) << (64 - bits)}
}

func (b *bloomPrefix) add(h uint64)      { b.bloomBlocks.add(h & b.mask) }
func (b *bloomPrefix) has(h uint64) bool { return b.bloomBlocks.has(h & b.mask) }

// bloom32 is a blocked Bloom filter over 32-bit hashes (the memtable's ids).
type bloom32 struct{ bloomBlocks }

func newBloom32(capacity int) *bloom32 { return &bloom32{newBloomBlocks(capacity)} }

func (b *bloom32) add(h uint32)      { b.bloomBlocks.add(uint64(h)) }
func (b *bloom32) has(h uint32) bool { return b.bloomBlocks.has(uint64(h)) }

// add adds ids given by the leading bits bits of their 64-bit hashes (the
// other bits are ignored) to the filter of that prefix length, growing it
// by a filter of twice the capacity when it is full.
func (f *idFilter) add(bits uint8, hs []uint64) {
	bits = min(max(bits, 1), 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	var last *bloomPrefix
	for _, b := range f.filters {
		if b.bits == bits {
			last = b
		}
	}
	for _, h := range hs {
		if last == nil || last.n >= last.cap {
			c := 1 << 20
			switch {
			case last != nil:
				c = 2 * last.cap
			case len(f.filters) > 0:
				// Another prefix length has the bulk of the ids.
				c = 1 << 16
			}
			last = newBloomPrefix(c, bits)
			f.filters = append(f.filters, last)
		}
		last.add(h)
	}
}

// reserve makes room for n more ids of prefix length bits in one filter
// when the filter that length's ids go to (the last of that length) has
// less room, so that a large ledger's filter is built once at its size
// instead of by doubling (which leaves up to twice the memory in smaller
// filters), even when seals created a small filter of that length first.
func (f *idFilter) reserve(bits uint8, n int) {
	bits = min(max(bits, 1), 64)
	f.mu.Lock()
	defer f.mu.Unlock()
	room := 0
	for _, b := range f.filters {
		if b.bits == bits {
			room = b.cap - b.n
		}
	}
	if room >= n {
		return
	}
	f.filters = append(f.filters, newBloomPrefix(max(n, 1<<10), bits))
}

// maySealed reports whether an id with this 64-bit hash
// (index.EventIDHash64) may be in a sealed segment. Before the filter is
// built it always says maybe.
func (f *idFilter) maySealed(h uint64) bool {
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
// Segments sealed meanwhile are added by the sealer itself; segments that
// Compact writes meanwhile hold ids of segs or of those. It returns early,
// the filter not ready, when stop is closed.
func (f *idFilter) build(segs []*sealedSeg, stop <-chan struct{}) error {
	// One filter per prefix length, sized for the segments expected to
	// have it (a segment whose table has another length adds to that
	// length's filter, which grows).
	total := map[uint8]int{}
	for _, s := range segs {
		total[index.EventIDPrefixBits(int(s.info.Count))] += int(s.info.Count)
	}
	for bits, n := range total {
		f.reserve(bits, n+n/4)
	}
	buf := make([]uint64, 0, 1<<16)
	for i, s := range segs {
		select {
		case <-stop:
			return nil
		default:
		}
		var bits uint8
		var err error
		if buf, bits, err = s.ix.EventIDHashPrefixes(buf[:0]); err != nil {
			return err
		}
		f.add(bits, buf)
		if f.afterSeg != nil {
			f.afterSeg(i + 1)
		}
	}
	f.ready.Store(true)
	return nil
}

// startIDFilter starts the build of the ledger-wide event-id filter in the
// background, once: prepare calls it when a batch's duplicate check meets
// sealed segments, with the segments of its view (segs). Until the build
// ends, lookups fall back to the per-segment indexes. Nothing is started
// once Close has begun.
func (l *Ledger) startIDFilter(set *segSet) {
	if l.ids.started.Load() || !l.ids.started.CompareAndSwap(false, true) {
		return
	}
	l.bgMu.Lock()
	defer l.bgMu.Unlock()
	if l.closed.Load() {
		return
	}
	segs := set.segs
	set.refs.Add(1) // the build reads the segments' indexes
	l.bgWG.Add(1)
	go func() {
		defer l.bgWG.Done()
		defer l.releaseSegs(set)
		t := time.Now()
		if err := l.ids.build(segs, l.stop); err != nil {
			l.log.Warn("event-id filter not built; duplicate checks probe every segment", "err", err)
			return
		}
		if l.ids.ready.Load() {
			l.log.Debug("event-id filter built", "segments", len(segs), "took", time.Since(t))
		}
	}()
}

// eventIDHash is the 64-bit hash of an event id: the ledger-wide filter
// takes its leading bits, a memtable's filter its top 32 (memtableIDHash).
func eventIDHash(id EventID) uint64 { return index.EventIDHash64(string(id)) }

// memtableIDHash is the key of a memtable's id filter: the top 32 bits of
// the id's 64-bit hash (a memtable holds at most a segment's events).
func memtableIDHash(h uint64) uint32 { return uint32(h >> 32) }
