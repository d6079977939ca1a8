package index

import "encoding/binary"

// EventIDHash32 returns the 32-bit event-id hash that EventIDHashes
// reports: the top 32 bits of the id's 64-bit hash. A caller can build a
// ledger-wide filter from EventIDHashes and probe it with EventIDHash32.
func EventIDHash32(id string) uint32 { return uint32(hashString(id) >> 32) }

// EventIDHashes calls fn with EventIDHash32 of every event id stored in the
// index, in table order. The table keeps the top 32+bucketBits bits of each
// hash, so the 32 bits are exact. It reads and verifies the table without
// keeping it, unless a lookup had already loaded it.
func (ix *Index) EventIDHashes(fn func(h uint32)) error {
	if ix.summary.Count == 0 {
		return nil
	}
	v, err := ix.peekIDs() // read once, not kept
	if err != nil {
		return err
	}
	for b := uint32(0); b < 1<<v.bb; b++ {
		lo := binary.LittleEndian.Uint32(v.buckets[b*4:])
		hi := binary.LittleEndian.Uint32(v.buckets[b*4+4:])
		if lo > hi || hi > v.n {
			return ix.secCorrupt(secIDs, 8+int(b)*4, "bucket bounds out of order")
		}
		for i := lo; i < hi; i++ {
			fp, _ := v.row(i)
			if v.bb == 0 {
				fn(fp)
			} else {
				fn(b<<(32-v.bb) | fp>>v.bb)
			}
		}
	}
	return nil
}
