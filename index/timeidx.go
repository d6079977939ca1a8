package index

import (
	"encoding/binary"

	"github.com/RoaringBitmap/roaring/v2"
)

// timeView is the loaded time section (see doc.go).
type timeView struct {
	ndistinct, npos, nruns uint32
	nkr, nrr               uint32
	keyRestarts            []byte // nkr rows of keyOff u32, pos u32
	keys                   []byte
	runRestarts            []byte // nrr rows of runOff u32, pos u32, ordStart u32
	runs                   []byte
	keysPos, runsPos       int
}

func (ix *Index) loadTime() (*timeView, error) {
	return ix.times.get(ix.cache, ix.secs[secTime].len, func() (*timeView, error) {
		b, err := ix.section(secTime)
		if err != nil {
			return nil, err
		}
		d := dec{b: b}
		v := &timeView{}
		v.ndistinct = d.u32()
		v.npos = d.u32()
		v.nkr = d.u32()
		keysLen := d.u32()
		v.nruns = d.u32()
		v.nrr = d.u32()
		switch {
		case d.bad:
		case v.npos != ix.summary.Count:
			d.setFail("event count differs from the summary")
		case v.ndistinct > v.npos || v.nruns > v.npos || (v.npos > 0) != (v.ndistinct > 0) || (v.npos > 0) != (v.nruns > 0):
			d.setFail("inconsistent counts")
		case uint64(v.nkr) != (uint64(v.ndistinct)+timeRestart-1)/timeRestart:
			d.setFail("key restart count does not match")
		case uint64(v.nrr) != (uint64(v.nruns)+runRestart-1)/runRestart:
			d.setFail("run restart count does not match")
		}
		v.keyRestarts = d.bytes(uint64(v.nkr) * 8)
		v.keysPos = d.off
		v.keys = d.bytes(uint64(keysLen))
		v.runRestarts = d.bytes(uint64(v.nrr) * 12)
		v.runsPos = d.off
		if d.bad {
			return nil, ix.secCorrupt(secTime, d.off, d.fail)
		}
		v.runs = b[d.off:]
		return v, nil
	})
}

