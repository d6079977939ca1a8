package segment

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/internal/lru"
	"github.com/exledger/exledger/vfs"
)

type readerAtCloser interface {
	io.ReaderAt
	io.Closer
}

// Reader reads one sealed segment. It is safe for concurrent use. Open
// validates the trailer and footer only; each block is verified (checksum,
// bounds, framing) when it is first read.
type Reader struct {
	id    uint64
	path  string
	f     readerAtCloser
	cache *Cache
	info  Info
	// foot is the parsed footer: set by Open for good; for OpenLazy,
	// parsed on first use and held until fc evicts it.
	foot       atomic.Pointer[footer]
	fmu        sync.Mutex // serializes footer loads
	fOff, fLen int64      // the footer's place in the file
	fSum       uint64     // its checksum as verified at open
	fc         *FooterCache
	fent       lru.Entry
	closed     atomic.Bool
	// An unordered segment's seq map (the block of each seq, 2 or 4 B
	// per record: most of a clustered footer) is not part of the footer
	// held in fc. Once the footer has been parsed and checked, the map's
	// place in the file (mapOff, mapLen) and its xxhash64 (mapSum) are
	// kept; the map itself is held (smap, entry ment) only while fc has
	// room beside the footers (lru.Cache.InsertIfRoom), otherwise each
	// use reads it again and checks it against mapSum (see mapped).
	smap   atomic.Pointer[[]byte]
	ment   lru.Entry
	mapOff int64
	mapLen int
	mapSum uint64
}

// footer is the parsed block table of a segment.
type footer struct {
	blocks []BlockInfo
	cps    []Checkpoint // unordered only
	bmap   []byte       // unordered only: block number per seq ordinal
	width  int          // bytes per bmap entry
	mapAt  int          // offset of bmap in the footer
	meta   []byte
}

var readerIDs atomic.Uint64

