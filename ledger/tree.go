package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"path/filepath"
	"sync"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/segment"
	"github.com/exledger/exledger/vfs"
)

// The Merkle tree (docs/proofs.md, docs/format.md §11).
//
// Leaf i (0-based) is the event with sequence number i+1, hashed as RFC
// 6962 prescribes (tlog.RecordHash of its canonical bytes). Leaves are
// grouped into chunks of treeChunk consecutive leaves; the tree over
// chunk hashes (the level-treeChunkLevel nodes) is kept as tlog's stored
// hashes in the ledger-level file TREE, for every complete chunk of sealed
// events. Nodes below a chunk are recomputed from the chunk's events when
// a proof needs them (at most treeChunk events, one or a few blocks). The
// stored hashes cost 2·32/treeChunk = 4 bytes per event on disk; memory
// holds only the nodes above groups of 64 chunks and the chunk hashes of
// the last group (tree_store.go), and reads the rest from TREE on demand.
//
// TREE is maintained by the sealer, off the append path: the memtable
// being sealed is hashed while its segment is written, and the new chunk
// hashes are appended to TREE once the manifest naming the segment is
// durable. The file is append-only, one checksummed frame per seal; a
// torn or damaged tail is cut at Open, and what is missing is rebuilt from
// the events. Compaction and clustering do not touch it (the tree is over
// log order, not storage order); retention keeps it whole, so the hashes
// of a dropped prefix remain, and keeps the dropped events' leaf hashes
// (TREELEAVES, tree_leaves.go) so every older size proves consistency.

const (
	treeFileName   = "TREE"
	treeChunkLevel = 4
	treeChunk      = 1 << treeChunkLevel
	treeMagic      = "EXLTREE1"
	treeVersion    = 1
	treeHeaderLen  = 8 + 4 + 4 + 16 + 8
	treeFrameMagic = "EXTF"
	treeFrameHead  = 4 + 4 + 8 + 4 + 4
	// treeWindow is how many leaves a catch-up hashes at a time.
	treeWindow = 1 << 16
)

// ErrNoTree is returned by the proof methods of a ledger opened with
// Options.NoMerkleTree, and when the tree cannot be built (events it
// needs were dropped by retention and its file is gone).
var ErrNoTree = errors.New("ledger: no Merkle tree")

var errStopped = errors.New("ledger: tree catch-up stopped by Close")

// merkle is a ledger's tree state.
type merkle struct {
	mu sync.Mutex
	// The chunk tree over chunks [0, chunks) (tree_store.go): groups are
	// the stored hashes of the tree over its groups of treeGroup chunks,
	// mem the chunk hashes of chunks [memFrom, chunks); the others are
	// read from the file (frames locates them) when needed, the last
	// group read kept in cache.
	groups     []tlog.Hash
	mem        []tlog.Hash
	memFrom    int64
	chunks     int64
	frames     []treeFrameRef
	fs         vfs.FS
	path       string
	cache      [treeGroup]tlog.Hash
	cacheGroup int64
	cacheOK    bool
	// durable chunks are in the file (frames), which is fileSize bytes
	// long.
	durable  int64
	fileSize int64
	// err is a sticky write failure: the file is no longer extended
	// (the next Open catches up from the events).
	err error
	// broken is set when the tree cannot be completed (its file was
	// lost and retention dropped events it needs).
	broken error
	// dirty: frames were appended without an fsync since the last one.
	dirty bool
	// tail holds the leaf hashes of seqs tailFrom.. that retention dropped
	// while their chunk was not complete (the chunk's remaining events
	// come later); stored in TREE as a leaves frame.
	tail     []tlog.Hash
	tailFrom uint64
	// TREELEAVES (tree_leaves.go) holds the leaf hashes of chunks
	// [leavesFirst, leavesEnd) when leavesHave; leavesErr says why it
	// cannot be used. Only its header is read at Open.
	leavesFirst, leavesEnd int64
	leavesHave             bool
	leavesErr              error
	// building is closed when the catch-up started by Open ends.
	building chan struct{}
}

