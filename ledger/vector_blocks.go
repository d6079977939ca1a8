package ledger

import (
	"encoding/binary"
	"io"
	"math"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// Layout 2 of a segment's vector file (docs/format.md §10.4), written
// since the manifest feature "vecblocks": a search reads only the blocks
// of rows it compares, and checks each against its own checksum, instead
// of reading (and keeping) the whole file. All integers little-endian:
//
//	header (56 bytes)
//	  0  8  magic "EXLVECS2"
//	  8  2  version (2)
//	 10  2  flags (0)
//	 12  4  dimension D (1..65536)
//	 16  8  events in the segment C
//	 24  8  vectors N (1..C)
//	 32  4  lists L (0: no approximate index)
//	 36  4  rows per block R (1..65536)
//	 40  8  directory length G
//	 48  8  xxhash64 of bytes 0..47
//	directory (G bytes)
//	  4N     row ordinals: the event (seq - first seq, < C) of each row;
//	         strictly increasing when L = 0, else distinct
//	  4LD    centroids (L > 0), float32, finite
//	  4(L+1) list offsets (L > 0): list c is rows off[c]..off[c+1]-1;
//	         off[0] = 0, non-decreasing, off[L] = N
//	  8B     xxhash64 of each block of rows (B = ceil(N/R))
//	  8      xxhash64 of the directory bytes above
//	rows (4ND bytes): N vectors of D float32, finite, nonzero norm; block b
//	is rows bR..min(N,(b+1)R)-1
//
// The file size is exactly 56 + G + 4ND. Rows are in event order without
// an index (what a seal writes) and grouped by list with one (what the
// background indexer writes), so a search reads the rows of the lists it
// probes as contiguous byte ranges.
const (
	vec2Magic      = "EXLVECS2"
	vec2Version    = 2
	vec2HeaderSize = 56
	// vecBlockBytes is the target size of a block of rows: a page, so
	// that a search that compares a few rows of a list (a filter's
	// candidates) reads and checks little more than those rows (one row
	// per block from 1,024 dimensions on; with 64 KiB blocks a tenant
	// filter of 1/8 of the events read every block of a probed list:
	// docs/benchmarks.md §15).
	vecBlockBytes = 4 << 10
	// featureVecBlocks is the manifest feature of ledgers that may hold
	// layout-2 vector files.
	featureVecBlocks = "vecblocks"
	// defaultVectorCacheBytes is VectorIndexOptions.CacheBytes' default:
	// the vector files of 100,000 vectors of 1,536 dimensions (614 MB)
	// fit, so that a filtered search of them compares cached rows
	// (docs/benchmarks.md §15.0, "Search defaults").
	defaultVectorCacheBytes = 1 << 30
)

func init() { registerFeature(featureVecBlocks) }

// vecBlockRows is the number of rows per block at dimension dim.
func vecBlockRows(dim int) int { return max(1, vecBlockBytes/(4*dim)) }

// vecRows describes the content of a layout-2 file to write.
type vecRows struct {
	dim    int
	count  uint64
	rowOrd []uint32              // ordinal of each row
	row    func(r int) []float32 // the vector of row r
	cents  []float32             // L*dim centroids (nil: no index)
	offs   []uint32              // L+1 list offsets
	// rows is the rows per block (0: vecBlockRows(dim), what is written;
	// tests re-encode files written with other sizes).
	rows int
}

// blockRows is the rows per block to write.
func (w *vecRows) blockRows() int {
	if w.rows > 0 {
		return w.rows
	}
	return vecBlockRows(w.dim)
}

// dirLen is the directory length G.
func (w *vecRows) dirLen() int {
	n := len(w.rowOrd)
	R := w.blockRows()
	g := 4*n + 8*((n+R-1)/R) + 8
	if len(w.offs) > 0 {
		g += 4*len(w.cents) + 4*len(w.offs)
	}
	return g
}

// size is the file's size.
func (w *vecRows) size() int64 {
	return int64(vec2HeaderSize+w.dirLen()) + 4*int64(len(w.rowOrd))*int64(w.dim)
}

// rowBytes appends row r as little-endian floats.
func (w *vecRows) rowBytes(dst []byte, r int) []byte { return appendFloats(dst, w.row(r)) }

// writeTo writes the file to out through a buffer of about one block:
// the rows are hashed in a first pass (the block checksums precede them),
// then written.
func (w *vecRows) writeTo(out io.Writer) error {
	n, R := len(w.rowOrd), w.blockRows()
	nb := (n + R - 1) / R
	sums := make([]uint64, nb)
	var d xxhash.Digest
	buf := make([]byte, 0, max(4*w.dim*R, 4096))
	for b := range nb {
		d.Reset()
		for r := b * R; r < min(n, (b+1)*R); r++ {
			if littleEndian {
				d.Write(floatBytes(w.row(r)))
			} else {
				d.Write(w.rowBytes(buf[:0], r))
			}
		}
		sums[b] = d.Sum64()
	}
	nl := 0
	if len(w.offs) > 0 {
		nl = len(w.offs) - 1
	}
	h := make([]byte, 0, vec2HeaderSize)
	h = append(h, vec2Magic...)
	h = binary.LittleEndian.AppendUint16(h, vec2Version)
	h = binary.LittleEndian.AppendUint16(h, 0)
	h = binary.LittleEndian.AppendUint32(h, uint32(w.dim))
	h = binary.LittleEndian.AppendUint64(h, w.count)
	h = binary.LittleEndian.AppendUint64(h, uint64(n))
	h = binary.LittleEndian.AppendUint32(h, uint32(nl))
	h = binary.LittleEndian.AppendUint32(h, uint32(R))
	h = binary.LittleEndian.AppendUint64(h, uint64(w.dirLen()))
	h = binary.LittleEndian.AppendUint64(h, xxhash.Sum64(h))
	if _, err := out.Write(h); err != nil {
		return err
	}
	dir := make([]byte, 0, w.dirLen())
	for _, o := range w.rowOrd {
		dir = binary.LittleEndian.AppendUint32(dir, o)
	}
	if nl > 0 {
		dir = appendFloats(dir, w.cents)
		for _, o := range w.offs {
			dir = binary.LittleEndian.AppendUint32(dir, o)
		}
	}
	for _, s := range sums {
		dir = binary.LittleEndian.AppendUint64(dir, s)
	}
	dir = binary.LittleEndian.AppendUint64(dir, xxhash.Sum64(dir))
	if _, err := out.Write(dir); err != nil {
		return err
	}
	for r := range n {
		if len(buf)+4*w.dim > cap(buf) {
			if _, err := out.Write(buf); err != nil {
				return err
			}
			buf = buf[:0]
		}
		buf = w.rowBytes(buf, r)
	}
	_, err := out.Write(buf)
	return err
}

// bytesOf encodes the file in memory.
func (w *vecRows) bytesOf() []byte {
	var b sliceWriter
	b.b = make([]byte, 0, w.size())
	w.writeTo(&b) // writes to memory cannot fail
	return b.b
}

type sliceWriter struct{ b []byte }

func (s *sliceWriter) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// ordinalRows is the vecRows of vectors in event order (no index).
func ordinalRows(dim int, count uint64, ords []uint32, data []float32) *vecRows {
	return &vecRows{dim: dim, count: count, rowOrd: ords, row: func(r int) []float32 { return data[r*dim : (r+1)*dim : (r+1)*dim] }}
}

// indexedRows is the vecRows of a set grouped by the lists of its index.
func indexedRows(vs *vecSet, a *annIndex) *vecRows {
	rowOrd := make([]uint32, len(a.members))
	for r, p := range a.members {
		rowOrd[r] = vs.ords[p]
	}
	return &vecRows{dim: vs.dim, count: vs.count, rowOrd: rowOrd, cents: a.cents, offs: a.offs,
		row: func(r int) []float32 { return vs.vec(int(a.members[r])) }}
}

// writeVecRows writes a layout-2 file atomically (temp, fsync, rename,
// directory fsync); with synced only, it creates path and fsyncs it (the
// caller renames it into place). On error nothing is left at path's temp
// name.
func writeVecRows(fsys vfs.FS, path string, w *vecRows, synced bool) error {
	tmp := path
	if !synced {
		tmp = path + ".tmp"
	}
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	err = w.writeTo(f)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && !synced {
		err = fsys.Rename(tmp, path)
		if err == nil {
			return fsys.SyncDir(filepath.Dir(path))
		}
	}
	if err != nil {
		fsys.Remove(tmp)
	}
	return err
}

// vecDir is the decoded header and directory of a layout-2 file.
type vecDir struct {
	dim, nlist, rowsPerBlock int
	count                    uint64
	rowOrd                   []uint32 // ordinal of each row
	ords                     []uint32 // the ordinals, sorted
	rowOf                    []uint32 // row of ords[i]
	cents                    []float32
	offs                     []uint32
	sums                     []uint64
	rowsOff                  int64 // file offset of row 0
	size                     int64
	annBytes                 int64 // centroids and list offsets
}

func (d *vecDir) n() int { return len(d.rowOrd) }

// blockOf returns the block of row r.
func (d *vecDir) blockOf(r int) int { return r / d.rowsPerBlock }

// blockRows returns the rows of block b.
func (d *vecDir) blockRows(b int) (lo, hi int) {
	return b * d.rowsPerBlock, min(d.n(), (b+1)*d.rowsPerBlock)
}

// find returns the row of ordinal o.
func (d *vecDir) find(o uint32) (int, bool) {
	i := sort.Search(len(d.ords), func(i int) bool { return d.ords[i] >= o })
	if i < len(d.ords) && d.ords[i] == o {
		return int(d.rowOf[i]), true
	}
	return 0, false
}

// isVec2 reports whether b starts with the layout-2 magic.
func isVec2(b []byte) bool { return len(b) >= 8 && string(b[:8]) == vec2Magic }

// decodeVecHeader2 checks a layout-2 header (hb: its 56 bytes) against the
// file size and what the manifest says (zeros: unknown) and returns the
// directory length.
func decodeVecHeader2(path string, hb []byte, size int64, wantDim int, wantCount, wantN uint64) (*vecDir, int64, error) {
	if len(hb) < vec2HeaderSize || size < vec2HeaderSize {
		return nil, 0, corrupt.New(path, 0, "vector file too short (%d bytes)", size)
	}
	if !isVec2(hb) {
		return nil, 0, corrupt.New(path, 0, "bad vector file magic")
	}
	if got, want := xxhash.Sum64(hb[:48]), binary.LittleEndian.Uint64(hb[48:]); got != want {
		return nil, 0, corrupt.New(path, 48, "vector file header checksum mismatch")
	}
	if v := binary.LittleEndian.Uint16(hb[8:]); v != vec2Version {
		return nil, 0, corrupt.New(path, 8, "vector file version %d", v)
	}
	if f := binary.LittleEndian.Uint16(hb[10:]); f != 0 {
		return nil, 0, corrupt.New(path, 10, "vector file flags %#x", f)
	}
	dim := uint64(binary.LittleEndian.Uint32(hb[12:]))
	count := binary.LittleEndian.Uint64(hb[16:])
	n := binary.LittleEndian.Uint64(hb[24:])
	nl := uint64(binary.LittleEndian.Uint32(hb[32:]))
	R := uint64(binary.LittleEndian.Uint32(hb[36:]))
	g := binary.LittleEndian.Uint64(hb[40:])
	us := uint64(size)
	if dim == 0 || dim > maxEmbeddingDim {
		return nil, 0, corrupt.New(path, 12, "vector dimension %d", dim)
	}
	if n == 0 || n > count || n > us/(4*dim) || R == 0 || R > 1<<16 || nl > n || g > us {
		return nil, 0, corrupt.New(path, 24, "%d vectors for %d events, %d lists, %d rows per block in %d bytes", n, count, nl, R, size)
	}
	nb := (n + R - 1) / R
	wantG := 4*n + 8*nb + 8
	if nl > 0 {
		if nl > us/(4*dim) {
			return nil, 0, corrupt.New(path, 32, "%d lists in %d bytes", nl, size)
		}
		wantG += 4*nl*dim + 4*(nl+1)
	}
	if g != wantG || vec2HeaderSize+g+4*n*dim != us {
		return nil, 0, corrupt.New(path, 40, "vector file is %d bytes, its header describes %d", size, vec2HeaderSize+wantG+4*n*dim)
	}
	if (wantDim != 0 && uint64(wantDim) != dim) || (wantCount != 0 && wantCount != count) || (wantN != 0 && wantN != n) {
		return nil, 0, corrupt.New(path, 12, "vector file holds %d vectors of dimension %d for %d events; the manifest says %d of dimension %d for %d",
			n, dim, count, wantN, wantDim, wantCount)
	}
	d := &vecDir{dim: int(dim), nlist: int(nl), rowsPerBlock: int(R), count: count, rowsOff: int64(vec2HeaderSize + g), size: size}
	if nl > 0 {
		d.annBytes = int64(4*nl*dim + 4*(nl+1))
	}
	return d, int64(g), nil
}

// decodeVecDir2 checks and decodes a directory (g: its bytes, at offset
// 56) into d. It allocates no more than g's length justifies.
func decodeVecDir2(path string, d *vecDir, g []byte) error {
	if len(g) < 8 {
		return corrupt.New(path, vec2HeaderSize, "vector file directory of %d bytes", len(g))
	}
	body := g[:len(g)-8]
	if got, want := xxhash.Sum64(body), binary.LittleEndian.Uint64(g[len(g)-8:]); got != want {
		return corrupt.New(path, vec2HeaderSize+int64(len(g)-8), "vector file directory checksum mismatch")
	}
	n := int((int64(d.size) - d.rowsOff) / 4 / int64(d.dim))
	off := 0
	at := func() int64 { return vec2HeaderSize + int64(off) }
	d.rowOrd = make([]uint32, n)
	for r := range d.rowOrd {
		o := binary.LittleEndian.Uint32(body[off:])
		if uint64(o) >= d.count || (d.nlist == 0 && r > 0 && o <= d.rowOrd[r-1]) {
			return corrupt.New(path, at(), "vector ordinal %d out of order or beyond %d events", o, d.count)
		}
		d.rowOrd[r] = o
		off += 4
	}
	// The sorted ordinals and the row of each (the rows are in event
	// order without an index).
	d.ords = d.rowOrd
	d.rowOf = make([]uint32, n)
	for i := range d.rowOf {
		d.rowOf[i] = uint32(i)
	}
	if d.nlist > 0 {
		slices.SortFunc(d.rowOf, func(a, b uint32) int { return int(int64(d.rowOrd[a]) - int64(d.rowOrd[b])) })
		d.ords = make([]uint32, n)
		for i, r := range d.rowOf {
			d.ords[i] = d.rowOrd[r]
			if i > 0 && d.ords[i] == d.ords[i-1] {
				return corrupt.New(path, vec2HeaderSize, "vector ordinal %d appears twice", d.ords[i])
			}
		}
		d.cents = make([]float32, d.nlist*d.dim)
		copyFloats(d.cents, body[off:])
		for i, x := range d.cents {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return corrupt.New(path, at()+4*int64(i), "approximate index centroid is not finite")
			}
		}
		off += 4 * len(d.cents)
		d.offs = make([]uint32, d.nlist+1)
		for i := range d.offs {
			o := binary.LittleEndian.Uint32(body[off:])
			if (i == 0 && o != 0) || (i > 0 && o < d.offs[i-1]) || int(o) > n || (i == d.nlist && int(o) != n) {
				return corrupt.New(path, at(), "approximate index list offset %d out of order", o)
			}
			d.offs[i] = o
			off += 4
		}
	}
	d.sums = make([]uint64, (n+d.rowsPerBlock-1)/d.rowsPerBlock)
	for i := range d.sums {
		d.sums[i] = binary.LittleEndian.Uint64(body[off:])
		off += 8
	}
	return nil
}

