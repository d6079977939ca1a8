package segment

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/klauspost/compress/zstd"

	"github.com/exledger/exledger/internal/corrupt"
)

// Block is one decompressed, verified block. It is immutable and may be
// shared by many goroutines through the Cache.
type Block struct {
	first uint64
	data  []byte
	offs  []uint32 // record j's bytes are data[offs[j] : offs[j]+lens[j]]
	lens  []uint32
	seqs  []uint64 // unordered blocks only: seq of record j
	// order: unordered blocks only, record indexes sorted by seq (for
	// find); nil in a block decoded for a bulk read (blockCheck.pos),
	// which locates its records through the read's position table.
	order []uint32
	size  int64 // bytes accounted in the Cache
}

// Len returns the number of records in the block.
func (b *Block) Len() int { return len(b.offs) }

// Record returns the j-th record in storage order (sequence order for an
// ordered segment). Data aliases the cached block: callers must not modify
// or retain it. Time is empty: it is not stored per record (the caller's
// record bytes carry it); block and segment min/max times are.
func (b *Block) Record(j int) Record {
	o, n := b.offs[j], b.lens[j]
	return Record{Seq: b.seq(j), Data: b.data[o : o+n : o+n]}
}

func (b *Block) seq(j int) uint64 {
	if b.seqs != nil {
		return b.seqs[j]
	}
	return b.first + uint64(j)
}

// find returns the record index holding seq.
func (b *Block) find(seq uint64) (int, bool) {
	if b.seqs == nil {
		if seq < b.first || seq-b.first >= uint64(len(b.offs)) {
			return 0, false
		}
		return int(seq - b.first), true
	}
	if b.order == nil { // decoded for a bulk read: not expected here
		for j, s := range b.seqs {
			if s == seq {
				return j, true
			}
		}
		return 0, false
	}
	i := sort.Search(len(b.order), func(i int) bool { return b.seqs[b.order[i]] >= seq })
	if i < len(b.order) && b.seqs[b.order[i]] == seq {
		return int(b.order[i]), true
	}
	return 0, false
}

var (
	decoderOnce sync.Once
	decoder     *zstd.Decoder
	decoderErr  error
)

// sharedDecoder returns the package's zstd decoder. DecodeAll is safe for
// concurrent use; the decoder keeps one block decoder per CPU. Output is
// capped at cap(dst), which callers set to the header's length.
func sharedDecoder() (*zstd.Decoder, error) {
	decoderOnce.Do(func() {
		decoder, decoderErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(MaxBlockBytes),
			zstd.WithDecoderMaxWindow(MaxBlockBytes),
			zstd.WithDecodeAllCapLimit(true),
			// The block's xxhash64 was verified before decompression.
			zstd.IgnoreChecksum(true),
		)
	})
	return decoder, decoderErr
}

// blockCheck carries what the footer says about a block, so the decoded
// header is cross-checked against it.
type blockCheck struct {
	file      string
	off       int64      // file offset of the block's first byte
	want      *BlockInfo // nil: take the header's word (fuzzing)
	index     int
	unordered bool
	// seqMap, when not nil (unordered segments), is the footer whose seq
	// map gives the block that must hold each seq, for the seqs first
	// to last (the segment's); nil skips the check.
	seqMap      *footer
	first, last uint64
	// pos, when not nil (unordered segments with seqMap set), is a bulk
	// read's position table: pos[seq-first] is set to each record's
	// index, and the block gets no sorted index (Block.order), whose sort
	// was most of the cost a clustered block adds to a scan. Every seq is
	// still checked to belong to this block, and a seq stored twice is
	// still refused: after the records are parsed, each record's entry
	// must name the record itself (a seq stored twice leaves its first
	// record's entry overwritten). The blocks of a segment hold disjoint
	// seqs (seqMap), so blocks decoded concurrently into one table never
	// write the same entry.
	pos []uint32
}

// inBlock reports whether the seq map places seq in the checked block.
func (c *blockCheck) inBlock(seq uint64) bool {
	return seq >= c.first && seq <= c.last && c.seqMap.blockAt(seq-c.first) == c.index
}

func (c *blockCheck) corrupt(at int, format string, args ...any) error {
	return corrupt.New(c.file, c.off+int64(at), "block %d: %s", c.index, fmt.Sprintf(format, args...))
}

