package index

import (
	"cmp"
	"fmt"
	"math"
	"math/bits"
	"path/filepath"
	"slices"
	"strings"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/exledger/exledger/vfs"
)

// Format constants; doc.go describes the layout they define.
const (
	fileMagic     = "EXLEDIDX"
	formatVersion = 2 // what Encode writes; version 1 files are still read
	headerLen     = 16
	numSections   = 7 // in a version 2 file; a version 1 file has 6
	numSectionsV1 = 6
	trailerMagic  = "IXTR"
	trailerLen    = numSections*24 + 16 // of a version 2 file
	trailerLenV1  = numSectionsV1*24 + 16

	// chunkSize is the unit of verified reads of the dictionary and
	// postings sections of a version 2 file (see doc.go): the chunk
	// checksums section holds one xxhash64 per chunkSize bytes of them.
	chunkShift = 12
	chunkSize  = 1 << chunkShift

	dictRestart = 16 // dictionary entries per restart point
	timeRestart = 16 // distinct times per restart point
	runRestart  = 32 // ordinal runs per restart point

	// roaringMinCard: posting lists shorter than this are always stored as
	// delta lists (roaring cannot beat ~1 byte per ordinal there).
	roaringMinCard = 16

	postDelta   = 0
	postRoaring = 1

	idFPBytes     = 4
	maxBucketBits = 20
)

// Section numbers, in file order.
const (
	secSummary = iota
	secDict
	secPostings
	secTime
	secIDFilter
	secIDs
	secChunks // version 2 only
)

var sectionNames = [numSections]string{"summary", "dictionary", "postings", "time", "event-id filter", "event ids", "chunk checksums"}

// trailerLenOf returns the trailer length of a file with nsec sections.
func trailerLenOf(nsec int) int { return nsec*24 + 16 }

type ordTime struct {
	ord  uint32
	time string
}

type idEntry struct {
	trunc uint64 // top 32+bucketBits bits of the id hash (set in Encode)
	h     uint64
	ord   uint32
}

// Builder collects the entries of one segment and encodes its index file.
// It is not safe for concurrent use.
type Builder struct {
	terms map[Term]int // term -> index into lists
	lists [][]uint32
	times []ordTime
	ids   []idEntry
	err   error
}

// NewBuilder returns an empty Builder.
func NewBuilder() *Builder {
	return &Builder{terms: make(map[Term]int)}
}

// Add records the event at ordinal ord (seq - FirstSeq), its occurred_at
// time and its terms. Ordinals may come in any order, but each of 0..n-1
// must be added exactly once before Encode. A term repeated within one
// event counts once. An unknown Field makes Encode fail with ErrField.
func (b *Builder) Add(ord uint32, time string, terms []Term) {
	b.times = append(b.times, ordTime{ord: ord, time: time})
	for _, t := range terms {
		switch {
		case t.Field == FieldEventID:
			b.ids = append(b.ids, idEntry{h: hashString(t.Value), ord: ord})
		case t.Field.valid():
			i, ok := b.terms[t]
			if !ok {
				i = len(b.lists)
				b.terms[t] = i
				b.lists = append(b.lists, nil)
			}
			b.lists[i] = append(b.lists[i], ord)
		default:
			if b.err == nil {
				b.err = fmt.Errorf("index: add ordinal %d: %w %d", ord, ErrField, t.Field)
			}
		}
	}
}

// Len returns the number of Add calls so far.
func (b *Builder) Len() int { return len(b.times) }

// Encode returns the index file (format version 2) for everything added.
// The output depends only on the set of entries, never on the order of
// the Add calls.
func (b *Builder) Encode() ([]byte, error) { return b.EncodeVersion(formatVersion) }

