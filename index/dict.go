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
	blob     []byte // the entries (version 1); nil in a version 2 head
	blobPos  int    // position of the entries in the section
	blobLen  int64
}

// dictEntry is one decoded dictionary entry.
type dictEntry struct {
	card    uint32
	kind    uint8
	ord     uint32 // card == 1
	postOff uint64 // card >= 2: position in the postings section
	plen    uint64
}

// loadDict returns the dictionary: the whole section for a version 1
// file; for a version 2 file only its head (counts and restart rows, with
// blob nil), read through the verified chunks.
func (ix *Index) loadDict() (*dictView, error) {
	if ix.version >= 2 {
		nr := (int64(ix.summary.Terms) + dictRestart - 1) / dictRestart
		head := 8 + 12*nr
		// The head refers to the chunks read for it (whole chunks: the
		// cache counts them all).
		held := (head + chunkSize - 1) &^ (chunkSize - 1)
		return ix.dict.get(ix.cache, held, func() (*dictView, error) {
			if head > ix.secs[secDict].len {
				return nil, ix.secCorrupt(secDict, 0, "restart rows beyond the section")
			}
			b, err := ix.regionBytes(0, head, false)
			if err != nil {
				return nil, err
			}
			return ix.parseDict(b, true)
		})
	}
	return ix.dict.get(ix.cache, ix.secs[secDict].len, func() (*dictView, error) {
		b, err := ix.section(secDict)
		if err != nil {
			return nil, err
		}
		return ix.parseDict(b, false)
	})
}

// parseDict parses a dictionary section (or, headOnly, its head: the
// blob is then read per restart block).
func (ix *Index) parseDict(b []byte, headOnly bool) (*dictView, error) {
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
	v.blobLen = ix.secs[secDict].len - int64(d.off)
	if !headOnly {
		v.blob = b[d.off:]
	}
	return v, nil
}

// block returns the bytes of restart block r (entries 16r..16r+15): from
// the loaded section (version 1) or read and verified chunk by chunk
// (version 2). Its bounds are the restart rows r and r+1.
func (ix *Index) block(v *dictView, r uint32) ([]byte, int, error) {
	start := int64(binary.LittleEndian.Uint32(v.restarts[r*12:]))
	end := v.blobLen
	if r+1 < v.nr {
		end = int64(binary.LittleEndian.Uint32(v.restarts[(r+1)*12:]))
	}
	if start >= end || end > v.blobLen {
		return nil, 0, ix.secCorrupt(secDict, 8+int(r)*12, "restart rows out of order")
	}
	if v.blob != nil {
		return v.blob[start:end], int(start), nil
	}
	b, err := ix.regionBytes(int64(v.blobPos)+start, end-start, true)
	return b, int(start), err
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

// postingBytes returns the posting list of e (card >= 2), verified: from
// the loaded section (version 1) or from its chunks (version 2).
func (ix *Index) postingBytes(e dictEntry) ([]byte, error) {
	plen := uint64(ix.secs[secPostings].len)
	if e.postOff > plen || e.plen > plen-e.postOff {
		return nil, ix.corrupt(ix.secs[secPostings].off+int64(min(e.postOff, plen)), "postings section: posting list beyond the section")
	}
	if ix.version >= 2 {
		return ix.regionBytes(ix.secs[secDict].len+int64(e.postOff), int64(e.plen), true)
	}
	p, err := ix.loadPostings()
	if err != nil {
		return nil, err
	}
	return (*p)[e.postOff : e.postOff+e.plen], nil
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

// restartKey returns the full key stored at the start of a restart
// block (shared == 0).
func restartKey(blk []byte) ([]byte, bool) {
	d := dec{b: blk}
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
		blk, pos, err := ix.block(v, mid)
		if err != nil {
			return dictEntry{}, false, err
		}
		k, ok := restartKey(blk)
		if !ok {
			return dictEntry{}, false, ix.secCorrupt(secDict, v.blobPos+pos, "bad restart key")
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
	blk, pos, err := ix.block(v, r)
	if err != nil {
		return dictEntry{}, false, err
	}
	d := dec{b: blk}
	postOff := binary.LittleEndian.Uint64(v.restarts[r*12+4:])
	var kbuf [128]byte
	cur := kbuf[:0]
	end := min(uint64(r+1)*dictRestart, uint64(v.n))
	for i := uint64(r) * dictRestart; i < end; i++ {
		var e dictEntry
		cur, e = readEntry(&d, cur, i == uint64(r)*dictRestart)
		if d.bad {
			return dictEntry{}, false, ix.secCorrupt(secDict, v.blobPos+pos+d.off, d.fail)
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

// decodePostings materializes the posting list of e as a new bitmap: p is
// its bytes (postingBytes), nil when card == 1.
func (ix *Index) decodePostings(e dictEntry, p []byte) (bm *roaring.Bitmap, err error) {
	count := ix.summary.Count
	if e.card == 1 {
		if e.ord >= count {
			return nil, ix.corrupt(ix.secs[secDict].off, "dictionary section: ordinal %d beyond count %d", e.ord, count)
		}
		return roaring.BitmapOf(e.ord), nil
	}
	bad := func(why string) error {
		return ix.corrupt(ix.secs[secPostings].off+int64(min(e.postOff, uint64(ix.secs[secPostings].len))), "postings section: %s", why)
	}
	if uint64(len(p)) != e.plen {
		return nil, bad("posting list beyond the section")
	}
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
	var p []byte
	if e.card >= 2 {
		if p, err = ix.postingBytes(e); err != nil {
			return nil, err
		}
	}
	return ix.decodePostings(e, p)
}

// verifyDict walks the whole dictionary and decodes every posting list.
// A version 2 file's sections are read whole for it (their section
// checksums checked too) without entering the cache.
func (ix *Index) verifyDict() error {
	var v *dictView
	var post []byte
	if ix.version >= 2 {
		b, err := ix.section(secDict)
		if err != nil {
			return err
		}
		if v, err = ix.parseDict(b, false); err != nil {
			return err
		}
		if post, err = ix.section(secPostings); err != nil {
			return err
		}
	} else {
		var err error
		if v, err = ix.loadDict(); err != nil {
			return err
		}
		pp, err := ix.loadPostings()
		if err != nil {
			return err
		}
		post = *pp
	}
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
		var p []byte
		if e.card >= 2 {
			e.postOff = postOff
			postOff += e.plen
			if e.postOff > uint64(len(post)) || e.plen > uint64(len(post))-e.postOff {
				return ix.corrupt(ix.secs[secPostings].off+int64(min(e.postOff, uint64(len(post)))), "postings section: posting list beyond the section")
			}
			p = post[e.postOff : e.postOff+e.plen]
		}
		if _, err := ix.decodePostings(e, p); err != nil {
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
