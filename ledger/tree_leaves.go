package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/internal/corrupt"
)

// The leaf hashes of the dropped prefix (docs/proofs.md Retention,
// docs/format.md §11.1).
//
// A consistency proof from an old tree size o needs, besides nodes at or
// above the chunk level (in TREE), the nodes below the chunk level inside
// the one chunk o falls in; every leaf of a chunk is such a node for some
// o, so keeping the leaf hashes of every dropped chunk is both necessary
// and sufficient for every old size to prove. Before retention drops a
// prefix, the leaf hashes of its complete chunks are appended to the
// ledger-level file TREELEAVES: one checksummed block of 16 hashes per
// chunk (520 bytes, 32.5 bytes per dropped event), read on demand (Open
// reads only the header). The chunk a drop cuts through keeps its dropped
// leaves in TREE's leaves frame, as before. A ledger that has written the
// file carries the manifest feature "treeleaves" (older binaries would
// drop events without extending it, or back up without it).

const (
	leavesFileName    = "TREELEAVES"
	leavesMagic       = "EXLLEAF1"
	leavesVersion     = 1
	leavesHeaderLen   = 8 + 4 + 4 + 16 + 8 + 8
	leavesBlockLen    = treeChunk*32 + 8
	featureTreeLeaves = "treeleaves"
)

func init() { registerFeature(featureTreeLeaves) }

func (l *Ledger) leavesPath() string { return filepath.Join(l.dir, leavesFileName) }

// leavesHeader encodes the TREELEAVES header for blocks from chunk first.
func leavesHeader(ledgerID string, first int64) ([]byte, error) {
	th, err := treeHeader(ledgerID) // magic, version, level, id, checksum
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, leavesHeaderLen)
	b = append(b, leavesMagic...)
	b = binary.LittleEndian.AppendUint32(b, leavesVersion)
	b = binary.LittleEndian.AppendUint32(b, treeChunkLevel)
	b = append(b, th[16:32]...)
	b = binary.LittleEndian.AppendUint64(b, uint64(first))
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b)), nil
}

// leavesBlockSum is the checksum of chunk c's block: xxhash64 of c (u64,
// little-endian) and the 16 hashes, so a block read at the wrong place
// does not check out.
func leavesBlockSum(c int64, hashes []byte) uint64 {
	var d xxhash.Digest
	d.Reset()
	var cb [8]byte
	binary.LittleEndian.PutUint64(cb[:], uint64(c))
	d.Write(cb[:])
	d.Write(hashes)
	return d.Sum64()
}

// appendLeavesBlocks appends the blocks of chunks first.. whose leaf
// hashes are leaves (a multiple of 16 of them). A block of 16 zero hashes
// is a hole: the chunk's leaves are not known (a repair lost some of its
// events before they were dropped); a real leaf hash is never zero.
func appendLeavesBlocks(b []byte, first int64, leaves []tlog.Hash) []byte {
	for i := 0; i+treeChunk <= len(leaves); i += treeChunk {
		start := len(b)
		for _, h := range leaves[i : i+treeChunk] {
			b = append(b, h[:]...)
		}
		b = binary.LittleEndian.AppendUint64(b, leavesBlockSum(first+int64(i/treeChunk), b[start:]))
	}
	return b
}

// loadLeaves reads the TREELEAVES header into t (before t.building
// closes). The blocks are read when needed.
func (l *Ledger) loadLeaves(t *merkle) {
	path := l.leavesPath()
	t.leavesFirst, t.leavesEnd, t.leavesErr = 0, 0, nil
	f, err := l.fs.Open(path)
	if isNotExist(err) {
		if l.man.Load().hasFeature(featureTreeLeaves) {
			t.leavesErr = corrupt.New(path, 0, "file missing: the leaf hashes of the events retention dropped are lost")
			l.log.Warn("Merkle tree: leaf-hash file of the dropped prefix missing; consistency from old sizes inside the dropped prefix that are not multiples of 16 cannot be proven", "file", path)
		}
		return
	}
	if err != nil {
		t.leavesErr = err
		l.log.Warn("Merkle tree: leaf-hash file of the dropped prefix unreadable", "file", path, "err", err)
		return
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		t.leavesErr = err
		return
	}
	var h [leavesHeaderLen]byte
	if size < leavesHeaderLen {
		t.leavesErr = corrupt.New(path, 0, "file of %d bytes has no header", size)
	} else if _, err := f.ReadAt(h[:], 0); err != nil {
		t.leavesErr = err
	} else if want, err := leavesHeader(l.ID(), int64(binary.LittleEndian.Uint64(h[32:]))); err != nil || string(want) != string(h[:]) {
		t.leavesErr = corrupt.New(path, 0, "header is not a version-%d leaf-hash header of ledger %s with chunk level %d", leavesVersion, l.ID(), treeChunkLevel)
	}
	if t.leavesErr != nil {
		l.log.Warn("Merkle tree: leaf-hash file of the dropped prefix damaged; consistency from old sizes inside the dropped prefix that are not multiples of 16 cannot be proven", "file", path, "err", t.leavesErr)
		return
	}
	t.leavesFirst = int64(binary.LittleEndian.Uint64(h[32:]))
	t.leavesEnd = t.leavesFirst + (size-leavesHeaderLen)/leavesBlockLen
	t.leavesHave = true
}

