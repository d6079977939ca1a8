package ledgertest

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/exledger/exledger/ledger"
)

// fakeStore is a small second implementation of the contract used to test
// the suite itself: it stores through a ledger.MemStore (validation,
// copying, trace links) but answers queries with its own matcher, and it
// implements every Capability, so the suite's durable branches run against
// something before a real durable store exists. bug names a deliberate
// defect (see mutants in suite_test.go); "" is a correct store.
type fakeStore struct {
	caps Capabilities
	bug  string

	mu       sync.Mutex
	mem      *ledger.MemStore
	byID     map[ledger.EventID]string // canonical JSON, for IdempotentDuplicates
	extra    map[ledger.TraceLinkID]*ledger.ReplayTrace
	first    map[ledger.TraceLinkID]*ledger.ReplayTrace
	events   []env // private deep copies, in insertion order
	raw      []env // uncopied caller values, for the aliasing bug
	nTrans   int
	instance string
}

var fakeInstances atomic.Int64

func newFakeStore(caps Capabilities, bug string) *fakeStore {
	n := fakeInstances.Add(1)
	return &fakeStore{
		caps: caps, bug: bug, mem: ledger.NewMemStore(),
		byID:     map[ledger.EventID]string{},
		extra:    map[ledger.TraceLinkID]*ledger.ReplayTrace{},
		first:    map[ledger.TraceLinkID]*ledger.ReplayTrace{},
		instance: fmt.Sprintf("%x%d", time.Now().UnixNano(), n),
	}
}

func (f *fakeStore) wrapErr(err error) error {
	if err != nil && f.bug == "error-wrapped" {
		return fmt.Errorf("append: %w", err)
	}
	return err
}

// check validates e like the durable store would, before anything is
// stored; it returns skip=true for an idempotent retry.
func (f *fakeStore) check(e env, pending map[ledger.EventID]string) (skip bool, err error) {
	if err := ledger.Validate(e); err != nil {
		return false, err
	}
	if !f.caps.IdempotentDuplicates {
		return false, nil
	}
	b, err := ledger.MarshalEnvelopeJSON(e)
	if err != nil {
		return false, ledger.InvalidQuery(err.Error())
	}
	prev, ok := f.byID[e.EventID]
	if !ok {
		prev, ok = pending[e.EventID]
	}
	if !ok {
		pending[e.EventID] = string(b)
		return false, nil
	}
	if prev == string(b) {
		return true, nil
	}
	return false, ledger.InvalidQuery("duplicate event_id " + string(e.EventID))
}

func (f *fakeStore) store(e env) error {
	if f.bug == "dup-dropped" {
		if b, _ := ledger.MarshalEnvelopeJSON(e); f.byID[e.EventID] == string(b) {
			return nil
		}
	}
	if f.bug == "rejected-trace-registers" {
		if r, ok := e.Event.(*ledger.ReplayTraceRecorded); ok && ledger.Validate(e) != nil {
			tr := r.TraceLink
			f.extra[r.TraceLinkID] = &tr
		}
	}
	if err := f.mem.AppendEvent(context.Background(), e); err != nil {
		return err
	}
	b, _ := ledger.MarshalEnvelopeJSON(e)
	f.byID[e.EventID] = string(b)
	f.events = append(f.events, ledger.CloneEnvelope(e))
	f.raw = append(f.raw, e)
	switch ev := e.Event.(type) {
	case *ledger.ReplayTraceRecorded:
		if _, ok := f.first[ev.TraceLinkID]; !ok {
			tr, _ := f.mem.GetTraceLink(context.Background(), ev.TraceLinkID)
			f.first[ev.TraceLinkID] = tr
		}
	case *ledger.BackendInvoked:
		if f.bug == "trace-mention-registers" {
			f.extra[ev.TraceLinkID] = &ledger.ReplayTrace{Type: ledger.ReplayTraceLocal, Local: &ledger.LocalReplayTrace{}}
		}
	}
	return nil
}

func (f *fakeStore) AppendEvent(ctx context.Context, e env) error {
	return f.AppendEvents(ctx, []env{e})
}

