package segment

import (
	"encoding/binary"
	"math"

	"github.com/cespare/xxhash/v2"
)

// Format constants. See doc.go for the byte layout they describe.
const (
	// FormatVersion is the version written in every trailer.
	FormatVersion = 1

	// MaxBlockBytes bounds the uncompressed payload of one block, and so
	// the memory one block can make a reader allocate.
	MaxBlockBytes = 16 << 20
	// MaxRecordBytes is the largest record Data a Writer accepts: a
	// record plus its framing must fit in one block.
	MaxRecordBytes = MaxBlockBytes - 2*binary.MaxVarintLen64
	// MaxTimeBytes bounds Record.Time and the min/max time strings.
	MaxTimeBytes = 64
	// MaxMetaBytes bounds the caller's opaque footer section.
	MaxMetaBytes = 1 << 20
	// MaxFooterBytes bounds the footer a reader will load.
	MaxFooterBytes = 1 << 30

	// DefaultBlockSize is the target uncompressed block size when
	// Options.BlockSize is 0: within 1.6% of 128 KiB's bytes per event at
	// half its cold point-read cost (numbers in bench_test.go).
	DefaultBlockSize = 64 << 10
	// MinBlockSize is the smallest accepted Options.BlockSize.
	MinBlockSize = 1 << 10

	blockMagic   = "EXSB"
	footerMagic  = "EXSF"
	trailerMagic = "EXLEDGSG"

	codecRaw  = 0
	codecZstd = 1

	flagUnordered = 1

	blockFixedHeader = 34 // magic..firstSeq + the two time length bytes
	blockChecksumLen = 8
	minBlockLen      = blockFixedHeader + 2 + blockChecksumLen // a 2-byte record, no times
	maxBlockLen      = blockFixedHeader + 2*MaxTimeBytes + MaxBlockBytes + blockChecksumLen

	trailerLen = 32

	footerFixed    = 108 // magic..chainEnd, before the time strings
	blockEntryMin  = 8 + 4 + 8 + 4 + 1 + 1 + 32
	checkpointLen  = 8 + 32
	footerMinTotal = footerFixed + 2 + blockEntryMin + 4 + 8

	// compressThreshold: a block whose zstd output is larger than this
	// fraction of its input is stored raw.
	compressThreshold = 0.97

	// walkBudget bounds the decompressed bytes an unordered (clustered)
	// seq-order walk keeps in memory at once.
	walkBudget = 64 << 20
	// bulkBudget is ScanBulk's window: a little more than a default
	// sealed segment (64 MiB of events plus the batch that crossed it),
	// so that its blocks are decompressed exactly once.
	bulkBudget = walkBudget + walkBudget/8
)

// blockHeader is the decoded fixed part of a block.
type blockHeader struct {
	codec    byte
	flags    byte
	ulen     uint64
	slen     uint32
	count    uint32
	firstSeq uint64
	minTime  string
	maxTime  string
	hdrLen   int
}

func appendBlockHeader(dst []byte, h *blockHeader) []byte {
	dst = append(dst, blockMagic...)
	dst = append(dst, h.codec, h.flags, 0, 0)
	dst = binary.LittleEndian.AppendUint64(dst, h.ulen)
	dst = binary.LittleEndian.AppendUint32(dst, h.slen)
	dst = binary.LittleEndian.AppendUint32(dst, h.count)
	dst = binary.LittleEndian.AppendUint64(dst, h.firstSeq)
	dst = appendStr8(dst, h.minTime)
	dst = appendStr8(dst, h.maxTime)
	return dst
}

func appendStr8(dst []byte, s string) []byte {
	dst = append(dst, byte(len(s)))
	return append(dst, s...)
}

// trailer is the fixed-size end of a segment file.
type trailer struct {
	footerOff uint64
	footerLen uint32
	version   uint16
}

func appendTrailer(dst []byte, t trailer) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint64(dst, t.footerOff)
	dst = binary.LittleEndian.AppendUint32(dst, t.footerLen)
	dst = binary.LittleEndian.AppendUint16(dst, t.version)
	dst = binary.LittleEndian.AppendUint16(dst, 0)
	dst = binary.LittleEndian.AppendUint64(dst, xxhash.Sum64(dst[start:]))
	return append(dst, trailerMagic...)
}

// dec is a bounds-checked little-endian cursor. The first failure sticks:
// later reads return zero values, and the caller checks bad once.
type dec struct {
	b   []byte
	off int
	bad string // reason of the first failure
}

func (d *dec) fail(reason string) {
	if d.bad == "" {
		d.bad = reason
	}
}

func (d *dec) need(n int, what string) bool {
	if d.bad != "" {
		return false
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail("truncated " + what)
		return false
	}
	return true
}

func (d *dec) bytes(n int, what string) []byte {
	if !d.need(n, what) {
		return nil
	}
	v := d.b[d.off : d.off+n : d.off+n]
	d.off += n
	return v
}

func (d *dec) u8(what string) byte {
	if !d.need(1, what) {
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *dec) u16(what string) uint16 {
	if !d.need(2, what) {
		return 0
	}
	v := binary.LittleEndian.Uint16(d.b[d.off:])
	d.off += 2
	return v
}

func (d *dec) u32(what string) uint32 {
	if !d.need(4, what) {
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *dec) u64(what string) uint64 {
	if !d.need(8, what) {
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v
}

func (d *dec) hash(what string) (h [32]byte) {
	if b := d.bytes(32, what); b != nil {
		copy(h[:], b)
	}
	return h
}

// str8 reads a 1-byte-length string of at most MaxTimeBytes.
func (d *dec) str8(what string) string {
	n := int(d.u8(what + " length"))
	if n > MaxTimeBytes {
		d.fail(what + " longer than 64 bytes")
		return ""
	}
	return string(d.bytes(n, what))
}

// uvarint reads a uvarint of at most 10 bytes.
func (d *dec) uvarint(what string) uint64 {
	if d.bad != "" {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint in " + what)
		return 0
	}
	d.off += n
	return v
}

func (d *dec) varint(what string) int64 {
	if d.bad != "" {
		return 0
	}
	v, n := binary.Varint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad varint in " + what)
		return 0
	}
	d.off += n
	return v
}

// timeLess orders time strings byte-wise; the empty string means "no time"
// and is ignored by min/max.
func mergeTime(min, max *string, t string) {
	if t == "" {
		return
	}
	if *min == "" || t < *min {
		*min = t
	}
	if *max == "" || t > *max {
		*max = t
	}
}

func addOverflows(a, b uint64) bool { return a > math.MaxUint64-b }