// EncodeVersion is Encode in format version 1 or 2 (the current one). A
// version 1 file holds the same six sections as a version 2 file without
// its chunk checksums; it is what a version 1 writer produced, so a
// caller can check an existing version 1 file against its data.
func (b *Builder) EncodeVersion(version int) ([]byte, error) {
	if version != 1 && version != formatVersion {
		return nil, fmt.Errorf("index: encode: unknown format version %d", version)
	}
	if b.err != nil {
		return nil, b.err
	}
	n := len(b.times)
	if uint64(n) > math.MaxUint32 {
		return nil, fmt.Errorf("index: %d events: %w", n, ErrTooLarge)
	}
	slices.SortFunc(b.times, func(x, y ordTime) int { return cmp.Compare(x.ord, y.ord) })
	for i, t := range b.times {
		if t.ord != uint32(i) {
			return nil, fmt.Errorf("index: ordinal %d at rank %d of %d: %w", t.ord, i, n, ErrOrdinals)
		}
	}

	var fieldBytes [numFields + 1]uint64
	dict, postings, nterms, termHashes, err := b.encodeTerms(&fieldBytes)
	if err != nil {
		return nil, err
	}
	timeSec, minT, maxT, err := encodeTime(b.times)
	if err != nil {
		return nil, err
	}
	var idFilter, ids []byte
	idFilter, ids, b.ids = encodeIDs(b.ids, uint32(n))

	sum := appendU32(nil, uint32(n))
	sum = appendString(sum, minT)
	sum = appendString(sum, maxT)
	sum = appendU32(sum, nterms)
	for f := FieldTenant; f < FieldEventID; f++ {
		sum = appendU64(sum, fieldBytes[f])
	}
	words := newBloomWords(len(termHashes))
	for _, h := range termHashes {
		bloomSet(words, h)
	}
	sum = appendBloom(sum, words)

	secs := [][]byte{sum, dict, postings, timeSec, idFilter, ids}
	if version >= 2 {
		secs = append(secs, encodeChunkSums(dict, postings))
	}
	trLen := trailerLenOf(len(secs))
	total := headerLen + trLen
	for _, s := range secs {
		total += len(s)
	}
	out := make([]byte, 0, total)
	out = append(out, fileMagic...)
	out = appendU32(out, uint32(version))
	out = appendU32(out, 0)
	tr := make([]byte, 0, trLen)
	for _, s := range secs {
		tr = appendU64(tr, uint64(len(out)))
		tr = appendU64(tr, uint64(len(s)))
		tr = appendU64(tr, checksum(s))
		out = append(out, s...)
	}
	tr = appendU32(tr, uint32(len(secs)))
	tr = append(tr, trailerMagic...)
	tr = appendU64(tr, trailerChecksum(out[:headerLen], tr))
	out = append(out, tr...)
	return out, nil
}

// encodeChunkSums builds the chunk checksums section of a version 2 file:
// chunkSize u32 | n u32 | n x xxhash64 of each chunkSize bytes of the
// dictionary section followed by the postings section (the last chunk is
// shorter when their length is not a multiple of chunkSize).
func encodeChunkSums(dict, postings []byte) []byte {
	total := len(dict) + len(postings)
	n := (total + chunkSize - 1) / chunkSize
	out := make([]byte, 0, 8+8*n)
	out = appendU32(out, chunkSize)
	out = appendU32(out, uint32(n))
	var buf []byte
	for c := 0; c < n; c++ {
		start, end := c*chunkSize, min((c+1)*chunkSize, total)
		switch {
		case end <= len(dict):
			out = appendU64(out, checksum(dict[start:end]))
		case start >= len(dict):
			out = appendU64(out, checksum(postings[start-len(dict):end-len(dict)]))
		default: // the chunk that straddles the two sections
			buf = append(append(buf[:0], dict[start:]...), postings[:end-len(dict)]...)
			out = appendU64(out, checksum(buf))
		}
	}
	return out
}

// trailerChecksum covers the header and the trailer up to its checksum
// (body: the trailer without its last 8 bytes).
func trailerChecksum(header, body []byte) uint64 {
	buf := make([]byte, 0, headerLen+len(body))
	buf = append(buf, header[:headerLen]...)
	buf = append(buf, body...)
	return checksum(buf)
}

func termKeyCompare(x, y Term) int {
	if x.Field != y.Field {
		return cmp.Compare(x.Field, y.Field)
	}
	return strings.Compare(x.Value, y.Value)
}