// decodeVec2 checks and decodes a whole layout-2 file (every block) into
// a vecSet in event order, with its approximate index if it has one.
func decodeVec2(path string, b []byte, wantDim int, wantCount, wantN uint64) (*vecSet, error) {
	d, g, err := decodeVecHeader2(path, b, int64(len(b)), wantDim, wantCount, wantN)
	if err != nil {
		return nil, err
	}
	if err := decodeVecDir2(path, d, b[vec2HeaderSize:vec2HeaderSize+g]); err != nil {
		return nil, err
	}
	n := d.n()
	rows := make([]*vecBlock, len(d.sums))
	for bi := range d.sums {
		lo, hi := d.blockRows(bi)
		start := d.rowsOff + 4*int64(lo*d.dim)
		blk, err := decodeVecBlock(path, d, bi, b[start:start+4*int64((hi-lo)*d.dim)])
		if err != nil {
			return nil, err
		}
		rows[bi] = blk
	}
	s := &vecSet{dim: d.dim, count: d.count, ords: d.ords, data: make([]float32, n*d.dim), norms: make([]float32, n), size: d.size, annBytes: d.annBytes}
	for i, r := range d.rowOf {
		blk := rows[d.blockOf(int(r))]
		j := int(r) - d.blockOf(int(r))*d.rowsPerBlock
		copy(s.data[i*d.dim:(i+1)*d.dim], blk.vec(j))
		s.norms[i] = blk.norms[j]
	}
	if d.nlist > 0 {
		// members[r]: the position (in event order) of row r.
		pos := make([]uint32, n)
		for i, r := range d.rowOf {
			pos[r] = uint32(i)
		}
		s.ann = &annIndex{nlist: d.nlist, cents: d.cents, offs: d.offs, members: pos}
	}
	return s, nil
}

