package index

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/exledger/exledger/internal/lru"
)

// chunkAdmit is the longest read, in chunks, whose chunks a Cache admits:
// the restart blocks and the posting lists of lookups (a tenant's or a
// kind's list in a 110,000-event segment is a few 8 KiB bitmap
// containers), which the next queries touch again. A longer read (a list
// over 64 KiB) is verified, used and forgotten, so that it does not push
// those out.
const chunkAdmit = 16

// wholeAfter: once the lookups of one index have needed a quarter of its
// distinct chunks (a file in which many distinct terms are looked up,
// such as the newest segments under trace-link lookups), the next read
// from the file reads the whole region in one read and keeps every
// chunk: the cost of version 1's whole-section load, paid once and only
// by files that use that much of it. Chunks read again after an eviction
// do not count, so a cache too small for a workload's chunks does not
// turn into whole-file reads.
const wholeAfter = 4

// chunkTable is the loaded chunk checksums section of a version 2 file
// (see doc.go), with one slot per chunk for its verified bytes. The
// dictionary and postings sections are read through it chunk by chunk:
// every chunk is checked against its checksum when it is read, and a
// chunk is kept only in its slot (bounded by the Index's Cache, if any).
// The table itself (8 bytes of checksum and ~40 bytes of slot per 4 KiB
// of those sections) is kept for the life of the Index.
type chunkTable struct {
	sums   []byte // n x xxhash64
	slots  []chunkSlot
	region int64 // bytes covered: dictionary + postings
	// distinct counts the chunks ever read from the file; whole is set
	// once the region was read whole (see wholeAfter).
	distinct atomic.Int64
	whole    atomic.Bool
}

type chunkSlot struct {
	b    atomic.Pointer[[]byte]
	seen atomic.Bool // read from the file at least once
	ent  lru.Entry
}

func (ix *Index) loadChunks() (*chunkTable, error) {
	return ix.chunks.get(nil, 0, func() (*chunkTable, error) {
		b, err := ix.section(secChunks)
		if err != nil {
			return nil, err
		}
		t := &chunkTable{region: ix.secs[secDict].len + ix.secs[secPostings].len}
		n := (t.region + chunkSize - 1) / chunkSize
		d := dec{b: b}
		if size := d.u32(); !d.bad && size != chunkSize {
			d.setFail("unsupported chunk size")
		}
		if cnt := d.u32(); !d.bad && int64(cnt) != n {
			d.setFail("chunk count does not match the dictionary and postings")
		}
		t.sums = d.bytes(uint64(n) * 8) // n is bounded by init's size check
		if !d.bad && d.remaining() != 0 {
			d.setFail("trailing bytes")
		}
		if d.bad {
			return nil, ix.secCorrupt(secChunks, d.off, d.fail)
		}
		t.slots = make([]chunkSlot, n)
		return t, nil
	})
}

// chunkCorrupt reports chunk c failing its checksum.
func (ix *Index) chunkCorrupt(c int64) *CorruptionError {
	start := c * chunkSize
	if dl := ix.secs[secDict].len; start < dl {
		return ix.corrupt(ix.secs[secDict].off+start, "dictionary section: chunk %d checksum mismatch", c)
	} else {
		return ix.corrupt(ix.secs[secPostings].off+start-dl, "postings section: chunk %d checksum mismatch", c)
	}
}

// admit keeps the verified bytes of chunk c in its slot: for good without
// a Cache, else until the Cache needs the room.
func (ix *Index) admit(t *chunkTable, c int64, b []byte) {
	s := &t.slots[c]
	if ix.cache == nil {
		s.b.Store(&b)
		return
	}
	// Drop is set on the first admission, under the cache's lock, which
	// is the only place that reads it.
	ix.cache.c.Insert(&s.ent, int64(len(b)), func() {
		if s.ent.Drop == nil {
			s.ent.Drop = func() { s.b.Store(nil) }
		}
		s.b.Store(&b)
	})
}

