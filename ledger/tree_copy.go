package ledger

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// treeCopyRead bounds one read of copyTreeFile: a frame larger than this
// is read, checked and copied in pieces of this size.
const treeCopyRead = 1 << 20

// treeCopyFrameChunks is how many chunks one frame of copyTreeFile's
// output holds (as writeTreeFile's: about 1 MiB of stored hashes).
const treeCopyFrameChunks = 1 << 14

// copyTreeFile writes to w a TREE file of the same ledger holding the
// valid part of the TREE file in (size bytes, read through path's name
// for errors) cut to the chunks below limit: the header, the chunk tree's
// stored hashes in frames of treeCopyFrameChunks chunks, then the last
// leaves frame if it still applies (docs/format.md §11: a leaves frame
// may follow the frame completing its chunk). It returns the chunks
// written.
//
// Memory and reads are bounded whatever the file's size: no read is
// larger than treeCopyRead, and a frame's checksum is checked before any
// of it is copied (a frame larger than one read is read twice, checked
// again on the second read). As Open's scanTree, the first frame that
// does not check out (magic, reserved, continuity, counts, size,
// checksum) ends the valid part. A header that does not match is a
// corrupt error; rerr is a read error, or the file changing between the
// two reads of a frame; werr is w's error.
func copyTreeFile(in vfs.File, size int64, path, ledgerID string, limit int64, w io.Writer) (chunks int64, rerr, werr error) {
	want, err := treeHeader(ledgerID)
	if err != nil {
		return 0, err, nil
	}
	if size < treeHeaderLen {
		return 0, corrupt.New(path, 0, "file of %d bytes has no header", size), nil
	}
	buf := make([]byte, treeCopyRead)
	// readFull reads p at off; ok is false when the file ends first.
	readFull := func(p []byte, off int64) (ok bool, err error) {
		n, err := in.ReadAt(p, off)
		if n == len(p) {
			return true, nil
		}
		if err == nil || err == io.EOF {
			return false, nil
		}
		return false, err
	}
	if ok, err := readFull(buf[:treeHeaderLen], 0); err != nil {
		return 0, err, nil
	} else if !ok || string(buf[:treeHeaderLen]) != string(want) {
		return 0, corrupt.New(path, 0, "header is not a version-%d tree header of ledger %s with chunk level %d", treeVersion, ledgerID, treeChunkLevel), nil
	}
	fw := treeFrameWriter{w: w}
	fw.write(want)
	var tail []tlog.Hash
	var tailFrom uint64
	var fileChunks int64
	var head [treeFrameHead]byte
	off := int64(treeHeaderLen)
	for off+treeFrameHead+8 <= size && fw.err == nil {
		if ok, err := readFull(head[:], off); err != nil {
			return chunks, err, nil
		} else if !ok || binary.LittleEndian.Uint32(head[4:]) != 0 {
			break
		}
		leaves := string(head[:4]) == treeLeavesMagic
		var first, count, nh int64
		switch {
		case leaves:
			first = int64(binary.LittleEndian.Uint64(head[8:]))
			nh = int64(binary.LittleEndian.Uint32(head[16:]))
			if first == 0 || (first-1)%treeChunk != 0 || first > fileChunks*treeChunk+1 || nh < 1 || nh >= treeChunk || binary.LittleEndian.Uint32(head[20:]) != 0 {
				nh = -1
			}
		case string(head[:4]) == treeFrameMagic:
			first = int64(binary.LittleEndian.Uint64(head[8:]))
			count = int64(binary.LittleEndian.Uint32(head[16:]))
			nh = int64(binary.LittleEndian.Uint32(head[20:]))
			if first != fileChunks || count < 1 || count > maxTreeFrameChunks || nh != tlog.StoredHashCount(first+count)-tlog.StoredHashCount(first) {
				nh = -1
			}
		default:
			nh = -1
		}
		fsize := treeFrameHead + 32*nh + 8
		if nh < 0 || off+fsize > size {
			break
		}
		// Check the frame before copying any of it.
		whole := fsize <= int64(len(buf)) // kept in buf for the copy
		var sum, stored uint64
		if whole {
			if ok, err := readFull(buf[:fsize], off); err != nil {
				return chunks, err, nil
			} else if !ok {
				break
			}
			sum, stored = xxhash.Sum64(buf[:fsize-8]), binary.LittleEndian.Uint64(buf[fsize-8:fsize])
		} else {
			var err error
			var ok bool
			if sum, ok, err = treeCopyHashBody(in, buf, head[:], off, fsize, nil, readFull); err != nil {
				return chunks, err, nil
			} else if !ok {
				break
			}
			var b [8]byte
			if ok, err := readFull(b[:], off+fsize-8); err != nil {
				return chunks, err, nil
			} else if !ok {
				break
			}
			stored = binary.LittleEndian.Uint64(b[:])
		}
		if stored != sum {
			break
		}
		if leaves {
			tail, tailFrom = make([]tlog.Hash, nh), uint64(first)
			for i := range tail {
				copy(tail[i][:], buf[treeFrameHead+32*i:])
			}
			off += fsize
			continue
		}
		use := max(0, min(count, limit-first))
		k := 32 * (tlog.StoredHashCount(first+use) - tlog.StoredHashCount(first))
		if whole {
			fw.add(buf[treeFrameHead : treeFrameHead+k])
		} else if k > 0 {
			// Read again, hashing again: the copy must be what was checked.
			again, ok, err := treeCopyHashBody(in, buf, head[:], off, fsize, func(p []byte, at int64) {
				if at < k {
					fw.add(p[:min(int64(len(p)), k-at)])
				}
			}, readFull)
			if err != nil {
				return chunks, err, nil
			}
			if !ok || again != sum {
				return chunks, fmt.Errorf("%s: frame at offset %d changed while it was copied", path, off), nil
			}
		}
		fileChunks += count
		chunks += use
		off += fsize
	}
	fw.flush(chunks)
	if tail != nil && tailFrom <= uint64(chunks)*treeChunk+1 {
		fw.write(treeLeavesFrame(tailFrom, tail))
	}
	return chunks, nil, fw.err
}

