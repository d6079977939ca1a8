package segment

import (
	"crypto/sha256"
	"encoding/binary"
	"hash"
)

// Checkpoint is the chain value after the record with sequence number Seq.
type Checkpoint struct {
	Seq  uint64
	Hash [32]byte
}

// ChainNext returns SHA-256(prev || uint64be(len(data)) || data), the chain
// value after a record whose bytes are data.
func ChainNext(prev [32]byte, data []byte) [32]byte {
	var c chainer
	return c.next(prev, data)
}

// chainer computes ChainNext with a reused hash state (no allocation per
// record once warmed up).
type chainer struct {
	h   hash.Hash
	in  [40]byte // prev || uint64be(len); a field so it never escapes per call
	out [32]byte
}

func (c *chainer) next(prev [32]byte, data []byte) [32]byte {
	if c.h == nil {
		c.h = sha256.New()
	}
	c.h.Reset()
	copy(c.in[:32], prev[:])
	binary.BigEndian.PutUint64(c.in[32:], uint64(len(data)))
	c.h.Write(c.in[:])
	c.h.Write(data)
	c.h.Sum(c.out[:0])
	return c.out
}

// Chainer computes ChainNext with a hash state reused across calls, for
// callers that walk many records.
type Chainer struct{ c chainer }

// Next returns ChainNext(prev, data).
func (c *Chainer) Next(prev [32]byte, data []byte) [32]byte { return c.c.next(prev, data) }
