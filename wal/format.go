package wal

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// On-disk constants; see doc.go for the layout.
const (
	fileMagic      = "EXLGWAL\x00"
	fileVersion    = 1
	fileHeaderSize = 40

	frameMagic      uint32 = 0x46574c45 // "ELWF" on disk
	frameVersion           = 1
	frameHeaderSize        = 40
	frameTrailer           = 8
	minFrameSize           = frameHeaderSize + 8 + frameTrailer // one empty record, padded

	fileSuffix = ".wal"
	tmpSuffix  = ".wal.tmp"
	// freeSuffix names a checkpointed file kept for reuse (Options.RecycleFiles).
	freeSuffix = ".wal.free"

	// maxBatchLimit bounds MaxBatchBytes so payload lengths fit the uint32
	// field with room for padding.
	maxBatchLimit = 1 << 30
)

var le = binary.LittleEndian

func fileName(num uint64) string { return fmt.Sprintf("%016d%s", num, fileSuffix) }

// parseFileName returns the number of a WAL file name, or ok=false.
func parseFileName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, fileSuffix)
	if !ok || len(s) < 16 {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || fileName(n) != name {
		return 0, false
	}
	return n, true
}

func freeName(num uint64) string { return fileName(num) + ".free" }

// parseFreeName returns the number in the name of a file kept for reuse,
// or ok=false.
func parseFreeName(name string) (uint64, bool) {
	s, ok := strings.CutSuffix(name, ".free")
	if !ok {
		return 0, false
	}
	return parseFileName(s)
}

// appendFileHeader appends the 40-byte file header.
func appendFileHeader(b []byte, salt, num uint64) []byte {
	start := len(b)
	b = append(b, fileMagic...)
	b = le.AppendUint16(b, fileVersion)
	b = le.AppendUint16(b, 0)              // flags
	b = le.AppendUint32(b, fileHeaderSize) // header length
	b = le.AppendUint64(b, salt)
	b = le.AppendUint64(b, num)
	return le.AppendUint64(b, xxhash.Sum64(b[start:]))
}

// checkFileHeader verifies a file header; the returned reason is empty if
// it is valid for (salt, num).
func checkFileHeader(h []byte, salt, num uint64) string {
	if len(h) < fileHeaderSize {
		return fmt.Sprintf("file header truncated (%d bytes)", len(h))
	}
	h = h[:fileHeaderSize]
	if string(h[:8]) != fileMagic {
		return "bad file magic"
	}
	if sum := xxhash.Sum64(h[:32]); sum != le.Uint64(h[32:]) {
		return "file header checksum mismatch"
	}
	if v := le.Uint16(h[8:]); v != fileVersion {
		return fmt.Sprintf("unsupported file version %d", v)
	}
	if f := le.Uint16(h[10:]); f != 0 {
		return fmt.Sprintf("unknown file flags %#x", f)
	}
	if l := le.Uint32(h[12:]); l != fileHeaderSize {
		return fmt.Sprintf("bad file header length %d", l)
	}
	if s := le.Uint64(h[16:]); s != salt {
		return fmt.Sprintf("salt mismatch: file has %#x, ledger has %#x", s, salt)
	}
	if n := le.Uint64(h[24:]); n != num {
		return fmt.Sprintf("file number mismatch: header has %d, name has %d", n, num)
	}
	return ""
}

func align8(n int64) int64 { return (n + 7) &^ 7 }

// frameSize is the on-disk size of a frame whose payload is payload bytes.
func frameSize(payload int64) int64 { return frameHeaderSize + align8(payload) + frameTrailer }

// payloadSize is the payload length of records (each length-prefixed).
func payloadSize(records [][]byte) int64 {
	n := int64(4 * len(records))
	for _, r := range records {
		n += int64(len(r))
	}
	return n
}

// appendFrame appends one frame for records to b. d is a reusable digest.
func appendFrame(b []byte, d *xxhash.Digest, salt, fileNum, firstSeq, synced uint64, records [][]byte, payload int64) []byte {
	start := len(b)
	b = le.AppendUint32(b, frameMagic)
	b = append(b, frameVersion, 0, 0, 0) // version, flags, reserved
	b = le.AppendUint64(b, salt)
	b = le.AppendUint64(b, firstSeq)
	b = le.AppendUint64(b, synced)
	b = le.AppendUint32(b, uint32(len(records)))
	b = le.AppendUint32(b, uint32(payload))
	for _, r := range records {
		b = le.AppendUint32(b, uint32(len(r)))
		b = append(b, r...)
	}
	for pad := align8(payload) - payload; pad > 0; pad-- {
		b = append(b, 0)
	}
	d.ResetWithSeed(fileNum)
	d.Write(b[start:])
	return le.AppendUint64(b, d.Sum64())
}

