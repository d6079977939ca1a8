package ledger

import (
	"fmt"
	"io"
	"math/bits"
	"path/filepath"
	"sort"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// The chunk tree in memory (tree.go has the file and its users).
//
// The chunk tree's stored hashes take 2·32 bytes per chunk (4 bytes per
// event: 381 MB at 100M events), and all but O(log n) of them are only
// read by proofs and Verify. So memory holds:
//
//   - the tree over groups of treeGroup consecutive chunks (the nodes at
//     chunk level treeGroupLevel and above), as tlog's stored hashes:
//     2·32/(treeGroup·treeChunk) = 1/16 byte per event (6 MB at 100M);
//   - the chunk hashes of the chunks from memFrom on: the group the next
//     chunk falls in, and the chunks TREE does not hold yet;
//
// and the chunk hashes of every other group are read from TREE when a
// proof or Verify needs them: the group's 64 hashes (one 4 KiB read),
// checked by hashing them to the group's node in memory (SHA-256; a
// damaged or altered file does not check out), the last group read kept.
// Nodes below the group level are recomputed from its chunk hashes, and
// nodes below the chunk level from the chunk's events, as before. The
// file format is unchanged; Open reads TREE frame by frame (each frame's
// checksum checked) instead of whole, through treeFileReader
// (tree_frames.go), in reads of at most treeReadMax bytes.
const (
	treeGroupLevel = 6
	treeGroup      = 1 << treeGroupLevel
)

// treeFrameRef locates a hash frame of TREE: chunks [first, first+count),
// whose stored hashes start at file offset off.
type treeFrameRef struct {
	first, count int64
	off          int64
}

// ReadHashes reads the chunk tree's stored hashes (tlog.HashReader).
// Caller holds mu.
func (t *merkle) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		h, err := t.node(x)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// node returns the chunk tree's stored hash x. Caller holds mu.
func (t *merkle) node(x int64) (tlog.Hash, error) {
	if x < 0 {
		return tlog.Hash{}, fmt.Errorf("ledger: tree hash %d not stored", x)
	}
	level, n := tlog.SplitStoredHashIndex(x)
	if (n+1)<<level > t.chunks {
		return tlog.Hash{}, fmt.Errorf("ledger: tree hash %d not stored (%d chunks)", x, t.chunks)
	}
	if level >= treeGroupLevel {
		gx := tlog.StoredHashIndex(level-treeGroupLevel, n)
		if gx >= int64(len(t.groups)) {
			return tlog.Hash{}, fmt.Errorf("ledger: tree group hash %d not stored (%d stored)", gx, len(t.groups))
		}
		return t.groups[gx], nil
	}
	hs, err := t.chunkHashes(n<<level, (n+1)<<level)
	if err != nil {
		return tlog.Hash{}, err
	}
	return subtreeHash(hs), nil
}

// chunkHash returns the hash of chunk c. Caller holds mu.
func (t *merkle) chunkHash(c int64) (tlog.Hash, error) {
	hs, err := t.chunkHashes(c, c+1)
	if err != nil {
		return tlog.Hash{}, err
	}
	return hs[0], nil
}

// chunkHashes returns the hashes of chunks [c0, c1), which lie in one
// group, from memory or from TREE. The result must not be modified.
// Caller holds mu.
func (t *merkle) chunkHashes(c0, c1 int64) ([]tlog.Hash, error) {
	if c0 < 0 || c1 > t.chunks || c0 >= c1 || c0/treeGroup != (c1-1)/treeGroup {
		return nil, fmt.Errorf("ledger: tree chunks %d-%d not stored (%d chunks)", c0, c1, t.chunks)
	}
	if c0 >= t.memFrom {
		return t.mem[c0-t.memFrom : c1-t.memFrom], nil
	}
	g := c0 / treeGroup
	hs, err := t.readGroup(g)
	if err != nil {
		return nil, err
	}
	return hs[c0-g*treeGroup : c1-g*treeGroup], nil
}

// readGroup returns the chunk hashes of group g, a complete group before
// memFrom, read from TREE and checked against the group's hash. Caller
// holds mu.
func (t *merkle) readGroup(g int64) ([]tlog.Hash, error) {
	if t.cacheOK && t.cacheGroup == g {
		return t.cache[:], nil
	}
	c0, c1 := g*treeGroup, (g+1)*treeGroup
	if c1 > t.memFrom || c1 > t.durable {
		return nil, fmt.Errorf("ledger: tree group %d is not in the file (%d chunks there)", g, t.durable)
	}
	f, err := t.fs.Open(t.path)
	if err != nil {
		return nil, fmt.Errorf("Merkle tree file: %w", err)
	}
	defer f.Close()
	t.cacheOK = false
	i := sort.Search(len(t.frames), func(i int) bool { return t.frames[i].first+t.frames[i].count > c0 })
	var buf []byte
	for c := c0; c < c1; i++ {
		if i >= len(t.frames) || t.frames[i].first > c {
			return nil, fmt.Errorf("ledger: tree chunk %d is in no frame of the file", c)
		}
		fr := t.frames[i]
		e := min(c1, fr.first+fr.count)
		// Chunk c's hash is the first of its stored hashes.
		base := tlog.StoredHashCount(fr.first)
		lo := fr.off + 32*(tlog.StoredHashIndex(0, c)-base)
		hi := fr.off + 32*(tlog.StoredHashIndex(0, e-1)-base+1)
		if int64(cap(buf)) < hi-lo {
			buf = make([]byte, hi-lo)
		}
		b := buf[:hi-lo]
		if n, err := f.ReadAt(b, lo); n < len(b) {
			if err == nil || err == io.EOF {
				return nil, corrupt.New(t.path, lo+int64(n), "file ends inside the hashes of tree chunks %d-%d", c, e-1)
			}
			return nil, err
		}
		for k := c; k < e; k++ {
			copy(t.cache[k-c0][:], b[32*(tlog.StoredHashIndex(0, k)-tlog.StoredHashIndex(0, c)):])
		}
		c = e
	}
	if subtreeHash(t.cache[:]) != t.groups[tlog.StoredHashIndex(0, g)] {
		return nil, &IntegrityError{File: t.path, Seq: uint64(c0)*treeChunk + 1, Reason: fmt.Sprintf("the stored hashes of tree chunks %d-%d (seqs %d-%d) do not hash to their group's stored hash", c0, c1-1, c0*treeChunk+1, c1*treeChunk)}
	}
	t.cacheGroup, t.cacheOK = g, true
	return t.cache[:], nil
}

// groupReader serves the group tree's stored hashes.
type groupReader struct{ t *merkle }

func (r groupReader) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(r.t.groups)) {
			return nil, fmt.Errorf("ledger: tree group hash %d not stored (%d stored)", x, len(r.t.groups))
		}
		out[i] = r.t.groups[x]
	}
	return out, nil
}