// leafHasher computes RFC 6962 leaf hashes, SHA-256(0x00 ‖ data), exactly
// as tlog.RecordHash does but reusing one hash state (no allocation per
// event on the sealer's path). Tests compare it with tlog.RecordHash.
type leafHasher struct{ h hash.Hash }

func newLeafHasher() leafHasher { return leafHasher{sha256.New()} }

func (lh leafHasher) sum(data []byte) tlog.Hash {
	var out tlog.Hash
	lh.h.Reset()
	lh.h.Write([]byte{0x00})
	lh.h.Write(data)
	lh.h.Sum(out[:0])
	return out
}

// subtreeHash returns the root of the complete subtree over leaves (a
// power of two of them).
func subtreeHash(leaves []tlog.Hash) tlog.Hash {
	if len(leaves) == 1 {
		return leaves[0]
	}
	h := len(leaves) / 2
	return tlog.NodeHash(subtreeHash(leaves[:h]), subtreeHash(leaves[h:]))
}

func (l *Ledger) treePath() string { return filepath.Join(l.dir, treeFileName) }

// firstRetained returns the first sequence number whose event is still
// stored (1 without retention).
func (l *Ledger) firstRetained() uint64 {
	if r := l.man.Load().Retention; len(r) > 0 {
		return r[len(r)-1].DroppedThroughSeq + 1
	}
	return 1
}

// sealedThrough returns the last sealed sequence number of v (or the
// retention bound).
func (l *Ledger) sealedThrough(v *view) uint64 {
	if n := len(v.segs); n > 0 {
		return v.segs[n-1].info.LastSeq
	}
	return l.firstRetained() - 1
}

// leafHashes appends the leaf hashes of seqs from..to (inclusive) read
// from v to out.
func (l *Ledger) leafHashes(v *view, from, to uint64, out []tlog.Hash) ([]tlog.Hash, error) {
	if from > to {
		return out, nil
	}
	if fr := l.firstRetained(); from < fr {
		// Dropped by retention: from the kept leaf hashes.
		var err error
		if from, out, err = l.droppedLeafHashes(from, to, fr, out); err != nil || from > to {
			return out, err
		}
	}
	if seq, ok := l.lostIn(from, to); ok {
		return out, fmt.Errorf("%w: seq %d was lost in a repair (a recorded gap; seq %d..%d needed)", ErrNoTree, seq, from, to)
	}
	lh := newLeafHasher()
	next := from
	for _, s := range v.segs {
		if next > to {
			return out, nil
		}
		if s.info.LastSeq < next || s.info.FirstSeq > next {
			continue
		}
		var ferr error
		err := s.r.Scan(next, func(rec segment.Record) bool {
			if rec.Seq > to {
				return false
			}
			if rec.Seq != next {
				ferr = corrupt.New(s.r.Path(), 0, "scan yields seq %d, want %d", rec.Seq, next)
				return false
			}
			out = append(out, lh.sum(rec.Data))
			next++
			return true
		})
		if err == nil {
			err = ferr
		}
		if err != nil {
			return out, l.readErr(s.r.Path(), err)
		}
	}
	for i, m := range v.mts {
		for j := 0; j < v.ns[i] && next <= to; j++ {
			if m.base+uint64(j) != next {
				continue
			}
			out = append(out, lh.sum(v.recs[i][j]))
			next++
		}
	}
	if next <= to {
		return out, fmt.Errorf("ledger: tree: seqs %d..%d are not in the ledger", next, to)
	}
	return out, nil
}

// catchUp adds the complete chunks of the first leaves leaves of v to
// the tree, stopping early (errStopped) when stop is closed. Caller holds
// t.mu.
func (l *Ledger) catchUp(v *view, leaves uint64, stop <-chan struct{}) error {
	t := l.tree
	want := int64(leaves / treeChunk)
	if t.chunks >= want {
		return nil
	}
	if t.broken != nil {
		return t.broken
	}
	var buf []tlog.Hash
	for t.chunks < want {
		select {
		case <-stop:
			return errStopped
		default:
		}
		n := min(want-t.chunks, treeWindow/treeChunk)
		from := uint64(t.chunks)*treeChunk + 1
		var err error
		buf, err = l.leafHashes(v, from, from+uint64(n)*treeChunk-1, buf[:0])
		if err != nil {
			if errors.Is(err, ErrNoTree) {
				t.broken = err
			}
			return err
		}
		for c := int64(0); c < n; c++ {
			if err := t.addChunk(subtreeHash(buf[c*treeChunk : (c+1)*treeChunk])); err != nil {
				return err
			}
		}
	}
	return nil
}

