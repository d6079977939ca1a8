package index

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/RoaringBitmap/roaring/v2"
)

// dictView is the loaded dictionary section (see doc.go).
type dictView struct {
	n, nr    uint32
	restarts []byte // nr rows of keyOff u32, postOff u64
	blob     []byte
	blobPos  int // position of blob in the section, for error offsets
}

// dictEntry is one decoded dictionary entry.
type dictEntry struct {
	card    uint32
	kind    uint8
	ord     uint32 // card == 1
	postOff uint64 // card >= 2: position in the postings section
	plen    uint64
}

func (ix *Index) loadDict() (*dictView, error) {
	return ix.dict.get(ix.cache, ix.secs[secDict].len, func() (*dictView, error) {
		b, err := ix.section(secDict)
		if err != nil {
			return nil, err
		}
		d := dec{b: b}
		v := &dictView{}
		v.n = d.u32()
		v.nr = d.u32()
		if !d.bad && uint64(v.nr) != (uint64(v.n)+dictRestart-1)/dictRestart {
			d.setFail("restart count does not match term count")
		}
		if !d.bad && v.n != ix.summary.Terms {
			d.setFail("term count differs from the summary")
		}
		v.restarts = d.bytes(uint64(v.nr) * 12)
		if d.bad {
			return nil, ix.secCorrupt(secDict, d.off, d.fail)
		}
		v.blobPos = d.off
		v.blob = b[d.off:]
		return v, nil
	})
}

func (ix *Index) loadPostings() (*[]byte, error) {
	return ix.post.get(ix.cache, ix.secs[secPostings].len, func() (*[]byte, error) {
		b, err := ix.section(secPostings)
		if err != nil {
			return nil, err
		}
		return &b, nil
	})
}

// readEntry decodes the entry at d (whose previous key is cur) and returns
// the new key (reusing cur's storage).
func readEntry(d *dec, cur []byte, restart bool) ([]byte, dictEntry) {
	var e dictEntry
	shared := d.uvarint()
	unshared := d.uvarint()
	if d.bad {
		return cur, e
	}
	if shared > uint64(len(cur)) || (restart && shared != 0) {
		d.setFail("bad shared prefix length")
		return cur, e
	}
	suffix := d.bytes(unshared)
	cur = append(cur[:shared], suffix...)
	ck := d.uvarint()
	if d.bad {
		return cur, e
	}
	card := ck >> 1
	e.kind = uint8(ck & 1)
	if card == 0 || card > 1<<32-1 {
		d.setFail("bad posting cardinality")
		return cur, e
	}
	e.card = uint32(card)
	if card == 1 {
		if e.kind != postDelta {
			d.setFail("single posting with roaring kind")
		}
		e.ord = d.uvarint32()
		return cur, e
	}
	e.plen = d.uvarint()
	return cur, e
}

// restartKey returns the full key stored at restart r.
func (v *dictView) restartKey(r uint32) ([]byte, bool) {
	off := binary.LittleEndian.Uint32(v.restarts[r*12:])
	if uint64(off) >= uint64(len(v.blob)) {
		return nil, false
	}
	d := dec{b: v.blob, off: int(off)}
	if d.uvarint() != 0 {
		return nil, false
	}
	k := d.bytes(d.uvarint())
	return k, !d.bad
}

