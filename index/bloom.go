package index

import "encoding/binary"

// bloom is a standard Bloom filter over 64-bit hashes, k probes by double
// hashing. Serialized: k u8, 3 zero bytes, nwords u32, nwords x u64 LE.
// A filter with zero words contains nothing.
type bloom struct {
	k     uint8
	words []byte // nwords*8 bytes, read in place
}

const (
	bloomBitsPerKey = 10
	bloomK          = 7
	maxBloomK       = 16
)

func newBloomWords(n int) []uint64 {
	if n == 0 {
		return nil
	}
	bits := n * bloomBitsPerKey
	if bits < 64 {
		bits = 64
	}
	return make([]uint64, (bits+63)/64)
}

func bloomSet(words []uint64, h uint64) {
	m := uint64(len(words)) * 64
	h1, h2 := h&0xffffffff, (h>>32)|1
	for i := uint64(0); i < bloomK; i++ {
		bit := (h1 + i*h2) % m
		words[bit/64] |= 1 << (bit % 64)
	}
}

func appendBloom(b []byte, words []uint64) []byte {
	k := byte(bloomK)
	if len(words) == 0 {
		k = 0
	}
	b = append(b, k, 0, 0, 0)
	b = appendU32(b, uint32(len(words)))
	for _, w := range words {
		b = appendU64(b, w)
	}
	return b
}

// readBloom parses a filter; the caller turns a failure into a
// CorruptionError.
func readBloom(d *dec) bloom {
	k := d.u8()
	if d.u8() != 0 || d.u8() != 0 || d.u8() != 0 {
		d.setFail("bloom: nonzero reserved bytes")
	}
	n := d.u32()
	w := d.bytes(uint64(n) * 8)
	if d.bad {
		return bloom{}
	}
	if (n == 0) != (k == 0) || k > maxBloomK {
		d.setFail("bloom: bad parameters")
		return bloom{}
	}
	return bloom{k: k, words: w}
}

func (f bloom) mayContain(h uint64) bool {
	nw := uint64(len(f.words) / 8)
	if nw == 0 {
		return false
	}
	m := nw * 64
	h1, h2 := h&0xffffffff, (h>>32)|1
	for i := uint64(0); i < uint64(f.k); i++ {
		bit := (h1 + i*h2) % m
		w := binary.LittleEndian.Uint64(f.words[(bit/64)*8:])
		if w&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}
