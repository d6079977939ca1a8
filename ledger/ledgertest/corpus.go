package ledgertest

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/exledger/exledger/ledger"
)

// corpusFS holds a copy of the public oracle corpus (seed 1, 5000 ops)
// produced by the real Rust InMemoryExperienceStore; see
// testdata/corpus/README in the shared fixtures for its format.
//
//go:embed testdata/corpus/ops.jsonl testdata/corpus/op_results.jsonl testdata/corpus/queries.jsonl testdata/corpus/trace_links.jsonl testdata/corpus/summary.json testdata/corpus/meta.json
var corpusFS embed.FS

func corpusFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := corpusFS.ReadFile("testdata/corpus/" + name)
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	return b
}

func jsonLines(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out = append(out, b)
			break
		}
		if i > 0 {
			out = append(out, b[:i])
		}
		b = b[i+1:]
	}
	return out
}

type corpusOp struct {
	Op           string            `json:"op"`
	Envelope     json.RawMessage   `json:"envelope"`
	Envelopes    []json.RawMessage `json:"envelopes"`
	ArtifactID   json.RawMessage   `json:"artifact_id"`
	ArtifactKind json.RawMessage   `json:"artifact_kind"`
	Event        json.RawMessage   `json:"event"`
}

type corpusOpResult struct {
	Line             int    `json:"line"`
	Op               string `json:"op"`
	OK               bool   `json:"ok"`
	Appended         int    `json:"appended"`
	StoreIndexStart  int    `json:"store_index_start"`
	StoreLenAfter    int    `json:"store_len_after"`
	Error            string `json:"error"`
	ErrorVariant     string `json:"error_variant"`
	ErrorMessage     string `json:"error_message"`
	GeneratedEventID string `json:"generated_event_id"`
}

type corpusQuery struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	Query        json.RawMessage `json:"query"`
	Count        int             `json:"count"`
	EventIDs     []string        `json:"event_ids"`
	StoreIndices []int           `json:"store_indices"`
}

type corpusTrace struct {
	TraceLinkID          string          `json:"trace_link_id"`
	Category             string          `json:"category"`
	StoredRecordCount    int             `json:"stored_record_count"`
	LastRecordStoreIndex *int            `json:"last_record_store_index"`
	TraceLink            json.RawMessage `json:"trace_link"`
}

type corpusMeta struct {
	StoredEvents         int            `json:"stored_events"`
	DistinctEventIDs     int            `json:"distinct_event_ids"`
	StoredEventsByTenant map[string]int `json:"stored_events_by_tenant"`
	Queries              int            `json:"queries"`
	TraceLinkProbes      int            `json:"trace_link_probes"`
}

// replayed is the outcome of replaying ops.jsonl: the expected store
// contents in insertion order (what the reference store holds), their
// canonical JSON, and the exact input bytes they came from.
type replayed struct {
	model []env
	canon []string
	input []string
}

