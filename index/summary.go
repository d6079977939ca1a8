package index

// Summary is the part of an index loaded by Open: enough to skip a
// segment without touching its other sections.
type Summary struct {
	Count            uint32 // events in the segment (ordinals 0..Count-1)
	MinTime, MaxTime string // byte-wise smallest and largest occurred_at ("" when Count is 0)
	Terms            uint32 // distinct terms in the dictionary (every field but FieldEventID)

	fieldBytes [numFields + 1]uint64
	filter     bloom // over termHash of every dictionary term
}

// MayContain reports whether the segment may hold term t. False means it
// certainly does not. Event ids are not in the summary filter: for
// FieldEventID it is true whenever the segment is not empty (use
// Index.EventID).
func (s *Summary) MayContain(t Term) bool {
	if s.Count == 0 {
		return false
	}
	if t.Field == FieldEventID {
		return true
	}
	if !t.Field.valid() {
		return false
	}
	return s.filter.mayContain(termHash(t))
}

// MayOverlap reports whether some event's occurred_at may lie in
// [*start, *end] (a nil bound is open). False means certainly not.
func (s *Summary) MayOverlap(start, end *string) bool {
	if s.Count == 0 {
		return false
	}
	if start != nil && end != nil && *start > *end {
		return false
	}
	if start != nil && *start > s.MaxTime {
		return false
	}
	if end != nil && *end < s.MinTime {
		return false
	}
	return true
}

func (ix *Index) parseSummary(b []byte) (*Summary, error) {
	d := dec{b: b}
	s := &Summary{}
	s.Count = d.u32()
	s.MinTime = d.str()
	s.MaxTime = d.str()
	s.Terms = d.u32()
	for f := FieldTenant; f < FieldEventID; f++ {
		s.fieldBytes[f] = d.u64()
	}
	s.filter = readBloom(&d)
	if !d.bad && d.remaining() != 0 {
		d.setFail("trailing bytes")
	}
	if !d.bad {
		switch {
		case s.Count == 0 && (s.MinTime != "" || s.MaxTime != "" || s.Terms != 0):
			d.setFail("empty index with times or terms")
		case s.MinTime > s.MaxTime:
			d.setFail("min time above max time")
		case (s.Terms == 0) != (len(s.filter.words) == 0):
			d.setFail("filter does not match term count")
		}
	}
	if !d.bad {
		var sum uint64
		for _, v := range s.fieldBytes {
			if v > uint64(ix.size) {
				d.setFail("field size beyond file size")
				break
			}
			sum += v
		}
		if !d.bad && sum > uint64(ix.secs[secDict].len+ix.secs[secPostings].len) {
			d.setFail("field sizes exceed the dictionary and postings")
		}
	}
	if d.bad {
		return nil, ix.secCorrupt(secSummary, d.off, d.fail)
	}
	return s, nil
}