// vecBlock is a checked block of rows.
type vecBlock struct {
	dim   int
	data  []float32
	norms []float32
}

func (b *vecBlock) vec(j int) []float32 { return b.data[j*b.dim : (j+1)*b.dim : (j+1)*b.dim] }

// decodeVecBlock checks block bi (raw: its bytes; kept by the block) and
// computes its norms.
func decodeVecBlock(path string, d *vecDir, bi int, raw []byte) (*vecBlock, error) {
	lo, _ := d.blockRows(bi)
	at := d.rowsOff + 4*int64(lo*d.dim)
	if xxhash.Sum64(raw) != d.sums[bi] {
		return nil, corrupt.New(path, at, "vector block %d checksum mismatch", bi)
	}
	k := len(raw) / (4 * d.dim)
	blk := &vecBlock{dim: d.dim, norms: make([]float32, k)}
	if v, ok := aliasFloats(raw, 0, k*d.dim); ok {
		blk.data = v
	} else {
		blk.data = make([]float32, k*d.dim)
		copyFloats(blk.data, raw)
	}
	for j := range k {
		v := blk.vec(j)
		nn := norm32(v)
		if math.IsNaN(float64(nn)) || math.IsInf(float64(nn), 0) || nn == 0 {
			return nil, corrupt.New(path, at+4*int64(j*d.dim), "vector %d is not finite or has a zero or overflowing norm", lo+j)
		}
		blk.norms[j] = nn
	}
	return blk, nil
}