// regionBytes returns the n bytes at off of the region formed by the
// dictionary section followed by the postings section (the chunked
// region of a version 2 file), every chunk they touch verified against
// its checksum before any of it is returned. The caller checks that
// [off, off+n) lies within the region. Chunks are taken from their slots
// when held; otherwise the chunks covering the range are read in one
// read and, when keep is set and they are at most chunkAdmit, kept.
func (ix *Index) regionBytes(off, n int64, keep bool) ([]byte, error) {
	t, err := ix.loadChunks()
	if err != nil {
		return nil, err
	}
	if off < 0 || n < 0 || off > t.region || n > t.region-off {
		return nil, ix.corrupt(ix.secs[secDict].off+min(max(off, 0), t.region), "read of %d bytes at %d beyond the dictionary and postings", n, off)
	}
	if n == 0 {
		return nil, nil
	}
	c0, c1 := off>>chunkShift, (off+n-1)>>chunkShift
	if c0 == c1 {
		if p := t.slots[c0].b.Load(); p != nil {
			if ix.cache != nil {
				ix.cache.c.Touch(&t.slots[c0].ent)
			}
			o := off - c0*chunkSize
			return (*p)[o : o+n], nil
		}
	} else if held := ix.gather(t, off, n, c0, c1); held != nil {
		return held, nil
	}
	start, end := c0*chunkSize, min((c1+1)*chunkSize, t.region)
	if keep && !t.whole.Load() {
		fresh := int64(0)
		for c := c0; c <= c1; c++ {
			if !t.slots[c].seen.Swap(true) {
				fresh++
			}
		}
		if fresh > 0 && t.distinct.Add(fresh) > int64(len(t.slots))/wholeAfter && t.whole.CompareAndSwap(false, true) {
			start, end, c0, c1 = 0, t.region, 0, int64(len(t.slots))-1
		}
	}
	raw, err := ix.readAt(ix.secs[secDict].off+start, end-start)
	if err != nil {
		return nil, err
	}
	for c := c0; c <= c1; c++ {
		b := raw[c*chunkSize-start : min((c+1)*chunkSize, end)-start]
		if checksum(b) != binary.LittleEndian.Uint64(t.sums[c*8:]) {
			return nil, ix.chunkCorrupt(c)
		}
	}
	if keep && (c1-c0 < chunkAdmit || start == 0 && end == t.region) {
		for c := c0; c <= c1; c++ {
			b := raw[c*chunkSize-start : min((c+1)*chunkSize, end)-start]
			if ix.data == nil && c0 != c1 {
				b = append([]byte(nil), b...) // its own memory, as the cache accounts
			}
			ix.admit(t, c, b)
		}
	}
	return raw[off-start : off-start+n], nil
}

// gather copies [off, off+n) out of held chunks c0..c1, or returns nil if
// one of them is not held.
func (ix *Index) gather(t *chunkTable, off, n, c0, c1 int64) []byte {
	ps := make([]*[]byte, 0, c1-c0+1)
	for c := c0; c <= c1; c++ {
		p := t.slots[c].b.Load()
		if p == nil {
			return nil
		}
		ps = append(ps, p)
	}
	out := make([]byte, 0, n)
	for i, p := range ps {
		c := c0 + int64(i)
		lo := max(off-c*chunkSize, 0)
		hi := min(off+n-c*chunkSize, int64(len(*p)))
		out = append(out, (*p)[lo:hi]...)
		if ix.cache != nil {
			ix.cache.c.Touch(&t.slots[c].ent)
		}
	}
	return out
}

// verifyChunks checks every chunk of a version 2 file against its
// checksum (reading the region whole, without keeping it).
func (ix *Index) verifyChunks() error {
	if ix.version < 2 {
		return nil
	}
	t, err := ix.loadChunks()
	if err != nil {
		return err
	}
	for start := int64(0); start < t.region; start += 256 * chunkSize {
		n := min(256*chunkSize, t.region-start)
		raw, err := ix.readAt(ix.secs[secDict].off+start, n)
		if err != nil {
			return err
		}
		for o := int64(0); o < n; o += chunkSize {
			c := (start + o) / chunkSize
			if checksum(raw[o:min(o+chunkSize, n)]) != binary.LittleEndian.Uint64(t.sums[c*8:]) {
				return ix.chunkCorrupt(c)
			}
		}
	}
	return nil
}
