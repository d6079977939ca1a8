package wal

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

const readChunk = 1 << 20

// chunkReader serves contiguous byte ranges of a file from a read-ahead
// buffer. A slice it returned is never overwritten once pin has been
// called (replayed records alias it); unpinned buffers are reused.
type chunkReader struct {
	f      vfs.File
	size   int64
	buf    []byte
	start  int64
	pinned bool
}

func (r *chunkReader) get(off, n int64) ([]byte, error) {
	if off >= r.start && off+n <= r.start+int64(len(r.buf)) {
		return r.buf[off-r.start : off-r.start+n], nil
	}
	want := max(n, readChunk)
	if off+want > r.size {
		want = r.size - off
	}
	if want < n {
		return nil, io.ErrUnexpectedEOF // callers check bounds first
	}
	if r.pinned || int64(cap(r.buf)) < want {
		r.buf = make([]byte, want)
		r.pinned = false
	} else {
		r.buf = r.buf[:want]
	}
	r.start = off
	if err := readFull(r.f, r.buf, off); err != nil {
		r.buf = r.buf[:0]
		return nil, err
	}
	return r.buf[:n], nil
}

func (r *chunkReader) pin() { r.pinned = true }

func readFull(f vfs.File, p []byte, off int64) error {
	n, err := f.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// fileState is what recovery learned about one WAL file.
type fileState struct {
	num         uint64
	path        string
	size        int64
	validEnd    int64  // end of the last valid frame (or of the header)
	first, last uint64 // sequence range of its frames; 0 when it has none
	frames      int
	garbage     bool   // nonzero bytes after validEnd
	reason      string // why the bytes at validEnd are not a frame
}

// recoverer verifies the files of a WAL directory in order.
type recoverer struct {
	fs         vfs.FS
	salt       uint64
	maxPayload int64
	startSeq   uint64
	d          *xxhash.Digest
	prevLast   uint64 // last sequence number seen so far (0: none)
	// prev is the file scanned before the current one (nil for the first),
	// so that damage which only shows in a later file (a sequence gap, a
	// valid frame after garbage) is reported against the file that has it.
	prev    *fileState
	damaged *fileState // the last earlier file with garbage after its frames
	batches []*Batch
	scratch []byte
}

// scanFile verifies the header and every frame of st's file, collecting
// batches at or after startSeq. It stops at the first bytes that are not a
// valid frame and checks that no valid frame follows them in the file.
func (rc *recoverer) scanFile(st *fileState) error {
	f, err := rc.fs.Open(st.path)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", st.path, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("wal: size of %s: %w", st.path, err)
	}
	st.size = size
	hdr := make([]byte, min(size, fileHeaderSize))
	if err := readFull(f, hdr, 0); err != nil {
		return fmt.Errorf("wal: read %s: %w", st.path, err)
	}
	if reason := checkFileHeader(hdr, rc.salt, st.num); reason != "" {
		return corrupt.New(st.path, 0, "%s", reason)
	}
	r := &chunkReader{f: f, size: size}
	off := int64(fileHeaderSize)
	for off < size {
		remaining := size - off
		h, err := r.get(off, min(frameHeaderSize, remaining))
		if err != nil {
			return fmt.Errorf("wal: read %s: %w", st.path, err)
		}
		fh, reason := parseFrameHead(h, off, remaining, rc.maxPayload)
		if reason == "" {
			fb, err := r.get(off, fh.size)
			if err != nil {
				return fmt.Errorf("wal: read %s: %w", st.path, err)
			}
			if frameChecksumOK(fb, rc.d, st.num) {
				if err := rc.acceptFrame(st, off, fb, fh, r); err != nil {
					return err
				}
				off += fh.size
				continue
			}
			reason = "frame checksum mismatch"
		}
		// End of the valid frames.
		st.validEnd, st.reason = off, reason
		nonzero, durableAt, err := rc.scanRest(f, st.num, off, size)
		if err != nil {
			return fmt.Errorf("wal: read %s: %w", st.path, err)
		}
		if durableAt >= 0 {
			return corrupt.New(st.path, off, "invalid frame (%s) followed by a valid frame at offset %d written after these bytes were synced", reason, durableAt)
		}
		st.garbage = nonzero
		return nil
	}
	st.validEnd = size
	return nil
}