// vecCache is the ledger's cache of checked vector blocks, bounded in
// bytes (least recently used out). The blocks of a file (one generation of
// a segment's vector file) are found by their number in a slot array of
// the file's, so that a search that compares thousands of rows pays an
// index per block rather than a hash.
type vecCache struct {
	mu   sync.Mutex
	max  int64
	used int64
	segs map[*segVectors]*vecSlots
	// lru is the sentinel of a circular list of the entries, most
	// recently used first.
	lru vecCacheEntry
	n   int
}

// vecSlots are the cached blocks of one generation of a file.
type vecSlots struct {
	v     *segVectors
	gen   uint32
	slots []*vecCacheEntry // by block number
	live  int
}

type vecCacheEntry struct {
	prev, next *vecCacheEntry
	s          *vecSlots
	b          int32
	blk        *vecBlock
}

func newVecCache(max int64) *vecCache {
	c := &vecCache{max: max, segs: map[*segVectors]*vecSlots{}}
	c.lru.prev, c.lru.next = &c.lru, &c.lru
	return c
}

// blockBytes is what a cached block costs: its floats and norms, its
// entry and its slot.
func blockBytes(b *vecBlock) int64 { return 4*int64(len(b.data)+len(b.norms)) + 96 }

func (c *vecCache) unlink(e *vecCacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
}

