package ledger

import (
	"cmp"
	"fmt"
	"slices"

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

// clusterKey is the sort key of one memtable record for a clustered seal.
type clusterKey struct {
	tenant, kind uint32 // ranks of the record's tenant and kind strings
	ord          uint32 // record ordinal (seq - base)
	time         string
}

// clusterOrder returns the ordinals 0..n-1 of m's records sorted by
// (tenant, kind, occurred_at, seq), the order Compact clusters by; events
// without a tenant sort first. Tenants and kinds are compared as their
// ranks among the memtable's distinct values, which orders them exactly as
// comparing the strings would.
func clusterOrder(m *memtable, n int) ([]uint32, error) {
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