// parseBlockHeader decodes and bounds-checks a block header; raw is the
// whole block (header, payload, checksum).
func parseBlockHeader(raw []byte, c *blockCheck) (blockHeader, error) {
	var h blockHeader
	if len(raw) < minBlockLen || len(raw) > maxBlockLen {
		return h, c.corrupt(0, "block length %d out of bounds", len(raw))
	}
	d := dec{b: raw}
	if string(d.bytes(4, "magic")) != blockMagic {
		return h, c.corrupt(0, "bad block magic")
	}
	h.codec = d.u8("codec")
	h.flags = d.u8("flags")
	if r := d.u16("reserved"); r != 0 {
		return h, c.corrupt(6, "reserved bytes not zero")
	}
	h.ulen = d.u64("uncompressed length")
	h.slen = d.u32("stored length")
	h.count = d.u32("record count")
	h.firstSeq = d.u64("first seq")
	h.minTime = d.str8("min time")
	h.maxTime = d.str8("max time")
	if d.bad != "" {
		return h, c.corrupt(d.off, "%s", d.bad)
	}
	h.hdrLen = d.off
	switch {
	case h.codec != codecRaw && h.codec != codecZstd:
		return h, c.corrupt(4, "unknown codec %d", h.codec)
	case h.flags&^flagUnordered != 0:
		return h, c.corrupt(5, "unknown flags %#x", h.flags)
	case (h.flags&flagUnordered != 0) != c.unordered:
		return h, c.corrupt(5, "block order flag does not match the segment")
	case h.ulen > MaxBlockBytes:
		return h, c.corrupt(8, "uncompressed length %d exceeds %d", h.ulen, MaxBlockBytes)
	case h.ulen < 2:
		return h, c.corrupt(8, "uncompressed length %d too small", h.ulen)
	case h.slen > MaxBlockBytes:
		return h, c.corrupt(16, "stored length %d exceeds %d", h.slen, MaxBlockBytes)
	case h.count == 0 || uint64(h.count) > h.ulen/2:
		return h, c.corrupt(20, "record count %d impossible for %d bytes", h.count, h.ulen)
	case h.codec == codecRaw && uint64(h.slen) != h.ulen:
		return h, c.corrupt(16, "raw block stored length %d != uncompressed length %d", h.slen, h.ulen)
	case h.codec == codecZstd && uint64(h.slen) >= h.ulen:
		return h, c.corrupt(16, "compressed length %d not below uncompressed length %d", h.slen, h.ulen)
	case (h.minTime == "") != (h.maxTime == "") || h.minTime > h.maxTime:
		return h, c.corrupt(32, "min time %q / max time %q inconsistent", h.minTime, h.maxTime)
	case h.hdrLen+int(h.slen)+blockChecksumLen != len(raw):
		return h, c.corrupt(16, "stored length %d does not match block length %d", h.slen, len(raw))
	case !c.unordered && addOverflows(h.firstSeq, uint64(h.count-1)):
		return h, c.corrupt(24, "sequence numbers overflow")
	}
	return h, nil
}

// decodeBlock verifies and decompresses one block. The order of checks is
// fixed: bounds, checksum of header and stored bytes, then decompression
// within the header's length, then record framing. The returned Block owns its payload
// (raw blocks are copied), so raw may be a reused buffer.
func decodeBlock(raw []byte, c *blockCheck) (*Block, error) {
	return decodeBlockInto(raw, c, nil)
}

// decodeBlockInto is decodeBlock writing into reuse, whose buffers are
// recycled when large enough (nil allocates a new Block). On error reuse is
// left in an unspecified state.
func decodeBlockInto(raw []byte, c *blockCheck, reuse *Block) (*Block, error) {
	h, err := parseBlockHeader(raw, c)
	if err != nil {
		return nil, err
	}
	body := len(raw) - blockChecksumLen
	if xxhash.Sum64(raw[:body]) != binary.LittleEndian.Uint64(raw[body:]) {
		return nil, c.corrupt(0, "block checksum mismatch")
	}
	if w := c.want; w != nil {
		if w.FirstSeq != h.firstSeq || w.Count != h.count || w.MinTime != h.minTime ||
			w.MaxTime != h.maxTime || int64(w.Length) != int64(len(raw)) {
			return nil, c.corrupt(0, "block header does not match the footer")
		}
	}
	payload := raw[h.hdrLen:body]
	// The output buffer is taken only once the headers are checked, so
	// that a forged length allocates nothing.
	var data []byte
	if h.codec == codecRaw {
		data = append(blockBuf(reuse, h.ulen), payload...)
	} else {
		var fh zstd.Header
		if err := fh.Decode(payload); err != nil {
			return nil, c.corrupt(h.hdrLen, "zstd frame header: %v", err)
		}
		// Our encoder always records the content size when it is >= 256.
		if !fh.HasFCS && h.ulen >= 256 {
			return nil, c.corrupt(h.hdrLen, "zstd frame without content size")
		}
		if fh.HasFCS && fh.FrameContentSize != h.ulen {
			return nil, c.corrupt(h.hdrLen, "zstd frame claims %d bytes, header %d", fh.FrameContentSize, h.ulen)
		}
		if fh.WindowSize > MaxBlockBytes {
			return nil, c.corrupt(h.hdrLen, "zstd window %d too large", fh.WindowSize)
		}
		zd, err := sharedDecoder()
		if err != nil {
			return nil, err
		}
		// The slack past ulen lets the decoder use its fast (over-copying)
		// sequence execution instead of the bounds-exact one.
		data, err = zd.DecodeAll(payload, blockBuf(reuse, h.ulen))
		if err != nil {
			return nil, c.corrupt(h.hdrLen, "zstd: %v", err)
		}
		if uint64(len(data)) != h.ulen {
			return nil, c.corrupt(h.hdrLen, "decompressed %d bytes, header says %d", len(data), h.ulen)
		}
	}
	b, reason, at := parseRecords(data, &h, c, reuse)
	if reason != "" {
		return nil, c.corrupt(h.hdrLen, "record framing at uncompressed offset %d: %s", at, reason)
	}
	return b, nil
}

