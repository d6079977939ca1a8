package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/internal/lru"
	"github.com/exledger/exledger/vfs"
)

// Index is one sealed, immutable index file. It is safe for concurrent
// use. Open verifies the header, the trailer and the summary; everything
// else is read and verified against its checksum the first time a lookup
// needs it (a whole section, or in a version 2 file the chunks of the
// dictionary and postings a term lookup touches), and kept in memory
// afterwards, or, for an index opened with OpenCached, until its Cache
// needs the room (then the next lookup reads and verifies it again).
type Index struct {
	name string
	size int64
	data []byte   // whole file (Decode), or nil
	file vfs.File // open file (Open), or nil

	mu     sync.Mutex // guards file and closed
	closed bool
	cache  *Cache // bounds the lazily loaded sections; nil keeps them

	version int // format version: 1 or 2
	nsec    int // sections in the file: 6 (version 1) or 7
	secs    [numSections]secRef
	summary *Summary

	// dict is the whole dictionary section (version 1), or only its head
	// (term and restart counts and the restart rows, version 2), whose
	// restart blocks and posting lists are then read chunk by chunk.
	dict   lazy[dictView]
	chunks lazy[chunkTable] // version 2: chunk checksums and cached chunks; kept once loaded
	post   lazy[[]byte]
	times  lazy[timeView]
	idf    lazy[bloom]
	ids    lazy[idView]
}

type secRef struct {
	off, len int64
	sum      uint64
}

// lazy holds a value built on first use: kept for good without a Cache,
// or until the Cache evicts it (the next use builds it again). A
// corruption error is remembered; an I/O error is not, so a later call
// retries.
type lazy[T any] struct {
	mu  sync.Mutex
	v   atomic.Pointer[T]
	err error
	ent lru.Entry
}

// get returns the value, building it if needed; n is the bytes it holds
// (the section's length), which c accounts for.
func (l *lazy[T]) get(c *Cache, n int64, build func() (*T, error)) (*T, error) {
	if p := l.v.Load(); p != nil {
		if c != nil {
			c.c.Touch(&l.ent)
		}
		return p, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.v.Load(); p != nil {
		return p, nil
	}
	if l.err != nil {
		return nil, l.err
	}
	p, err := build()
	if err != nil {
		if errors.Is(err, corrupt.ErrCorrupt) {
			l.err = err
		}
		return nil, err
	}
	if c == nil {
		l.v.Store(p)
		return p, nil
	}
	if l.ent.Drop == nil {
		l.ent.Drop = func() { l.v.Store(nil) }
	}
	c.c.Insert(&l.ent, n, func() { l.v.Store(p) })
	return p, nil
}

func (ix *Index) corrupt(off int64, format string, args ...any) *CorruptionError {
	return corrupt.New(ix.name, off, format, args...)
}

// secCorrupt reports a structural failure inside section s at position pos.
func (ix *Index) secCorrupt(s int, pos int, why string) *CorruptionError {
	return ix.corrupt(ix.secs[s].off+int64(pos), "%s section: %s", sectionNames[s], why)
}

// Open opens the index file at path. It reads and verifies the header, the
// trailer and the summary section; it keeps the file open for the lazy
// loading of the other sections until Close.
func Open(fs vfs.FS, path string) (*Index, error) {
	f, err := fs.Open(path)
	if err != nil {
		return nil, fmt.Errorf("index: open %s: %w", path, err)
	}
	size, err := f.Size()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("index: size of %s: %w", path, err)
	}
	ix := &Index{name: path, size: size, file: f}
	if err := ix.init(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return ix, nil
}

// Decode parses an index held in memory; name is used in errors. data
// must not be modified afterwards: sections refer to it without copying.
func Decode(name string, data []byte) (*Index, error) {
	ix := &Index{name: name, size: int64(len(data)), data: data}
	if err := ix.init(); err != nil {
		return nil, err
	}
	return ix, nil
}

// Close releases the file of an Index made by Open. Sections already
// loaded stay usable; loading another one fails with ErrClosed.
func (ix *Index) Close() error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil
	}
	ix.closed = true
	if ix.file != nil {
		return ix.file.Close()
	}
	return nil
}

// readAt reads n bytes at off into a fresh buffer. off and n are already
// within the file size, which bounds the allocation.
func (ix *Index) readAt(off, n int64) ([]byte, error) {
	if ix.data != nil {
		return ix.data[off : off+n], nil
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.closed {
		return nil, fmt.Errorf("index %s: %w", ix.name, ErrClosed)
	}
	buf := make([]byte, n)
	if _, err := ix.file.ReadAt(buf, off); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ix.corrupt(off, "file shorter than its trailer says")
		}
		return nil, fmt.Errorf("index: read %s at %d: %w", ix.name, off, err)
	}
	return buf, nil
}