// readLeafBlocks appends the leaf hashes of chunks [c0, c1) read from
// TREELEAVES (which holds them) to out, checking every block.
func (l *Ledger) readLeafBlocks(c0, c1 int64, out []tlog.Hash) ([]tlog.Hash, error) {
	t := l.tree
	path := l.leavesPath()
	f, err := l.fs.Open(path)
	if err != nil {
		return out, fmt.Errorf("Merkle tree: leaf-hash file: %w", err)
	}
	defer f.Close()
	buf := make([]byte, (c1-c0)*leavesBlockLen)
	off := leavesHeaderLen + (c0-t.leavesFirst)*leavesBlockLen
	if n, err := f.ReadAt(buf, off); n < len(buf) {
		if err == nil || err == io.EOF {
			return out, corrupt.New(path, off+int64(n), "file ends inside the leaf-hash block of chunk %d", c0+int64(n)/leavesBlockLen)
		}
		return out, err
	}
	for i := int64(0); i < c1-c0; i++ {
		blk := buf[i*leavesBlockLen : (i+1)*leavesBlockLen]
		if binary.LittleEndian.Uint64(blk[treeChunk*32:]) != leavesBlockSum(c0+i, blk[:treeChunk*32]) {
			return out, corrupt.New(path, off+i*leavesBlockLen, "leaf-hash block of chunk %d (seqs %d-%d): checksum mismatch", c0+i, (c0+i)*treeChunk+1, (c0+i+1)*treeChunk)
		}
		for j := 0; j < treeChunk; j++ {
			var h tlog.Hash
			copy(h[:], blk[32*j:])
			out = append(out, h)
		}
	}
	return out, nil
}

// droppedLeafHashes appends the leaf hashes of seqs from..min(to, fr-1),
// events retention dropped (fr is the first retained seq), to out: the
// complete chunks' from TREELEAVES, the chunk the last drop cut through
// from TREE's leaves frame (or, after a drop interrupted by a crash, from
// TREELEAVES). It returns the next seq. Caller holds t.mu.
func (l *Ledger) droppedLeafHashes(from, to, fr uint64, out []tlog.Hash) (uint64, []tlog.Hash, error) {
	t := l.tree
	cut := int64((fr - 1) / treeChunk) // chunks [0, cut) are wholly dropped
	last := min(to, fr-1)
	for from <= last {
		c := int64((from - 1) / treeChunk)
		if t != nil && c == cut && len(t.tail) > 0 && t.tailFrom == uint64(c)*treeChunk+1 && fr-1 < t.tailFrom+uint64(len(t.tail)) {
			out = append(out, t.tail[from-t.tailFrom:last-t.tailFrom+1]...)
			return last + 1, out, nil
		}
		if t == nil || !t.leavesHave || c < t.leavesFirst || c >= t.leavesEnd {
			why := "not kept"
			if t != nil && t.leavesErr != nil {
				why = t.leavesErr.Error()
			}
			return from, out, fmt.Errorf("%w: events up to seq %d were dropped by retention and the leaf hash of seq %d is %s", ErrNoTree, fr-1, from, why)
		}
		c1 := min(int64((last-1)/treeChunk)+1, t.leavesEnd, max(cut, c+1))
		n := len(out)
		var err error
		if out, err = l.readLeafBlocks(c, c1, out); err != nil {
			return from, out[:n], err
		}
		for k := n; k < len(out); k += treeChunk {
			if out[k] == (tlog.Hash{}) {
				hc := c + int64(k-n)/treeChunk
				return from, out[:n], fmt.Errorf("%w: the leaf hashes of tree chunk %d (seqs %d-%d) are not known: a repair lost events in it before retention dropped it", ErrNoTree, hc, hc*treeChunk+1, (hc+1)*treeChunk)
			}
		}
		// Keep seqs from..min(last, end of chunk c1-1).
		lo := int(from - uint64(c)*treeChunk - 1)
		hi := int(min(last, uint64(c1)*treeChunk) - uint64(c)*treeChunk)
		out = append(out[:n], out[n+lo:n+hi]...)
		from = uint64(c)*treeChunk + uint64(hi) + 1
	}
	return from, out, nil
}