// treeCopyHashBody hashes the frame at off (fsize bytes, head its first
// treeFrameHead bytes) but its checksum, reading its hashes in pieces of
// len(buf), and passes each piece with its offset in the hashes to fn.
// ok is false when the file ends first.
func treeCopyHashBody(in vfs.File, buf, head []byte, off, fsize int64, fn func(p []byte, at int64),
	readFull func(p []byte, off int64) (bool, error)) (sum uint64, ok bool, err error) {
	d := xxhash.New()
	d.Write(head)
	body := fsize - treeFrameHead - 8
	for at := int64(0); at < body; {
		n := min(body-at, int64(len(buf)))
		if ok, err := readFull(buf[:n], off+treeFrameHead+at); err != nil || !ok {
			return 0, false, err
		}
		d.Write(buf[:n])
		if fn != nil {
			fn(buf[:n], at)
		}
		at += n
	}
	return d.Sum64(), true, nil
}

// treeFrameWriter writes a stream of the chunk tree's stored hashes, from
// chunk 0 on, as frames of treeCopyFrameChunks chunks.
type treeFrameWriter struct {
	w    io.Writer
	next int64  // first chunk of pend
	pend []byte // stored hashes (32 bytes each) of the chunks from next on
	out  []byte // a frame
	err  error
}

func (fw *treeFrameWriter) write(p []byte) {
	if fw.err == nil {
		_, fw.err = fw.w.Write(p)
	}
}

// add appends stored hashes (a multiple of 32 bytes, in order) and writes
// every complete frame.
func (fw *treeFrameWriter) add(p []byte) {
	fw.pend = append(fw.pend, p...)
	done := 0
	for {
		need := 32 * int(tlog.StoredHashCount(fw.next+treeCopyFrameChunks)-tlog.StoredHashCount(fw.next))
		if len(fw.pend)-done < need {
			break
		}
		fw.frame(treeCopyFrameChunks, fw.pend[done:done+need])
		done += need
	}
	fw.pend = append(fw.pend[:0], fw.pend[done:]...)
}

// flush writes the pending hashes, those of chunks [next, chunks), as the
// last frame.
func (fw *treeFrameWriter) flush(chunks int64) {
	if chunks > fw.next && fw.err == nil {
		if len(fw.pend) != 32*int(tlog.StoredHashCount(chunks)-tlog.StoredHashCount(fw.next)) {
			fw.err = fmt.Errorf("ledger: tree copy: %d bytes of hashes for chunks %d..%d", len(fw.pend), fw.next, chunks)
			return
		}
		fw.frame(chunks-fw.next, fw.pend)
		fw.pend = fw.pend[:0]
	}
}

func (fw *treeFrameWriter) frame(n int64, hs []byte) {
	b := appendTreeFrameHead(fw.out[:0], fw.next, n, int64(len(hs)/32))
	b = append(b, hs...)
	fw.out = binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
	fw.write(fw.out)
	fw.next += n
}