func (ix *Index) init() error {
	if ix.size < headerLen+trailerLenV1 {
		return ix.corrupt(0, "file of %d bytes is too short for an index", ix.size)
	}
	hdr, err := ix.readAt(0, headerLen)
	if err != nil {
		return err
	}
	if string(hdr[:8]) != fileMagic {
		return ix.corrupt(0, "bad magic %q", hdr[:8])
	}
	// The version (covered by the trailer checksum, checked next) says
	// how long the trailer is; a damaged version either names no known
	// version or points at a trailer whose checksum fails.
	switch v := binary.LittleEndian.Uint32(hdr[8:]); v {
	case 1:
		ix.version, ix.nsec = 1, numSectionsV1
	case formatVersion:
		ix.version, ix.nsec = formatVersion, numSections
	default:
		return ix.corrupt(8, "unsupported version %d", v)
	}
	trLen := int64(trailerLenOf(ix.nsec))
	if ix.size < headerLen+trLen {
		return ix.corrupt(0, "file of %d bytes is too short for an index of version %d", ix.size, ix.version)
	}
	trOff := ix.size - trLen
	tr, err := ix.readAt(trOff, trLen)
	if err != nil {
		return err
	}
	if got, want := binary.LittleEndian.Uint64(tr[trLen-8:]), trailerChecksum(hdr, tr[:trLen-8]); got != want {
		return ix.corrupt(trOff, "trailer checksum mismatch")
	}
	if binary.LittleEndian.Uint32(hdr[12:]) != 0 {
		return ix.corrupt(12, "nonzero reserved header bytes")
	}
	ns := int64(ix.nsec) * 24
	if binary.LittleEndian.Uint32(tr[ns:]) != uint32(ix.nsec) || string(tr[ns+4:ns+8]) != trailerMagic {
		return ix.corrupt(trOff+ns, "bad trailer section count or magic")
	}
	next := int64(headerLen)
	for i := range ix.secs[:ix.nsec] {
		off := binary.LittleEndian.Uint64(tr[i*24:])
		n := binary.LittleEndian.Uint64(tr[i*24+8:])
		if off != uint64(next) || n > uint64(trOff-next) {
			return ix.corrupt(trOff+int64(i*24), "%s section at %d+%d is out of place", sectionNames[i], off, n)
		}
		ix.secs[i] = secRef{off: next, len: int64(n), sum: binary.LittleEndian.Uint64(tr[i*24+16:])}
		next += int64(n)
	}
	if next != trOff {
		return ix.corrupt(next, "%d unaccounted bytes before the trailer", trOff-next)
	}
	if ix.version >= 2 {
		// The chunk checksums section's size follows from the dictionary
		// and postings sizes; checked here so that nothing later trusts
		// a chunk count the file does not hold.
		n := (ix.secs[secDict].len + ix.secs[secPostings].len + chunkSize - 1) / chunkSize
		if ix.secs[secChunks].len != 8+8*n {
			return ix.corrupt(ix.secs[secChunks].off, "chunk checksums section of %d bytes, want %d for %d chunks", ix.secs[secChunks].len, 8+8*n, n)
		}
	}
	s, err := ix.section(secSummary)
	if err != nil {
		return err
	}
	ix.summary, err = ix.parseSummary(s)
	return err
}

// section reads section i and verifies its checksum.
func (ix *Index) section(i int) ([]byte, error) {
	r := ix.secs[i]
	b, err := ix.readAt(r.off, r.len)
	if err != nil {
		return nil, err
	}
	if checksum(b) != r.sum {
		return nil, ix.corrupt(r.off, "%s section checksum mismatch", sectionNames[i])
	}
	return b, nil
}

// Summary returns the summary loaded by Open/Decode. It is read-only.
func (ix *Index) Summary() *Summary { return ix.summary }

// Name returns the path or name the index was opened with.
func (ix *Index) Name() string { return ix.name }

// Size returns the encoded size of the index (its file size), in bytes.
func (ix *Index) Size() int64 { return ix.size }

// Version returns the file's format version (1 or 2).
func (ix *Index) Version() int { return ix.version }

// FileVersion returns the format version an index file's header claims
// (0 when data does not start with an index header). The claim is not
// verified: Decode or Open does that.
func FileVersion(data []byte) int {
	if len(data) < headerLen || string(data[:8]) != fileMagic {
		return 0
	}
	return int(binary.LittleEndian.Uint32(data[8:]))
}

// Count returns the number of events (ordinals 0..Count-1) indexed.
func (ix *Index) Count() uint32 { return ix.summary.Count }

// Bytes returns the encoded size of each index: one entry per stored
// Field (dictionary entries, restart rows and postings of that field; for
// FieldEventID the filter and table sections), FieldTime for the time
// section and FieldOverhead for the rest (header, trailer, summary and
// section headers). The values add up to the file size.
func (ix *Index) Bytes() map[Field]int64 {
	m := make(map[Field]int64, numFields+2)
	used := int64(0)
	for f := FieldTenant; f < FieldEventID; f++ {
		m[f] = int64(ix.summary.fieldBytes[f])
		used += m[f]
	}
	m[FieldEventID] = ix.secs[secIDFilter].len + ix.secs[secIDs].len
	m[FieldTime] = ix.secs[secTime].len
	m[FieldOverhead] = ix.size - used - m[FieldEventID] - m[FieldTime]
	return m
}

// Verify loads every section and checks its structure completely: every
// entry decodes, keys are strictly increasing, every ordinal is below
// Count and every posting list matches its stated cardinality.
func (ix *Index) Verify() error {
	if err := ix.verifyChunks(); err != nil {
		return err
	}
	if err := ix.verifyDict(); err != nil {
		return err
	}
	if err := ix.verifyTime(); err != nil {
		return err
	}
	return ix.verifyIDs()
}
