package ledger

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/vfs"
)

// treeCopyRead bounds one read of copyTreeFile (treeFileReader's bound):
// a frame larger than this is read, checked and copied in pieces of this
// size.
const treeCopyRead = treeReadMax

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
// The file is read through treeFileReader, as Open's scanTree reads it:
// memory and reads are bounded whatever the file's size (no read is
// larger than treeCopyRead), a frame's checksum is checked before any of
// it is copied (a frame larger than one read is read twice, checked again
// on the second read), and the first frame that does not check out
// (magic, reserved, continuity, counts, size, checksum) ends the valid
// part. A header that does not match is a corrupt error; rerr is a read
// error, or the file changing between the two reads of a frame; werr is
// w's error.
func copyTreeFile(in vfs.File, size int64, path, ledgerID string, limit int64, w io.Writer) (chunks int64, rerr, werr error) {
	want, err := treeHeader(ledgerID)
	if err != nil {
		return 0, err, nil
	}
	r, err := newTreeFileReader(in, size, path, ledgerID)
	if err != nil {
		return 0, err, nil
	}
	fw := treeFrameWriter{w: w}
	fw.write(want)
	var tail []tlog.Hash
	var tailFrom uint64
	for fw.err == nil {
		fr, ok, err := r.next()
		if err != nil {
			return chunks, err, nil
		}
		if !ok {
			break
		}
		if fr.leaves {
			tail, tailFrom = make([]tlog.Hash, 0, fr.nh), uint64(fr.first)
			if err := r.hashes(fr.nh, func(p []byte) error {
				for ; len(p) > 0; p = p[32:] {
					tail = append(tail, tlog.Hash(p[:32]))
				}
				return nil
			}); err != nil {
				return chunks, err, nil
			}
			continue
		}
		use := max(0, min(fr.count, limit-fr.first))
		if err := r.hashes(tlog.StoredHashCount(fr.first+use)-tlog.StoredHashCount(fr.first), func(p []byte) error {
			fw.add(p)
			return nil
		}); err != nil {
			return chunks, err, nil
		}
		chunks += use
	}
	fw.flush(chunks)
	if tail != nil && tailFrom <= uint64(chunks)*treeChunk+1 {
		fw.write(treeLeavesFrame(tailFrom, tail))
	}
	return chunks, nil, fw.err
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