func (rc *recoverer) acceptFrame(st *fileState, off int64, fb []byte, fh frameHead, r *chunkReader) error {
	if fh.salt != rc.salt {
		return corrupt.New(st.path, off, "frame salt %#x differs from the ledger's %#x", fh.salt, rc.salt)
	}
	recs, reason := decodeRecords(fb, fh)
	if reason != "" {
		return corrupt.New(st.path, off, "%s", reason)
	}
	if d := rc.damaged; d != nil {
		// Only the last file can have a torn tail: bytes that are not a
		// frame in an earlier one, with valid frames after them, are
		// damage to that file.
		return corrupt.New(d.path, d.validEnd, "invalid frame (%s) in a WAL file followed by valid frames in %s", d.reason, st.path)
	}
	if rc.prevLast != 0 && fh.firstSeq != rc.prevLast+1 {
		if st.frames == 0 && rc.prev != nil && fh.firstSeq > rc.prevLast+1 {
			// A file's first frame follows the previous file's last one:
			// the missing frames were at the end of the previous file.
			return corrupt.New(rc.prev.path, rc.prev.validEnd, "WAL file ends at sequence %d but the next file, %s, starts at %d: frames are missing from this file's end", rc.prevLast, st.path, fh.firstSeq)
		}
		return corrupt.New(st.path, off, "sequence discontinuity: frame starts at %d, expected %d", fh.firstSeq, rc.prevLast+1)
	}
	if rc.prevLast == 0 && fh.firstSeq > max(rc.startSeq, 1) {
		if st.frames == 0 && rc.prev != nil {
			// The earlier files hold no frame at all, and this one starts
			// past the first needed sequence: those frames were in the
			// file before it (one cut at its header, say).
			return corrupt.New(rc.prev.path, rc.prev.validEnd, "WAL file holds no frames but sequences from %d are needed and the next file, %s, starts at %d: frames are missing from this file", max(rc.startSeq, 1), st.path, fh.firstSeq)
		}
		return corrupt.New(st.path, off, "WAL starts at sequence %d but sequences from %d are needed", fh.firstSeq, max(rc.startSeq, 1))
	}
	last := fh.firstSeq + uint64(fh.count) - 1
	if last >= rc.startSeq {
		rc.batches = append(rc.batches, &Batch{FirstSeq: fh.firstSeq, Records: recs})
		r.pin()
	}
	rc.prevLast = last
	if st.first == 0 {
		st.first = fh.firstSeq
	}
	st.last = last
	st.frames++
	return nil
}

// scanRest reads [off, size) and reports whether any byte is nonzero and
// the offset of the first valid frame (checksum verified for this file)
// after off whose synced offset is beyond off, or -1. Such a frame proves
// that the bytes at off had been synced, so they are not a torn tail.
// Valid frames whose synced offset is at or before off were written in
// the same unsynced window as the damaged bytes and belong to the tail.
func (rc *recoverer) scanRest(f vfs.File, num uint64, off, size int64) (nonzero bool, durableAt int64, err error) {
	const chunk = 64 << 10
	buf := make([]byte, min(chunk, size-off))
	var hdr [frameHeaderSize]byte
	for pos := off; pos < size; pos += int64(len(buf)) {
		n := min(int64(len(buf)), size-pos)
		b := buf[:n]
		if err := readFull(f, b, pos); err != nil {
			return false, -1, err
		}
		if !nonzero {
			for _, c := range b {
				if c != 0 {
					nonzero = true
					break
				}
			}
		}
		if !nonzero {
			continue // an all-zero region holds no frame
		}
		// Frames start at multiples of 8 (the header and every frame are).
		for i := int64(0); i+4 <= n; i += 8 {
			p := pos + i
			if p == off || le.Uint32(b[i:]) != frameMagic {
				continue
			}
			remaining := size - p
			if remaining < minFrameSize {
				break
			}
			if err := readFull(f, hdr[:], p); err != nil {
				return false, -1, err
			}
			fh, reason := parseFrameHead(hdr[:], p, remaining, rc.maxPayload)
			if reason != "" || fh.synced <= off {
				continue
			}
			if int64(cap(rc.scratch)) < fh.size {
				rc.scratch = make([]byte, fh.size)
			}
			fb := rc.scratch[:fh.size]
			if err := readFull(f, fb, p); err != nil {
				return false, -1, err
			}
			if frameChecksumOK(fb, rc.d, num) {
				return true, p, nil
			}
		}
	}
	return nonzero, -1, nil
}

