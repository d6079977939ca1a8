package ledger

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/mod/sumdb/tlog"
)

// TreeHashesInMemoryForTest returns how many hashes the chunk tree keeps
// in memory (the group tree and the chunk hashes from memFrom on) and how
// many chunks it has.
func TreeHashesInMemoryForTest(l *Ledger) (hashes int, chunks int64) {
	t := l.tree
	<-t.building
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.groups) + len(t.mem), t.chunks
}

// TreeTestChunkHashOffset returns the file offset of chunk c's hash in a
// TREE file and the offset of the frame holding it (-1 if none does).
func TreeTestChunkHashOffset(file []byte, c int64) (hashOff, frameOff int) {
	off := treeHeaderLen
	for off+treeFrameHead+8 <= len(file) {
		rest := file[off:]
		nh := int(binary.LittleEndian.Uint32(rest[20:]))
		if string(rest[:4]) == treeLeavesMagic {
			off += treeFrameHead + 32*int(binary.LittleEndian.Uint32(rest[16:])) + 8
			continue
		}
		first := int64(binary.LittleEndian.Uint64(rest[8:]))
		count := int64(binary.LittleEndian.Uint32(rest[16:]))
		if c >= first && c < first+count {
			return off + treeFrameHead + 32*int(tlog.StoredHashIndex(0, c)-tlog.StoredHashCount(first)), off
		}
		off += treeFrameHead + 32*nh + 8
	}
	return -1, -1
}

// TreeTestFixFrameAt recomputes the checksum of the frame at off.
func TreeTestFixFrameAt(file []byte, off int) {
	rest := file[off:]
	nh := int(binary.LittleEndian.Uint32(rest[20:]))
	size := treeFrameHead + 32*nh + 8
	binary.LittleEndian.PutUint64(rest[size-8:], xxhash.Sum64(rest[:size-8]))
}
