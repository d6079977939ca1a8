package index

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// entry is one generated event: what the ledger would pass to Add.
type entry struct {
	ord   uint32
	time  string
	terms []Term
}

var testKinds = []string{
	"ProposalCreated", "ProposalValidated", "FactPromoted", "RecallExecuted",
	"ReplayTraceRecorded", "ReplayabilityDowngraded", "ArtifactStateTransitioned",
	"ArtifactRollbackRecorded", "BackendInvoked", "OutcomeRecorded", "BudgetExceeded",
	"PolicyDecisionRecorded", "HypothesisResolved", "TensionDetected", "CycleCompleted",
}

const epochTime = "1970-01-01T00:00:00Z"

// zipfIndex draws from 0..n-1 with a heavy head.
func zipfIndex(r *rand.Rand, n int) int {
	// P(i) ~ 1/(i+1) approximately, by inverse transform on a log scale.
	f := r.Float64()
	i := int(float64(n)*f*f*f) % n
	return i
}

// genWorkload makes n events with skewed terms and mostly increasing
// times (with disorder, exact duplicates, the epoch default and odd
// strings).
func genWorkload(r *rand.Rand, n int) []entry {
	out := make([]entry, n)
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	cur := base
	var corrs, chains, traces, artifacts, ids []string
	prevTime := ""
	for i := range out {
		cur = cur.Add(time.Duration(r.IntN(3000)) * time.Microsecond)
		var ts string
		switch p := r.IntN(1000); {
		case p < 30:
			ts = epochTime
		case p < 35:
			ts = "not-a-timestamp"
		case p < 38:
			ts = cur.Format("2006-01-02") // a prefix of real times
		case p < 60 && prevTime != "":
			ts = prevTime // exact duplicate
		case p < 110:
			ts = cur.Add(-time.Duration(r.IntN(5000)) * time.Millisecond).Format(time.RFC3339Nano)
		default:
			ts = cur.Format(time.RFC3339Nano)
		}
		prevTime = ts
		e := entry{ord: uint32(i), time: ts}
		kind := testKinds[zipfIndex(r, len(testKinds))]
		e.terms = append(e.terms, Term{FieldKind, kind})
		if r.IntN(10) > 0 {
			e.terms = append(e.terms, Term{FieldTenant, fmt.Sprintf("tenant-%02d", zipfIndex(r, 40))})
		}
		if r.IntN(5) > 0 {
			if len(corrs) == 0 || r.IntN(4) == 0 {
				corrs = append(corrs, fmt.Sprintf("corr-%06d-%x", len(corrs), r.Uint32()))
			}
			e.terms = append(e.terms, Term{FieldCorrelation, corrs[max(0, len(corrs)-1-r.IntN(min(len(corrs), 20)))]})
		}
		if r.IntN(5) < 2 {
			if len(chains) == 0 || r.IntN(8) == 0 {
				chains = append(chains, fmt.Sprintf("chain-%05d", len(chains)))
			}
			e.terms = append(e.terms, Term{FieldChain, chains[r.IntN(len(chains))]})
		}
		if kind == "ReplayTraceRecorded" {
			id := fmt.Sprintf("trace-%07d", len(traces))
			traces = append(traces, id)
			e.terms = append(e.terms, Term{FieldTraceRecord, id})
		} else if len(traces) > 0 && r.IntN(10) == 0 {
			e.terms = append(e.terms, Term{FieldTraceRef, traces[r.IntN(len(traces))]})
		}
		if r.IntN(10) == 0 {
			if len(artifacts) < 60 {
				artifacts = append(artifacts, fmt.Sprintf("artifact-%03d", len(artifacts)))
			}
			e.terms = append(e.terms, Term{FieldArtifact, artifacts[r.IntN(len(artifacts))]})
		}
		id := fmt.Sprintf("evt-01J%010d%06x", i, r.Uint32()&0xffffff)
		if len(ids) > 0 && r.IntN(200) == 0 {
			id = ids[r.IntN(len(ids))] // duplicate id (reference-parity option)
		}
		ids = append(ids, id)
		e.terms = append(e.terms, Term{FieldEventID, id})
		if r.IntN(50) == 0 {
			e.terms = append(e.terms, e.terms[0]) // repeated term
		}
		out[i] = e
	}
	return out
}

