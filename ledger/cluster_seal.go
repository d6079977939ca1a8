package ledger

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/exledger/exledger/index"
	"github.com/exledger/exledger/segment"
)

// SealLayout is the order of the events inside a segment written by the
// sealer. Whatever the layout, sequence numbers, the hash chain, digests,
// the index, the Merkle tree and query results are the same: only which
// events share a compressed block changes.
type SealLayout uint8

const (
	// SealLayoutDefault is the zero value: the measured default,
	// SealLayoutClustered (docs/benchmarks.md §13, "Goal 2").
	SealLayoutDefault SealLayout = iota
	// SealLayoutLog writes events in log (sequence) order, the order
	// segments had before clustering existed (and the default until
	// December 2026). A full scan costs a little less CPU than on
	// clustered segments; a tenant + kind query reads nearly every block.
	SealLayoutLog
	// SealLayoutClustered writes events sorted by (tenant, kind,
	// occurred_at, seq), as Compact clusters them, in the segment format's
	// unordered mode: a query for one tenant and kind then reads a
	// contiguous run of blocks of each segment instead of nearly all of
	// them. The hash chain is still computed in log order and stored as
	// checkpoints (segment.Writer.SetChain), so digests do not change, and
	// binaries that read compacted segments read these too. The default.
	SealLayoutClustered
)

// defaultSealLayout is what SealLayoutDefault means.
const defaultSealLayout = SealLayoutClustered

// Resolved returns the layout s stands for: the measured default for
// SealLayoutDefault, s itself otherwise.
func (s SealLayout) Resolved() SealLayout {
	if s == SealLayoutDefault {
		return defaultSealLayout
	}
	return s
}

func (s SealLayout) String() string {
	switch s {
	case SealLayoutDefault:
		return "default"
	case SealLayoutLog:
		return "log"
	case SealLayoutClustered:
		return "clustered"
	}
	return fmt.Sprintf("SealLayout(%d)", uint8(s))
}

// clusterOrder returns the ordinals 0..n-1 of m's records sorted by
// (tenant, kind, occurred_at, seq), the order Compact clusters by; events
// without a tenant sort first.
//
// The memtable's index already holds every record's tenant and kind (the
// append path parsed them), so the records are not decoded again: each
// ordinal gets the rank of its tenant and of its kind among the
// memtable's distinct values (index.Mem.FieldRanks: one pass over the
// postings, no map lookup or string comparison per record), two stable
// counting sorts order the ordinals by (tenant, kind, seq), and each
// (tenant, kind) run is then sorted by (occurred_at, seq) (sortByTime:
// about one comparison per record when, as usual, a run's times mostly
// ascend with its seqs). A memtable whose index does not match its records
// exactly (a failed staged batch left entries in it) is ordered from its
// decoded records instead (clusterOrderDecoded), as sealIndex does.
func clusterOrder(m *memtable, n int) ([]uint32, error) {
	if m.tainted || m.staged != 0 || m.idx.Len() != n {
		return clusterOrderDecoded(m, n)
	}
	// tr and kr: 1 + the rank of each record's tenant and kind; tenant
	// rank 0 is no tenant (it sorts first, as "" does in Compact).
	tr := make([]uint32, n)
	kr := make([]uint32, n)
	nt, err := m.idx.FieldRanks(index.FieldTenant, tr)
	if err != nil {
		return nil, fmt.Errorf("cluster order: %w", err)
	}
	nk, err := m.idx.FieldRanks(index.FieldKind, kr)
	if err != nil {
		return nil, fmt.Errorf("cluster order: %w", err)
	}
	if nt > 0 {
		// Compact compares a missing tenant as "": were "" ever indexed
		// as a tenant (Validate refuses it), its rank 1 must sort as 0.
		if bm, err := m.idx.Postings(index.Term{Field: index.FieldTenant}); err == nil && !bm.IsEmpty() {
			for i, r := range tr {
				if r == 1 {
					tr[i] = 0
				}
			}
		}
	}
	// LSD radix sort: by kind, then stably by tenant.
	tmp := make([]uint32, n)
	for i := range tmp {
		tmp[i] = uint32(i)
	}
	ords := make([]uint32, n)
	countingSort(ords, tmp, kr, nk+1)
	countingSort(tmp, ords, tr, nt+1)
	ords = tmp
	// Each run of one (tenant, kind), already in seq order, sorted by time.
	times := m.times[:n]
	for lo := 0; lo < n; {
		t, k := tr[ords[lo]], kr[ords[lo]]
		hi := lo + 1
		for hi < n && tr[ords[hi]] == t && kr[ords[hi]] == k {
			hi++
		}
		sortByTime(ords[lo:hi], times)
		lo = hi
	}
	return ords, nil
}

// sortByTime sorts run, a list of ascending ordinals, by (times[o], o).
// A run whose times mostly ascend already (events are appended roughly in
// time order) is insertion-sorted: one comparison per record plus one per
// position a late event moves back. Past a budget of such moves (times far
// from ascending) the rest is left to slices.SortFunc, so the worst case
// stays O(n log n).
func sortByTime(run []uint32, times []string) {
	budget := 4*len(run) + 64
	for i := 1; i < len(run); i++ {
		o := run[i]
		t := times[o]
		j := i
		// Strictly later times move: equal times keep ascending ordinals.
		for j > 0 && times[run[j-1]] > t {
			run[j] = run[j-1]
			j--
		}
		run[j] = o
		if budget -= i - j; budget < 0 {
			slices.SortFunc(run, func(a, b uint32) int {
				return cmp.Or(strings.Compare(times[a], times[b]), cmp.Compare(a, b))
			})
			return
		}
	}
}