func (f *fakeStore) AppendEvents(_ context.Context, es []env) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	atomic := f.caps.AtomicBatches != (f.bug == "batch-atomicity-flipped")
	pending := map[ledger.EventID]string{}
	if atomic {
		skip := make([]bool, len(es))
		for i, e := range es {
			s, err := f.check(e, pending)
			if err != nil {
				return f.wrapErr(err)
			}
			skip[i] = s
		}
		for i, e := range es {
			if !skip[i] {
				if err := f.store(e); err != nil {
					return f.wrapErr(err)
				}
			}
		}
		return nil
	}
	var firstErr error
	for _, e := range es {
		s, err := f.check(e, pending)
		if err == nil && !s {
			err = f.store(e)
		}
		if err != nil {
			if f.bug == "rejected-trace-registers" {
				_ = f.store(e)
			}
			if f.bug != "batch-continues" {
				return f.wrapErr(err)
			}
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return f.wrapErr(firstErr)
}

func (f *fakeStore) WriteArtifactStateTransition(_ context.Context, id ledger.ArtifactID, kind ledger.ArtifactKind, ev ledger.LifecycleEvent) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.nTrans
	f.nTrans++
	e := env{Event: &ledger.ArtifactStateTransitioned{ArtifactID: id, ArtifactKind: kind, Event: ev}}
	if f.caps.DurableArtifactTransitions {
		e.EventID = ledger.EventID(fmt.Sprintf("evt-%s-%d", f.instance, n))
		e.OccurredAt = ledger.Timestamp(ev.Timestamp)
		if ev.Timestamp == "" {
			e.OccurredAt = ledger.Timestamp(time.Now().UTC().Format(time.RFC3339Nano))
		}
		if ev.TenantID != nil && ledger.Validate(env{EventID: "x", OccurredAt: "x", TenantID: (*ledger.TenantID)(ev.TenantID)}) == nil {
			e.TenantID = (*ledger.TenantID)(ev.TenantID)
		}
	} else {
		if f.bug == "transition-counter-from-1" {
			n++
		}
		e.EventID = ledger.EventID(fmt.Sprintf("evt-%d", n))
		e.OccurredAt = ledger.DefaultTimestamp
		if f.bug == "transition-keeps-tenant" && ev.TenantID != nil {
			e.TenantID = (*ledger.TenantID)(ev.TenantID)
		}
	}
	return f.store(e)
}

func (f *fakeStore) match(e *env, q *ledger.EventQuery) bool {
	if q.TenantID != nil {
		if e.TenantID == nil {
			if f.bug != "tenant-nil-matches" {
				return false
			}
		} else if *e.TenantID != *q.TenantID {
			return false
		}
	}
	if q.CorrelationID != nil {
		if e.CorrelationID == nil {
			if f.bug != "corr-nil-matches" {
				return false
			}
		} else if *e.CorrelationID != *q.CorrelationID {
			return false
		}
	}
	if tr := q.TimeRange; tr != nil {
		if f.bug == "inverted-swapped" && tr.Start != nil && tr.End != nil && *tr.Start > *tr.End {
			tr = &ledger.TimeRange{Start: tr.End, End: tr.Start}
		}
		if tr.Start != nil && (e.OccurredAt < *tr.Start || (f.bug == "start-exclusive" && e.OccurredAt == *tr.Start)) {
			return false
		}
		if tr.End != nil && (e.OccurredAt > *tr.End || (f.bug == "end-exclusive" && e.OccurredAt == *tr.End)) {
			return false
		}
	}
	if len(q.Kinds) > 0 {
		ks := q.Kinds
		if f.bug == "kinds-first-only" {
			ks = ks[:1]
		}
		ok := false
		for _, k := range ks {
			ok = ok || k == e.Event.Kind()
		}
		if !ok {
			return false
		}
	}
	if q.ChainID != nil {
		c, ok := ledger.ChainIDOf(e.Event)
		hyp := f.caps.ChainIncludesHypothesis != (f.bug == "chain-rule-flipped")
		if e.Event.Kind() == ledger.KindHypothesisResolved && !hyp {
			ok = false
		}
		if f.bug == "chain-prefix" && ok && len(c) >= len(*q.ChainID) && c[:len(*q.ChainID)] == *q.ChainID {
			return true
		}
		if !ok || c != *q.ChainID {
			return false
		}
	}
	return true
}

func (f *fakeStore) QueryEvents(_ context.Context, q ledger.EventQuery) ([]env, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	all := f.events
	if f.bug == "alias-results" {
		all = f.raw
	}
	if f.bug == "sort-by-time" {
		all = append([]env(nil), all...)
		sort.SliceStable(all, func(i, j int) bool { return all[i].OccurredAt < all[j].OccurredAt })
	}
	var out []env
	for i := range all {
		if q.Limit != nil {
			l := *q.Limit
			switch f.bug {
			case "limit-zero-means-all":
				if l == 0 {
					l = ^uint64(0)
				}
			case "limit-off-by-one":
				l++
			}
			if uint64(len(out)) >= l {
				break
			}
		}
		if f.match(&all[i], &q) {
			if f.bug == "alias-results" {
				out = append(out, all[i])
			} else {
				out = append(out, ledger.CloneEnvelope(all[i]))
			}
		}
	}
	return out, nil
}

func (f *fakeStore) GetTraceLink(ctx context.Context, id ledger.TraceLinkID) (*ledger.ReplayTrace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if tr, ok := f.extra[id]; ok {
		return tr, nil
	}
	if f.bug == "trace-first-wins" {
		if tr, ok := f.first[id]; ok {
			return tr, nil
		}
	}
	tr, err := f.mem.GetTraceLink(ctx, id)
	if err == nil && tr == nil && f.bug == "trace-absent-error" {
		return nil, ledger.NotFound("trace link " + string(id))
	}
	return tr, err
}