func buildIndex(es []entry, order []int) ([]byte, error) {
	return buildIndexV(es, order, formatVersion)
}

// buildIndexV is buildIndex in format version v.
func buildIndexV(es []entry, order []int, v int) ([]byte, error) {
	b := NewBuilder()
	if order == nil {
		for _, e := range es {
			b.Add(e.ord, e.time, e.terms)
		}
	} else {
		for _, i := range order {
			b.Add(es[i].ord, es[i].time, es[i].terms)
		}
	}
	return b.EncodeVersion(v)
}

func buildMem(es []entry) *Mem {
	m := NewMem()
	for _, e := range es {
		m.Add(e.ord, e.time, e.terms)
	}
	return m
}

// bruteMatch is the reference semantics of Query for one entry.
func bruteMatch(e entry, q Query) bool {
	if q.Start != nil && e.time < *q.Start {
		return false
	}
	if q.End != nil && e.time > *q.End {
		return false
	}
	for _, clause := range q.All {
		if len(clause) == 0 {
			continue
		}
		ok := false
		for _, t := range clause {
			if slices.Contains(e.terms, t) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func brute(es []entry, q Query) []uint32 {
	var out []uint32
	for _, e := range es {
		if bruteMatch(e, q) {
			out = append(out, e.ord)
		}
	}
	return out
}

// randomQuery draws a query whose terms mostly exist in es.
func randomQuery(r *rand.Rand, es []entry) Query {
	var q Query
	pickTerm := func(f Field) Term {
		if len(es) > 0 && r.IntN(8) > 0 {
			for range 20 {
				e := es[r.IntN(len(es))]
				for _, t := range e.terms {
					if t.Field == f {
						return t
					}
				}
			}
		}
		return Term{f, fmt.Sprintf("absent-%d", r.IntN(5))}
	}
	nc := r.IntN(4)
	for range nc {
		switch r.IntN(6) {
		case 0: // OR-set of kinds
			k := r.IntN(5)
			var c []Term
			for range k {
				c = append(c, Term{FieldKind, testKinds[r.IntN(len(testKinds))]})
			}
			q.All = append(q.All, c)
		case 1:
			q.All = append(q.All, []Term{pickTerm(FieldTenant)})
		default:
			fields := []Field{FieldCorrelation, FieldChain, FieldTraceRecord, FieldTraceRef, FieldArtifact, FieldKind, FieldTenant}
			c := []Term{pickTerm(fields[r.IntN(len(fields))])}
			if r.IntN(4) == 0 {
				c = append(c, pickTerm(fields[r.IntN(len(fields))]))
			}
			q.All = append(q.All, c)
		}
	}
	bound := func() *string {
		switch r.IntN(6) {
		case 0, 1:
			return nil
		case 2:
			odd := []string{epochTime, "not-a-timestamp", "", "2025", "2025-03-01T12:00:01", "zzzz", "0"}
			s := odd[r.IntN(len(odd))]
			return &s
		default:
			if len(es) == 0 {
				s := "2025-03-01T12:00:00Z"
				return &s
			}
			s := es[r.IntN(len(es))].time
			if r.IntN(3) == 0 && len(s) > 3 {
				s = s[:len(s)-1-r.IntN(3)]
			}
			return &s
		}
	}
	q.Start, q.End = bound(), bound()
	if q.Start != nil && q.End != nil && *q.Start > *q.End && r.IntN(3) > 0 {
		q.Start, q.End = q.End, q.Start // mostly proper ranges, some inverted
	}
	return q
}

func drain(it Iterator, limit int) []uint32 {
	var out []uint32
	for limit < 0 || len(out) < limit {
		o, ok := it.Next()
		if !ok {
			break
		}
		out = append(out, o)
	}
	return out
}
