package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgertest"
)

// TestMemStoreConformance runs the whole conformance suite, including the
// replay of the Rust oracle corpus, against the reference store.
func TestMemStoreConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.ExperienceStore {
		return ledger.NewMemStore()
	})
}

// goldenEnvelopes decodes every ExperienceEventEnvelope golden file.
func goldenEnvelopes(t testing.TB) []ledger.ExperienceEventEnvelope {
	t.Helper()
	dir := filepath.Join("testdata", "golden")
	raw, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatalf("golden manifest: %v", err)
	}
	var manifest []struct {
		File string `json:"file"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &manifest); err != nil {
		t.Fatal(err)
	}
	var out []ledger.ExperienceEventEnvelope
	for _, m := range manifest {
		if m.Type != "ExperienceEventEnvelope" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, m.File))
		if err != nil {
			t.Fatal(err)
		}
		e, err := ledger.UnmarshalEnvelopeJSON(b)
		if err != nil {
			t.Fatalf("%s: %v", m.File, err)
		}
		out = append(out, e)
	}
	if len(out) < 14 {
		t.Fatalf("only %d golden envelopes", len(out))
	}
	return out
}

func mkEnv(id string, tenant string, ev ledger.ExperienceEvent) ledger.ExperienceEventEnvelope {
	e := ledger.ExperienceEventEnvelope{EventID: ledger.EventID(id), OccurredAt: "2026-01-01T00:00:00Z", Event: ev}
	if tenant != "" {
		tn := ledger.TenantID(tenant)
		e.TenantID = &tn
	}
	return e
}

// TestMemStoreConcurrent hammers every method from several goroutines and
// then checks the totals, the transition counter and the summary.
func TestMemStoreConcurrent(t *testing.T) {
	ctx := context.Background()
	m := ledger.NewMemStore()
	const writers, per = 4, 60
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var readerErr error
	var errOnce sync.Once
	fail := func(err error) { errOnce.Do(func() { readerErr = err }) }
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				id := fmt.Sprintf("w%d-%d", w, i)
				var err error
				switch i % 3 {
				case 0:
					err = m.AppendEvent(ctx, mkEnv(id, "tenant-a", &ledger.FactPromoted{FactID: ledger.FactID(id)}))
				case 1:
					err = m.AppendEvents(ctx, []ledger.ExperienceEventEnvelope{
						mkEnv(id, "", &ledger.ReplayTraceRecorded{TraceLinkID: "tl-shared", TraceLink: ledger.ReplayTrace{
							Type: ledger.ReplayTraceLocal, Local: &ledger.LocalReplayTrace{Seed: uint64(w*1000 + i)}}}),
						mkEnv(id+"-b", "tenant-b", &ledger.OutcomeRecorded{ChainID: "c"}),
					})
				case 2:
					err = m.WriteArtifactStateTransition(ctx, ledger.ArtifactID(id), ledger.ArtifactKind{Kind: ledger.ArtifactKindPack},
						ledger.LifecycleEvent{FromState: ledger.StateDraft, ToState: ledger.StateActive})
				}
				if err != nil {
					fail(err)
					return
				}
			}
		}(w)
	}
	var rg sync.WaitGroup
	for r := 0; r < 3; r++ {
		rg.Add(1)
		go func(r int) {
			defer rg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				switch r {
				case 0:
					n := m.Len()
					got, err := m.QueryEvents(ctx, ledger.EventQuery{})
					if err != nil || len(got) < n {
						fail(fmt.Errorf("query returned %d < Len %d (%v)", len(got), n, err))
						return
					}
				case 1:
					tr, err := m.GetTraceLink(ctx, "tl-shared")
					if err != nil || (tr != nil && tr.Local == nil) {
						fail(fmt.Errorf("trace %v %v", tr, err))
						return
					}
				case 2:
					s := m.Summary()
					if s.TotalEvents != s.FactPromoted+s.TraceLinkRecorded+s.OutcomeRecorded+s.ArtifactStateTransitioned {
						fail(fmt.Errorf("inconsistent summary %+v", s))
						return
					}
				}
			}
		}(r)
	}
	wg.Wait()
	close(stop)
	rg.Wait()
	if readerErr != nil {
		t.Fatal(readerErr)
	}
	perKind := writers * per / 3
	if got, want := m.Len(), writers*per/3*4; got != want {
		t.Fatalf("Len = %d, want %d", got, want)
	}
	s := m.Summary()
	if s.FactPromoted != uint64(perKind) || s.TraceLinkRecorded != uint64(perKind) ||
		s.OutcomeRecorded != uint64(perKind) || s.ArtifactStateTransitioned != uint64(perKind) {
		t.Fatalf("summary %+v", s)
	}
	trans, _ := m.QueryEvents(ctx, ledger.EventQuery{Kinds: []ledger.ExperienceEventKind{ledger.KindArtifactStateTransitioned}})
	seen := map[ledger.EventID]bool{}
	for i, e := range trans {
		if want := ledger.EventID(fmt.Sprintf("evt-%d", i)); e.EventID != want {
			t.Fatalf("transition %d has id %q, want %q (counter not serialized with inserts)", i, e.EventID, want)
		}
		seen[e.EventID] = true
	}
	if len(seen) != perKind {
		t.Fatalf("%d distinct transition ids, want %d", len(seen), perKind)
	}
	// The trace is the one of the last stored ReplayTraceRecorded.
	rts, _ := m.QueryEvents(ctx, ledger.EventQuery{Kinds: []ledger.ExperienceEventKind{ledger.KindReplayTraceRecorded}})
	last := rts[len(rts)-1].Event.(*ledger.ReplayTraceRecorded)
	tr, _ := m.GetTraceLink(ctx, "tl-shared")
	if tr == nil || tr.Local.Seed != last.TraceLink.Local.Seed {
		t.Fatalf("trace seed %v, want the last write's %d", tr, last.TraceLink.Local.Seed)
	}
}

func TestMemStoreCancelledContext(t *testing.T) {
	m := ledger.NewMemStore()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e := mkEnv("a", "", &ledger.FactPromoted{})
	checks := map[string]error{
		"AppendEvent":  m.AppendEvent(ctx, e),
		"AppendEvents": m.AppendEvents(ctx, []ledger.ExperienceEventEnvelope{e}),
		"WriteArtifactStateTransition": m.WriteArtifactStateTransition(ctx, "x",
			ledger.ArtifactKind{Kind: ledger.ArtifactKindPack}, ledger.LifecycleEvent{}),
	}
	_, checks["QueryEvents"] = m.QueryEvents(ctx, ledger.EventQuery{})
	_, checks["GetTraceLink"] = m.GetTraceLink(ctx, "x")
	for name, err := range checks {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: %v, want context.Canceled", name, err)
		}
	}
	if m.Len() != 0 {
		t.Fatalf("cancelled calls stored %d envelopes", m.Len())
	}
	// The transition counter was not consumed either.
	if err := m.WriteArtifactStateTransition(context.Background(), "x", ledger.ArtifactKind{Kind: ledger.ArtifactKindPack}, ledger.LifecycleEvent{}); err != nil {
		t.Fatal(err)
	}
	got, _ := m.QueryEvents(context.Background(), ledger.EventQuery{})
	if len(got) != 1 || got[0].EventID != "evt-0" {
		t.Fatalf("after cancelled calls: %+v", got)
	}
}

func TestMemStoreNilEvent(t *testing.T) {
	m := ledger.NewMemStore()
	err := m.AppendEvent(context.Background(), ledger.ExperienceEventEnvelope{EventID: "a", OccurredAt: "x"})
	if !errors.Is(err, ledger.ErrInvalidQuery) || err.Error() != "Invalid query: event must not be nil" {
		t.Fatalf("nil event: %v", err)
	}
	// Envelope validation still comes first, with the reference message.
	err = m.AppendEvent(context.Background(), ledger.ExperienceEventEnvelope{OccurredAt: "x"})
	if err == nil || err.Error() != "Invalid query: event_id must not be empty" {
		t.Fatalf("nil event with empty id: %v", err)
	}
	if m.Len() != 0 {
		t.Fatal("stored an envelope without event")
	}
}

// TestMemStoreValueEvents: events given as struct values (not pointers)
// are accepted and filtered like pointers.
func TestMemStoreValueEvents(t *testing.T) {
	ctx := context.Background()
	m := ledger.NewMemStore()
	rt := ledger.ReplayTrace{Type: ledger.ReplayTraceLocal, Local: &ledger.LocalReplayTrace{Seed: 5}}
	if err := m.AppendEvents(ctx, []ledger.ExperienceEventEnvelope{
		mkEnv("v1", "", ledger.ReplayTraceRecorded{TraceLinkID: "tl-v", TraceLink: rt}),
		mkEnv("v2", "", ledger.OutcomeRecorded{ChainID: "c"}),
		mkEnv("v3", "", ledger.HypothesisResolved{ChainID: "c"}),
	}); err != nil {
		t.Fatal(err)
	}
	rt.Local.Seed = 6 // must not reach the store
	tr, err := m.GetTraceLink(ctx, "tl-v")
	if err != nil || tr == nil || tr.Local.Seed != 5 {
		t.Fatalf("value-form ReplayTraceRecorded: %+v %v", tr, err)
	}
	c := ledger.ChainID("c")
	got, _ := m.QueryEvents(ctx, ledger.EventQuery{ChainID: &c})
	if len(got) != 1 || got[0].EventID != "v2" {
		t.Fatalf("chain query over value events: %+v", got)
	}
}

// TestCloneEnvelopeShares nothing: for every golden envelope (all 14
// variants), the clone re-encodes identically and no pointer, slice or map
// of the clone points into the original.
func TestCloneEnvelopeSharesNothing(t *testing.T) {
	for _, e := range goldenEnvelopes(t) {
		c := ledger.CloneEnvelope(e)
		a, err1 := ledger.MarshalEnvelopeJSON(e)
		b, err2 := ledger.MarshalEnvelopeJSON(c)
		if err1 != nil || err2 != nil || string(a) != string(b) {
			t.Fatalf("%s: clone differs (%v %v)", e.EventID, err1, err2)
		}
		if !reflect.DeepEqual(e, c) {
			t.Fatalf("%s: clone not DeepEqual", e.EventID)
		}
		addrs := map[uintptr]string{}
		collectAddrs(reflect.ValueOf(e), "e", addrs)
		checkDisjoint(t, reflect.ValueOf(c), "c", addrs)
	}
}

func collectAddrs(v reflect.Value, path string, out map[uintptr]string) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Map:
		if !v.IsNil() {
			out[v.Pointer()] = path
			if v.Kind() == reflect.Pointer {
				collectAddrs(v.Elem(), path+".*", out)
			} else {
				it := v.MapRange()
				for it.Next() {
					collectAddrs(it.Value(), path+"[k]", out)
				}
			}
		}
	case reflect.Slice:
		if !v.IsNil() && v.Cap() > 0 {
			out[v.Pointer()] = path
			for i := 0; i < v.Len(); i++ {
				collectAddrs(v.Index(i), fmt.Sprintf("%s[%d]", path, i), out)
			}
		}
	case reflect.Interface:
		if !v.IsNil() {
			collectAddrs(v.Elem(), path, out)
		}
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			collectAddrs(v.Field(i), path+"."+v.Type().Field(i).Name, out)
		}
	}
}

func checkDisjoint(t *testing.T, v reflect.Value, path string, orig map[uintptr]string) {
	t.Helper()
	got := map[uintptr]string{}
	collectAddrs(v, path, got)
	for p, where := range got {
		if o, ok := orig[p]; ok {
			t.Fatalf("clone %s shares memory with original %s", where, o)
		}
	}
}

func TestSummarize(t *testing.T) {
	empty, err := ledger.Summarize(nil).MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "golden", "summary__empty.json"))
	if err != nil {
		t.Fatal(err)
	}
	if string(empty) != string(want) {
		t.Fatalf("empty summary:\n got  %s\n want %s", empty, want)
	}
	envs := goldenEnvelopes(t)
	s := ledger.Summarize(envs)
	if s.TotalEvents != uint64(len(envs)) {
		t.Fatalf("total %d, want %d", s.TotalEvents, len(envs))
	}
	var sum uint64
	for _, k := range ledger.AllKinds {
		n := uint64(0)
		for _, e := range envs {
			if e.Kind() == k {
				n++
			}
		}
		if s.ByKind[ledger.SummaryName(k)] != n {
			t.Fatalf("by_kind[%s] = %d, want %d", ledger.SummaryName(k), s.ByKind[ledger.SummaryName(k)], n)
		}
		if n == 0 {
			if _, ok := s.ByKind[ledger.SummaryName(k)]; ok {
				t.Fatalf("by_kind holds absent kind %s", k)
			}
		}
		sum += n
	}
	if sum != s.TotalEvents || len(s.ByKind) != 14 {
		t.Fatalf("summary %+v", s)
	}
	if ledger.SummaryName(ledger.KindReplayTraceRecorded) != "trace_link_recorded" || ledger.SummaryName("Bogus") != "" {
		t.Fatal("SummaryName")
	}
	// Key order of the JSON form: declaration order, then sorted by_kind.
	b, _ := s.MarshalJSON()
	var keys []string
	dec := json.NewDecoder(bytes.NewReader(b))
	_, _ = dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		keys = append(keys, k.(string))
		var skip json.RawMessage
		_ = dec.Decode(&skip)
	}
	wantKeys := []string{"total_events"}
	for _, k := range ledger.AllKinds {
		wantKeys = append(wantKeys, ledger.SummaryName(k))
	}
	wantKeys = append(wantKeys, "by_kind")
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Fatalf("keys %v\nwant %v", keys, wantKeys)
	}
}