// testCorpus replays the corpus into a fresh store and checks every op
// result, the final contents, every query, every trace link probe and the
// summary against the reference's recorded answers.
func (s *suite) testCorpus(t *testing.T) {
	st := s.open(t)
	r := s.replayCorpus(t, st)

	t.Run("Contents", func(t *testing.T) {
		full := queryAll(t, st)
		if len(full) != len(r.model) {
			t.Fatalf("store holds %d envelopes, reference %d", len(full), len(r.model))
		}
		for i := range full {
			if c := canon(t, full[i]); c != r.canon[i] {
				t.Fatalf("position %d differs:\n got  %s\n want %s", i, clip(c), clip(r.canon[i]))
			}
		}
		var meta corpusMeta
		if err := json.Unmarshal(corpusFile(t, "meta.json"), &meta); err != nil {
			t.Fatal(err)
		}
		distinct := map[ledger.EventID]bool{}
		byTenant := map[string]int{}
		for _, e := range full {
			distinct[e.EventID] = true
			if e.TenantID == nil {
				byTenant["<none>"]++
			} else {
				byTenant[string(*e.TenantID)]++
			}
		}
		if len(full) != meta.StoredEvents || len(distinct) != meta.DistinctEventIDs {
			t.Fatalf("stored %d (distinct ids %d), meta says %d (%d)", len(full), len(distinct), meta.StoredEvents, meta.DistinctEventIDs)
		}
		for k, v := range meta.StoredEventsByTenant {
			if byTenant[k] != v {
				t.Fatalf("tenant %q: %d events, meta says %d", k, byTenant[k], v)
			}
		}
	})

	t.Run("CodecRoundTrip", func(t *testing.T) {
		// ops.jsonl holds the canonical serde bytes of every envelope: the
		// stored value must re-encode to exactly those bytes.
		for i := range r.model {
			if r.canon[i] != r.input[i] {
				t.Fatalf("position %d: canonical JSON differs from the reference bytes:\n got  %s\n want %s", i, clip(r.canon[i]), clip(r.input[i]))
			}
		}
	})

	t.Run("Queries", func(t *testing.T) { s.checkCorpusQueries(t, st, r) })
	t.Run("TraceLinks", func(t *testing.T) { s.checkCorpusTraces(t, st, r) })
	t.Run("Summary", func(t *testing.T) {
		sum := ledger.Summarize(queryAll(t, st))
		got, err := sum.MarshalIndentJSON()
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimRight(corpusFile(t, "summary.json"), "\n")
		if !bytes.Equal(got, want) {
			t.Fatalf("summary:\n got  %s\n want %s", got, want)
		}
	})
}