// blockBuf returns an empty buffer for n uncompressed bytes plus the
// decoder's slack: reuse's when it is large enough, else a new one.
func blockBuf(reuse *Block, n uint64) []byte {
	if reuse == nil {
		return make([]byte, 0, n+decodeSlack)
	}
	if uint64(cap(reuse.data)) >= n+decodeSlack {
		return reuse.data[:0]
	}
	// A recycled block gets a buffer with room to spare (1/8, rounded up
	// to 4 KiB), so that it fits the next blocks of about its size too:
	// sized exactly, recycled buffers were too small for about half the
	// blocks they were given and replaced again and again.
	c := (n + decodeSlack + n/8 + 4095) &^ 4095
	return make([]byte, 0, c)
}

// parseRecords splits a block's uncompressed payload into records.
func parseRecords(data []byte, h *blockHeader, c *blockCheck, reuse *Block) (b *Block, reason string, at int) {
	n := int(h.count)
	var oldSeqs []uint64
	var oldOrder []uint32
	if reuse != nil && cap(reuse.offs) >= n && cap(reuse.lens) >= n {
		b = reuse
		b.offs, b.lens = b.offs[:n], b.lens[:n]
		oldSeqs, oldOrder = b.seqs, b.order
	} else {
		b = &Block{}
		idx := make([]uint32, 2*n)
		b.offs, b.lens = idx[:n:n], idx[n:]
	}
	b.first, b.data, b.seqs, b.order = h.firstSeq, data, nil, nil
	// withPos: a bulk read's block, located through c.pos (no order).
	withPos := c.unordered && c.pos != nil && c.seqMap != nil
	if c.unordered {
		// A recycled block's arrays are reused (every entry is written
		// below).
		switch {
		case withPos && cap(oldSeqs) >= n:
			b.seqs = oldSeqs[:n]
		case withPos:
			b.seqs = make([]uint64, n)
		case cap(oldSeqs) >= n && cap(oldOrder) >= n:
			b.seqs, b.order = oldSeqs[:n], oldOrder[:n]
		default:
			b.seqs = make([]uint64, n)
			b.order = make([]uint32, n)
		}
	}
	d := dec{b: data}
	prev := h.firstSeq
	for j := 0; j < n; j++ {
		at = d.off
		var seq uint64
		if c.unordered {
			delta := d.varint("seq delta")
			seq = prev + uint64(delta)
			if j == 0 && delta != 0 {
				return nil, "first seq delta not zero", at
			}
		} else {
			delta := d.uvarint("seq delta")
			if (j == 0 && delta != 0) || (j > 0 && delta != 1) {
				return nil, "seq not dense", at
			}
			seq = prev + delta
		}
		l := d.uvarint("record length")
		if d.bad == "" && l > uint64(len(data)-d.off) {
			return nil, "record length beyond block", at
		}
		if d.bad != "" {
			return nil, d.bad, at
		}
		b.offs[j] = uint32(d.off)
		b.lens[j] = uint32(l)
		d.off += int(l)
		if c.unordered {
			if c.seqMap != nil && !c.inBlock(seq) {
				return nil, fmt.Sprintf("seq %d does not belong to this block", seq), at
			}
			b.seqs[j] = seq
			if withPos {
				o := seq - c.first
				if o >= uint64(len(c.pos)) {
					return nil, fmt.Sprintf("seq %d outside the read's table", seq), at
				}
				c.pos[o] = uint32(j)
			} else {
				b.order[j] = uint32(j)
			}
		}
		prev = seq
	}
	if d.off != len(data) {
		return nil, "trailing bytes after the last record", d.off
	}
	if withPos {
		for j, s := range b.seqs {
			if c.pos[s-c.first] != uint32(j) {
				return nil, fmt.Sprintf("seq %d stored twice", s), 0
			}
		}
	} else if c.unordered {
		seqs := b.seqs
		slices.SortFunc(b.order, func(x, y uint32) int {
			switch {
			case seqs[x] < seqs[y]:
				return -1
			case seqs[x] > seqs[y]:
				return 1
			}
			return 0
		})
		for i := 1; i < n; i++ {
			if seqs[b.order[i]] == seqs[b.order[i-1]] {
				return nil, fmt.Sprintf("seq %d stored twice", seqs[b.order[i]]), 0
			}
		}
	}
	b.size = int64(cap(data)) + int64(cap(b.offs)+cap(b.lens))*4 + int64(len(b.seqs))*12 + 128
	return b, "", 0
}

// decodeSlack is the spare capacity given to zstd's output buffer past the
// block's uncompressed length: with at least 32 bytes of slack the decoder
// (klauspost/compress) executes sequences with whole-word copies, about
// twice as fast as its bounds-exact path.
const decodeSlack = 64