// addChunk extends the chunk tree by one chunk hash. Caller holds mu.
func (t *merkle) addChunk(h tlog.Hash) error {
	t.mem = append(t.mem, h)
	t.chunks++
	if t.chunks%treeGroup == 0 {
		g := t.chunks/treeGroup - 1
		gh := subtreeHash(t.mem[g*treeGroup-t.memFrom:])
		hs, err := tlog.StoredHashesForRecordHash(g, gh, groupReader{t})
		if err != nil {
			t.mem = t.mem[:len(t.mem)-1]
			t.chunks--
			return err
		}
		t.groups = append(t.groups, hs...)
	}
	return nil
}

// reset empties the tree (a file that does not match the events). Caller
// holds mu.
func (t *merkle) reset() {
	t.groups, t.mem, t.memFrom, t.chunks, t.durable = nil, nil, 0, 0, 0
	t.frames, t.cacheOK = nil, false
}

// trimMem drops from memory the chunk hashes of complete groups that TREE
// holds (from the group of chunk durable on, they stay). Caller holds mu.
func (t *merkle) trimMem() {
	keep := t.durable / treeGroup * treeGroup
	if keep-t.memFrom >= treeGroup {
		t.mem = append([]tlog.Hash(nil), t.mem[keep-t.memFrom:]...)
		t.memFrom = keep
	}
}

// treeScan is what scanTree found in a TREE file.
type treeScan struct {
	fileChunks int64 // chunks of the valid frames
	chunks     int64 // of them, those below the limit
	good       int64 // length of the valid part
	tail       []tlog.Hash
	tailFrom   uint64
	frames     []treeFrameRef
}

// scanTree reads a TREE file frame by frame through treeFileReader
// (memory and reads: at most treeReadMax bytes, whatever the frames'
// size), checking the header and each frame, up to the first frame that
// does not check out, and calls fn with each chunk's stored hashes (chunk
// c's are [hash of c, then the nodes c completes]) for chunks below limit.
// A frame is passed to fn only once its checksum has checked out; a frame
// larger than one read that changes between its check and its use is an
// error (fn may have seen part of it).
func scanTree(f vfs.File, size int64, path, ledgerID string, limit int64, fn func(c int64, hs []tlog.Hash) error) (treeScan, error) {
	var s treeScan
	r, err := newTreeFileReader(f, size, path, ledgerID)
	if err != nil {
		return s, err
	}
	s.good = r.good
	var hs []tlog.Hash
	for {
		fr, ok, err := r.next()
		if err != nil {
			return s, err
		}
		if !ok {
			return s, nil
		}
		if fr.leaves {
			tail := make([]tlog.Hash, fr.nh)
			i := 0
			if err := r.hashes(fr.nh, func(p []byte) error {
				for ; len(p) > 0; p = p[32:] {
					copy(tail[i][:], p)
					i++
				}
				return nil
			}); err != nil {
				return s, err
			}
			s.tail, s.tailFrom = tail, uint64(fr.first)
			s.good = r.good
			continue
		}
		use := max(0, min(fr.count, limit-fr.first))
		if use > 0 {
			s.frames = append(s.frames, treeFrameRef{first: fr.first, count: use, off: r.off + treeFrameHead})
		}
		// Chunk c's stored hashes are 1 + its trailing ones; they may
		// straddle two pieces.
		c := fr.first
		need := 1 + bits.TrailingZeros64(^uint64(c))
		hs = hs[:0]
		err = r.hashes(tlog.StoredHashCount(fr.first+use)-tlog.StoredHashCount(fr.first), func(p []byte) error {
			for ; len(p) > 0; p = p[32:] {
				var h tlog.Hash
				copy(h[:], p)
				if hs = append(hs, h); len(hs) < need {
					continue
				}
				if err := fn(c, hs); err != nil {
					return err
				}
				c++
				need, hs = 1+bits.TrailingZeros64(^uint64(c)), hs[:0]
			}
			return nil
		})
		if err != nil {
			return s, err
		}
		s.fileChunks += fr.count
		s.chunks += use
		s.good = r.good
	}
}

