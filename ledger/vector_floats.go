package ledger

import (
	"encoding/binary"
	"math"
	"unsafe"
)

// The float32 values of vectors are stored little-endian (WAL records,
// vector files). On a little-endian machine that is their memory layout, so
// encoding and decoding them is one memmove instead of a loop of
// conversions; elsewhere the loops run.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// floatBytes is the memory of v as bytes (little-endian machines only).
func floatBytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))
}

// appendFloats appends v as little-endian float32 values.
func appendFloats(dst []byte, v []float32) []byte {
	if littleEndian {
		return append(dst, floatBytes(v)...)
	}
	for _, x := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(x))
	}
	return dst
}

// copyFloats decodes len(dst) little-endian float32 values from src.
func copyFloats(dst []float32, src []byte) {
	if littleEndian {
		copy(floatBytes(dst), src[:4*len(dst)])
		return
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

// aliasFloats returns the n little-endian float32 values at b[off:] as a
// []float32 sharing b's memory, when that is possible without a copy (a
// little-endian machine and b[off:] 4-byte aligned); ok false otherwise.
// The caller must never modify b afterwards.
func aliasFloats(b []byte, off, n int) (v []float32, ok bool) {
	if !littleEndian || n == 0 || off+4*n > len(b) {
		return nil, false
	}
	p := unsafe.Pointer(&b[off])
	if uintptr(p)%4 != 0 {
		return nil, false
	}
	return unsafe.Slice((*float32)(p), n), true
}
