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

// EventIDHash64 returns the 64-bit hash of an event id whose leading bits
// EventIDHashPrefixes reports.
func EventIDHash64(id string) uint64 { return hashString(id) }

// EventIDPrefixBits returns how many leading bits of each id's 64-bit hash
// the event-id table of an index over n ids keeps: 32 plus its bucket
// bits (32 for fewer than 16 ids, up to 52).
func EventIDPrefixBits(n int) uint8 { return 32 + idBucketBits(n) }

// EventIDHashPrefixes appends to buf the leading bits of the 64-bit hash
// (EventIDHash64) of every event id stored in the index, in table order,
// left-aligned (the other bits zero), and returns how many leading bits
// they hold (32 plus the table's bucket bits, which the table keeps
// exactly). A ledger-wide filter keyed by these prefixes rules out an id
// with a false-positive rate that does not grow with the number of ids as
// one keyed by 32 bits does (N/2³² of new ids collide there). It reads
// and verifies the table without keeping it, unless a lookup had already
// loaded it.
func (ix *Index) EventIDHashPrefixes(buf []uint64) ([]uint64, uint8, error) {
	if ix.summary.Count == 0 {
		return buf, 32, nil
	}
	v, err := ix.peekIDs() // read once, not kept
	if err != nil {
		return buf, 0, err
	}
	for b := uint32(0); b < 1<<v.bb; b++ {
		lo := binary.LittleEndian.Uint32(v.buckets[b*4:])
		hi := binary.LittleEndian.Uint32(v.buckets[b*4+4:])
		if lo > hi || hi > v.n {
			return buf, 0, ix.secCorrupt(secIDs, 8+int(b)*4, "bucket bounds out of order")
		}
		for i := lo; i < hi; i++ {
			fp, _ := v.row(i)
			// The row keeps h >> (32-bb): bucket b (bb bits), then fp.
			buf = append(buf, (uint64(b)<<32|uint64(fp))<<(32-v.bb))
		}
	}
	return buf, 32 + v.bb, nil
}