func (s *suite) replayCorpus(t *testing.T, st ledger.ExperienceStore) *replayed {
	t.Helper()
	opLines := jsonLines(corpusFile(t, "ops.jsonl"))
	resLines := jsonLines(corpusFile(t, "op_results.jsonl"))
	if len(opLines) != len(resLines) || len(opLines) == 0 {
		t.Fatalf("corpus: %d ops, %d results", len(opLines), len(resLines))
	}
	r := &replayed{}
	push := func(e env, input string) {
		r.model = append(r.model, e)
		r.canon = append(r.canon, canon(t, e))
		r.input = append(r.input, input)
	}
	decode := func(line int, raw []byte) env {
		e, err := unmarshalEnvelope(raw)
		if err != nil {
			t.Fatalf("ops line %d: decode envelope: %v", line, err)
		}
		return e
	}
	checkErr := func(line int, err error, res *corpusOpResult) {
		t.Helper()
		if res.OK {
			if err != nil {
				t.Fatalf("ops line %d (%s): reference succeeded, store failed: %v", line, res.Op, err)
			}
			return
		}
		if res.ErrorVariant != "InvalidQuery" || res.Error != "Invalid query: "+res.ErrorMessage {
			t.Fatalf("ops line %d: unexpected reference error %q/%q", line, res.ErrorVariant, res.Error)
		}
		wantInvalid(t, fmt.Sprintf("ops line %d (%s)", line, res.Op), err, res.ErrorMessage)
	}
	atomicChecks := 0
	for i, line := range opLines {
		var op corpusOp
		var res corpusOpResult
		if err := json.Unmarshal(line, &op); err != nil {
			t.Fatalf("ops line %d: %v", i, err)
		}
		if err := json.Unmarshal(resLines[i], &res); err != nil {
			t.Fatalf("op_results line %d: %v", i, err)
		}
		if res.Line != i || res.Op != op.Op || res.StoreIndexStart != len(r.model) {
			t.Fatalf("op_results line %d out of step: %+v (model has %d)", i, res, len(r.model))
		}
		switch op.Op {
		case "append":
			e := decode(i, op.Envelope)
			checkErr(i, st.AppendEvent(bg, e), &res)
			if res.OK {
				push(e, string(op.Envelope))
			}
		case "append_batch":
			batch := make([]env, len(op.Envelopes))
			for j, raw := range op.Envelopes {
				batch[j] = decode(i, raw)
			}
			k := res.Appended
			if k > len(batch) || (res.OK && k != len(batch)) || (!res.OK && k >= len(batch)) {
				t.Fatalf("ops line %d: inconsistent result %+v for a batch of %d", i, res, len(batch))
			}
			if !s.caps.AtomicBatches || res.OK {
				checkErr(i, st.AppendEvents(bg, batch), &res)
			} else {
				// Atomic store: the whole batch is rejected and nothing
				// changes; then the valid prefix and the invalid element
				// alone reproduce the reference's state.
				checkErr(i, st.AppendEvents(bg, batch), &res)
				if n := len(queryAll(t, st)); n != len(r.model) {
					t.Fatalf("ops line %d: rejected atomic batch changed the store: %d -> %d envelopes", i, len(r.model), n)
				}
				if k > 0 {
					if err := st.AppendEvents(bg, batch[:k]); err != nil {
						t.Fatalf("ops line %d: valid prefix of %d: %v", i, k, err)
					}
				}
				checkErr(i, st.AppendEvent(bg, batch[k]), &res)
				atomicChecks++
			}
			for j := 0; j < k; j++ {
				push(batch[j], string(op.Envelopes[j]))
			}
		case "artifact_transition":
			if !res.OK || res.GeneratedEventID == "" {
				t.Fatalf("ops line %d: unexpected transition result %+v", i, res)
			}
			// The envelope the reference stored, in serde's exact form.
			raw := `{"event_id":` + jsonString(res.GeneratedEventID) +
				`,"occurred_at":"1970-01-01T00:00:00Z","tenant_id":null,"correlation_id":null,` +
				`"event":{"type":"ArtifactStateTransitioned","data":{"artifact_id":` + string(op.ArtifactID) +
				`,"artifact_kind":` + string(op.ArtifactKind) + `,"event":` + string(op.Event) + `}}}`
			e := decode(i, []byte(raw))
			if s.caps.DurableArtifactTransitions {
				checkErr(i, st.AppendEvent(bg, e), &res)
			} else {
				p := e.Event.(*ledger.ArtifactStateTransitioned)
				checkErr(i, st.WriteArtifactStateTransition(bg, p.ArtifactID, p.ArtifactKind, p.Event), &res)
			}
			push(e, raw)
		default:
			t.Fatalf("ops line %d: unknown op %q", i, op.Op)
		}
		if res.StoreLenAfter != len(r.model) {
			t.Fatalf("ops line %d: reference length %d, model %d", i, res.StoreLenAfter, len(r.model))
		}
	}
	if s.caps.AtomicBatches && atomicChecks == 0 {
		t.Fatalf("corpus has no failed batch; the atomic path was not exercised")
	}
	return r
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func (s *suite) checkCorpusQueries(t *testing.T, st ledger.ExperienceStore, r *replayed) {
	lines := jsonLines(corpusFile(t, "queries.jsonl"))
	// Ids that occur more than once: results for them are always compared
	// by content, since the id alone does not say which copy came back.
	count := map[ledger.EventID]int{}
	for _, e := range r.model {
		count[e.EventID]++
	}
	hypDiffers := 0
	for n, line := range lines {
		var cq corpusQuery
		if err := json.Unmarshal(line, &cq); err != nil {
			t.Fatalf("queries line %d: %v", n, err)
		}
		q, err := unmarshalQuery(cq.Query)
		if err != nil {
			t.Fatalf("query %s: decode: %v", cq.ID, err)
		}
		if cq.Count != len(cq.EventIDs) || cq.Count != len(cq.StoreIndices) {
			t.Fatalf("query %s: inconsistent fixture", cq.ID)
		}
		for j, p := range cq.StoreIndices {
			if p < 0 || p >= len(r.model) || string(r.model[p].EventID) != cq.EventIDs[j] {
				t.Fatalf("query %s: fixture position %d (%d) does not hold %q", cq.ID, j, p, cq.EventIDs[j])
			}
		}
		// The suite's model must reproduce the reference answer exactly:
		// that is what makes it trustworthy for the durable chain rule.
		if ref := modelQuery(r.model, q, false); !slices.Equal(ref, cq.StoreIndices) {
			t.Fatalf("query %s (%s): the suite's reference model gives %d results, the reference %d", cq.ID, cq.Name, len(ref), cq.Count)
		}
		want := cq.StoreIndices
		if s.caps.ChainIncludesHypothesis && q.ChainID != nil {
			want = modelQuery(r.model, q, true)
			if !slices.Equal(want, cq.StoreIndices) {
				hypDiffers++
			}
		}
		got := mustQuery(t, st, q)
		if len(got) != len(want) {
			t.Fatalf("query %s (%s) %s: %d results, want %d", cq.ID, cq.Name, describeQuery(q), len(got), len(want))
		}
		for j, p := range want {
			if got[j].EventID != r.model[p].EventID {
				t.Fatalf("query %s (%s): result %d is %q, want %q (position %d)", cq.ID, cq.Name, j, got[j].EventID, r.model[p].EventID, p)
			}
			if !testing.Short() || count[got[j].EventID] > 1 || j%16 == 0 {
				if c := canon(t, got[j]); c != r.canon[p] {
					t.Fatalf("query %s (%s): result %d (%q) differs from position %d:\n got  %s\n want %s", cq.ID, cq.Name, j, got[j].EventID, p, clip(c), clip(r.canon[p]))
				}
			}
		}
	}
	if s.caps.ChainIncludesHypothesis && hypDiffers == 0 {
		t.Fatalf("no corpus chain query differs under the durable chain rule; the rule was not exercised")
	}
	if len(lines) == 0 {
		t.Fatal("no queries")
	}
}

func (s *suite) checkCorpusTraces(t *testing.T, st ledger.ExperienceStore, r *replayed) {
	lines := jsonLines(corpusFile(t, "trace_links.jsonl"))
	present := 0
	for n, line := range lines {
		var ct corpusTrace
		if err := json.Unmarshal(line, &ct); err != nil {
			t.Fatalf("trace_links line %d: %v", n, err)
		}
		got := mustTrace(t, st, ledger.TraceLinkID(ct.TraceLinkID))
		if string(ct.TraceLink) == "null" || len(ct.TraceLink) == 0 {
			if got != nil {
				t.Fatalf("trace %q (%s): got a trace, want none", ct.TraceLinkID, ct.Category)
			}
			continue
		}
		present++
		want, err := unmarshalTrace(ct.TraceLink)
		if err != nil {
			t.Fatalf("trace %q: decode: %v", ct.TraceLinkID, err)
		}
		if g, w := canonTrace(t, got), canonTrace(t, &want); g != w {
			t.Fatalf("trace %q (%s):\n got  %s\n want %s", ct.TraceLinkID, ct.Category, clip(g), clip(w))
		}
		// The fixture's last writer, per the model, carries this trace.
		if ct.LastRecordStoreIndex == nil || *ct.LastRecordStoreIndex >= len(r.model) {
			t.Fatalf("trace %q: bad last_record_store_index", ct.TraceLinkID)
		}
		rec, ok := r.model[*ct.LastRecordStoreIndex].Event.(*ledger.ReplayTraceRecorded)
		if !ok || string(rec.TraceLinkID) != ct.TraceLinkID || canonTrace(t, &rec.TraceLink) != canonTrace(t, &want) {
			t.Fatalf("trace %q: model position %d is not its last record", ct.TraceLinkID, *ct.LastRecordStoreIndex)
		}
		for _, later := range r.model[*ct.LastRecordStoreIndex+1:] {
			if x, ok := later.Event.(*ledger.ReplayTraceRecorded); ok && string(x.TraceLinkID) == ct.TraceLinkID {
				t.Fatalf("trace %q: recorded again after its last record", ct.TraceLinkID)
			}
		}
	}
	if present == 0 || present == len(lines) {
		t.Fatalf("trace probes: %d of %d present; expected a mix", present, len(lines))
	}
}