// recoverDir verifies every file, applies the tail policy and returns the
// per-file states and the batches to replay.
func (w *WAL) recoverDir(nums []uint64, startSeq uint64) ([]fileState, *recoverer, error) {
	rc := &recoverer{fs: w.fs, salt: w.salt, maxPayload: w.maxBatch, startSeq: startSeq, d: xxhash.New()}
	states := make([]fileState, len(nums))
	for i, num := range nums {
		states[i] = fileState{num: num, path: filepath.Join(w.dir, fileName(num))}
		if i > 0 && num != nums[i-1]+1 {
			return nil, nil, corrupt.New(states[i].path, 0, "WAL file %d is missing", nums[i-1]+1)
		}
		if err := rc.scanFile(&states[i]); err != nil {
			return nil, nil, err
		}
		rc.prev = &states[i]
		if states[i].garbage {
			rc.damaged = &states[i]
		}
	}
	lastWithFrames := -1
	for i := range states {
		if states[i].frames > 0 {
			lastWithFrames = i
		}
	}
	// Garbage after the valid frames is a torn tail only if no valid frame
	// follows it anywhere.
	for i := range states {
		if states[i].garbage && i < lastWithFrames {
			st := &states[i]
			return nil, nil, corrupt.New(st.path, st.validEnd, "invalid frame (%s) in a WAL file followed by valid frames in %s", st.reason, states[lastWithFrames].path)
		}
	}
	synced := false
	for i := range states {
		st := &states[i]
		if !st.garbage {
			continue
		}
		if w.readOnly {
			w.log.Debug("wal: read-only: torn tail treated as the end of the log", "file", st.path,
				"offset", st.validEnd, "bytes", st.size-st.validEnd, "reason", st.reason)
			continue
		}
		if err := w.truncateFile(st.path, st.validEnd); err != nil {
			return nil, nil, err
		}
		w.log.Warn("wal: truncated torn tail", "file", st.path, "offset", st.validEnd,
			"bytes", st.size-st.validEnd, "reason", st.reason)
		w.tornBytes += uint64(st.size - st.validEnd)
		st.size = st.validEnd
		st.garbage = false
		if i == lastWithFrames {
			synced = true
		}
	}
	// Frames that only reached the page cache before a process crash must
	// be durable before anyone builds on them.
	if lastWithFrames >= 0 && !synced && !w.readOnly {
		f, err := w.fs.Open(states[lastWithFrames].path)
		if err != nil {
			return nil, nil, fmt.Errorf("wal: open %s: %w", states[lastWithFrames].path, err)
		}
		err = f.Sync()
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("wal: sync %s: %w", states[lastWithFrames].path, err)
		}
	}
	return states, rc, nil
}

// readOnlyScans bounds the scans of a read-only Open racing with a writer.
const readOnlyScans = 8

// recoverReadOnly lists and verifies the log without changing it. A
// read-only WAL may share the directory with a live writer, and a scan
// that races with it can see an inconsistent snapshot: file N read up to
// offset X, then file N+1 holding frames written after X (a sequence
// gap), or a file removed by a Checkpoint after the listing. So a failed
// scan is repeated, and the error is returned once two consecutive scans
// fail the same way (a quiet log fails identically every time), or after
// readOnlyScans scans.
func (w *WAL) recoverReadOnly(startSeq uint64) ([]fileState, *recoverer, error) {
	var prev error
	for scan := 1; ; scan++ {
		nums, err := w.listFiles(false)
		if err == nil {
			var states []fileState
			var rc *recoverer
			if states, rc, err = w.recoverDir(nums, startSeq); err == nil {
				return states, rc, nil
			}
		}
		if scan == readOnlyScans || (prev != nil && prev.Error() == err.Error()) {
			return nil, nil, err
		}
		w.log.Debug("wal: read-only scan failed; rescanning", "scan", scan, "err", err)
		prev = err
	}
}

func (w *WAL) truncateFile(path string, size int64) error {
	f, err := w.fs.OpenRW(path)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", path, err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("wal: truncate %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("wal: sync %s: %w", path, err)
	}
	return nil
}