// encodeTerms builds the dictionary and postings sections.
func (b *Builder) encodeTerms(fieldBytes *[numFields + 1]uint64) (dict, postings []byte, nterms uint32, hashes []uint64, err error) {
	keys := make([]Term, 0, len(b.terms))
	for t := range b.terms {
		keys = append(keys, t)
	}
	slices.SortFunc(keys, termKeyCompare)
	if uint64(len(keys)) > math.MaxUint32 {
		return nil, nil, 0, nil, fmt.Errorf("index: %d terms: %w", len(keys), ErrTooLarge)
	}
	nr := (len(keys) + dictRestart - 1) / dictRestart
	restarts := make([]byte, 0, nr*12)
	var blob []byte
	var prev, key []byte
	hashes = make([]uint64, len(keys))
	var scratch []byte
	for i, t := range keys {
		hashes[i] = termHash(t)
		li := b.terms[t]
		slices.Sort(b.lists[li])
		b.lists[li] = slices.Compact(b.lists[li])
		ords := b.lists[li]
		key = append(key[:0], byte(t.Field))
		key = append(key, t.Value...)
		start, pstart := len(blob), len(postings)
		shared := 0
		if i%dictRestart == 0 {
			if uint64(len(blob)) > math.MaxUint32 {
				return nil, nil, 0, nil, fmt.Errorf("index: dictionary: %w", ErrTooLarge)
			}
			restarts = appendU32(restarts, uint32(len(blob)))
			restarts = appendU64(restarts, uint64(len(postings)))
			fieldBytes[t.Field] += 12
		} else {
			for shared < len(prev) && shared < len(key) && prev[shared] == key[shared] {
				shared++
			}
		}
		blob = appendUvarint(blob, uint64(shared))
		blob = appendUvarint(blob, uint64(len(key)-shared))
		blob = append(blob, key[shared:]...)
		card := uint64(len(ords))
		if card == 1 {
			blob = appendUvarint(blob, 1<<1|postDelta)
			blob = appendUvarint(blob, uint64(ords[0]))
		} else {
			var kind uint64
			kind, scratch, err = encodePostings(scratch[:0], ords)
			if err != nil {
				return nil, nil, 0, nil, err
			}
			blob = appendUvarint(blob, card<<1|kind)
			blob = appendUvarint(blob, uint64(len(scratch)))
			postings = append(postings, scratch...)
		}
		fieldBytes[t.Field] += uint64(len(blob)-start) + uint64(len(postings)-pstart)
		prev, key = key, prev
	}
	dict = make([]byte, 0, 8+len(restarts)+len(blob))
	dict = appendU32(dict, uint32(len(keys)))
	dict = appendU32(dict, uint32(nr))
	dict = append(dict, restarts...)
	dict = append(dict, blob...)
	return dict, postings, uint32(len(keys)), hashes, nil
}

// encodePostings appends the delta-list or the roaring encoding of ords
// (sorted, distinct, len >= 2) to dst: roaring from roaringMinCard on,
// unless it is over twice the delta list's size (see doc.go).
func encodePostings(dst []byte, ords []uint32) (kind uint64, out []byte, err error) {
	dst = appendUvarint(dst, uint64(ords[0]))
	for i := 1; i < len(ords); i++ {
		dst = appendUvarint(dst, uint64(ords[i]-ords[i-1]-1))
	}
	if len(ords) < roaringMinCard {
		return postDelta, dst, nil
	}
	bm := roaring.BitmapOf(ords...)
	bm.RunOptimize()
	if bm.GetSerializedSizeInBytes() > 2*uint64(len(dst)) {
		return postDelta, dst, nil
	}
	rb, err := bm.ToBytes()
	if err != nil {
		return 0, nil, fmt.Errorf("index: serialize postings: %w", err)
	}
	return postRoaring, append(dst[:0], rb...), nil
}