// frameHead is a frame header that passed the structural checks.
type frameHead struct {
	salt     uint64
	firstSeq uint64
	synced   int64 // file offset known durable when the frame was written
	count    uint32
	payload  int64
	size     int64 // whole frame on disk
}

// parseFrameHead checks the header at the start of h, found at file offset
// off, against the bounds, before anything is allocated or hashed.
// remaining is the number of file bytes from off to the end of the file.
func parseFrameHead(h []byte, off, remaining, maxPayload int64) (frameHead, string) {
	if len(h) < frameHeaderSize || remaining < minFrameSize {
		return frameHead{}, "truncated frame header"
	}
	if le.Uint32(h) != frameMagic {
		return frameHead{}, "bad frame magic"
	}
	if h[4] != frameVersion {
		return frameHead{}, fmt.Sprintf("unsupported frame version %d", h[4])
	}
	if h[5] != 0 || h[6] != 0 || h[7] != 0 {
		return frameHead{}, "nonzero frame flags"
	}
	fh := frameHead{
		salt:     le.Uint64(h[8:]),
		firstSeq: le.Uint64(h[16:]),
		count:    le.Uint32(h[32:]),
		payload:  int64(le.Uint32(h[36:])),
	}
	if s := le.Uint64(h[24:]); s < fileHeaderSize || s > uint64(off) {
		return frameHead{}, fmt.Sprintf("synced offset %d outside [%d, %d]", s, fileHeaderSize, off)
	}
	fh.synced = int64(le.Uint64(h[24:]))
	if fh.payload > maxPayload {
		return frameHead{}, fmt.Sprintf("payload length %d exceeds limit %d", fh.payload, maxPayload)
	}
	fh.size = frameSize(fh.payload)
	if fh.size > remaining {
		return frameHead{}, fmt.Sprintf("frame of %d bytes exceeds the %d bytes left in the file", fh.size, remaining)
	}
	if fh.count == 0 || int64(fh.count)*4 > fh.payload {
		return frameHead{}, fmt.Sprintf("record count %d impossible for payload of %d bytes", fh.count, fh.payload)
	}
	if fh.firstSeq == 0 || fh.firstSeq+uint64(fh.count) < fh.firstSeq {
		return frameHead{}, fmt.Sprintf("bad sequence range %d+%d", fh.firstSeq, fh.count)
	}
	return fh, ""
}

// frameChecksumOK verifies the trailing checksum of the whole frame f.
func frameChecksumOK(f []byte, d *xxhash.Digest, fileNum uint64) bool {
	n := len(f) - frameTrailer
	d.ResetWithSeed(fileNum)
	d.Write(f[:n])
	return d.Sum64() == le.Uint64(f[n:])
}

// decodeRecords splits the payload of a checksum-valid frame. The records
// alias f. The reason is non-empty if the payload breaks the format.
func decodeRecords(f []byte, fh frameHead) ([][]byte, string) {
	p := f[frameHeaderSize : frameHeaderSize+fh.payload]
	for _, c := range f[frameHeaderSize+fh.payload : int64(len(f))-frameTrailer] {
		if c != 0 {
			return nil, "nonzero frame padding"
		}
	}
	recs := make([][]byte, 0, fh.count) // count*4 <= payload: bounded
	for i := uint32(0); i < fh.count; i++ {
		if len(p) < 4 {
			return nil, fmt.Sprintf("record %d: truncated length", i)
		}
		n := le.Uint32(p)
		p = p[4:]
		if int64(n) > int64(len(p)) {
			return nil, fmt.Sprintf("record %d: length %d exceeds the %d payload bytes left", i, n, len(p))
		}
		recs = append(recs, p[:n:n])
		p = p[n:]
	}
	if len(p) != 0 {
		return nil, fmt.Sprintf("%d unused payload bytes after %d records", len(p), fh.count)
	}
	return recs, ""
}