func compareBS(k []byte, s string) int {
	n := min(len(k), len(s))
	for i := 0; i < n; i++ {
		if k[i] != s[i] {
			if k[i] < s[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(k) < len(s):
		return -1
	case len(k) > len(s):
		return 1
	}
	return 0
}

// readTimeKey decodes one time entry.
func readTimeKey(d *dec, cur []byte, restart bool) ([]byte, uint32) {
	head := d.uvarint()
	unshared := d.uvarint()
	if d.bad {
		return cur, 0
	}
	shared := head >> 1
	if shared > uint64(len(cur)) || (restart && shared != 0) {
		d.setFail("bad shared prefix length")
		return cur, 0
	}
	cur = append(cur[:shared], d.bytes(unshared)...)
	if head&1 == 0 {
		return cur, 1
	}
	cnt := d.uvarint()
	if !d.bad && cnt > 1<<32-3 {
		d.setFail("time count out of range")
	}
	return cur, uint32(cnt) + 2
}

// timeBound returns the first position (in time order) whose time is
// >= t, or > t when strict.
func (ix *Index) timeBound(v *timeView, t string, strict bool) (uint32, error) {
	before := func(k []byte) bool {
		c := compareBS(k, t)
		return c < 0 || (strict && c == 0)
	}
	lo, hi := uint32(0), v.nkr
	for lo < hi {
		mid := lo + (hi-lo)/2
		off := binary.LittleEndian.Uint32(v.keyRestarts[mid*8:])
		d := dec{b: v.keys, off: int(min(off, uint32(len(v.keys))))}
		// A restart entry has shared == 0: its key is in place.
		if d.uvarint()>>1 != 0 {
			d.setFail("restart entry with a shared prefix")
		}
		k := d.bytes(d.uvarint())
		if d.bad {
			return 0, ix.secCorrupt(secTime, v.keysPos+d.off, d.fail)
		}
		if before(k) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == 0 {
		return 0, nil
	}
	r := lo - 1
	d := dec{b: v.keys, off: int(min(binary.LittleEndian.Uint32(v.keyRestarts[r*8:]), uint32(len(v.keys))))}
	pos := uint64(binary.LittleEndian.Uint32(v.keyRestarts[r*8+4:]))
	var kbuf [80]byte
	cur := kbuf[:0]
	end := min(uint64(r+1)*timeRestart, uint64(v.ndistinct))
	for i := uint64(r) * timeRestart; i < end; i++ {
		var cnt uint32
		cur, cnt = readTimeKey(&d, cur, i == uint64(r)*timeRestart)
		if d.bad {
			return 0, ix.secCorrupt(secTime, v.keysPos+d.off, d.fail)
		}
		if !before(cur) {
			break
		}
		pos += uint64(cnt)
	}
	if pos > uint64(v.npos) {
		return 0, ix.secCorrupt(secTime, v.keysPos+d.off, "positions beyond the event count")
	}
	return uint32(pos), nil
}

// addPositions adds the ordinals at time-order positions [lo, hi) to bm.
func (ix *Index) addPositions(v *timeView, lo, hi uint32, bm *rangeBuilder) error {
	if lo >= hi {
		return nil
	}
	// Last run restart starting at or before lo.
	a, b := uint32(0), v.nrr
	for a < b {
		mid := a + (b-a)/2
		if binary.LittleEndian.Uint32(v.runRestarts[mid*12+4:]) <= lo {
			a = mid + 1
		} else {
			b = mid
		}
	}
	if a == 0 {
		return ix.secCorrupt(secTime, v.runsPos, "first run restart is not at position 0")
	}
	rr := a - 1
	row := v.runRestarts[rr*12:]
	d := dec{b: v.runs, off: int(min(binary.LittleEndian.Uint32(row), uint32(len(v.runs))))}
	p := uint64(binary.LittleEndian.Uint32(row[4:]))
	start := int64(binary.LittleEndian.Uint32(row[8:]))
	count := uint64(ix.summary.Count)
	var prevEnd int64
	for i := uint64(rr) * runRestart; p < uint64(hi); i++ {
		if i >= uint64(v.nruns) {
			return ix.secCorrupt(secTime, v.runsPos+d.off, "runs end before the event count")
		}
		delta := unzigzag(d.uvarint())
		l := d.uvarint() + 1
		if d.bad {
			return ix.secCorrupt(secTime, v.runsPos+d.off, d.fail)
		}
		if i != uint64(rr)*runRestart {
			start = prevEnd + delta
		}
		if start < 0 || l > count || uint64(start)+l > count || p+l > uint64(v.npos) {
			return ix.secCorrupt(secTime, v.runsPos+d.off, "run out of range")
		}
		x, y := max(uint64(lo), p), min(uint64(hi), p+l)
		if x < y {
			bm.add(uint64(start)+(x-p), uint64(start)+(y-p))
		}
		prevEnd = start + int64(l)
		p += l
	}
	return nil
}

// TimeRange returns the ordinals whose occurred_at lies in [*start, *end]
// (byte-wise comparison; a nil bound is open; an inverted range matches
// nothing) as a new bitmap the caller owns. Its cost is logarithmic plus
// the number of runs of consecutive ordinals in the answer.
func (ix *Index) TimeRange(start, end *string) (*roaring.Bitmap, error) {
	bm := roaring.New()
	s := ix.summary
	if !s.MayOverlap(start, end) {
		return bm, nil
	}
	if (start == nil || *start <= s.MinTime) && (end == nil || *end >= s.MaxTime) {
		bm.AddRange(0, uint64(s.Count))
		return bm, nil
	}
	v, err := ix.loadTime()
	if err != nil {
		return nil, err
	}
	lo, hi := uint32(0), v.npos
	if start != nil {
		if lo, err = ix.timeBound(v, *start, false); err != nil {
			return nil, err
		}
	}
	if end != nil {
		if hi, err = ix.timeBound(v, *end, true); err != nil {
			return nil, err
		}
	}
	var rb rangeBuilder
	if err := ix.addPositions(v, lo, hi, &rb); err != nil {
		return nil, err
	}
	return rb.bitmap(), nil
}

// verifyTime checks the whole time section.
func (ix *Index) verifyTime() error {
	v, err := ix.loadTime()
	if err != nil {
		return err
	}
	d := dec{b: v.keys}
	var cur, prev []byte
	pos := uint64(0)
	for i := uint32(0); i < v.ndistinct; i++ {
		restart := i%timeRestart == 0
		if restart {
			r := i / timeRestart
			if binary.LittleEndian.Uint32(v.keyRestarts[r*8:]) != uint32(d.off) || uint64(binary.LittleEndian.Uint32(v.keyRestarts[r*8+4:])) != pos {
				return ix.secCorrupt(secTime, 24+int(r)*8, "key restart row does not match its entry")
			}
		}
		prev = append(prev[:0], cur...)
		var cnt uint32
		cur, cnt = readTimeKey(&d, cur, restart)
		if d.bad {
			return ix.secCorrupt(secTime, v.keysPos+d.off, d.fail)
		}
		if i > 0 && string(prev) >= string(cur) {
			return ix.secCorrupt(secTime, v.keysPos+d.off, "times not strictly increasing")
		}
		if i == 0 && string(cur) != ix.summary.MinTime {
			return ix.secCorrupt(secTime, v.keysPos, "first time differs from the summary")
		}
		pos += uint64(cnt)
	}
	if d.remaining() != 0 || pos != uint64(v.npos) || (v.ndistinct > 0 && string(cur) != ix.summary.MaxTime) {
		return ix.secCorrupt(secTime, v.keysPos+d.off, "keys do not account for every event")
	}
	// Runs: restart rows must match, and together they cover every
	// ordinal exactly once.
	seen := roaring.New()
	d = dec{b: v.runs}
	pos = 0
	prevEnd := int64(0)
	for i := uint32(0); i < v.nruns; i++ {
		off := d.off
		delta := unzigzag(d.uvarint())
		l := d.uvarint() + 1
		if d.bad {
			return ix.secCorrupt(secTime, v.runsPos+d.off, d.fail)
		}
		start := prevEnd + delta
		if start < 0 || l > uint64(v.npos) || uint64(start)+l > uint64(v.npos) {
			return ix.secCorrupt(secTime, v.runsPos+off, "run out of range")
		}
		if i%runRestart == 0 {
			row := v.runRestarts[(i/runRestart)*12:]
			if binary.LittleEndian.Uint32(row) != uint32(off) || uint64(binary.LittleEndian.Uint32(row[4:])) != pos || int64(binary.LittleEndian.Uint32(row[8:])) != start {
				return ix.secCorrupt(secTime, v.runsPos+off, "run restart row does not match its run")
			}
		}
		if seen.IntersectsWithInterval(uint64(start), uint64(start)+l) {
			return ix.secCorrupt(secTime, v.runsPos+off, "ordinal listed twice")
		}
		seen.AddRange(uint64(start), uint64(start)+l)
		pos += l
		prevEnd = start + int64(l)
	}
	if d.remaining() != 0 || pos != uint64(v.npos) {
		return ix.secCorrupt(secTime, v.runsPos+d.off, "runs do not account for every event")
	}
	return nil
}
