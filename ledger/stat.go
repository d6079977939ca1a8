package ledger

import (
	"context"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/segment"
)

// SegmentStat describes one sealed segment.
type SegmentStat struct {
	Name               string
	FirstSeq, LastSeq  uint64
	Events             uint64
	MinTime, MaxTime   string
	Blocks             int
	FileBytes          int64
	RawBytes           int64
	IndexBytes         int64
	Clustered          bool
	IndexBytesPerField map[string]int64
	Vectors            uint64 // events with a vector
	VectorBytes        int64  // the vector file (seg/<name>.vec)
	VectorIndexBytes   int64  // its approximate-index section
}

// Stat is a description of a ledger's contents.
type Stat struct {
	LedgerID         string
	FormatVersion    int
	FirstSeq         uint64 // first retained sequence number (0 = empty)
	LastSeq          uint64
	Events           uint64 // retained events
	SealedEvents     uint64
	MemEvents        uint64 // events in the WAL-backed tail, not yet sealed
	Segments         []SegmentStat
	DataBytes        int64 // sealed segment files
	RawBytes         int64 // canonical msgpack bytes of the sealed events
	IndexBytes       int64
	MemBytes         int64 // canonical bytes of the tail
	MinTime, MaxTime string
	DroppedEvents    uint64 // removed by retention
	// Gaps are the holes Repair recorded; LostEvents sums their lost
	// events (their seqs are never reused, so LastSeq-FirstSeq+1 =
	// Events+LostEvents).
	Gaps             []Gap
	LostEvents       uint64
	EmbeddingDim     int    // 0: the ledger stores no vectors
	Vectors          uint64 // events with a vector (sealed and tail)
	VectorBytes      int64  // vector files of the sealed segments
	VectorIndexBytes int64  // their approximate-index sections
	// ProofsFrom is the first sequence number whose inclusion can be
	// proven (events before it were dropped by retention; 0 = no Merkle
	// tree or an empty ledger). TreeBytes is the size of the TREE file.
	ProofsFrom uint64
	TreeBytes  int64
	// TreeLeavesBytes is the size of the TREELEAVES file: the leaf hashes
	// of the complete 16-event chunks retention dropped, kept so that
	// consistency from every older tree size still proves (32.5 bytes
	// per dropped event; 0 = no file).
	TreeLeavesBytes int64
	// Filled by Stat with counts=true: events per tenant ("" = none) and kind.
	Tenants map[string]uint64
	Kinds   map[string]uint64
}

var fieldNames = map[index.Field]string{
	index.FieldTenant: "tenant", index.FieldKind: "kind", index.FieldCorrelation: "correlation",
	index.FieldChain: "chain", index.FieldTraceRecord: "trace_record", index.FieldTraceRef: "trace_ref",
	index.FieldArtifact: "artifact", index.FieldEventID: "event_id", index.FieldTime: "time",
}

// Stat describes the ledger. With counts it also scans every event header
// to count events per tenant and kind (a full read of the ledger).
func (l *Ledger) Stat(ctx context.Context, counts bool) (Stat, error) {
	if l.closed.Load() {
		return Stat{}, ErrClosed
	}
	v := l.snapshot()
	defer v.release()
	st := Stat{LedgerID: l.man.Load().LedgerID, FormatVersion: l.man.Load().Version, LastSeq: v.lastSeq()}
	for _, r := range l.man.Load().Retention {
		st.DroppedEvents += r.Events
	}
	setTime := func(lo, hi string) {
		if lo == "" && hi == "" {
			return
		}
		if st.MinTime == "" || lo < st.MinTime {
			st.MinTime = lo
		}
		if hi > st.MaxTime {
			st.MaxTime = hi
		}
	}
	for _, s := range v.segs {
		ss := SegmentStat{
			Name: s.name, FirstSeq: s.info.FirstSeq, LastSeq: s.info.LastSeq, Events: s.info.Count,
			MinTime: s.info.MinTime, MaxTime: s.info.MaxTime, Blocks: s.info.Blocks,
			FileBytes: s.info.FileBytes, RawBytes: s.info.RawBytes, Clustered: s.info.Unordered,
			IndexBytesPerField: map[string]int64{},
		}
		for f, n := range s.ix.Bytes() {
			name := fieldNames[f]
			if name == "" {
				name = "other"
			}
			ss.IndexBytesPerField[name] += n
			ss.IndexBytes += n
		}
		if s.vec != nil {
			ss.Vectors = s.vec.n
			ss.VectorBytes, ss.VectorIndexBytes = s.vec.sizes()
			st.Vectors += ss.Vectors
			st.VectorBytes += ss.VectorBytes
			st.VectorIndexBytes += ss.VectorIndexBytes
		}
		st.Segments = append(st.Segments, ss)
		st.SealedEvents += ss.Events
		st.DataBytes += ss.FileBytes
		st.RawBytes += ss.RawBytes
		st.IndexBytes += ss.IndexBytes
		setTime(ss.MinTime, ss.MaxTime)
	}
	st.EmbeddingDim = l.man.Load().EmbeddingDim
	for i := range v.mts {
		for j := 0; j < v.ns[i]; j++ {
			if j < len(v.vecs[i]) && v.vecs[i][j] != nil {
				st.Vectors++
			}
			st.MemEvents++
			st.MemBytes += int64(len(v.recs[i][j]))
			t := v.times[i][j]
			setTime(t, t)
		}
	}
	st.Events = st.SealedEvents + st.MemEvents
	st.Gaps = l.Gaps()
	for _, g := range st.Gaps {
		st.LostEvents += g.LostEvents
	}
	if st.Events > 0 {
		st.FirstSeq = st.LastSeq - st.Events - st.LostEvents + 1
	}
	if !l.opts.NoMerkleTree && st.Events > 0 {
		st.ProofsFrom = st.FirstSeq
		if n, err := l.fs.Stat(l.treePath()); err == nil {
			st.TreeBytes = n
		}
		if n, err := l.fs.Stat(l.leavesPath()); err == nil {
			st.TreeLeavesBytes = n
		}
	}
	if !counts {
		return st, nil
	}
	st.Tenants = map[string]uint64{}
	st.Kinds = map[string]uint64{}
	add := func(b []byte) error {
		h, err := DecodeHeader(b)
		if err != nil {
			return err
		}
		st.Kinds[string(h.Kind)]++
		st.Tenants[string(h.TenantID)]++
		return nil
	}
	for _, s := range v.segs {
		var derr error
		err := s.r.Scan(s.info.FirstSeq, func(r segment.Record) bool {
			if derr = add(r.Data); derr != nil {
				return false
			}
			return ctx.Err() == nil
		})
		if err == nil {
			err = derr
		}
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return st, l.readErr(s.r.Path(), err)
		}
	}
	for i := range v.mts {
		for j := 0; j < v.ns[i]; j++ {
			if err := add(v.recs[i][j]); err != nil {
				return st, Storage("decode", err)
			}
		}
	}
	return st, nil
}
