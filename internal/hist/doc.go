// Package hist is a fixed-bucket histogram for hot paths: Observe is a
// short bucket search and two atomic adds, with no lock and no
// allocation, so the ledger can record every append's latency and every
// group commit's size at no measurable cost.
//
// # Invariants
//
//   - Bounds are fixed at construction, strictly increasing, and shared
//     by every snapshot; bucket i counts observations v with
//     Bounds[i-1] < v <= Bounds[i], and the last bucket (index
//     len(Bounds)) counts those above every bound.
//   - Counters only grow. A Snapshot taken while observers run may miss
//     observations in flight, but its Count always equals the sum of its
//     Counts (Count is derived from them), so exporters never publish an
//     inconsistent histogram.
package hist