// lookup finds term (f, val) in the dictionary.
func (ix *Index) lookup(v *dictView, f Field, val string) (dictEntry, bool, error) {
	// First restart whose key is > target; the term, if present, is in the
	// block before it.
	lo, hi := uint32(0), v.nr
	for lo < hi {
		mid := lo + (hi-lo)/2
		k, ok := v.restartKey(mid)
		if !ok {
			off := binary.LittleEndian.Uint32(v.restarts[mid*12:])
			return dictEntry{}, false, ix.secCorrupt(secDict, v.blobPos+int(min(off, uint32(len(v.blob)))), "bad restart key")
		}
		if compareKey(k, f, val) > 0 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == 0 {
		return dictEntry{}, false, nil
	}
	r := lo - 1
	d := dec{b: v.blob, off: int(binary.LittleEndian.Uint32(v.restarts[r*12:]))}
	postOff := binary.LittleEndian.Uint64(v.restarts[r*12+4:])
	var kbuf [128]byte
	cur := kbuf[:0]
	end := min(uint64(r+1)*dictRestart, uint64(v.n))
	for i := uint64(r) * dictRestart; i < end; i++ {
		var e dictEntry
		cur, e = readEntry(&d, cur, i == uint64(r)*dictRestart)
		if d.bad {
			return dictEntry{}, false, ix.secCorrupt(secDict, v.blobPos+d.off, d.fail)
		}
		if e.card >= 2 {
			e.postOff = postOff
			postOff += e.plen
		}
		c := compareKey(cur, f, val)
		if c == 0 {
			return e, true, nil
		}
		if c > 0 {
			break
		}
	}
	return dictEntry{}, false, nil
}

// decodePostings materializes the posting list of e as a new bitmap.
func (ix *Index) decodePostings(e dictEntry, post []byte) (bm *roaring.Bitmap, err error) {
	count := ix.summary.Count
	if e.card == 1 {
		if e.ord >= count {
			return nil, ix.corrupt(ix.secs[secDict].off, "dictionary section: ordinal %d beyond count %d", e.ord, count)
		}
		return roaring.BitmapOf(e.ord), nil
	}
	bad := func(why string) error {
		return ix.corrupt(ix.secs[secPostings].off+int64(min(e.postOff, uint64(len(post)))), "postings section: %s", why)
	}
	if e.postOff > uint64(len(post)) || e.plen > uint64(len(post))-e.postOff {
		return nil, bad("posting list beyond the section")
	}
	p := post[e.postOff : e.postOff+e.plen]
	switch e.kind {
	case postDelta:
		if uint64(e.card) > e.plen || e.card > count {
			return nil, bad("cardinality exceeds the list or the count")
		}
		ords := make([]uint32, 0, e.card)
		d := dec{b: p}
		next := uint64(0)
		for i := uint32(0); i < e.card; i++ {
			v := next + d.uvarint()
			if d.bad || v >= uint64(count) {
				return nil, bad("bad or out-of-range ordinal in delta list")
			}
			ords = append(ords, uint32(v))
			next = v + 1
		}
		if d.remaining() != 0 {
			return nil, bad("trailing bytes in delta list")
		}
		bm = roaring.New()
		bm.AddMany(ords)
		return bm, nil
	default:
		bm, err = unmarshalRoaring(p)
		if err != nil {
			return nil, bad(err.Error())
		}
		if bm.GetCardinality() != uint64(e.card) || bm.Maximum() >= count {
			return nil, bad("roaring list does not match its cardinality or count")
		}
		return bm, nil
	}
}

// unmarshalRoaring decodes a serialized roaring bitmap (already covered by
// a verified checksum), converting any panic into an error. The bitmap
// refers to p without copying; roaring marks such containers
// copy-on-write, so the caller may still mutate it freely.
func unmarshalRoaring(p []byte) (bm *roaring.Bitmap, err error) {
	defer func() {
		if r := recover(); r != nil {
			bm, err = nil, fmt.Errorf("roaring decode panicked: %v", r)
		}
	}()
	bm = roaring.New()
	n, err := bm.FromBuffer(p)
	if err != nil {
		return nil, fmt.Errorf("roaring: %v", err)
	}
	if n != int64(len(p)) {
		return nil, fmt.Errorf("roaring list of %d bytes stored in %d", n, len(p))
	}
	if err := bm.Validate(); err != nil {
		return nil, fmt.Errorf("roaring: %v", err)
	}
	return bm, nil
}

// Postings returns the ordinals holding term t as a new bitmap the caller
// owns (empty, never nil, when the term is absent). For FieldEventID it
// returns the hash candidates of EventID, which the caller must verify.
func (ix *Index) Postings(t Term) (*roaring.Bitmap, error) {
	if t.Field == FieldEventID {
		ords, err := ix.EventID(t.Value)
		if err != nil {
			return nil, err
		}
		return roaring.BitmapOf(ords...), nil
	}
	if !t.Field.valid() {
		return nil, fmt.Errorf("index: postings: %w %d", ErrField, t.Field)
	}
	if !ix.summary.MayContain(t) {
		return roaring.New(), nil
	}
	v, err := ix.loadDict()
	if err != nil {
		return nil, err
	}
	e, ok, err := ix.lookup(v, t.Field, t.Value)
	if err != nil || !ok {
		return roaring.New(), err
	}
	var post []byte
	if e.card >= 2 {
		p, err := ix.loadPostings()
		if err != nil {
			return nil, err
		}
		post = *p
	}
	return ix.decodePostings(e, post)
}

// verifyDict walks the whole dictionary and decodes every posting list.
func (ix *Index) verifyDict() error {
	v, err := ix.loadDict()
	if err != nil {
		return err
	}
	pp, err := ix.loadPostings()
	if err != nil {
		return err
	}
	post := *pp
	d := dec{b: v.blob}
	var cur, prev []byte
	postOff := uint64(0)
	for i := uint32(0); i < v.n; i++ {
		restart := i%dictRestart == 0
		if restart {
			r := i / dictRestart
			if binary.LittleEndian.Uint32(v.restarts[r*12:]) != uint32(d.off) || binary.LittleEndian.Uint64(v.restarts[r*12+4:]) != postOff {
				return ix.secCorrupt(secDict, 8+int(r)*12, "restart row does not match its entry")
			}
		}
		prev = append(prev[:0], cur...)
		var e dictEntry
		cur, e = readEntry(&d, cur, restart)
		if d.bad {
			return ix.secCorrupt(secDict, v.blobPos+d.off, d.fail)
		}
		if len(cur) == 0 || !Field(cur[0]).valid() || Field(cur[0]) == FieldEventID {
			return ix.secCorrupt(secDict, v.blobPos+d.off, "entry with a bad field")
		}
		if i > 0 && bytes.Compare(prev, cur) >= 0 {
			return ix.secCorrupt(secDict, v.blobPos+d.off, "keys not strictly increasing")
		}
		t := Term{Field: Field(cur[0]), Value: string(cur[1:])}
		if !ix.summary.filter.mayContain(termHash(t)) {
			return ix.secCorrupt(secSummary, 0, fmt.Sprintf("filter misses dictionary term %d", i))
		}
		if e.card >= 2 {
			e.postOff = postOff
			postOff += e.plen
		}
		if _, err := ix.decodePostings(e, post); err != nil {
			return err
		}
	}
	if d.remaining() != 0 {
		return ix.secCorrupt(secDict, v.blobPos+d.off, "trailing bytes")
	}
	if postOff != uint64(len(post)) {
		return ix.corrupt(ix.secs[secPostings].off, "postings section: %d bytes, dictionary accounts for %d", len(post), postOff)
	}
	return nil
}