// treeHeader encodes the TREE file header.
func treeHeader(ledgerID string) ([]byte, error) {
	id, err := hex.DecodeString(ledgerID)
	if err != nil || len(id) != 16 {
		return nil, fmt.Errorf("ledger id %q is not 32 hex digits", ledgerID)
	}
	b := make([]byte, 0, treeHeaderLen)
	b = append(b, treeMagic...)
	b = binary.LittleEndian.AppendUint32(b, treeVersion)
	b = binary.LittleEndian.AppendUint32(b, treeChunkLevel)
	b = append(b, id...)
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b)), nil
}

// treeFrame encodes the frame adding chunks [first, first+count), whose
// stored hashes are hs.
func treeFrame(first, count int64, hs []tlog.Hash) []byte {
	b := appendTreeFrameHead(make([]byte, 0, treeFrameHead+32*len(hs)+8), first, count, int64(len(hs)))
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
}

// appendTreeFrameHead appends the head of the frame adding chunks
// [first, first+count), whose stored hashes number nh.
func appendTreeFrameHead(b []byte, first, count, nh int64) []byte {
	b = append(b, treeFrameMagic...)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, uint64(first))
	b = binary.LittleEndian.AppendUint32(b, uint32(count))
	return binary.LittleEndian.AppendUint32(b, uint32(nh))
}

// treeLeavesMagic marks a leaves frame: the leaf hashes of seqs first..
// of the chunk a retention drop cut through (its dropped events). It may
// follow the frame completing that chunk; the last one counts.
const treeLeavesMagic = "EXTL"

// treeLeavesFrame encodes the leaves frame of hashes from seq first.
func treeLeavesFrame(first uint64, hs []tlog.Hash) []byte {
	b := make([]byte, 0, treeFrameHead+32*len(hs)+8)
	b = append(b, treeLeavesMagic...)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, first)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(hs)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return binary.LittleEndian.AppendUint64(b, xxhash.Sum64(b))
}

// maxTreeFrameChunks bounds one frame (a rewrite writes several).
const maxTreeFrameChunks = 1 << 20