// Open opens a sealed segment, reading and validating its trailer and
// footer. It never scans the data blocks.
func Open(fs vfs.FS, path string, cache *Cache) (*Reader, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("segment: open %s: %w", path, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("segment: size of %s: %w", path, err)
	}
	r, err := openReaderAt(path, f, size, cache)
	if err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

func openReaderAt(path string, f readerAtCloser, size int64, cache *Cache) (*Reader, error) {
	return openReader(path, f, size, cache, false)
}

// openReader opens a reader; lazy leaves the footer's block table unparsed
// (see OpenLazy).
func openReader(path string, f readerAtCloser, size int64, cache *Cache, lazy bool) (*Reader, error) {
	if size < trailerLen+footerMinTotal+minBlockLen {
		return nil, corrupt.New(path, 0, "file of %d bytes is too small for a segment", size)
	}
	var tb [trailerLen]byte
	if err := readFull(f, tb[:], size-trailerLen); err != nil {
		return nil, fmt.Errorf("segment: read trailer of %s: %w", path, err)
	}
	toff := size - trailerLen
	if string(tb[24:]) != trailerMagic {
		return nil, corrupt.New(path, toff+24, "bad trailer magic")
	}
	if xxhash.Sum64(tb[:16]) != binary.LittleEndian.Uint64(tb[16:]) {
		return nil, corrupt.New(path, toff, "trailer checksum mismatch")
	}
	t := trailer{
		footerOff: binary.LittleEndian.Uint64(tb[0:]),
		footerLen: binary.LittleEndian.Uint32(tb[8:]),
		version:   binary.LittleEndian.Uint16(tb[12:]),
	}
	if t.version != FormatVersion {
		return nil, corrupt.New(path, toff+12, "unsupported format version %d", t.version)
	}
	if binary.LittleEndian.Uint16(tb[14:]) != 0 {
		return nil, corrupt.New(path, toff+14, "reserved trailer bytes not zero")
	}
	if t.footerLen < footerMinTotal || t.footerLen > MaxFooterBytes ||
		t.footerOff > uint64(toff) || uint64(toff)-t.footerOff != uint64(t.footerLen) {
		return nil, corrupt.New(path, toff, "footer offset %d / length %d do not fit a file of %d bytes", t.footerOff, t.footerLen, size)
	}
	var fb []byte
	if lazy {
		// Only the fixed part is kept (copied): read into a recycled
		// buffer rather than a fresh (zeroed) one per segment.
		bp := readBufs.Get().(*[]byte)
		defer readBufs.Put(bp)
		if cap(*bp) < int(t.footerLen) {
			*bp = make([]byte, t.footerLen)
		}
		fb = (*bp)[:t.footerLen]
	} else {
		fb = make([]byte, t.footerLen)
	}
	if err := readFull(f, fb, int64(t.footerOff)); err != nil {
		return nil, fmt.Errorf("segment: read footer of %s: %w", path, err)
	}
	r := &Reader{id: readerIDs.Add(1), path: path, f: f, cache: cache,
		fOff: int64(t.footerOff), fLen: int64(t.footerLen), fSum: binary.LittleEndian.Uint64(fb[len(fb)-8:])}
	ft, err := r.parseFooter(fb, r.fOff, &r.info, lazy)
	if err != nil {
		return nil, err
	}
	if !lazy {
		r.foot.Store(ft)
	}
	r.info.FileBytes = size
	return r, nil
}

// timeStringBytes is what FooterCache counts for a block's time string.
const timeStringBytes = 32

// FooterCache bounds the memory of the footers (block tables and, for
// unordered segments, seq maps) of the Readers opened with OpenLazy
// that share it: the least recently used footer is dropped when a load
// would exceed the capacity, and read, verified and parsed again on its
// reader's next use. It is safe for concurrent use.
type FooterCache struct{ c *lru.Cache }

// NewFooterCache returns a FooterCache of capacity bytes (0 or less: 256 MiB).
func NewFooterCache(capacity int64) *FooterCache {
	if capacity <= 0 {
		capacity = 256 << 20
	}
	return &FooterCache{c: lru.New(capacity)}
}

// FooterCacheStats is a snapshot of a FooterCache.
type FooterCacheStats struct {
	Bytes, Capacity int64 // held (estimated), bound
	Footers         int   // footers held
	Loads           int64 // footers parsed on use since NewFooterCache
}

// Stats returns the cache's current figures.
func (c *FooterCache) Stats() FooterCacheStats {
	s := c.c.Stats()
	return FooterCacheStats{Bytes: s.Bytes, Capacity: s.Capacity, Footers: s.Entries, Loads: s.Loads}
}

// OpenLazy is Open for a reader of many segments: it reads the trailer and
// the footer and verifies their checksums, but parses only the footer's
// fixed part (Info). The block table (and an unordered segment's seq map)
// is parsed and checked on first use and then held until fc, when not
// nil, needs the room; a later use reads the footer again and verifies it
// against the checksum seen at open.
func OpenLazy(fs vfs.FS, path string, cache *Cache, fc *FooterCache) (*Reader, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("segment: open %s: %w", path, err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("segment: size of %s: %w", path, err)
	}
	r, err := openReader(path, f, size, cache, true)
	if err != nil {
		f.Close()
		return nil, err
	}
	r.fc = fc
	r.fent.Drop = func() { r.foot.Store(nil) }
	r.ment.Drop = func() { r.smap.Store(nil) }
	return r, nil
}

// footer returns the parsed footer, loading it if needed.
func (r *Reader) footer() (*footer, error) {
	if ft := r.foot.Load(); ft != nil {
		if r.fc != nil {
			r.fc.c.Touch(&r.fent)
		}
		return ft, nil
	}
	r.fmu.Lock()
	defer r.fmu.Unlock()
	if ft := r.foot.Load(); ft != nil {
		return ft, nil
	}
	if r.closed.Load() {
		return nil, ErrClosed
	}
	fb := make([]byte, r.fLen)
	if err := readFull(r.f, fb, r.fOff); err != nil {
		return nil, fmt.Errorf("segment: read footer of %s: %w", r.path, err)
	}
	if binary.LittleEndian.Uint64(fb[len(fb)-8:]) != r.fSum {
		return nil, corrupt.New(r.path, r.fOff, "footer changed since open")
	}
	var in Info
	ft, err := r.parseFooter(fb, r.fOff, &in, false)
	if err != nil {
		return nil, err
	}
	in.FileBytes = r.info.FileBytes
	if in != r.info {
		return nil, corrupt.New(r.path, r.fOff, "footer changed since open")
	}
	if r.fc == nil {
		r.foot.Store(ft)
		return ft, nil
	}
	// What fc holds refers to no byte of fb: meta is copied, and an
	// unordered segment's seq map is held apart, if fc has room for it.
	if ft.meta != nil {
		ft.meta = bytes.Clone(ft.meta)
	}
	if r.info.Unordered {
		if r.mapLen == 0 { // the first load: mapped() reads it from here on
			r.mapOff = r.fOff + int64(ft.mapAt)
			r.mapLen = len(ft.bmap)
			r.mapSum = xxhash.Sum64(ft.bmap)
		}
		if r.smap.Load() == nil {
			m := bytes.Clone(ft.bmap)
			r.fc.c.InsertIfRoom(&r.ment, int64(len(m)), func() { r.smap.Store(&m) })
		}
		ft.bmap = nil
	}
	// The decoded block entries with their two time strings, the
	// checkpoints and meta.
	n := int64(len(ft.blocks))*(int64(unsafe.Sizeof(BlockInfo{}))+2*timeStringBytes) +
		int64(len(ft.cps))*int64(unsafe.Sizeof(Checkpoint{})) + int64(len(ft.meta)) + int64(unsafe.Sizeof(footer{}))
	r.fc.c.Insert(&r.fent, n, func() { r.foot.Store(ft) })
	return ft, nil
}

// mapBufs recycles the buffers of seq maps read for one use (mapped).
var mapBufs = sync.Pool{New: func() any { return new([]byte) }}

func nop() {}

// mapped returns the footer with, for an unordered segment, its seq map:
// the one held, or else read from the file and checked against the
// checksum taken when the footer was first parsed and checked (and then
// held if the FooterCache has room beside the footers). release must be
// called once the returned footer is no longer used (a map read for one
// use is recycled).
func (r *Reader) mapped() (ft *footer, release func(), err error) {
	if ft, err = r.footer(); err != nil {
		return nil, nop, err
	}
	if !r.info.Unordered || ft.bmap != nil {
		return ft, nop, nil
	}
	fm := *ft
	if m := r.smap.Load(); m != nil {
		r.fc.c.Touch(&r.ment)
		fm.bmap = *m
		return &fm, nop, nil
	}
	bp := mapBufs.Get().(*[]byte)
	if cap(*bp) < r.mapLen {
		*bp = make([]byte, r.mapLen)
	}
	b := (*bp)[:r.mapLen]
	if err := readFull(r.f, b, r.mapOff); err != nil {
		mapBufs.Put(bp)
		return nil, nop, fmt.Errorf("segment: read seq map of %s: %w", r.path, err)
	}
	if xxhash.Sum64(b) != r.mapSum {
		mapBufs.Put(bp)
		return nil, nop, corrupt.New(r.path, r.mapOff, "footer: seq map changed since it was checked")
	}
	fm.bmap = b
	held := false
	r.fc.c.InsertIfRoom(&r.ment, int64(len(b)), func() { r.smap.Store(&b); held = true })
	if held { // the cache's now: not recycled
		return &fm, nop, nil
	}
	return &fm, func() { mapBufs.Put(bp) }, nil
}

func readFull(f io.ReaderAt, b []byte, off int64) error {
	n, err := f.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// parseFooter verifies the footer checksum and decodes its fixed part into
// in; unless headOnly, it decodes the rest with bounds checks before every
// allocation and checks it is self-consistent.
func (r *Reader) parseFooter(fb []byte, foff int64, in *Info, headOnly bool) (*footer, error) {
	bad := func(at int, format string, args ...any) error {
		return corrupt.New(r.path, foff+int64(at), "footer: %s", fmt.Sprintf(format, args...))
	}
	body := len(fb) - 8
	if xxhash.Sum64(fb[:body]) != binary.LittleEndian.Uint64(fb[body:]) {
		return nil, bad(0, "checksum mismatch")
	}
	d := dec{b: fb[:body]}
	if string(d.bytes(4, "magic")) != footerMagic {
		return nil, bad(0, "bad magic")
	}
	flags := d.u8("flags")
	if flags&^flagUnordered != 0 {
		return nil, bad(4, "unknown flags %#x", flags)
	}
	if d.u8("reserved") != 0 || d.u16("reserved") != 0 {
		return nil, bad(5, "reserved bytes not zero")
	}
	in.Unordered = flags&flagUnordered != 0
	nb := d.u32("block count")
	in.FirstSeq = d.u64("first seq")
	in.LastSeq = d.u64("last seq")
	in.Count = d.u64("count")
	in.RawBytes = int64(d.u64("raw bytes"))
	in.ChainStart = d.hash("chain start")
	in.ChainEnd = d.hash("chain end")
	in.MinTime = d.str8("min time")
	in.MaxTime = d.str8("max time")
	if d.bad != "" {
		return nil, bad(d.off, "%s", d.bad)
	}
	switch {
	case nb == 0 || uint64(nb) > uint64(body-d.off)/blockEntryMin:
		return nil, bad(8, "block count %d impossible for the footer size", nb)
	case in.Count == 0 || in.LastSeq < in.FirstSeq || in.LastSeq-in.FirstSeq != in.Count-1:
		return nil, bad(12, "seq range [%d, %d] does not hold %d records", in.FirstSeq, in.LastSeq, in.Count)
	case in.Count < uint64(nb):
		return nil, bad(28, "%d records cannot fill %d blocks", in.Count, nb)
	case in.RawBytes < 0:
		return nil, bad(36, "raw bytes negative")
	}
	in.Blocks = int(nb)
	if headOnly {
		return nil, nil
	}
	ft := &footer{}
	ft.blocks = make([]BlockInfo, nb)
	var minT, maxT string
	var next int64
	var total uint64
	for i := range ft.blocks {
		at := d.off
		b := &ft.blocks[i]
		b.Offset = int64(d.u64("block offset"))
		b.Length = d.u32("block length")
		b.FirstSeq = d.u64("block first seq")
		b.Count = d.u32("block count")
		b.MinTime = d.str8("block min time")
		b.MaxTime = d.str8("block max time")
		b.ChainEnd = d.hash("block chain end")
		if d.bad != "" {
			return nil, bad(d.off, "block %d: %s", i, d.bad)
		}
		switch {
		case b.Offset != next:
			return nil, bad(at, "block %d at offset %d, expected %d", i, b.Offset, next)
		case b.Length < minBlockLen || b.Length > maxBlockLen:
			return nil, bad(at+8, "block %d length %d out of bounds", i, b.Length)
		case b.Count == 0 || b.Count > b.Length:
			return nil, bad(at+20, "block %d count %d impossible", i, b.Count)
		case b.FirstSeq < in.FirstSeq || b.FirstSeq > in.LastSeq:
			return nil, bad(at+12, "block %d first seq %d outside the segment", i, b.FirstSeq)
		case (b.MinTime == "") != (b.MaxTime == "") || b.MinTime > b.MaxTime:
			return nil, bad(at+24, "block %d min/max time inconsistent", i)
		}
		if !in.Unordered {
			if b.FirstSeq != in.FirstSeq+total {
				return nil, bad(at+12, "block %d first seq %d, expected %d", i, b.FirstSeq, in.FirstSeq+total)
			}
		} else if b.ChainEnd != ([32]byte{}) {
			return nil, bad(at, "block %d of an unordered segment has a chain value", i)
		}
		next += int64(b.Length)
		total += uint64(b.Count)
		mergeTime(&minT, &maxT, b.MinTime)
		mergeTime(&minT, &maxT, b.MaxTime)
	}
	switch {
	case next != foff:
		return nil, bad(0, "blocks end at %d, footer starts at %d", next, foff)
	case total != in.Count:
		return nil, bad(28, "blocks hold %d records, footer says %d", total, in.Count)
	case minT != in.MinTime || maxT != in.MaxTime:
		return nil, bad(108, "segment min/max time do not match the blocks")
	case !in.Unordered && ft.blocks[nb-1].ChainEnd != in.ChainEnd:
		return nil, bad(76, "chain end does not match the last block")
	}
	if in.Unordered {
		if err := r.parseUnordered(&d, bad, in, ft); err != nil {
			return nil, err
		}
	}
	at := d.off
	ml := d.u32("meta length")
	if d.bad == "" && ml > MaxMetaBytes {
		return nil, bad(at, "meta length %d exceeds %d", ml, MaxMetaBytes)
	}
	meta := d.bytes(int(ml), "meta")
	if d.bad != "" {
		return nil, bad(d.off, "%s", d.bad)
	}
	if d.off != body {
		return nil, bad(d.off, "%d trailing bytes", body-d.off)
	}
	ft.meta = meta
	return ft, nil
}

func (r *Reader) parseUnordered(d *dec, bad func(int, string, ...any) error, in *Info, ft *footer) error {
	at := d.off
	ncp := d.u32("checkpoint count")
	if d.bad != "" {
		return bad(d.off, "%s", d.bad)
	}
	if ncp == 0 || uint64(ncp) > in.Count || uint64(ncp) > uint64(len(d.b)-d.off)/checkpointLen {
		return bad(at, "checkpoint count %d impossible", ncp)
	}
	ft.cps = make([]Checkpoint, ncp)
	for i := range ft.cps {
		at := d.off
		cp := &ft.cps[i]
		cp.Seq = d.u64("checkpoint seq")
		cp.Hash = d.hash("checkpoint hash")
		if d.bad != "" {
			return bad(d.off, "%s", d.bad)
		}
		if cp.Seq < in.FirstSeq || cp.Seq > in.LastSeq || (i > 0 && cp.Seq <= ft.cps[i-1].Seq) {
			return bad(at, "checkpoint %d seq %d out of order or range", i, cp.Seq)
		}
	}
	if last := ft.cps[ncp-1]; last.Seq != in.LastSeq || last.Hash != in.ChainEnd {
		return bad(d.off, "last checkpoint does not match the segment's chain end")
	}
	at = d.off
	ft.width = int(d.u8("map width"))
	if d.bad == "" && ft.width != mapWidth(len(ft.blocks)) {
		return bad(at, "map width %d invalid for %d blocks", ft.width, len(ft.blocks))
	}
	if d.bad == "" && in.Count > uint64(len(d.b)-d.off)/uint64(ft.width) {
		return bad(d.off, "seq map truncated")
	}
	ft.mapAt = d.off
	ft.bmap = d.bytes(int(in.Count)*ft.width, "seq map")
	if d.bad != "" {
		return bad(d.off, "%s", d.bad)
	}
	hist := make([]uint32, len(ft.blocks))
	for o := uint64(0); o < in.Count; o++ {
		b := ft.blockAt(o)
		if b >= len(ft.blocks) {
			return bad(at+1+int(o)*ft.width, "seq %d mapped to block %d of %d", in.FirstSeq+o, b, len(ft.blocks))
		}
		hist[b]++
	}
	for i, b := range ft.blocks {
		if hist[i] != b.Count {
			return bad(at, "seq map gives block %d %d records, footer %d", i, hist[i], b.Count)
		}
		if ft.blockAt(b.FirstSeq-in.FirstSeq) != i {
			return bad(at, "block %d first seq %d mapped elsewhere", i, b.FirstSeq)
		}
	}
	return nil
}

// blockAt returns the block number of seq ordinal o (unordered only).
func (ft *footer) blockAt(o uint64) int {
	if ft.width == 2 {
		return int(binary.LittleEndian.Uint16(ft.bmap[o*2:]))
	}
	return int(binary.LittleEndian.Uint32(ft.bmap[o*4:]))
}

// Info returns the segment's summary from its footer.
func (r *Reader) Info() Info { return r.info }

// Meta returns the caller's opaque footer section (nil if the footer of a
// lazily opened reader cannot be loaded). Do not modify it.
func (r *Reader) Meta() []byte {
	ft, err := r.footer()
	if err != nil {
		return nil
	}
	return ft.meta
}

// Path returns the path the segment was opened with.
func (r *Reader) Path() string { return r.path }

// NumBlocks returns the number of blocks.
func (r *Reader) NumBlocks() int { return r.info.Blocks }

// BlockInfo returns the footer entry of block i (the zero BlockInfo if
// the footer of a lazily opened reader cannot be loaded; Block and Verify
// report that error).
func (r *Reader) BlockInfo(i int) BlockInfo {
	ft, err := r.footer()
	if err != nil {
		return BlockInfo{}
	}
	return ft.blocks[i]
}

// Checkpoints returns the stored chain values: one per block end for an
// ordered segment, the SetChain checkpoints for an unordered one. The last
// is always (LastSeq, ChainEnd). It is nil if the footer of a lazily
// opened reader cannot be loaded.
func (r *Reader) Checkpoints() []Checkpoint {
	ft, err := r.footer()
	if err != nil {
		return nil
	}
	if r.info.Unordered {
		return append([]Checkpoint(nil), ft.cps...)
	}
	cps := make([]Checkpoint, len(ft.blocks))
	for i, b := range ft.blocks {
		cps[i] = Checkpoint{Seq: b.FirstSeq + uint64(b.Count) - 1, Hash: b.ChainEnd}
	}
	return cps
}

// Locate returns the block holding seq (not ok as well when the footer of
// a lazily opened reader cannot be loaded).
func (r *Reader) Locate(seq uint64) (block int, ok bool) {
	ft, release, err := r.mapped()
	if err != nil {
		return 0, false
	}
	defer release()
	return r.locate(ft, seq)
}

// CountBlocks returns the number of distinct blocks holding the seqs of
// the segment among seqs (others are ignored), counting no further than
// stop (0: no bound). It reads an unordered segment's seq map once,
// where Locate would for every seq.
func (r *Reader) CountBlocks(seqs []uint64, stop int) (int, error) {
	ft, release, err := r.mapped()
	if err != nil {
		return 0, err
	}
	defer release()
	seen := make([]bool, len(ft.blocks))
	n := 0
	for _, s := range seqs {
		bi, ok := r.locate(ft, s)
		if !ok || seen[bi] {
			continue
		}
		seen[bi] = true
		if n++; n == stop {
			break
		}
	}
	return n, nil
}

func (r *Reader) locate(ft *footer, seq uint64) (block int, ok bool) {
	if seq < r.info.FirstSeq || seq > r.info.LastSeq {
		return 0, false
	}
	if r.info.Unordered {
		return ft.blockAt(seq - r.info.FirstSeq), true
	}
	i := sort.Search(len(ft.blocks), func(i int) bool { return ft.blocks[i].FirstSeq > seq })
	return i - 1, true
}

var readBufs = sync.Pool{New: func() any { return new([]byte) }}

// loadBlockInto reads and verifies block i from the file, bypassing the
// cache, decoding into reuse's buffers (see decodeBlockInto); ft is the
// footer with, for an unordered segment, its seq map (mapped).
func (r *Reader) loadBlockInto(ft *footer, i int, reuse *Block) (*Block, error) {
	bi := &ft.blocks[i]
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	if cap(*bp) < int(bi.Length) {
		*bp = make([]byte, bi.Length)
	}
	buf := (*bp)[:bi.Length]
	if err := readFull(r.f, buf, bi.Offset); err != nil {
		return nil, fmt.Errorf("segment: read block %d of %s: %w", i, r.path, err)
	}
	return r.decodeRead(ft, i, buf, reuse, nil)
}

// decodeRead verifies and decompresses block i of ft from buf, its bytes
// as read from the file, into reuse's buffers (see decodeBlockInto). pos,
// when not nil (unordered segments), is a bulk read's position table,
// indexed by seq ordinal, which gets the block's record indexes instead of
// the block a sorted index (see blockCheck.pos); such a block is for that
// read only (never cached).
func (r *Reader) decodeRead(ft *footer, i int, buf []byte, reuse *Block, pos []uint32) (*Block, error) {
	bi := &ft.blocks[i]
	c := blockCheck{file: r.path, off: bi.Offset, want: bi, index: i, unordered: r.info.Unordered}
	if r.info.Unordered {
		c.seqMap, c.first, c.last, c.pos = ft, r.info.FirstSeq, r.info.LastSeq, pos
	}
	b, err := decodeBlockInto(buf, &c, reuse)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Block returns block i, verified and decompressed, from the cache or the
// file.
func (r *Reader) Block(i int) (*Block, error) {
	if r.closed.Load() {
		return nil, ErrClosed
	}
	if i < 0 || i >= r.info.Blocks {
		return nil, fmt.Errorf("segment %s: block %d of %d: %w", r.path, i, r.info.Blocks, ErrNotFound)
	}
	k := cacheKey{reader: r.id, block: i}
	if b := r.cache.get(k); b != nil {
		return b, nil
	}
	ft, release, err := r.mapped()
	if err != nil {
		return nil, err
	}
	defer release()
	b, err := r.loadBlockInto(ft, i, nil)
	if err != nil {
		return nil, err
	}
	r.cache.put(k, b)
	return b, nil
}

// block is Block with the footer (and seq map) at hand.
func (r *Reader) block(ft *footer, i int) (*Block, error) {
	k := cacheKey{reader: r.id, block: i}
	if b := r.cache.get(k); b != nil {
		return b, nil
	}
	b, err := r.loadBlockInto(ft, i, nil)
	if err != nil {
		return nil, err
	}
	r.cache.put(k, b)
	return b, nil
}

// Get returns the record with sequence number seq; its Data is a copy.
func (r *Reader) Get(seq uint64) (Record, error) {
	var out Record
	found := false
	err := r.GetMany([]uint64{seq}, func(rec Record) bool {
		out = Record{Seq: rec.Seq, Data: bytes.Clone(rec.Data)}
		found = true
		return false
	})
	if err == nil && !found {
		err = fmt.Errorf("segment %s: seq %d: %w", r.path, seq, ErrNotFound)
	}
	return out, err
}

// GetMany calls fn with the record of each seq in seqs (ascending order
// lets consecutive seqs share one block lookup). It stops when fn returns
// false. A seq outside the segment returns ErrNotFound. Record.Data is
// valid only during fn.
func (r *Reader) GetMany(seqs []uint64, fn func(Record) bool) error {
	if r.closed.Load() {
		return ErrClosed
	}
	ft, release, err := r.mapped()
	if err != nil {
		return err
	}
	defer release()
	cur := -1
	var b *Block
	for _, s := range seqs {
		bi, ok := r.locate(ft, s)
		if !ok {
			return fmt.Errorf("segment %s: seq %d: %w", r.path, s, ErrNotFound)
		}
		if bi != cur {
			var err error
			if b, err = r.block(ft, bi); err != nil {
				return err
			}
			cur = bi
		}
		j, ok := b.find(s)
		if !ok {
			return corrupt.New(r.path, ft.blocks[bi].Offset, "block %d lacks seq %d", bi, s)
		}
		if !fn(b.Record(j)) {
			return nil
		}
	}
	return nil
}

// bulkBlocks recycles the Blocks (and their buffers) of GetManyBulk.
var bulkBlocks = sync.Pool{New: func() any { return new(Block) }}

// GetManyBulk is GetMany for reads that visit many blocks once, such as a
// full scan: a block found in the cache is used, but a block read from the
// file is decompressed into a recycled buffer and not added to the cache,
// so a read larger than the cache neither evicts the cached working set nor
// allocates a block per block read. Unordered segments, whose consecutive
// records are spread over many blocks, are read through the cache exactly
// as by GetMany. Record.Data is valid only during fn.
func (r *Reader) GetManyBulk(seqs []uint64, fn func(Record) bool) error {
	if r.info.Unordered {
		return r.GetMany(seqs, fn)
	}
	if r.closed.Load() {
		return ErrClosed
	}
	ft, err := r.footer()
	if err != nil {
		return err
	}
	scratch := bulkBlocks.Get().(*Block)
	cur := -1
	var b *Block
	for _, s := range seqs {
		// Successive seqs mostly lie in the current block: skip the
		// binary search then.
		bi := cur
		if cur < 0 || s < ft.blocks[cur].FirstSeq || s-ft.blocks[cur].FirstSeq >= uint64(ft.blocks[cur].Count) {
			var ok bool
			if bi, ok = r.locate(ft, s); !ok {
				bulkBlocks.Put(scratch)
				return fmt.Errorf("segment %s: seq %d: %w", r.path, s, ErrNotFound)
			}
		}
		if bi != cur {
			if b = r.cache.getBulk(cacheKey{reader: r.id, block: bi}); b == nil {
				nb, err := r.loadBlockInto(ft, bi, scratch)
				if err != nil {
					return err // scratch may be half-written: not recycled
				}
				scratch, b = nb, nb
			}
			cur = bi
		}
		j, ok := b.find(s)
		if !ok {
			bulkBlocks.Put(scratch)
			return corrupt.New(r.path, ft.blocks[bi].Offset, "block %d lacks seq %d", bi, s)
		}
		if !fn(b.Record(j)) {
			break
		}
	}
	bulkBlocks.Put(scratch)
	return nil
}

// Scan calls fn for every record with Seq >= fromSeq in sequence order
// until fn returns false. Record.Data is valid only during fn. Blocks read
// from the file for an ordered segment are not added to the cache.
func (r *Reader) Scan(fromSeq uint64, fn func(Record) bool) error {
	if fromSeq > r.info.LastSeq {
		return nil
	}
	fromSeq = max(fromSeq, r.info.FirstSeq)
	if r.info.Unordered {
		if r.closed.Load() {
			return ErrClosed
		}
		ft, release, err := r.mapped()
		if err != nil {
			return err
		}
		defer release()
		return r.walk(ft, fromSeq, func(i int) (*Block, error) { return r.block(ft, i) }, fn)
	}
	if r.closed.Load() {
		return ErrClosed
	}
	// A sequential visit reads each block once: like GetManyBulk it uses
	// cached blocks but does not fill the cache.
	scratch := bulkBlocks.Get().(*Block)
	defer func() {
		if scratch != nil {
			bulkBlocks.Put(scratch)
		}
	}()
	ft, err := r.footer()
	if err != nil {
		return err
	}
	start, _ := r.locate(ft, fromSeq)
	for i := start; i < len(ft.blocks); i++ {
		b := r.cache.getBulk(cacheKey{reader: r.id, block: i})
		if b == nil {
			nb, err := r.loadBlockInto(ft, i, scratch)
			if err != nil {
				scratch = nil // possibly half-written: not recycled
				return err
			}
			scratch, b = nb, nb
		}
		j := 0
		if i == start {
			j = int(fromSeq - b.first)
		}
		for ; j < b.Len(); j++ {
			if !fn(b.Record(j)) {
				return nil
			}
		}
	}
	return nil
}

// ScanBulk is Scan for a read that visits every record of the seq range
// [fromSeq, toSeq] once, such as a full scan: blocks found in the cache
// are used, others are decompressed into recycled buffers and not cached,
// in unordered segments too (where Scan reads through the cache). An
// unordered segment is read in windows of consecutive seqs whose blocks
// hold about 72 MiB decompressed (a segment sealed at the default 64 MiB
// is one window): each window's blocks are decompressed once, by up to
// workers goroutines (0 or 1: the caller's own), then its records are
// visited in seq order. Record.Data is valid only during fn.
func (r *Reader) ScanBulk(fromSeq, toSeq uint64, workers int, fn func(Record) bool) error {
	if !r.info.Unordered {
		return r.Scan(fromSeq, func(rec Record) bool { return rec.Seq <= toSeq && fn(rec) })
	}
	return r.scanBulk(nil, fromSeq, toSeq, workers, fn, nil)
}

// ScanBulkHeld is ScanBulk for an unordered segment whose records stay
// valid after fn returns, until the next call of hold: before a window's
// blocks are released (recycled), bulk reads call hold, which must return
// only once the caller is done with every record it was given so far. Once
// a record was given, hold is also called before ScanBulkHeld returns,
// whether it ends, stops early or fails. The caller may thus hand records to other goroutines without
// copying them. An ordered segment is refused.
func (r *Reader) ScanBulkHeld(fromSeq, toSeq uint64, workers int, fn func(Record) bool, hold func()) error {
	return r.ScanBulkHeldWith(nil, fromSeq, toSeq, workers, fn, hold)
}

// ScanBulkHeldWith is ScanBulkHeld with the read's buffers taken from and
// returned to bb (nil: shared pools), so that a reader of many segments,
// such as a full scan, reuses one window's buffers for the next segment's.
func (r *Reader) ScanBulkHeldWith(bb *BulkBuffers, fromSeq, toSeq uint64, workers int, fn func(Record) bool, hold func()) error {
	if !r.info.Unordered {
		return fmt.Errorf("segment %s: ScanBulkHeld of an ordered segment", r.path)
	}
	return r.scanBulk(bb, fromSeq, toSeq, workers, fn, hold)
}

// BulkBuffers are the buffers of bulk reads of unordered segments
// (ScanBulkHeldWith, ScanBulkSeqsHeldWith) kept by their caller from one
// read to the next: the decompressed blocks of a window once it is
// released, and the window's per-block and per-record tables. Without
// them every read allocates its tables, and a window's blocks (a whole
// segment's at the default sizes, ~64 MiB) come from a sync.Pool that
// each garbage collection empties, so a scan of many segments allocates
// and clears most of its blocks again for every segment. The free blocks
// are at most those of the largest window held; they go with bb. A
// BulkBuffers is used by one read at a time (the read's own decompressing
// goroutines share it safely). The zero value is ready to use.
type BulkBuffers struct {
	mu   sync.Mutex
	free []*Block

	blocks   []*Block
	pooled   []bool
	inWindow []bool
	pos      []uint32
	ords     []uint64
	need     []int // bulkVisit's window blocks
	read     []int // loadBulk's blocks to read

	pending []*bulkPrefetch // started by Prefetch, taken by the read of their segment
	spare   [][]byte        // prefetch buffers to reuse
}

// maxPrefetch bounds the prefetches a BulkBuffers holds: the one of the
// segment about to be read and the one of the segment after it.
const maxPrefetch = 2

// bulkPrefetch is a read of a segment's whole data region (every block)
// running ahead of the segment's bulk read.
type bulkPrefetch struct {
	r    *Reader
	off  int64 // file offset of buf[0]
	buf  []byte
	err  error
	done chan struct{}
}

// Prefetch starts reading every block of r, an unordered segment, on a
// goroutine of its own, into a buffer that the next ScanBulkHeldWith or
// ScanBulkSeqsHeldWith of r with bb decompresses from, instead of reading
// the blocks when it reaches r. A reader of many segments calls it for the
// next segment before reading the current one, so that the next segment's
// file is read while the current one's records are decoded: when the
// files are not in the page cache (a 100M-event ledger outgrows it) the
// read no longer stalls the scan. It costs no extra copy (the bytes are
// read once, earlier) and holds at most two segments' compressed bytes
// (the one being read, the one prefetched). At most two prefetches are
// kept (the oldest is dropped); DropPrefetch drops those not taken.
// Errors are not reported here: the read of the segment then reads it
// itself.
func (bb *BulkBuffers) Prefetch(r *Reader) {
	if !r.info.Unordered || r.info.Blocks == 0 || r.closed.Load() {
		return
	}
	for _, p := range bb.pending {
		if p.r == r {
			return
		}
	}
	if len(bb.pending) >= maxPrefetch {
		bb.drop(bb.pending[0])
		bb.pending = append(bb.pending[:0], bb.pending[1:]...)
	}
	p := &bulkPrefetch{r: r, done: make(chan struct{})}
	var buf []byte
	if n := len(bb.spare); n > 0 {
		buf, bb.spare = bb.spare[n-1], bb.spare[:n-1]
	}
	bb.pending = append(bb.pending, p)
	go func() {
		defer close(p.done)
		ft, err := r.footer()
		if err != nil {
			p.err = err
			return
		}
		first, last := &ft.blocks[0], &ft.blocks[len(ft.blocks)-1]
		n := last.Offset + int64(last.Length) - first.Offset
		if n <= 0 || first.Offset < 0 || last.Offset+int64(last.Length) > r.fOff {
			p.err = fmt.Errorf("segment %s: data region of %d bytes", r.path, n)
			return
		}
		if int64(cap(buf)) < n {
			buf = make([]byte, n)
		}
		p.off, p.buf = first.Offset, buf[:n]
		p.err = readFull(r.f, p.buf, p.off)
	}()
}

// DropPrefetch waits for the prefetches not taken (so that no read of
// them outlives the caller's use of their readers) and drops them.
func (bb *BulkBuffers) DropPrefetch() {
	if bb == nil {
		return
	}
	for _, p := range bb.pending {
		bb.drop(p)
	}
	bb.pending = bb.pending[:0]
}

// drop waits for p's read and keeps its buffer for reuse.
func (bb *BulkBuffers) drop(p *bulkPrefetch) {
	<-p.done
	if p.buf != nil && len(bb.spare) < maxPrefetch {
		bb.spare = append(bb.spare, p.buf[:0])
	}
}

// takePrefetch returns r's finished prefetch, if bb holds one that
// succeeded (nil otherwise), and a function giving its buffer back to bb,
// to call once the read is done with it.
func (bb *BulkBuffers) takePrefetch(r *Reader) (*bulkPrefetch, func()) {
	if bb == nil {
		return nil, func() {}
	}
	for i, p := range bb.pending {
		if p.r != r {
			continue
		}
		bb.pending = append(bb.pending[:i], bb.pending[i+1:]...)
		<-p.done
		done := func() { bb.drop(p) }
		if p.err != nil {
			return nil, done
		}
		return p, done
	}
	return nil, func() {}
}

// getBlock returns a recycled block (bb nil: from the shared pool).
func (bb *BulkBuffers) getBlock() *Block {
	if bb == nil {
		return bulkBlocks.Get().(*Block)
	}
	bb.mu.Lock()
	defer bb.mu.Unlock()
	if n := len(bb.free); n > 0 {
		b := bb.free[n-1]
		bb.free[n-1] = nil
		bb.free = bb.free[:n-1]
		return b
	}
	return new(Block)
}

// putBlock recycles b, which no record given out still points into.
func (bb *BulkBuffers) putBlock(b *Block) {
	if bb == nil {
		bulkBlocks.Put(b)
		return
	}
	bb.mu.Lock()
	bb.free = append(bb.free, b)
	bb.mu.Unlock()
}

// tables returns bulkVisit's tables for nb blocks and count records:
// blocks, pooled and inWindow all nil / false; pos's entries are written
// before they are read.
func (bb *BulkBuffers) tables(nb int, count uint64) (blocks []*Block, pooled, inWindow []bool, pos []uint32) {
	if bb == nil {
		return make([]*Block, nb), make([]bool, nb), make([]bool, nb), make([]uint32, count)
	}
	if cap(bb.blocks) < nb {
		bb.blocks, bb.pooled, bb.inWindow = make([]*Block, nb), make([]bool, nb), make([]bool, nb)
	}
	if uint64(cap(bb.pos)) < count {
		bb.pos = make([]uint32, count)
	}
	blocks, pooled, inWindow = bb.blocks[:nb], bb.pooled[:nb], bb.inWindow[:nb]
	clear(blocks)
	clear(pooled)
	clear(inWindow)
	return blocks, pooled, inWindow, bb.pos[:count]
}

func (r *Reader) scanBulk(bb *BulkBuffers, fromSeq, toSeq uint64, workers int, fn func(Record) bool, hold func()) error {
	if fromSeq > r.info.LastSeq || toSeq < fromSeq || toSeq < r.info.FirstSeq {
		return nil
	}
	end := min(toSeq, r.info.LastSeq) - r.info.FirstSeq + 1 // ordinal bound
	o := max(fromSeq, r.info.FirstSeq) - r.info.FirstSeq
	return r.bulkVisit(bb, func() (uint64, bool) {
		if o >= end {
			return 0, false
		}
		o++
		return o - 1, true
	}, workers, fn, hold)
}

// ScanBulkSeqs is ScanBulk for the records of seqs only (ascending, each
// in the segment), such as the many candidates of a time range: in an
// unordered segment only the blocks holding them are read, each once per
// window, and not cached; an ordered segment is read as by GetManyBulk.
// It stops when fn returns false. Record.Data is valid only during fn.
func (r *Reader) ScanBulkSeqs(seqs []uint64, workers int, fn func(Record) bool) error {
	if !r.info.Unordered {
		return r.GetManyBulk(seqs, fn)
	}
	return r.scanBulkSeqs(nil, seqs, workers, fn, nil)
}

// ScanBulkSeqsHeld is ScanBulkSeqs for an unordered segment with records
// held until hold is called, as in ScanBulkHeld. An ordered segment is
// refused.
func (r *Reader) ScanBulkSeqsHeld(seqs []uint64, workers int, fn func(Record) bool, hold func()) error {
	return r.ScanBulkSeqsHeldWith(nil, seqs, workers, fn, hold)
}

// ScanBulkSeqsHeldWith is ScanBulkSeqsHeld with the read's buffers kept in
// bb (see ScanBulkHeldWith).
func (r *Reader) ScanBulkSeqsHeldWith(bb *BulkBuffers, seqs []uint64, workers int, fn func(Record) bool, hold func()) error {
	if !r.info.Unordered {
		return fmt.Errorf("segment %s: ScanBulkSeqsHeld of an ordered segment", r.path)
	}
	return r.scanBulkSeqs(bb, seqs, workers, fn, hold)
}

func (r *Reader) scanBulkSeqs(bb *BulkBuffers, seqs []uint64, workers int, fn func(Record) bool, hold func()) error {
	for i, s := range seqs {
		if s < r.info.FirstSeq || s > r.info.LastSeq {
			return fmt.Errorf("segment %s: seq %d: %w", r.path, s, ErrNotFound)
		}
		if i > 0 && s <= seqs[i-1] {
			return fmt.Errorf("segment %s: ScanBulkSeqs: seqs not ascending at %d", r.path, s)
		}
	}
	i := 0
	return r.bulkVisit(bb, func() (uint64, bool) {
		if i >= len(seqs) {
			return 0, false
		}
		i++
		return seqs[i-1] - r.info.FirstSeq, true
	}, workers, fn, hold)
}

// bulkWindow is bulkVisit's window budget (a variable so that tests can
// force many windows).
var bulkWindow int64 = bulkBudget

// bulkVisit visits, in order, the records of the ascending seq ordinals
// next yields, in windows whose blocks hold about bulkWindow decompressed
// bytes: each window's blocks are loaded once (loadBulk), then its
// records visited with no search. hold, if not nil, is called before the
// blocks of a window are released, and before bulkVisit returns (see
// ScanBulkHeld); without it Record.Data is valid only during fn.
func (r *Reader) bulkVisit(bb *BulkBuffers, next func() (uint64, bool), workers int, fn func(Record) bool, hold func()) error {
	if r.closed.Load() {
		return ErrClosed
	}
	ft, releaseMap, err := r.mapped()
	if err != nil {
		return err
	}
	defer releaseMap()
	nb := len(ft.blocks)
	// blocks: the current window's blocks; pooled[i]: blocks[i] is a
	// recycled one (bb's, or bulkBlocks'); inWindow: see below; pos[o]
	// is the record index of seq ordinal o in its block, filled as the
	// window's blocks are loaded: the visit then needs no search.
	blocks, pooled, inWindow, pos := bb.tables(nb, r.info.Count)
	// The decoded size of a block is known only once decoded: the window
	// is sized with the segment's average.
	avg := max(r.info.RawBytes/int64(nb), 1)
	var need []int // the window's blocks
	if bb != nil {
		need = bb.need[:0]
		defer func() { bb.need = need[:0] }()
	}
	release := func() {
		if hold != nil {
			hold()
		}
		for _, bi := range need {
			if pooled[bi] && blocks[bi] != nil {
				bb.putBlock(blocks[bi])
			}
			blocks[bi], pooled[bi] = nil, false
		}
		need = need[:0]
	}
	defer release()
	pf, pfDone := bb.takePrefetch(r)
	defer pfDone()
	var ords []uint64 // the window's ordinals
	if bb != nil {
		ords = bb.ords[:0]
		defer func() { bb.ords = ords[:0] }()
	}
	pending, hasPending := uint64(0), false
	for {
		release()
		ords = ords[:0]
		var held int64
		for {
			o, ok := pending, hasPending
			if hasPending {
				hasPending = false
			} else {
				o, ok = next()
			}
			if !ok {
				break
			}
			bi := ft.blockAt(o)
			if !inWindow[bi] {
				if len(need) > 0 && held >= bulkWindow {
					pending, hasPending = o, true
					break
				}
				inWindow[bi] = true
				need = append(need, bi)
				held += avg
			}
			ords = append(ords, o)
		}
		if len(ords) == 0 {
			return nil
		}
		for _, bi := range need {
			inWindow[bi] = false
		}
		if err := r.loadBulk(bb, pf, ft, need, blocks, pooled, pos, workers); err != nil {
			return err
		}
		for _, o := range ords {
			bi := ft.blockAt(o)
			seq := r.info.FirstSeq + o
			b := blocks[bi]
			j := int(pos[o])
			if j >= b.Len() || b.seq(j) != seq {
				return corrupt.New(r.path, ft.blocks[bi].Offset, "block %d lacks seq %d", bi, seq)
			}
			if !fn(b.Record(j)) {
				return nil
			}
		}
	}
}

// loadBulk fills blocks[bi] for each bi in need, from the cache or
// decompressed into a recycled Block (pooled[bi] set), on up to workers
// goroutines, and records in pos each of their records' index by seq
// ordinal (blocks hold disjoint seqs, so the writes never overlap).
func (r *Reader) loadBulk(bb *BulkBuffers, pf *bulkPrefetch, ft *footer, need []int, blocks []*Block, pooled []bool, pos []uint32, workers int) error {
	setPos := func(b *Block) {
		for j, s := range b.seqs {
			if o := s - r.info.FirstSeq; o < uint64(len(pos)) {
				pos[o] = uint32(j)
			}
		}
	}
	// The blocks not in the cache are read in spans of adjacent blocks,
	// in file order, one read per span: a window visits blocks in the
	// order of their first seq, which in a clustered segment strides
	// across its (tenant, kind) runs, and a read per block in that order
	// defeats the kernel's readahead when the file is not in the page
	// cache (~16 KiB reads at ~0.2 ms each here, against ~400 MB/s for
	// large ones; docs/benchmarks.md §13, fourth round: scan).
	var spans []blockSpan
	var read []int // the blocks to read, ascending
	if bb != nil {
		read = bb.read[:0]
		defer func() { bb.read = read[:0] }()
	}
	for _, bi := range need {
		if b := r.cache.getBulk(cacheKey{reader: r.id, block: bi}); b != nil {
			blocks[bi] = b
			setPos(b)
			continue
		}
		read = append(read, bi)
	}
	slices.Sort(read)
	for _, bi := range read {
		inf := &ft.blocks[bi]
		if n := len(spans); n > 0 {
			sp := &spans[n-1]
			if sp.end == bi && ft.blocks[bi-1].Offset+int64(ft.blocks[bi-1].Length) == inf.Offset &&
				inf.Offset+int64(inf.Length)-sp.off <= bulkSpanBytes {
				sp.end = bi + 1
				continue
			}
		}
		spans = append(spans, blockSpan{start: bi, end: bi + 1, off: inf.Offset})
	}
	load := func(sp blockSpan) error {
		last := &ft.blocks[sp.end-1]
		n := last.Offset + int64(last.Length) - sp.off
		var buf []byte
		if pf != nil && sp.off >= pf.off && sp.off+n <= pf.off+int64(len(pf.buf)) {
			buf = pf.buf[sp.off-pf.off : sp.off-pf.off+n] // read ahead (Prefetch)
		} else {
			bp := spanBufs.Get().(*[]byte)
			defer spanBufs.Put(bp)
			if int64(cap(*bp)) < n {
				*bp = make([]byte, n)
			}
			buf = (*bp)[:n]
			if err := readFull(r.f, buf, sp.off); err != nil {
				return fmt.Errorf("segment: read blocks %d-%d of %s: %w", sp.start, sp.end-1, r.path, err)
			}
		}
		for bi := sp.start; bi < sp.end; bi++ {
			inf := &ft.blocks[bi]
			o := inf.Offset - sp.off
			// The block's positions go straight into pos (no sorted
			// index, no second pass: blockCheck.pos).
			nb, err := r.decodeRead(ft, bi, buf[o:o+int64(inf.Length)], bb.getBlock(), pos)
			if err != nil {
				return err // possibly half-written: not recycled
			}
			blocks[bi], pooled[bi] = nb, true
		}
		return nil
	}
	workers = min(workers, len(spans))
	if workers <= 1 {
		for _, sp := range spans {
			if err := load(sp); err != nil {
				return err
			}
		}
		return nil
	}
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				k := int(next.Add(1) - 1)
				if k >= len(spans) || errs[w] != nil {
					return
				}
				errs[w] = load(spans[k])
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// blockSpan is a run of adjacent blocks [start, end) read at once, from
// file offset off (loadBulk).
type blockSpan struct {
	start, end int
	off        int64
}

// bulkSpanBytes bounds a span of loadBulk: large enough for the disk's
// sequential rate, small enough that a window's spans keep its workers
// busy (a default 16 MB segment is 8 spans).
const bulkSpanBytes = 2 << 20

// spanBufs recycles loadBulk's read buffers.
var spanBufs = sync.Pool{New: func() any { return new([]byte) }}

// walk visits an unordered segment in sequence order from seq from. It
// works in windows of consecutive seqs whose blocks together hold about
// walkBudget decompressed bytes, so each block is decoded once per window.
// ft is the footer with its seq map (mapped).
func (r *Reader) walk(ft *footer, from uint64, get func(int) (*Block, error), fn func(Record) bool) error {
	window := make(map[int]*Block)
	o := from - r.info.FirstSeq
	for o < r.info.Count {
		clear(window)
		var held int64
		hi := o
		for ; hi < r.info.Count; hi++ {
			bi := ft.blockAt(hi)
			if _, ok := window[bi]; ok {
				continue
			}
			if len(window) > 0 && held >= walkBudget {
				break
			}
			b, err := get(bi)
			if err != nil {
				return err
			}
			window[bi] = b
			held += b.size
		}
		for ; o < hi; o++ {
			bi := ft.blockAt(o)
			seq := r.info.FirstSeq + o
			j, ok := window[bi].find(seq)
			if !ok {
				return corrupt.New(r.path, ft.blocks[bi].Offset, "block %d lacks seq %d", bi, seq)
			}
			if !fn(window[bi].Record(j)) {
				return nil
			}
		}
	}
	return nil
}

// Verify checks the whole segment from the file (not the cache): the
// trailer and footer again, every block's checksum, decompression and
// record framing, that every seq appears exactly once, the hash chain
// against every stored chain value, and the raw byte total.
func (r *Reader) Verify() error {
	if r.closed.Load() {
		return ErrClosed
	}
	again, err := openReaderAt(r.path, r.f, r.info.FileBytes, nil)
	if err != nil {
		return err
	}
	ft, release, err := r.mapped()
	if err != nil {
		return err
	}
	defer release()
	if again.info != r.info || !bytes.Equal(again.foot.Load().meta, ft.meta) {
		return corrupt.New(r.path, r.info.FileBytes-trailerLen, "footer changed since open")
	}
	var ch chainer
	h := r.info.ChainStart
	var raw int64
	if !r.info.Unordered {
		for i := range ft.blocks {
			b, err := r.loadBlockInto(ft, i, nil)
			if err != nil {
				return err
			}
			for j := 0; j < b.Len(); j++ {
				d := b.Record(j).Data
				h = ch.next(h, d)
				raw += int64(len(d))
			}
			if h != ft.blocks[i].ChainEnd {
				return corrupt.New(r.path, ft.blocks[i].Offset, "block %d: hash chain mismatch", i)
			}
		}
	} else {
		cp := 0
		var bad error
		load := func(i int) (*Block, error) { return r.loadBlockInto(ft, i, nil) }
		err := r.walk(ft, r.info.FirstSeq, load, func(rec Record) bool {
			h = ch.next(h, rec.Data)
			raw += int64(len(rec.Data))
			if rec.Seq == ft.cps[cp].Seq {
				if h != ft.cps[cp].Hash {
					bi, _ := r.locate(ft, rec.Seq)
					bad = corrupt.New(r.path, ft.blocks[bi].Offset, "hash chain mismatch at checkpoint seq %d", rec.Seq)
					return false
				}
				cp++
			}
			return true
		})
		if err != nil {
			return err
		}
		if bad != nil {
			return bad
		}
	}
	if raw != r.info.RawBytes {
		return corrupt.New(r.path, r.info.FileBytes-trailerLen, "records hold %d bytes, footer says %d", raw, r.info.RawBytes)
	}
	return nil
}

// Close releases the file and drops this reader's cached blocks.
func (r *Reader) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	r.cache.dropReader(r.id)
	return r.f.Close()
}