// encodeTime builds the time section from entries sorted by ordinal.
func encodeTime(byOrd []ordTime) (sec []byte, minT, maxT string, err error) {
	n := len(byOrd)
	sorted := slices.Clone(byOrd)
	slices.SortFunc(sorted, func(x, y ordTime) int {
		if c := strings.Compare(x.time, y.time); c != 0 {
			return c
		}
		return cmp.Compare(x.ord, y.ord)
	})
	if n > 0 {
		minT, maxT = sorted[0].time, sorted[n-1].time
	}
	// Distinct times, front coded.
	var keyRestarts, keys []byte
	ndistinct := 0
	prev := ""
	for i := 0; i < n; {
		t := sorted[i].time
		j := i + 1
		for j < n && sorted[j].time == t {
			j++
		}
		shared := 0
		if ndistinct%timeRestart == 0 {
			if uint64(len(keys)) > math.MaxUint32 {
				return nil, "", "", fmt.Errorf("index: time keys: %w", ErrTooLarge)
			}
			keyRestarts = appendU32(keyRestarts, uint32(len(keys)))
			keyRestarts = appendU32(keyRestarts, uint32(i))
		} else {
			for shared < len(prev) && shared < len(t) && prev[shared] == t[shared] {
				shared++
			}
		}
		// shared<<1 | (more than one event); the count follows only then.
		multi := uint64(0)
		if j-i > 1 {
			multi = 1
		}
		keys = appendUvarint(keys, uint64(shared)<<1|multi)
		keys = appendUvarint(keys, uint64(len(t)-shared))
		keys = append(keys, t[shared:]...)
		if multi == 1 {
			keys = appendUvarint(keys, uint64(j-i-2))
		}
		ndistinct++
		prev = t
		i = j
	}
	// Ordinals in time order, as runs of consecutive ordinals.
	var runRestarts, runs []byte
	nruns := 0
	prevEnd := int64(0)
	for i := 0; i < n; {
		s := sorted[i].ord
		j := i + 1
		for j < n && sorted[j].ord == sorted[j-1].ord+1 {
			j++
		}
		if nruns%runRestart == 0 {
			if uint64(len(runs)) > math.MaxUint32 {
				return nil, "", "", fmt.Errorf("index: time runs: %w", ErrTooLarge)
			}
			runRestarts = appendU32(runRestarts, uint32(len(runs)))
			runRestarts = appendU32(runRestarts, uint32(i))
			runRestarts = appendU32(runRestarts, s)
		}
		runs = appendUvarint(runs, zigzag(int64(s)-prevEnd))
		runs = appendUvarint(runs, uint64(j-i-1))
		prevEnd = int64(s) + int64(j-i)
		nruns++
		i = j
	}
	sec = make([]byte, 0, 24+len(keyRestarts)+len(keys)+len(runRestarts)+len(runs))
	sec = appendU32(sec, uint32(ndistinct))
	sec = appendU32(sec, uint32(n))
	sec = appendU32(sec, uint32(len(keyRestarts)/8))
	sec = appendU32(sec, uint32(len(keys)))
	sec = appendU32(sec, uint32(nruns))
	sec = appendU32(sec, uint32(len(runRestarts)/12))
	sec = append(sec, keyRestarts...)
	sec = append(sec, keys...)
	sec = append(sec, runRestarts...)
	sec = append(sec, runs...)
	return sec, minT, maxT, nil
}

// idBucketBits picks about one bucket per 8 ids.
func idBucketBits(n int) uint8 {
	if n < 16 {
		return 0
	}
	bb := uint8(bits.Len(uint(n/8)) - 1)
	return min(bb, maxBucketBits)
}

func idOrdBytes(n uint32) uint8 {
	switch {
	case n <= 1<<8:
		return 1
	case n <= 1<<16:
		return 2
	case n <= 1<<24:
		return 3
	}
	return 4
}

// encodeIDs builds the event-id filter and table sections.
func encodeIDs(ids []idEntry, count uint32) (filter, table []byte, kept []idEntry) {
	words := newBloomWords(len(ids))
	for _, e := range ids {
		bloomSet(words, e.h)
	}
	filter = appendBloom(nil, words)

	bb := idBucketBits(len(ids))
	ob := idOrdBytes(count)
	for i := range ids {
		ids[i].trunc = ids[i].h >> (32 - bb)
	}
	slices.SortFunc(ids, func(x, y idEntry) int {
		if c := cmp.Compare(x.trunc, y.trunc); c != 0 {
			return c
		}
		return cmp.Compare(x.ord, y.ord)
	})
	ids = slices.CompactFunc(ids, func(x, y idEntry) bool { return x.trunc == y.trunc && x.ord == y.ord })
	nb := 1 << bb
	table = make([]byte, 0, 8+4*(nb+1)+len(ids)*(idFPBytes+int(ob)))
	table = appendU32(table, uint32(len(ids)))
	table = append(table, bb, ob, idFPBytes, 0)
	j := 0
	for bkt := 0; bkt <= nb; bkt++ {
		for j < len(ids) && int(ids[j].trunc>>32) < bkt {
			j++
		}
		table = appendU32(table, uint32(j))
	}
	for _, e := range ids {
		table = appendU32(table, uint32(e.trunc))
		for k := uint8(0); k < ob; k++ {
			table = append(table, byte(e.ord>>(8*k)))
		}
	}
	return filter, table, ids
}

// WriteFile writes data to path durably: it writes path+".tmp", syncs it,
// renames it over path and syncs the directory. On error the temporary
// file is removed (best effort) and path is untouched.
func WriteFile(fs vfs.FS, path string, data []byte) (err error) {
	tmp := path + ".tmp"
	f, err := fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("index: create %s: %w", tmp, err)
	}
	defer func() {
		if err != nil {
			_ = fs.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("index: write %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("index: sync %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("index: close %s: %w", tmp, err)
	}
	if err = fs.Rename(tmp, path); err != nil {
		return fmt.Errorf("index: rename %s: %w", tmp, err)
	}
	if err = fs.SyncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("index: sync dir of %s: %w", path, err)
	}
	return nil
}