// openTree starts loading TREE in the background: Open does not wait for
// it (at 10M events the file is 40 MB and decoding it was half of Open's
// time), while everything that uses the tree (proofs, verify, seals'
// tree extension, retention, Close) waits for t.building first. The
// loader cuts what does not check out and, for a writable ledger, then
// catches up the sealed events the file lacks.
func (l *Ledger) openTree() {
	t := &merkle{building: make(chan struct{}), fs: l.fs, path: l.treePath()}
	l.tree = t
	if !l.opts.ReadOnly {
		l.fs.Remove(l.treePath() + ".tmp")
		l.fs.Remove(l.leavesPath() + ".tmp")
	}
	l.bgWG.Add(1)
	go func() {
		defer l.bgWG.Done()
		defer close(t.building)
		rewrite := l.loadTree(t)
		if l.opts.ReadOnly || l.opts.NoMerkleTree {
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		if rewrite {
			if err := l.rewriteTree(); err != nil {
				t.err = err
				l.log.Warn("Merkle tree file not written; proofs are served from memory", "err", err)
				return
			}
		}
		v := l.snapshot()
		defer v.release()
		if err := l.catchUp(&v, l.sealedThrough(&v), l.stop); err != nil && err != errStopped {
			l.log.Warn("Merkle tree not complete", "err", err)
		}
		l.persistTree(l.sealedThrough(&v), true)
	}()
}

// loadTree reads TREE into t, cutting a torn or damaged tail, chunks past
// the sealed events and a file that does not match the events. It reports
// whether the file must be rewritten. It runs before t.building closes,
// so nothing else uses t meanwhile.
func (l *Ledger) loadTree(t *merkle) (rewrite bool) {
	l.loadLeaves(t)
	path := l.treePath()
	v := l.snapshot()
	defer v.release()
	sealed := l.sealedThrough(&v)
	f, err := l.fs.Open(path)
	var size int64
	if err == nil {
		defer f.Close()
		size, err = f.Size()
	}
	switch {
	case isNotExist(err):
		l.log.Info("Merkle tree file missing: building it from the events (once)", "file", path, "events", sealed)
		return true
	case err != nil:
		l.log.Warn("Merkle tree file unreadable: rebuilding it from the events", "file", path, "err", err)
		return true
	}
	// Read frame by frame, the chunks past the sealed events left out.
	s, derr := scanTree(f, size, path, l.ID(), int64(sealed/treeChunk), func(c int64, hs []tlog.Hash) error {
		t.loadHashes(c, hs)
		return nil
	})
	if derr != nil {
		t.reset()
		l.log.Warn("Merkle tree file damaged: rebuilding it from the events", "file", path, "err", derr)
		return true
	}
	t.chunks, t.durable, t.fileSize, t.frames = s.chunks, s.chunks, s.good, s.frames
	t.tail, t.tailFrom = s.tail, s.tailFrom
	if t.chunks%treeGroup == 0 {
		t.mem, t.memFrom = nil, t.chunks
	}
	if s.good < size {
		l.log.Warn("Merkle tree file has a torn or damaged tail: cut, the rest is rebuilt from the events", "file", path, "valid_bytes", s.good, "size", size)
		rewrite = true
	}
	if s.chunks < s.fileChunks {
		l.log.Warn("Merkle tree file covers events the ledger no longer has sealed (after a repair?): cut", "file", path, "chunks", s.fileChunks, "sealed", sealed)
		rewrite = true
	}
	// Spot check: the last chunk whose events are still stored must hash
	// as recorded, or the file belongs to other events.
	if c := t.chunks - 1; c >= 0 && uint64(c)*treeChunk+1 >= l.firstRetained() {
		leaves, err := l.leafHashes(&v, uint64(c)*treeChunk+1, uint64(c+1)*treeChunk, nil)
		if err == nil {
			if h, herr := t.chunkHash(c); herr != nil || subtreeHash(leaves) != h {
				l.log.Warn("Merkle tree file does not match the events: rebuilding it", "file", path, "chunk", c, "err", herr)
				t.reset()
				rewrite = true
			}
		}
	}
	return rewrite
}

// rewriteTree writes TREE anew from the in-memory tree (header plus its
// chunks in frames), atomically. Caller holds t.mu.
func (l *Ledger) rewriteTree() error {
	t := l.tree
	frames, size, err := l.writeTreeFile(t)
	if err != nil {
		return err
	}
	t.frames, t.cacheOK = frames, false
	t.durable, t.fileSize = t.chunks, size
	t.trimMem()
	return nil
}

// persistTree appends the chunks covering sealed events up to seq sealed
// that the file lacks, as one frame; with sync it also fsyncs the file
// (else the frame may be lost or torn by a crash: Open cuts a damaged
// tail and catches up from the events, which are durable in segments).
// Failures are logged and stop further writes. Caller holds t.mu.
func (l *Ledger) persistTree(sealed uint64, sync bool) {
	t := l.tree
	upto := min(t.chunks, int64(sealed/treeChunk))
	if t.err != nil {
		return
	}
	if upto <= t.durable {
		if sync && t.dirty {
			l.syncTree()
		}
		return
	}
	// The frames' stored hashes come from memory (chunks from durable on
	// are there); a frame holds at most maxTreeFrameChunks chunks.
	var frs []byte
	var refs []treeFrameRef
	for c := t.durable; c < upto; {
		n := min(upto-c, maxTreeFrameChunks)
		hs, err := t.ReadHashes(storedRange(c, c+n))
		if err != nil {
			t.err = err
			l.log.Warn("Merkle tree file not extended; it is caught up at the next Open", "err", err)
			return
		}
		refs = append(refs, treeFrameRef{first: c, count: n, off: t.fileSize + int64(len(frs)) + treeFrameHead})
		frs = append(frs, treeFrame(c, n, hs)...)
		c += n
	}
	err := func() error {
		f, err := l.fs.OpenRW(l.treePath())
		if err != nil {
			return err
		}
		if _, err := f.WriteAt(frs, t.fileSize); err != nil {
			f.Close()
			return err
		}
		if sync {
			if err := f.Sync(); err != nil {
				f.Close()
				return err
			}
		}
		return f.Close()
	}()
	if err != nil {
		t.err = err
		l.log.Warn("Merkle tree file not extended; it is caught up at the next Open", "err", err)
		return
	}
	t.frames = append(t.frames, refs...)
	t.durable, t.fileSize, t.dirty = upto, t.fileSize+int64(len(frs)), !sync
	t.trimMem()
}

// storedRange returns the indexes of the chunk tree's stored hashes that
// chunks [c0, c1) add.
func storedRange(c0, c1 int64) []int64 {
	idx := make([]int64, 0, tlog.StoredHashCount(c1)-tlog.StoredHashCount(c0))
	for x := tlog.StoredHashCount(c0); x < tlog.StoredHashCount(c1); x++ {
		idx = append(idx, x)
	}
	return idx
}

// syncTree fsyncs TREE after unsynced appends. Caller holds t.mu.
func (l *Ledger) syncTree() {
	t := l.tree
	err := func() error {
		f, err := l.fs.OpenRW(l.treePath())
		if err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}()
	if err != nil {
		t.err = err
		l.log.Warn("Merkle tree file not synced; it is checked and caught up at the next Open", "err", err)
		return
	}
	t.dirty = false
}

// closeTree makes TREE durable at Close.
func (l *Ledger) closeTree() {
	if l.opts.NoMerkleTree || l.opts.ReadOnly || l.tree == nil {
		return
	}
	t := l.tree
	<-t.building
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dirty && t.err == nil {
		l.syncTree()
	}
}

// treeSeal runs beside the sealing of m: it hashes m's events into the
// tree. The returned function waits for that; with persist (the
// segment's manifest is durable) it appends the new chunks to TREE.
func (l *Ledger) treeSeal(m *memtable, n int) func(persist bool) {
	if l.opts.NoMerkleTree || l.tree == nil {
		return func(bool) {}
	}
	t := l.tree
	last := m.base + uint64(n) - 1
	v := l.snapshot()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer v.release()
		<-t.building
		t.mu.Lock()
		defer t.mu.Unlock()
		if err := l.catchUp(&v, last, nil); err != nil {
			l.log.Warn("Merkle tree not extended at seal", "err", err)
		}
	}()
	return func(persist bool) {
		<-done
		if persist {
			t.mu.Lock()
			l.persistTree(last, false)
			t.mu.Unlock()
		}
	}
}

