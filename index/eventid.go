package index

import (
	"encoding/binary"
	"slices"
)

// idView is the loaded event-id table (see doc.go).
type idView struct {
	n       uint32
	bb, ob  uint8
	buckets []byte // (1<<bb)+1 cumulative u32 starts
	entries []byte // n rows of fp u32, ord (ob bytes)
	entPos  int
}

func (ix *Index) loadIDFilter() (*bloom, error) {
	return ix.idf.get(ix.cache, ix.secs[secIDFilter].len, func() (*bloom, error) {
		b, err := ix.section(secIDFilter)
		if err != nil {
			return nil, err
		}
		d := dec{b: b}
		f := readBloom(&d)
		if !d.bad && d.remaining() != 0 {
			d.setFail("trailing bytes")
		}
		if d.bad {
			return nil, ix.secCorrupt(secIDFilter, d.off, d.fail)
		}
		return &f, nil
	})
}

func (ix *Index) loadIDs() (*idView, error) {
	return ix.ids.get(ix.cache, ix.secs[secIDs].len, ix.readIDs)
}

// peekIDs returns the event-id table if it is loaded, else reads and
// verifies it without keeping it (a one-off pass such as EventIDHashes
// should not fill memory or a cache with every segment's table).
func (ix *Index) peekIDs() (*idView, error) {
	if v := ix.ids.v.Load(); v != nil {
		return v, nil
	}
	return ix.readIDs()
}

// readIDs reads, verifies and parses the event-id table section.
func (ix *Index) readIDs() (*idView, error) {
	b, err := ix.section(secIDs)
	if err != nil {
		return nil, err
	}
	d := dec{b: b}
	v := &idView{}
	v.n = d.u32()
	v.bb = d.u8()
	v.ob = d.u8()
	fpb := d.u8()
	if d.u8() != 0 {
		d.setFail("nonzero reserved byte")
	}
	if !d.bad && (v.bb > maxBucketBits || v.ob != idOrdBytes(ix.summary.Count) || fpb != idFPBytes) {
		d.setFail("bad table parameters")
	}
	v.buckets = d.bytes((uint64(1)<<v.bb + 1) * 4)
	v.entPos = d.off
	v.entries = d.bytes(uint64(v.n) * uint64(idFPBytes+v.ob))
	if !d.bad && d.remaining() != 0 {
		d.setFail("trailing bytes")
	}
	if !d.bad && binary.LittleEndian.Uint32(v.buckets[len(v.buckets)-4:]) != v.n {
		d.setFail("last bucket does not end at the entry count")
	}
	if d.bad {
		return nil, ix.secCorrupt(secIDs, d.off, d.fail)
	}
	return v, nil
}

func (v *idView) row(i uint32) (fp, ord uint32) {
	w := uint32(idFPBytes + v.ob)
	r := v.entries[i*w:]
	fp = binary.LittleEndian.Uint32(r)
	for k := uint8(0); k < v.ob; k++ {
		ord |= uint32(r[idFPBytes+k]) << (8 * k)
	}
	return fp, ord
}

// EventID returns the ordinals whose event id hashes like id, ascending:
// candidates the caller must verify against the stored events (a false
// positive needs the same 32+bucket-bits hash prefix). It returns nil
// when the id is certainly absent.
func (ix *Index) EventID(id string) ([]uint32, error) {
	if ix.summary.Count == 0 {
		return nil, nil
	}
	h := hashString(id)
	f, err := ix.loadIDFilter()
	if err != nil {
		return nil, err
	}
	if !f.mayContain(h) {
		return nil, nil
	}
	v, err := ix.loadIDs()
	if err != nil {
		return nil, err
	}
	trunc := h >> (32 - v.bb)
	bkt := uint32(trunc >> 32)
	fp := uint32(trunc)
	lo := binary.LittleEndian.Uint32(v.buckets[bkt*4:])
	hi := binary.LittleEndian.Uint32(v.buckets[bkt*4+4:])
	if lo > hi || hi > v.n {
		return nil, ix.secCorrupt(secIDs, 8+int(bkt)*4, "bucket bounds out of order")
	}
	// First row in the bucket with fingerprint >= fp.
	a, b := lo, hi
	for a < b {
		mid := a + (b-a)/2
		if f, _ := v.row(mid); f < fp {
			a = mid + 1
		} else {
			b = mid
		}
	}
	var out []uint32
	for i := a; i < hi; i++ {
		f, ord := v.row(i)
		if f != fp {
			break
		}
		if ord >= ix.summary.Count {
			return nil, ix.secCorrupt(secIDs, v.entPos+int(i)*(idFPBytes+int(v.ob)), "ordinal beyond the event count")
		}
		out = append(out, ord)
	}
	slices.Sort(out)
	return out, nil
}

// verifyIDs checks the event-id table: buckets ascending, rows sorted by
// (bucket, fingerprint, ordinal), ordinals in range.
func (ix *Index) verifyIDs() error {
	if _, err := ix.loadIDFilter(); err != nil {
		return err
	}
	v, err := ix.loadIDs()
	if err != nil {
		return err
	}
	nb := uint32(1) << v.bb
	prev := uint32(0)
	var pfp, pord uint32
	for bkt := uint32(0); bkt < nb; bkt++ {
		lo := binary.LittleEndian.Uint32(v.buckets[bkt*4:])
		hi := binary.LittleEndian.Uint32(v.buckets[bkt*4+4:])
		if lo != prev || lo > hi || hi > v.n || (bkt == 0 && lo != 0) {
			return ix.secCorrupt(secIDs, 8+int(bkt)*4, "bucket bounds out of order")
		}
		for i := lo; i < hi; i++ {
			fp, ord := v.row(i)
			if ord >= ix.summary.Count {
				return ix.secCorrupt(secIDs, v.entPos+int(i)*(idFPBytes+int(v.ob)), "ordinal beyond the event count")
			}
			if i > lo && (fp < pfp || (fp == pfp && ord <= pord)) {
				return ix.secCorrupt(secIDs, v.entPos+int(i)*(idFPBytes+int(v.ob)), "rows out of order")
			}
			pfp, pord = fp, ord
		}
		prev = hi
	}
	return nil
}