// keepDroppedLeaves writes the leaf hashes of the chunks a drop through
// seq makes wholly dropped to TREELEAVES (fsynced), before the drop. It
// reports whether the file exists afterwards. Caller holds t.mu and has
// caught the tree up.
func (l *Ledger) keepDroppedLeaves(v *view, seq uint64) (bool, error) {
	t := l.tree
	fr := l.firstRetained()
	from := int64((fr - 1) / treeChunk) // chunks before it are kept already
	upto := int64(seq / treeChunk)
	restart := !t.leavesHave || t.leavesEnd < from || t.leavesFirst > from
	first := t.leavesFirst
	if restart {
		if fr > 1 && (t.leavesHave || t.leavesErr != nil) {
			l.log.Warn("Merkle tree: leaf-hash file of the dropped prefix does not cover the previous drops; starting it anew (consistency from old sizes before it that are not multiples of 16 cannot be proven)", "file", l.leavesPath(), "err", t.leavesErr)
		}
		first = from
		if fr > 1 && from < upto {
			// The chunk the previous drop cut through is kept only if its
			// dropped leaves are (a ledger that dropped a prefix before
			// this file existed).
			if _, _, err := l.droppedLeafHashes(uint64(from)*treeChunk+1, fr-1, fr, nil); err != nil {
				first = from + 1
			}
		}
		from = first
	}
	if from >= upto {
		return t.leavesHave && !restart, nil
	}
	// A chunk with events a repair lost (a recorded gap) cannot be
	// hashed: its block is a hole, 16 zero hashes.
	var leaves []tlog.Hash
	for c := from; c < upto; {
		if _, lost := l.lostIn(uint64(c)*treeChunk+1, uint64(c+1)*treeChunk); lost {
			leaves = append(leaves, make([]tlog.Hash, treeChunk)...)
			c++
			continue
		}
		e := c + 1
		for ; e < upto; e++ {
			if _, lost := l.lostIn(uint64(e)*treeChunk+1, uint64(e+1)*treeChunk); lost {
				break
			}
		}
		var err error
		if leaves, err = l.leafHashes(v, uint64(c)*treeChunk+1, uint64(e)*treeChunk, leaves); err != nil {
			return false, fmt.Errorf("Merkle tree: leaf hashes of the events to drop: %w", err)
		}
		c = e
	}
	blocks := appendLeavesBlocks(nil, from, leaves)
	if restart {
		b, err := leavesHeader(l.ID(), first)
		if err != nil {
			return false, err
		}
		if err := writeFileAtomic(l.fs, l.dir, leavesFileName, append(b, blocks...)); err != nil {
			t.err = err // no more tree writes until reopen (an fsync error stops writes)
			return false, err
		}
		t.leavesFirst, t.leavesHave, t.leavesErr = first, true, nil
	} else {
		// Blocks at or past from were written by a drop a crash
		// interrupted: they are rewritten (same hashes, unless a repair
		// changed those events since).
		err := func() error {
			f, err := l.fs.OpenRW(l.leavesPath())
			if err != nil {
				return err
			}
			if _, err := f.WriteAt(blocks, leavesHeaderLen+(from-first)*leavesBlockLen); err != nil {
				f.Close()
				return err
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		}()
		if err != nil {
			t.err = err // no more tree writes until reopen (an fsync error stops writes)
			return false, err
		}
	}
	t.leavesEnd = max(t.leavesEnd, upto)
	if restart {
		t.leavesEnd = upto
	}
	return true, nil
}

// verifyDroppedLeaves checks the kept leaf hashes of the dropped prefix:
// every TREELEAVES block of a wholly dropped chunk is read (its checksum
// checked) and must hash to the chunk hash of the tree (chunkHash, chunks:
// the tree being verified), and the chunk the last drop cut through is
// rehashed from its kept leaves and its stored events. It returns the
// number of chunks checked. Caller holds t.mu.
func (l *Ledger) verifyDroppedLeaves(ctx context.Context, v *view, chunkHash func(int64) (tlog.Hash, error), chunks int64) (int64, error) {
	t := l.tree
	fr := l.firstRetained()
	path := l.leavesPath()
	if fr == 1 {
		return 0, nil
	}
	if t.leavesErr != nil {
		return 0, toIntegrity(t.leavesErr, path, 0)
	}
	cut := int64((fr - 1) / treeChunk)
	var checked int64
	mismatch := func(c int64, file string, off int64) error {
		return &IntegrityError{File: file, Offset: off, Seq: uint64(c)*treeChunk + 1, Reason: fmt.Sprintf("kept leaf hashes of tree chunk %d (dropped seqs %d-%d) do not hash to its stored chunk hash", c, c*treeChunk+1, (c+1)*treeChunk)}
	}
	var buf []tlog.Hash
	for c, end := t.leavesFirst, min(t.leavesEnd, cut, chunks); t.leavesHave && c < end; {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		e := min(end, c+treeWindow/treeChunk)
		var err error
		if buf, err = l.readLeafBlocks(c, e, buf[:0]); err != nil {
			return 0, toIntegrity(err, path, uint64(c)*treeChunk+1)
		}
		for k := c; k < e; k++ {
			i := (k - c) * treeChunk
			if buf[i] == (tlog.Hash{}) {
				continue // a hole: a repair had lost events of this chunk
			}
			stored, err := chunkHash(k)
			if err != nil {
				return 0, err
			}
			if subtreeHash(buf[i:i+treeChunk]) != stored {
				return 0, mismatch(k, path, leavesHeaderLen+(k-t.leavesFirst)*leavesBlockLen)
			}
			checked++
		}
		c = e
	}
	if (fr-1)%treeChunk != 0 && cut < chunks {
		leaves, err := l.leafHashes(v, uint64(cut)*treeChunk+1, uint64(cut+1)*treeChunk, nil)
		switch {
		case err == nil:
			stored, err := chunkHash(cut)
			if err != nil {
				return 0, err
			}
			if subtreeHash(leaves) != stored {
				return 0, mismatch(cut, l.treePath(), 0)
			}
			checked++
		case !errors.Is(err, ErrNoTree):
			return 0, toIntegrity(err, path, uint64(cut)*treeChunk+1)
		}
	}
	return checked, nil
}

// copyLeaves copies TREELEAVES into a backup: the header and the blocks
// the source had when the copy started (later blocks belong to a drop
// after the snapshot, or were left by an interrupted one). A file whose
// header does not check out is copied as it is (the copy's verify then
// reports it, as the source's does).
func (b *backupRun) copyLeaves() error {
	l := b.l
	src, dst := l.leavesPath(), filepath.Join(b.dir, leavesFileName)
	n := int64(-1)
	if t := l.tree; t != nil {
		<-t.building
		t.mu.Lock()
		if t.leavesHave {
			n = leavesHeaderLen + (t.leavesEnd-t.leavesFirst)*leavesBlockLen
		}
		t.mu.Unlock()
	}
	in, err := l.fs.Open(src)
	if isNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	defer in.Close()
	if n < 0 {
		if n, err = in.Size(); err != nil {
			return err
		}
	}
	out, err := l.fs.Create(dst)
	if err != nil {
		return err
	}
	b.created = append(b.created, dst)
	buf := make([]byte, min(n, 1<<20))
	for off := int64(0); off < n; {
		k := min(int64(len(buf)), n-off)
		if r, err := in.ReadAt(buf[:k], off); int64(r) < k {
			out.Close()
			if err == nil || err == io.EOF {
				err = corrupt.New(src, off+int64(r), "file shorter than its blocks")
			}
			return err
		}
		if _, err := out.Write(buf[:k]); err != nil {
			out.Close()
			return err
		}
		off += k
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
