package index

import (
	"encoding/binary"
	"math"

	"github.com/cespare/xxhash/v2"
)

func hashString(s string) uint64 { return xxhash.Sum64String(s) }

func checksum(b []byte) uint64 { return xxhash.Sum64(b) }

func appendU32(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.LittleEndian.AppendUint64(b, v) }
func appendUvarint(b []byte, v uint64) []byte {
	return binary.AppendUvarint(b, v)
}
func appendString(b []byte, s string) []byte {
	b = appendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// dec is a bounds-checked little-endian reader over one section. The first
// failure sticks: later reads return zero values and ok() reports false.
// Offsets in errors are file offsets (base + position in b).
type dec struct {
	b    []byte
	off  int
	bad  bool
	fail string
}

func (d *dec) setFail(why string) {
	if !d.bad {
		d.bad = true
		d.fail = why
	}
}

func (d *dec) remaining() int { return len(d.b) - d.off }

func (d *dec) u8() uint8 {
	if d.bad || d.remaining() < 1 {
		d.setFail("truncated")
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *dec) u32() uint32 {
	if d.bad || d.remaining() < 4 {
		d.setFail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b[d.off:])
	d.off += 4
	return v
}

func (d *dec) u64() uint64 {
	if d.bad || d.remaining() < 8 {
		d.setFail("truncated")
		return 0
	}
	v := binary.LittleEndian.Uint64(d.b[d.off:])
	d.off += 8
	return v
}

func (d *dec) uvarint() uint64 {
	if d.bad {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.setFail("bad varint")
		return 0
	}
	d.off += n
	return v
}

// uvarint32 reads a uvarint that must fit in 32 bits.
func (d *dec) uvarint32() uint32 {
	v := d.uvarint()
	if v > math.MaxUint32 {
		d.setFail("varint out of range")
		return 0
	}
	return uint32(v)
}

// bytes returns the next n bytes (a sub-slice, not a copy).
func (d *dec) bytes(n uint64) []byte {
	if d.bad || n > uint64(d.remaining()) {
		d.setFail("length exceeds section")
		return nil
	}
	v := d.b[d.off : d.off+int(n)]
	d.off += int(n)
	return v
}

func (d *dec) str() string {
	n := d.uvarint()
	return string(d.bytes(n))
}
