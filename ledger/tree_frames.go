package ledger

import (
	"encoding/binary"
	"io"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// The one reader of TREE frames (docs/format.md §11): Open's load and
// Verify (scanTree) and Backup's copy (copyTreeFile) read the file through
// treeFileReader, so the rules of what checks out are written once.

// treeReadMax bounds one read of a TREE file and the memory of its
// reader: a frame larger than this (a catch-up at Open writes frames of
// up to maxTreeFrameChunks chunks, 64 MiB) is checked in pieces of this
// size, then read again, checked again, to be used.
const treeReadMax = 1 << 20

// treeFrameInfo is a frame head that checks out.
type treeFrameInfo struct {
	leaves bool  // a leaves frame (magic treeLeavesMagic)
	first  int64 // hash frame: its first chunk; leaves frame: its first seq
	count  int64 // hash frame: its chunks; leaves frame: 0
	nh     int64 // its hashes
}

// size is the frame's size in bytes.
func (fr treeFrameInfo) size() int64 { return treeFrameHead + 32*fr.nh + 8 }

// parseTreeFrameHead decodes and checks the head of the frame that
// follows frames of fileChunks chunks: the magic, the reserved words, the
// continuity (a hash frame starts at chunk fileChunks; a leaves frame at
// the first seq of a chunk no later than chunk fileChunks), the counts (1
// to maxTreeFrameChunks chunks and exactly their stored hashes; 1 to
// treeChunk-1 leaf hashes). ok is false when it does not check out: the
// valid part of the file ends before it.
func parseTreeFrameHead(head []byte, fileChunks int64) (fr treeFrameInfo, ok bool) {
	if len(head) < treeFrameHead || binary.LittleEndian.Uint32(head[4:]) != 0 {
		return fr, false
	}
	first := binary.LittleEndian.Uint64(head[8:])
	n1, n2 := binary.LittleEndian.Uint32(head[16:]), binary.LittleEndian.Uint32(head[20:])
	switch string(head[:4]) {
	case treeLeavesMagic:
		if first == 0 || (first-1)%treeChunk != 0 || first > uint64(fileChunks)*treeChunk+1 || n1 < 1 || n1 >= treeChunk || n2 != 0 {
			return fr, false
		}
		return treeFrameInfo{leaves: true, first: int64(first), nh: int64(n1)}, true
	case treeFrameMagic:
		count := int64(n1)
		if first != uint64(fileChunks) || count < 1 || count > maxTreeFrameChunks || int64(n2) != tlog.StoredHashCount(fileChunks+count)-tlog.StoredHashCount(fileChunks) {
			return fr, false
		}
		return treeFrameInfo{first: fileChunks, count: count, nh: int64(n2)}, true
	}
	return fr, false
}

// treeFileReader reads the frames of a TREE file in order, up to the
// first one that does not check out (head, size, checksum), with reads of
// at most treeReadMax bytes and as much memory: a frame's hashes are
// handed out only once its checksum has checked out.
type treeFileReader struct {
	f    vfs.File
	size int64
	path string
	// good is the end of the frames that checked out so far, and
	// fileChunks the chunks of their hash frames.
	good       int64
	fileChunks int64
	buf        []byte // one read (at most treeReadMax bytes)
	// The frame next returned last: at offset off, its checksum sum,
	// whole in buf when inBuf.
	fr    treeFrameInfo
	off   int64
	sum   uint64
	inBuf bool
	head  [treeFrameHead]byte
}

// newTreeFileReader checks the header of f (a TREE file of size bytes,
// named path in errors) against ledgerID's: a header that does not match
// (another ledger, version or chunk level, a damaged or short file) is a
// corrupt error; a read error is returned as is.
func newTreeFileReader(f vfs.File, size int64, path, ledgerID string) (*treeFileReader, error) {
	want, err := treeHeader(ledgerID)
	if err != nil {
		return nil, err
	}
	if size < treeHeaderLen {
		return nil, corrupt.New(path, 0, "file of %d bytes has no header", size)
	}
	r := &treeFileReader{f: f, size: size, path: path, good: treeHeaderLen}
	var hdr [treeHeaderLen]byte
	if ok, err := r.readFull(hdr[:], 0); err != nil {
		return nil, err
	} else if !ok || string(hdr[:]) != string(want) {
		return nil, corrupt.New(path, 0, "header is not a version-%d tree header of ledger %s with chunk level %d", treeVersion, ledgerID, treeChunkLevel)
	}
	return r, nil
}

// readFull reads p at off; ok is false when the file ends first.
func (r *treeFileReader) readFull(p []byte, off int64) (ok bool, err error) {
	n, err := r.f.ReadAt(p, off)
	if n == len(p) {
		return true, nil
	}
	if err == nil || err == io.EOF {
		return false, nil
	}
	return false, err
}

// grow makes buf hold n bytes (n <= treeReadMax, and within the file).
func (r *treeFileReader) grow(n int64) []byte {
	if int64(cap(r.buf)) < n {
		r.buf = make([]byte, min(max(n, 2*int64(cap(r.buf)), 64<<10), treeReadMax, r.size))
	}
	return r.buf[:n]
}

// next reads the next frame and checks its head, size and checksum. ok is
// false at the end of the valid part (good): the file ends, or the frame
// does not check out; err is a read error. The frame's hashes are then
// read with hashes.
func (r *treeFileReader) next() (fr treeFrameInfo, ok bool, err error) {
	off := r.good
	r.inBuf = false
	if off+treeFrameHead+8 > r.size {
		return fr, false, nil
	}
	if ok, err := r.readFull(r.head[:], off); err != nil || !ok {
		return fr, false, err
	}
	fr, ok = parseTreeFrameHead(r.head[:], r.fileChunks)
	if !ok {
		return fr, false, nil
	}
	fsize := fr.size()
	if off+fsize > r.size {
		return fr, false, nil
	}
	var sum, stored uint64
	if fsize <= treeReadMax {
		b := r.grow(fsize)
		if ok, err := r.readFull(b, off); err != nil || !ok {
			return fr, false, err
		}
		sum, stored = xxhash.Sum64(b[:fsize-8]), binary.LittleEndian.Uint64(b[fsize-8:])
		r.inBuf = true
	} else {
		var ok bool
		if sum, ok, err = r.hashBody(off, fr, 0, nil); err != nil || !ok {
			return fr, false, err
		}
		var b [8]byte
		if ok, err := r.readFull(b[:], off+fsize-8); err != nil || !ok {
			return fr, false, err
		}
		stored = binary.LittleEndian.Uint64(b[:])
	}
	if sum != stored {
		r.inBuf = false
		return fr, false, nil
	}
	r.fr, r.off, r.sum = fr, off, sum
	r.good = off + fsize
	if !fr.leaves {
		r.fileChunks += fr.count
	}
	return fr, true, nil
}

// hashBody hashes the frame fr at off but its checksum, reading its hashes
// in pieces of at most treeReadMax bytes, and passes fn the pieces within
// the first want hashes. ok is false when the file ends first.
func (r *treeFileReader) hashBody(off int64, fr treeFrameInfo, want int64, fn func(p []byte) error) (sum uint64, ok bool, err error) {
	d := xxhash.New()
	d.Write(r.head[:])
	body, keep := 32*fr.nh, 32*want
	buf := r.grow(min(body, treeReadMax))
	for at := int64(0); at < body; {
		n := min(body-at, int64(len(buf)))
		if ok, err := r.readFull(buf[:n], off+treeFrameHead+at); err != nil || !ok {
			return 0, false, err
		}
		d.Write(buf[:n])
		if fn != nil && at < keep {
			if err := fn(buf[:min(n, keep-at)]); err != nil {
				return 0, false, err
			}
		}
		at += n
	}
	return d.Sum64(), true, nil
}

// hashes passes fn the first want stored hashes (32 bytes each) of the
// frame next returned last, in order, in one or more pieces of a multiple
// of 32 bytes that are valid only during the call; fn's error is
// returned. A frame larger than one read is read again and hashed again:
// if it no longer checks out (the file changed), that is an error, and
// what fn was given must not be used.
func (r *treeFileReader) hashes(want int64, fn func(p []byte) error) error {
	want = min(want, r.fr.nh)
	if want <= 0 {
		return nil
	}
	if r.inBuf {
		return fn(r.buf[treeFrameHead : treeFrameHead+32*want])
	}
	sum, ok, err := r.hashBody(r.off, r.fr, want, fn)
	if err != nil {
		return err
	}
	if !ok || sum != r.sum {
		return corrupt.New(r.path, r.off, "tree frame changed while it was read")
	}
	return nil
}