// treeReader serves tlog's stored-hash requests for the full tree (leaf
// level) of a snapshot: nodes at or above the chunk level come from the
// chunk tree, nodes below it are recomputed from the chunk's events.
// Caller holds t.mu and has caught the tree up to the size it proves.
type treeReader struct {
	l    *Ledger
	v    *view
	memo map[int64][]tlog.Hash // chunk → its leaves
}

func (r *treeReader) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		level, n := tlog.SplitStoredHashIndex(x)
		if level >= treeChunkLevel {
			hs, err := r.l.tree.ReadHashes([]int64{tlog.StoredHashIndex(level-treeChunkLevel, n)})
			if err != nil {
				return nil, err
			}
			out[i] = hs[0]
			continue
		}
		first := n << level // first leaf of the node
		c := first / treeChunk
		leaves, ok := r.memo[c]
		if !ok {
			var err error
			if leaves, err = r.l.leafHashes(r.v, uint64(c)*treeChunk+1, min(uint64(c+1)*treeChunk, r.v.lastSeq()), nil); err != nil {
				return nil, err
			}
			// A complete chunk must hash as the tree records it (its
			// leaves come from events or, for dropped events, from the
			// kept leaf hashes): a proof is never built on leaves that
			// differ from the tree.
			var stored tlog.Hash
			if t := r.l.tree; len(leaves) == treeChunk && c < t.chunks {
				var err error
				if stored, err = t.chunkHash(c); err != nil {
					return nil, err
				}
			}
			if t := r.l.tree; len(leaves) == treeChunk && c < t.chunks && subtreeHash(leaves) != stored {
				file := r.l.treePath()
				if uint64(c+1)*treeChunk < r.l.firstRetained() {
					file = r.l.leavesPath()
				}
				return nil, &IntegrityError{File: file, Seq: uint64(c)*treeChunk + 1, Reason: fmt.Sprintf("the leaves of tree chunk %d (seqs %d-%d) do not hash to its stored chunk hash", c, c*treeChunk+1, (c+1)*treeChunk)}
			}
			r.memo[c] = leaves
		}
		lo, hi := first-c*treeChunk, first-c*treeChunk+1<<level
		if hi > int64(len(leaves)) {
			return nil, fmt.Errorf("ledger: tree node (%d, %d) past the ledger's end", level, n)
		}
		out[i] = subtreeHash(leaves[lo:hi])
	}
	return out, nil
}

