package wal

import (
	"fmt"
	"path/filepath"

	"github.com/cespare/xxhash/v2"
)

// maxSalvageFileBytes bounds the size of a WAL file SalvageFrames reads
// whole.
const maxSalvageFileBytes = 4 << 30

// FrameSalvage is what SalvageFrames recovered from a WAL directory.
type FrameSalvage struct {
	// Batches are the frames whose checksum verifies (for the number in
	// their file's name), that carry the ledger's salt and whose records
	// decode, in file and offset order. Their sequence ranges need not
	// be contiguous, and an old frame may repeat a range a later one
	// holds (the caller decides).
	Batches []*Batch
	// Frames says where each of Batches was found (same order).
	Frames []FrameInfo
	// Damaged lists the byte ranges, per file, that are not a verified
	// frame and not zero (a bad file header included).
	Damaged []DamagedRange
	// Bytes is the total size of the files read.
	Bytes int64
}

// FrameInfo locates a verified frame.
type FrameInfo struct {
	File         string
	Offset, Size int64
	FirstSeq     uint64
	Count        int
}

// DamagedRange is a run of bytes in a WAL file holding no verified frame.
type DamagedRange struct {
	File           string
	Offset, Length int64
}

// SalvageFrames reads every WAL file in opts.Dir and returns every frame
// that still verifies, for repair: unlike Open and Salvage it does not stop
// at the first bad frame but looks for the next frame magic at each 8-byte
// boundary after it, so frames after damage are kept. A bad file header
// does not stop the scan (a frame's checksum is seeded with the file
// number, which the name gives). It changes nothing and returns an error
// only for I/O failures. Only FS, Dir, Salt and MaxBatchBytes of opts are
// used.
func SalvageFrames(opts Options) (*FrameSalvage, error) {
	w, err := newWAL(opts)
	if err != nil {
		return nil, err
	}
	nums, err := w.listFiles(false)
	if err != nil {
		return nil, err
	}
	out := &FrameSalvage{}
	d := xxhash.New()
	for _, num := range nums {
		path := filepath.Join(w.dir, fileName(num))
		f, err := w.fs.Open(path)
		if err != nil {
			return nil, fmt.Errorf("wal: salvage: open %s: %w", path, err)
		}
		size, err := f.Size()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("wal: salvage: size of %s: %w", path, err)
		}
		if size > maxSalvageFileBytes {
			f.Close()
			return nil, fmt.Errorf("wal: salvage: %s: %d bytes is more than the %d a salvage reads", path, size, int64(maxSalvageFileBytes))
		}
		b := make([]byte, size)
		err = readFull(f, b, 0)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("wal: salvage: read %s: %w", path, err)
		}
		out.Bytes += size
		scanFrames(out, path, num, b, w.salt, w.maxBatch, d)
	}
	return out, nil
}

// scanFrames adds the verified frames of one file's bytes to out.
func scanFrames(out *FrameSalvage, path string, num uint64, b []byte, salt uint64, maxPayload int64, d *xxhash.Digest) {
	size := int64(len(b))
	badFrom := int64(-1)
	var nonzero bool
	endBad := func(at int64) {
		if badFrom >= 0 && nonzero {
			out.Damaged = append(out.Damaged, DamagedRange{File: path, Offset: badFrom, Length: at - badFrom})
		}
		badFrom, nonzero = -1, false
	}
	markBad := func(from, to int64) {
		if badFrom < 0 {
			badFrom = from
		}
		for _, c := range b[from:min(to, size)] {
			if c != 0 {
				nonzero = true
				break
			}
		}
	}
	if reason := checkFileHeader(b, salt, num); reason != "" {
		markBad(0, min(size, fileHeaderSize))
	}
	pos := int64(fileHeaderSize)
	for pos+minFrameSize <= size {
		if le.Uint32(b[pos:]) == frameMagic {
			fh, reason := parseFrameHead(b[pos:pos+frameHeaderSize], pos, size-pos, maxPayload)
			if reason == "" && fh.salt == salt {
				fb := b[pos : pos+fh.size]
				if frameChecksumOK(fb, d, num) {
					if recs, reason := decodeRecords(fb, fh); reason == "" {
						endBad(pos)
						out.Batches = append(out.Batches, &Batch{FirstSeq: fh.firstSeq, Records: recs})
						out.Frames = append(out.Frames, FrameInfo{File: path, Offset: pos, Size: fh.size, FirstSeq: fh.firstSeq, Count: len(recs)})
						pos += fh.size
						continue
					}
				}
			}
		}
		markBad(pos, pos+8)
		pos += 8
	}
	if pos < size {
		markBad(pos, size)
	}
	endBad(size)
}