func (c *vecCache) pushFront(e *vecCacheEntry) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}

// slotsOf returns the slots of generation gen of v's file of nb blocks
// (nil when there are none and create is false). A newer generation
// replaces an older one (whose blocks age out).
func (c *vecCache) slotsOf(v *segVectors, gen uint32, nb int, create bool) *vecSlots {
	s := c.segs[v]
	if s != nil && s.gen == gen && len(s.slots) == nb {
		return s
	}
	if !create {
		return nil
	}
	if s != nil {
		c.dropSlots(s)
	}
	s = &vecSlots{v: v, gen: gen, slots: make([]*vecCacheEntry, nb)}
	c.segs[v] = s
	c.used += 8 * int64(nb)
	return s
}

// dropSlots forgets s: its entries stay in the list until they age out,
// but are found no more.
func (c *vecCache) dropSlots(s *vecSlots) {
	if c.segs[s.v] == s {
		delete(c.segs, s.v)
		c.used -= 8 * int64(len(s.slots))
	}
}

// getMany sets out[i] to the cached block bs[i] of v's file (generation
// gen, nb blocks), for those cached, under one lock; it returns how many
// are not.
func (c *vecCache) getMany(v *segVectors, gen uint32, nb int, bs []int32, out []*vecBlock) int {
	if c.max <= 0 {
		return len(bs)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.slotsOf(v, gen, nb, false)
	if s == nil {
		return len(bs)
	}
	missing := 0
	for i, b := range bs {
		if e := s.slots[b]; e != nil {
			c.unlink(e)
			c.pushFront(e)
			out[i] = e.blk
		} else {
			missing++
		}
	}
	return missing
}

// putMany caches the blocks out[i] (block bs[i]) for i in fresh, under one
// lock, and evicts the least recently used blocks beyond the bound.
func (c *vecCache) putMany(v *segVectors, gen uint32, nb int, bs []int32, out []*vecBlock, fresh []int) {
	if c.max <= 0 || len(fresh) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.slotsOf(v, gen, nb, true)
	for _, i := range fresh {
		if s.slots[bs[i]] != nil {
			continue
		}
		e := &vecCacheEntry{s: s, b: bs[i], blk: out[i]}
		s.slots[bs[i]] = e
		s.live++
		c.pushFront(e)
		c.n++
		c.used += blockBytes(out[i])
	}
	for c.used > c.max && c.n > 1 {
		e := c.lru.prev
		c.unlink(e)
		c.n--
		c.used -= blockBytes(e.blk)
		if e.s.slots[e.b] == e {
			e.s.slots[e.b] = nil
		}
		if e.s.live--; e.s.live == 0 {
			c.dropSlots(e.s)
		}
	}
}

// cacheBytes returns the bytes the cache holds.
func (c *vecCache) cacheBytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.used
}