// treeBeforeDrop makes sure the tree, in memory and in TREE, holds every
// chunk of the events through seq before retention drops them, and that
// the leaf hashes of the dropped events are kept: those of complete
// chunks in TREELEAVES, those of the chunk the drop cuts through in a
// TREE leaves frame (so every old tree size still proves consistency). It
// reports whether TREELEAVES exists (the manifest then names feature
// "treeleaves").
func (l *Ledger) treeBeforeDrop(seq uint64) (bool, error) {
	if l.opts.NoMerkleTree || l.tree == nil {
		return false, nil
	}
	t := l.tree
	<-t.building
	t.mu.Lock()
	defer t.mu.Unlock()
	v := l.snapshot()
	defer v.release()
	sealed := l.sealedThrough(&v)
	if err := l.catchUp(&v, sealed, nil); err != nil {
		return false, fmt.Errorf("Merkle tree not caught up: %w", err)
	}
	l.persistTree(sealed, true)
	if t.err != nil {
		return false, fmt.Errorf("Merkle tree file not written, events it needs cannot be dropped: %w", t.err)
	}
	// The complete chunks: TREELEAVES, fsynced before anything else
	// changes (a crash after it leaves blocks past the dropped prefix,
	// which are never read as dropped leaves and are rewritten by the
	// next drop).
	kept, err := l.keepDroppedLeaves(&v, seq)
	if err != nil {
		return false, fmt.Errorf("Merkle tree: leaf hashes of the dropped prefix not written, the events cannot be dropped: %w", err)
	}
	// The chunk the drop cuts through: keep the leaf hashes of its
	// dropped events, in TREE, to complete the chunk with later events
	// and to prove consistency from checkpoints of sizes inside it.
	if from := seq - seq%treeChunk + 1; seq%treeChunk != 0 {
		leaves, err := l.leafHashes(&v, from, seq, nil)
		if errors.Is(err, ErrNoTree) {
			// A repair lost events of this chunk: the tree cannot be
			// extended past it anyway.
			l.log.Warn("Merkle tree: leaves of the chunk cut by retention not kept", "err", err)
			return kept, nil
		}
		if err != nil {
			return false, fmt.Errorf("Merkle tree: leaves of the chunk cut by retention: %w", err)
		}
		if err := l.appendTreeFrame(treeLeavesFrame(from, leaves)); err != nil {
			t.err = err
			return false, fmt.Errorf("Merkle tree file not written, events it needs cannot be dropped: %w", err)
		}
		t.tail, t.tailFrom = leaves, from
	}
	return kept, nil
}

// appendTreeFrame appends one frame to TREE and fsyncs it. Caller holds
// t.mu.
func (l *Ledger) appendTreeFrame(fr []byte) error {
	t := l.tree
	f, err := l.fs.OpenRW(l.treePath())
	if err != nil {
		return err
	}
	if _, err := f.WriteAt(fr, t.fileSize); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	t.fileSize += int64(len(fr))
	t.dirty = false
	return nil
}

// lostIn returns the first seq in from..to that a repair lost (a recorded
// gap), if any.
func (l *Ledger) lostIn(from, to uint64) (uint64, bool) {
	for _, g := range l.man.Load().Gaps {
		for _, r := range g.Lost {
			if r.From <= to && r.To >= from {
				return max(r.From, from), true
			}
		}
	}
	return 0, false
}
