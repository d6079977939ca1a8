package ledger

import (
	"context"
	"errors"
	"fmt"
	"math"

	"golang.org/x/mod/sumdb/tlog"
)

// verifyTree checks the stored tree (TREE, and the tree in memory)
// against a rebuild from the events: every chunk whose events are still
// stored is rehashed, and every stored node is recomputed from the chunk
// hashes. It returns the number of chunks checked against their events.
// The file is read frame by frame and the rebuild keeps only its right
// frontier, so the memory does not grow with the ledger.
func (l *Ledger) verifyTree(ctx context.Context, v *view) (int64, error) {
	if l.opts.NoMerkleTree || l.tree == nil {
		return 0, nil
	}
	<-l.tree.building
	// The file is read under the tree's lock, so no seal appends to it
	// meanwhile.
	t := l.tree
	t.mu.Lock()
	defer t.mu.Unlock()
	path := l.treePath()
	sealed := l.sealedThrough(v)
	if err := l.catchUp(v, sealed, nil); err != nil && t.broken == nil {
		return 0, err
	}
	integrity := func(err error) error {
		var ie *IntegrityError
		if errors.As(err, &ie) {
			return ie
		}
		return toIntegrity(err, path, 0)
	}
	var fileChunks int64
	f, err := l.fs.Open(path)
	switch {
	case isNotExist(err):
		// Not written yet (read-only open of a ledger never opened for
		// writing by this version): the in-memory tree is checked.
	case err != nil:
		return 0, err
	default:
		size, err := f.Size()
		if err != nil {
			f.Close()
			return 0, err
		}
		// The file and memory agree where both hold the tree.
		s, err := scanTree(f, size, path, l.ID(), math.MaxInt64, func(c int64, hs []tlog.Hash) error {
			if c >= t.chunks {
				return nil
			}
			x := tlog.StoredHashCount(c)
			for j, h := range hs {
				m, err := t.node(x + int64(j))
				if err != nil {
					return err
				}
				if m != h {
					return &IntegrityError{File: path, Offset: treeHeaderLen, Reason: fmt.Sprintf("stored tree hash %d differs from the tree in memory", x+int64(j))}
				}
			}
			return nil
		})
		f.Close()
		if err != nil {
			return 0, integrity(err)
		}
		if s.good != size && !l.opts.ReadOnly {
			return 0, &IntegrityError{File: path, Offset: s.good, Reason: "tree file has a damaged frame"}
		}
		fileChunks = s.fileChunks
	}
	if fileChunks > t.chunks && !l.opts.ReadOnly {
		// (Read-only beside a writer, the file may have grown since the
		// snapshot: the common prefix is what is checked.)
		return 0, &IntegrityError{File: path, Reason: fmt.Sprintf("tree file holds %d chunks, the ledger's sealed events make %d", fileChunks, t.chunks)}
	}
	// The tree in memory may run ahead of v (proofs and seals after the
	// snapshot): check the chunks v holds.
	chunks := min(t.chunks, int64(v.lastSeq()/treeChunk))
	// The leaf hashes kept for the dropped prefix (TREELEAVES and the cut
	// chunk's leaves frame) against the chunk hashes.
	checked, err := l.verifyDroppedLeaves(ctx, v, t.chunkHash, chunks)
	if err != nil {
		return 0, integrity(err)
	}
	// Rebuild: chunk hashes from the events where they are stored, from
	// the tree where retention dropped them or a repair lost some of them
	// (a recorded gap); then every stored node.
	first := int64((l.firstRetained() - 1 + treeChunk - 1) / treeChunk)
	var re frontier
	var buf []tlog.Hash
	var bufFrom, bufTo int64
	for c := int64(0); c < chunks; c++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		stored, err := t.chunkHash(c)
		if err != nil {
			return 0, integrity(err)
		}
		h := stored
		if _, lost := l.lostIn(uint64(c)*treeChunk+1, uint64(c+1)*treeChunk); c >= first && !lost {
			// Leaves are read a window at a time, up to the next chunk
			// a repair lost events of.
			if c >= bufTo {
				to := min(chunks, c+treeWindow/treeChunk)
				for e := c + 1; e < to; e++ {
					if _, lost := l.lostIn(uint64(e)*treeChunk+1, uint64(e+1)*treeChunk); lost {
						to = e
						break
					}
				}
				if buf, err = l.leafHashes(v, uint64(c)*treeChunk+1, uint64(to)*treeChunk, buf[:0]); err != nil {
					return 0, err
				}
				bufFrom, bufTo = c, to
			}
			checked++
			k := c - bufFrom
			h = subtreeHash(buf[k*treeChunk : (k+1)*treeChunk])
			if h != stored {
				return 0, &IntegrityError{File: path, Seq: uint64(c)*treeChunk + 1, Reason: fmt.Sprintf("tree chunk %d (seqs %d-%d) does not hash as its events", c, c*treeChunk+1, (c+1)*treeChunk)}
			}
		}
		hs, err := re.add(h)
		if err != nil {
			return 0, err
		}
		x := tlog.StoredHashCount(c)
		for j := range hs {
			m, err := t.node(x + int64(j))
			if err != nil {
				return 0, integrity(err)
			}
			if m != hs[j] {
				level, n := tlog.SplitStoredHashIndex(x + int64(j))
				return 0, &IntegrityError{File: path, Reason: fmt.Sprintf("stored tree node (level %d, index %d) differs from a rebuild", level+treeChunkLevel, n)}
			}
		}
	}
	return checked, nil
}