// vecCacheOf returns the ledger's vector block cache.
func (l *Ledger) vecCacheOf() *vecCache {
	l.vix.cacheOnce.Do(func() {
		n := int64(l.opts.VectorIndex.CacheBytes)
		if n == 0 {
			n = defaultVectorCacheBytes
		}
		l.vix.cache = newVecCache(n)
	})
	return l.vix.cache
}

// directory returns the file's layout-2 directory (read and checked the
// first time, then kept), or nil for a layout-1 file.
func (v *segVectors) directory() (*vecDir, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.dir != nil || v.layout == 1 {
		return v.dir, nil
	}
	f, err := v.fs.Open(v.path)
	if err != nil {
		if isNotExist(err) {
			return nil, corrupt.New(v.path, 0, "vector file is missing (the manifest lists %d vectors)", v.n)
		}
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	var hb [vec2HeaderSize]byte
	if size >= 8 {
		if _, err := f.ReadAt(hb[:min(int64(len(hb)), size)], 0); err != nil && err != io.EOF {
			return nil, err
		}
	}
	if !isVec2(hb[:]) {
		v.layout = 1
		return nil, nil
	}
	d, g, err := decodeVecHeader2(v.path, hb[:], size, v.dim, v.count, v.n)
	if err != nil {
		return nil, err
	}
	gb := make([]byte, g)
	if _, err := f.ReadAt(gb, vec2HeaderSize); err != nil && !(err == io.EOF) {
		return nil, err
	}
	if err := decodeVecDir2(v.path, d, gb); err != nil {
		return nil, err
	}
	v.dir, v.layout = d, 2
	return d, nil
}

// blocks returns the checked blocks lo..hi-1 of the file of directory d,
// from the cache or read (fetch).
func (v *segVectors) blocks(d *vecDir, lo, hi int) ([]*vecBlock, error) {
	bs := make([]int32, hi-lo)
	for i := range bs {
		bs[i] = int32(lo + i)
	}
	return v.fetch(d, bs)
}

// vecReadGap is the largest gap (in bytes of rows not wanted) between two
// blocks to read that one read spans: a read syscall costs about what
// copying this many bytes does.
const vecReadGap = 16 << 10

// fetch returns the checked blocks bs (ascending, distinct) of the file of
// directory d: from the cache (one lock for all of them), or read and
// checked (runs of missing blocks less than vecReadGap apart in one read
// each; only the blocks asked for are checked and kept, each in its own
// memory so that the cache's bound is what it holds).
func (v *segVectors) fetch(d *vecDir, bs []int32) ([]*vecBlock, error) {
	out := make([]*vecBlock, len(bs))
	v.mu.Lock()
	gen := v.gen
	v.mu.Unlock()
	missing := v.cache.getMany(v, gen, len(d.sums), bs, out)
	if missing == 0 {
		return out, nil
	}
	f, err := v.fs.Open(v.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	blockLen := 4 * d.rowsPerBlock * d.dim
	gapBlocks := int32(max(0, vecReadGap/blockLen))
	var scratch []byte
	var fresh []int
	for i := 0; i < len(bs); {
		if out[i] != nil {
			i++
			continue
		}
		e := i + 1
		for e < len(bs) && out[e] == nil && bs[e]-bs[e-1]-1 <= gapBlocks {
			e++
		}
		a, _ := d.blockRows(int(bs[i]))
		_, b := d.blockRows(int(bs[e-1]))
		n := 4 * (b - a) * d.dim
		if cap(scratch) < n {
			scratch = make([]byte, n)
		}
		raw := scratch[:n]
		at := d.rowsOff + 4*int64(a*d.dim)
		if got, err := f.ReadAt(raw, at); err != nil && !(err == io.EOF && got == len(raw)) {
			if err == io.EOF {
				return nil, corrupt.New(v.path, at, "vector file truncated")
			}
			return nil, err
		}
		for j := i; j < e; j++ {
			x, y := d.blockRows(int(bs[j]))
			s := 4 * (x - a) * d.dim
			blk, err := decodeVecBlockCopy(v.path, d, int(bs[j]), raw[s:s+4*(y-x)*d.dim])
			if err != nil {
				return nil, err
			}
			out[j] = blk
			fresh = append(fresh, j)
		}
		i = e
	}
	v.cache.putMany(v, gen, len(d.sums), bs, out, fresh)
	return out, nil
}

// decodeVecBlockCopy is decodeVecBlock into memory of the block's own
// (raw is not kept).
func decodeVecBlockCopy(path string, d *vecDir, bi int, raw []byte) (*vecBlock, error) {
	lo, _ := d.blockRows(bi)
	at := d.rowsOff + 4*int64(lo*d.dim)
	if xxhash.Sum64(raw) != d.sums[bi] {
		return nil, corrupt.New(path, at, "vector block %d checksum mismatch", bi)
	}
	k := len(raw) / (4 * d.dim)
	mem := make([]float32, k*d.dim+k)
	copyFloats(mem[:k*d.dim], raw)
	blk := &vecBlock{dim: d.dim, data: mem[: k*d.dim : k*d.dim], norms: mem[k*d.dim:]}
	for j := range k {
		nn := norm32(blk.vec(j))
		if math.IsNaN(float64(nn)) || math.IsInf(float64(nn), 0) || nn == 0 {
			return nil, corrupt.New(path, at+4*int64(j*d.dim), "vector %d is not finite or has a zero or overflowing norm", lo+j)
		}
		blk.norms[j] = nn
	}
	return blk, nil
}

// rowVec returns the vector and norm of row r (blks: the blocks lo.. as
// returned by blocks).
func rowVec(d *vecDir, blks []*vecBlock, lo, r int) ([]float32, float32) {
	bi := d.blockOf(r)
	j := r - bi*d.rowsPerBlock
	b := blks[bi-lo]
	return b.vec(j), b.norms[j]
}

// compareParallelMin is the fewest rows per goroutine compareRows
// splits its work into (each compares at least this many: tens of
// microseconds, against about one for starting and joining it).
const compareParallelMin = 128

// compareRows compares q with the rows (ascending) of the file of
// directory d and pushes each as a hit: on up to GOMAXPROCS goroutines,
// each fetching the blocks of a contiguous share of the rows and ranking
// them in its own top k, merged into top. The hits kept are the same
// whatever the split (top k is a strict total order: distance, then log
// position), so the answer does not depend on it.
func compareRows(v *segVectors, d *vecDir, rows []int32, q []float32, qn float32, base uint64, top *topK) error {
	p := min(runtime.GOMAXPROCS(0), len(rows)/compareParallelMin)
	if p <= 1 {
		return compareRowsSeq(v, d, rows, q, qn, base, top)
	}
	tops := make([]*topK, p)
	errs := make([]error, p)
	var wg sync.WaitGroup
	for i := range p {
		part := rows[i*len(rows)/p : (i+1)*len(rows)/p]
		tops[i] = newTopK(top.k)
		wg.Go(func() { errs[i] = compareRowsSeq(v, d, part, q, qn, base, tops[i]) })
	}
	wg.Wait()
	for i := range p {
		if errs[i] != nil {
			return errs[i]
		}
		for _, h := range tops[i].h {
			top.push(h)
		}
	}
	return nil
}

// compareRowsSeq is compareRows on the calling goroutine: the blocks of
// the rows fetched together, then each row compared.
func compareRowsSeq(v *segVectors, d *vecDir, rows []int32, q []float32, qn float32, base uint64, top *topK) error {
	if len(rows) == 0 {
		return nil
	}
	bs := make([]int32, 0, len(rows))
	for _, r := range rows {
		if b := int32(d.blockOf(int(r))); len(bs) == 0 || bs[len(bs)-1] != b {
			bs = append(bs, b)
		}
	}
	blks, err := v.fetch(d, bs)
	if err != nil {
		return err
	}
	j := 0
	for _, r := range rows {
		bi := int32(d.blockOf(int(r)))
		for bs[j] != bi {
			j++
		}
		k := int(r) - int(bi)*d.rowsPerBlock
		b := blks[j]
		top.push(simHit{dist: cosDistance(q, qn, b.vec(k), b.norms[k]), pos: base + uint64(d.rowOrd[r])})
	}
	return nil
}

// compareChunk bounds the rows compareRows fetches at once when a search
// compares many (the memory of one fetch without a cache).
const compareChunk = 4096

// searchSeg2 is searchSimilar's work on one sealed segment with a
// layout-2 vector file: cands (nil: unfiltered) are the candidate
// ordinals, sorted. Only the blocks of the rows compared are read (or
// taken from the cache): with the index, the candidate rows of the probed
// lists; without, every candidate row (every row, unfiltered).
func searchSeg2(v *segVectors, d *vecDir, q []float32, qn float32, base uint64, cands []uint32, filtered bool, k int, vo VectorIndexOptions, top *topK) error {
	n := d.n()
	ncand := n
	if filtered {
		ncand = len(cands)
	}
	if d.nlist > 0 && !vo.Exact && ncand >= vo.MinCandidates {
		var bits []uint64
		if filtered {
			bits = candBits(cands, d.count)
		}
		a := &annIndex{nlist: d.nlist, cents: d.cents, offs: d.offs}
		nprobe := min(d.nlist, max(annMinProbes, int(math.Ceil(vo.ProbeFraction*float64(d.nlist)))))
		order := a.probeOrder(d.dim, q)
		// The candidate rows of the first nprobe lists, compared together
		// (in row order: their blocks are read in file order, adjacent
		// lists in one read); then list by list while fewer than 10×k
		// candidates were compared.
		var rows []int32
		listRows := func(c int32) {
			for r := d.offs[c]; r < d.offs[c+1]; r++ {
				o := d.rowOrd[r]
				if bits != nil && bits[o/64]&(1<<(o%64)) == 0 {
					continue
				}
				rows = append(rows, int32(r))
			}
		}
		for _, c := range order[:nprobe] {
			listRows(c)
		}
		slices.Sort(rows)
		seen := len(rows)
		if err := compareRows(v, d, rows, q, qn, base, top); err != nil {
			return err
		}
		for _, c := range order[nprobe:] {
			if seen >= 10*k {
				break
			}
			rows = rows[:0]
			listRows(c)
			seen += len(rows)
			if err := compareRows(v, d, rows, q, qn, base, top); err != nil {
				return err
			}
		}
		return nil
	}
	// Every candidate row (every row, unfiltered), in row order, a chunk
	// at a time.
	rows := make([]int32, 0, min(compareChunk, ncand))
	flush := func() error {
		slices.Sort(rows)
		err := compareRows(v, d, rows, q, qn, base, top)
		rows = rows[:0]
		return err
	}
	if !filtered {
		for r := range n {
			rows = append(rows, int32(r))
			if len(rows) == compareChunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return flush()
	}
	if d.nlist == 0 {
		// Rows in event order: a merge of two sorted lists.
		j := 0
		for _, o := range cands {
			for j < len(d.ords) && d.ords[j] < o {
				j++
			}
			if j == len(d.ords) {
				break
			}
			if d.ords[j] == o {
				rows = append(rows, int32(d.rowOf[j]))
				if len(rows) == compareChunk {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		return flush()
	}
	// Rows grouped by list: the candidates' rows, sorted, then fetched a
	// chunk at a time.
	all := make([]int32, 0, len(cands))
	j := 0
	for _, o := range cands {
		for j < len(d.ords) && d.ords[j] < o {
			j++
		}
		if j == len(d.ords) {
			break
		}
		if d.ords[j] == o {
			all = append(all, int32(d.rowOf[j]))
		}
	}
	slices.Sort(all)
	for lo := 0; lo < len(all); lo += compareChunk {
		if err := compareRows(v, d, all[lo:min(len(all), lo+compareChunk)], q, qn, base, top); err != nil {
			return err
		}
	}
	return nil
}

// vectorOf2 returns the vector of ordinal o (nil: none) of a layout-2
// file.
func (v *segVectors) vectorOf2(d *vecDir, o uint32) ([]float32, error) {
	r, ok := d.find(o)
	if !ok {
		return nil, nil
	}
	bi := d.blockOf(r)
	blks, err := v.fetch(d, []int32{int32(bi)})
	if err != nil {
		return nil, err
	}
	vec, _ := rowVec(d, blks, bi, r)
	return vec, nil
}