// countingSort writes src to dst stably ordered by key[o] (< nkeys) of
// each element o.
func countingSort(dst, src, key []uint32, nkeys int) {
	start := make([]int, nkeys+1)
	for _, o := range src {
		start[key[o]+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	for _, o := range src {
		k := key[o]
		dst[start[k]] = o
		start[k]++
	}
}

// clusterKey is the sort key of one decoded memtable record
// (clusterOrderDecoded).
type clusterKey struct {
	tenant, kind uint32 // ranks of the record's tenant and kind strings
	ord          uint32 // record ordinal (seq - base)
	time         string
}

// clusterOrderDecoded is clusterOrder computed from the decoded records'
// headers, for a memtable whose index cannot be trusted to match them.
// Tenants and kinds are compared as their ranks among the memtable's
// distinct values, which orders them exactly as comparing the strings
// would.
func clusterOrderDecoded(m *memtable, n int) ([]uint32, error) {
	keys := make([]clusterKey, n)
	tenants := map[string]uint32{"": 0}
	kinds := map[string]uint32{}
	for i := 0; i < n; i++ {
		h, err := DecodeHeader(m.recs[i])
		if err != nil {
			return nil, fmt.Errorf("record seq %d: %w", m.base+uint64(i), err)
		}
		k := &keys[i]
		k.ord, k.time = uint32(i), m.times[i]
		if h.HasTenant {
			t, ok := tenants[string(h.TenantID)]
			if !ok {
				t = uint32(len(tenants))
				tenants[string(h.TenantID)] = t
			}
			k.tenant = t
		}
		c, ok := kinds[string(h.Kind)]
		if !ok {
			c = uint32(len(kinds))
			kinds[string(h.Kind)] = c
		}
		k.kind = c
	}
	tr, kr := ranks(tenants), ranks(kinds)
	for i := range keys {
		keys[i].tenant, keys[i].kind = tr[keys[i].tenant], kr[keys[i].kind]
	}
	slices.SortFunc(keys, func(a, b clusterKey) int {
		return cmp.Or(cmp.Compare(a.tenant, b.tenant), cmp.Compare(a.kind, b.kind),
			cmp.Compare(a.time, b.time), cmp.Compare(a.ord, b.ord))
	})
	ords := make([]uint32, n)
	for i := range keys {
		ords[i] = keys[i].ord
	}
	return ords, nil
}

// ranks maps each value's id (as assigned in ids) to the value's rank in
// byte-wise string order.
func ranks(ids map[string]uint32) []uint32 {
	names := make([]string, 0, len(ids))
	for s := range ids {
		names = append(names, s)
	}
	slices.Sort(names)
	r := make([]uint32, len(ids))
	for i, s := range names {
		r[ids[s]] = uint32(i)
	}
	return r
}

// chainCheckpoints computes the hash chain over m's first n records in log
// order from start and returns the checkpoints a clustered segment stores:
// one every checkpointEvery seqs (counted from the segment's first) and
// one at the last seq, as Compact writes them.
func chainCheckpoints(m *memtable, n int, start [32]byte) []segment.Checkpoint {
	cps := make([]segment.Checkpoint, 0, n/checkpointEvery+1)
	h := start
	var c segment.Chainer
	for i := 0; i < n; i++ {
		h = c.Next(h, m.recs[i])
		if (i+1)%checkpointEvery == 0 || i == n-1 {
			cps = append(cps, segment.Checkpoint{Seq: m.base + uint64(i), Hash: h})
		}
	}
	return cps
}

// writeSealRecords appends m's first n records to w in the seal layout:
// in log order, or for SealLayoutClustered in cluster order with the
// chain checkpoints set (w must then be an unordered writer).
func writeSealRecords(w *segment.Writer, m *memtable, n int, clustered bool, chainStart [32]byte) error {
	if !clustered {
		for i := 0; i < n; i++ {
			if err := w.Append(segment.Record{Seq: m.base + uint64(i), Time: m.times[i], Data: m.recs[i]}); err != nil {
				return err
			}
		}
		return nil
	}
	// The chain (SHA-256 over every record) is computed beside the sort
	// and the appends, as the ordered writer's Append would overlap it
	// with the block compressors.
	cps := make(chan []segment.Checkpoint, 1)
	go func() { cps <- chainCheckpoints(m, n, chainStart) }()
	defer func() {
		if cps != nil {
			<-cps // the memtable stays unchanged until the goroutine is done
		}
	}()
	ords, err := clusterOrder(m, n)
	if err != nil {
		return err
	}
	for _, o := range ords {
		if err := w.Append(segment.Record{Seq: m.base + uint64(o), Time: m.times[o], Data: m.recs[o]}); err != nil {
			return err
		}
	}
	w.SetChain(chainStart, <-cps)
	cps = nil
	return nil
}