// loadHashes fills t from a scan of TREE: the group tree from the nodes at
// and above the group level, the chunk hashes of the last (incomplete)
// group. The caller sets the rest from s.
func (t *merkle) loadHashes(c int64, hs []tlog.Hash) {
	if c%treeGroup == 0 {
		t.mem = t.mem[:0]
		t.memFrom = c
	}
	t.mem = append(t.mem, hs[0])
	if len(hs) > treeGroupLevel {
		t.groups = append(t.groups, hs[treeGroupLevel:]...)
	}
}

// frontier is a tlog.HashReader that keeps only the right frontier of a
// tree being built record by record (O(log n) hashes): add returns record
// n's stored hashes as tlog.StoredHashesForRecordHash does.
type frontier struct {
	n int64
	m map[int64]tlog.Hash
}

func (r *frontier) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		h, ok := r.m[x]
		if !ok {
			return nil, fmt.Errorf("ledger: tree frontier lacks hash %d", x)
		}
		out[i] = h
	}
	return out, nil
}

func (r *frontier) add(h tlog.Hash) ([]tlog.Hash, error) {
	if r.m == nil {
		r.m = map[int64]tlog.Hash{}
	}
	hs, err := tlog.StoredHashesForRecordHash(r.n, h, r)
	if err != nil {
		return nil, err
	}
	// The left siblings just read are inside completed subtrees now; the
	// new top node is a left child, needed later.
	m := len(hs) - 1
	for i := 0; i < m; i++ {
		delete(r.m, tlog.StoredHashIndex(i, r.n>>uint(i)-1))
	}
	r.m[tlog.StoredHashCount(r.n+1)-1] = hs[m]
	r.n++
	return hs, nil
}

// writeTreeFile writes TREE anew, atomically: the header and the frames of
// chunks [0, t.chunks) (the stored hashes read through t, from the old
// file where memory does not hold them), with the leaves frame of t.tail
// at its place. It returns the frames written and the file's size. Caller
// holds t.mu.
func (l *Ledger) writeTreeFile(t *merkle) ([]treeFrameRef, int64, error) {
	tmp := filepath.Join(l.dir, treeFileName+".tmp")
	f, err := l.fs.Create(tmp)
	if err != nil {
		return nil, 0, err
	}
	fail := func(err error) ([]treeFrameRef, int64, error) {
		f.Close()
		l.fs.Remove(tmp)
		return nil, 0, err
	}
	b, err := treeHeader(l.ID())
	if err != nil {
		return fail(err)
	}
	off := int64(0)
	write := func(p []byte) error {
		_, err := f.Write(p)
		off += int64(len(p))
		return err
	}
	if err := write(b); err != nil {
		return fail(err)
	}
	ct := int64(-1)
	if len(t.tail) > 0 && (t.tailFrom-1)%treeChunk == 0 {
		ct = int64((t.tailFrom - 1) / treeChunk)
	}
	var frames []treeFrameRef
	const piece = 1 << 14 // chunks per frame written from here
	for c := int64(0); c < t.chunks || c == ct; {
		if c == ct {
			if err := write(treeLeavesFrame(t.tailFrom, t.tail)); err != nil {
				return fail(err)
			}
			ct = -1
			if c == t.chunks {
				break
			}
		}
		n := min(t.chunks-c, piece)
		if ct > c {
			n = min(n, ct-c)
		}
		hs := make([]tlog.Hash, 0, tlog.StoredHashCount(c+n)-tlog.StoredHashCount(c))
		for x := tlog.StoredHashCount(c); x < tlog.StoredHashCount(c+n); x++ {
			h, err := t.node(x)
			if err != nil {
				return fail(err)
			}
			hs = append(hs, h)
		}
		frames = append(frames, treeFrameRef{first: c, count: n, off: off + treeFrameHead})
		if err := write(treeFrame(c, n, hs)); err != nil {
			return fail(err)
		}
		c += n
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		l.fs.Remove(tmp)
		return nil, 0, err
	}
	if err := l.fs.Rename(tmp, l.treePath()); err != nil {
		l.fs.Remove(tmp)
		return nil, 0, err
	}
	return frames, off, l.fs.SyncDir(l.dir)
}
