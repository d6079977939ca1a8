package ledger_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

var updateMsgpackGolden = flag.Bool("update-msgpack", false, "rewrite ledger/testdata/msgpack/*.msgpack")

func mpMarshal(t testing.TB, e *ledger.ExperienceEventEnvelope) []byte {
	t.Helper()
	b, err := ledger.MarshalCanonical(e)
	if err != nil {
		t.Fatalf("MarshalCanonical(%s %s): %v", e.EventID, e.Kind(), err)
	}
	return b
}

// generated returns n generator envelopes from a few seeds.
func mpGenerated(n int) []ledger.ExperienceEventEnvelope {
	var out []ledger.ExperienceEventEnvelope
	seeds := []int64{1, 7, -42, 1 << 40}
	for _, s := range seeds {
		g := workload.New(workload.Config{Seed: s, OutlierRate: 0.002})
		out = append(out, g.Batch(n/len(seeds))...)
	}
	return out
}

func TestMsgpackRoundTripGenerated(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 4000
	}
	kinds := map[ledger.ExperienceEventKind]int{}
	var buf []byte
	for i, e := range mpGenerated(n) {
		b := mpMarshal(t, &e)
		// AppendCanonical into a reused, non-empty buffer gives the same bytes.
		buf = append(buf[:0], 0xAB)
		var err error
		buf, err = ledger.AppendCanonical(buf, &e)
		if err != nil || buf[0] != 0xAB || !bytes.Equal(buf[1:], b) {
			t.Fatalf("event %d: AppendCanonical differs from MarshalCanonical (err %v)", i, err)
		}
		d, err := ledger.UnmarshalCanonical(b)
		if err != nil {
			t.Fatalf("event %d (%s): decode: %v", i, e.Kind(), err)
		}
		if !reflect.DeepEqual(d, e) {
			t.Fatalf("event %d (%s): round trip differs:\n got %#v\nwant %#v", i, e.Kind(), d.Event, e.Event)
		}
		if b2 := mpMarshal(t, &d); !bytes.Equal(b, b2) {
			t.Fatalf("event %d: marshal(unmarshal(b)) != b", i)
		}
		kinds[e.Kind()]++
	}
	if len(kinds) != len(ledger.AllKinds) {
		t.Fatalf("only %d kinds covered: %v", len(kinds), kinds)
	}
}

// goldenEnvelopes loads the envelope fixtures listed in the manifest.
func mpGoldenEnvelopes(t *testing.T) (names []string, raw [][]byte, exact []bool) {
	t.Helper()
	dir := filepath.Join("testdata", "golden")
	mb, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Skipf("no golden fixtures: %v", err)
	}
	var manifest []struct {
		File      string `json:"file"`
		Type      string `json:"type"`
		ByteExact bool   `json:"byte_exact"`
	}
	if err := json.Unmarshal(mb, &manifest); err != nil {
		t.Fatal(err)
	}
	for _, m := range manifest {
		if m.Type != "ExperienceEventEnvelope" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, m.File))
		if errors.Is(err, os.ErrNotExist) {
			continue // this copy holds most, not all, of the goldens
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m.File)
		raw = append(raw, b)
		exact = append(exact, m.ByteExact)
	}
	if len(names) < 50 {
		t.Fatalf("only %d envelope goldens found", len(names))
	}
	return names, raw, exact
}

func TestMsgpackGoldenFixtures(t *testing.T) {
	names, raw, exact := mpGoldenEnvelopes(t)
	kinds := map[ledger.ExperienceEventKind]bool{}
	for i, name := range names {
		e, err := ledger.UnmarshalEnvelopeJSON(raw[i])
		if err != nil {
			t.Fatalf("%s: UnmarshalEnvelopeJSON: %v", name, err)
		}
		b := mpMarshal(t, &e)
		d, err := ledger.UnmarshalCanonical(b)
		if err != nil {
			t.Fatalf("%s: UnmarshalCanonical: %v", name, err)
		}
		if b2 := mpMarshal(t, &d); !bytes.Equal(b, b2) {
			t.Fatalf("%s: msgpack bytes not stable", name)
		}
		j, err := ledger.MarshalEnvelopeJSON(d)
		if err != nil {
			t.Fatalf("%s: MarshalEnvelopeJSON: %v", name, err)
		}
		if exact[i] && !bytes.Equal(j, raw[i]) {
			t.Fatalf("%s: JSON -> msgpack -> JSON changed the bytes:\n got %s\nwant %s", name, j, raw[i])
		}
		if !ledger.EnvelopesEqual(d, e) {
			t.Fatalf("%s: decoded envelope differs", name)
		}
		h, err := ledger.DecodeHeader(b)
		if err != nil || h != ledger.HeaderOf(&e) {
			t.Fatalf("%s: DecodeHeader = %+v, %v; want %+v", name, h, err, ledger.HeaderOf(&e))
		}
		mpCheckStandard(t, name, b, j)
		kinds[e.Kind()] = true
	}
	if len(kinds) != len(ledger.AllKinds) {
		t.Fatalf("goldens cover %d kinds, want 14", len(kinds))
	}
}

// checkStandardMsgpack decodes b with the vmihailenco library into generic
// values and checks that it has the same structure and values as the JSON
// form j (with the documented differences: hashes are bin, and the two keys
// JSON omits are present).
func mpCheckStandard(t *testing.T, name string, b, j []byte) {
	t.Helper()
	var mv map[string]any
	if err := msgpack.Unmarshal(b, &mv); err != nil {
		t.Fatalf("%s: msgpack.Unmarshal: %v", name, err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.UseNumber()
	var jv any
	if err := dec.Decode(&jv); err != nil {
		t.Fatalf("%s: json: %v", name, err)
	}
	if path, ok := mpSameValue(mv, jv, "$"); !ok {
		t.Fatalf("%s: msgpack and JSON forms differ at %s", name, path)
	}
}

func mpSameValue(m, j any, path string) (string, bool) {
	switch jv := j.(type) {
	case nil:
		return path, m == nil
	case bool:
		mb, ok := m.(bool)
		return path, ok && mb == jv
	case string:
		switch mv := m.(type) {
		case string:
			if strings.HasSuffix(path, ".structured_payload") {
				return path, false // structured payload is a JSON value, never a JSON string here
			}
			return path, mv == jv
		case []byte: // ContentHash
			return path, hex.EncodeToString(mv) == jv
		}
		return path, false
	case json.Number:
		switch mv := m.(type) {
		case float32:
			f, err := strconv.ParseFloat(string(jv), 32)
			return path, err == nil && float32(f) == mv && math.Signbit(float64(mv)) == math.Signbit(f)
		case float64:
			f, err := strconv.ParseFloat(string(jv), 64)
			return path, err == nil && f == mv && math.Signbit(mv) == math.Signbit(f)
		}
		u, err := strconv.ParseUint(string(jv), 10, 64)
		if err != nil {
			return path, false
		}
		switch mv := m.(type) {
		case uint8:
			return path, uint64(mv) == u
		case uint16:
			return path, uint64(mv) == u
		case uint32:
			return path, uint64(mv) == u
		case uint64:
			return path, mv == u
		case int8:
			return path, mv >= 0 && uint64(mv) == u
		}
		return path, false
	case []any:
		mv, ok := m.([]any)
		if !ok || len(mv) != len(jv) {
			return path, false
		}
		for i := range jv {
			if p, ok := mpSameValue(mv[i], jv[i], path+"["+strconv.Itoa(i)+"]"); !ok {
				return p, false
			}
		}
		return path, true
	case map[string]any:
		if strings.HasSuffix(path, ".structured_payload") {
			return path, false
		}
		mv, ok := m.(map[string]any)
		if !ok {
			return path, false
		}
		for k, v := range mv {
			if _, inJSON := jv[k]; !inJSON {
				// The keys JSON omits: metadata (empty) and contradiction_id (nil).
				empty := v == nil
				if mm, ok := v.(map[string]any); ok && len(mm) == 0 {
					empty = true
				}
				if !empty || (k != "metadata" && k != "contradiction_id") {
					return path + "." + k, false
				}
			}
		}
		for k, v := range jv {
			if k == "structured_payload" && v != nil {
				// compact JSON text in msgpack; compare by re-encoding
				s, ok := mv[k].(string)
				want, _ := json.Marshal(v)
				var a, b any
				if !ok || json.Unmarshal([]byte(s), &a) != nil || json.Unmarshal(want, &b) != nil || !reflect.DeepEqual(a, b) {
					return path + "." + k, false
				}
				continue
			}
			if p, ok := mpSameValue(mv[k], v, path+"."+k); !ok {
				return p, false
			}
		}
		return path, true
	}
	return path, false
}

func TestMsgpackStandardReadableGenerated(t *testing.T) {
	for i, e := range mpGenerated(800) {
		b := mpMarshal(t, &e)
		j, err := ledger.MarshalEnvelopeJSON(e)
		if err != nil {
			t.Fatal(err)
		}
		mpCheckStandard(t, "generated #"+strconv.Itoa(i), b, j)
	}
}

func TestMsgpackMapOrderIndependent(t *testing.T) {
	keys := make([]string, 60)
	for i := range keys {
		keys[i] = "key-" + strconv.Itoa(i*7919%1000)
	}
	keys = append(keys, "", "Z", "a", "ä", "key-") // bytewise order edge cases
	build := func(order []int) ledger.ExperienceEventEnvelope {
		md := map[string]string{}
		for _, i := range order {
			md[keys[i]] = "v" + keys[i]
		}
		return ledger.ExperienceEventEnvelope{
			EventID: "evt-1", OccurredAt: "2026-01-01T00:00:00Z",
			Event: &ledger.OutcomeRecorded{ChainID: "c", Step: ledger.DecisionStepPlanning, Metadata: md},
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	base := build(r.Perm(len(keys)))
	want := mpMarshal(t, &base)
	for range 30 {
		e := build(r.Perm(len(keys)))
		if got := mpMarshal(t, &e); !bytes.Equal(got, want) {
			t.Fatal("map insertion order changed the encoding")
		}
	}
	// The keys really are sorted in the output: the strict decoder checks it,
	// and so does a generic reader.
	if _, err := ledger.UnmarshalCanonical(want); err != nil {
		t.Fatal(err)
	}
	// nil and empty collections encode identically.
	a := ledger.ExperienceEventEnvelope{EventID: "e", OccurredAt: "t", Event: &ledger.OutcomeRecorded{ChainID: "c", Step: ledger.DecisionStepPlanning}}
	b := ledger.ExperienceEventEnvelope{EventID: "e", OccurredAt: "t", Event: &ledger.OutcomeRecorded{ChainID: "c", Step: ledger.DecisionStepPlanning, Metadata: map[string]string{}}}
	if !bytes.Equal(mpMarshal(t, &a), mpMarshal(t, &b)) {
		t.Fatal("nil and empty metadata encode differently")
	}
}

func TestMsgpackHeaderAgreesWithFullDecode(t *testing.T) {
	has := map[string]int{}
	for i, e := range mpGenerated(8000) {
		b := mpMarshal(t, &e)
		h, err := ledger.DecodeHeader(b)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		d, err := ledger.UnmarshalCanonical(b)
		if err != nil {
			t.Fatal(err)
		}
		if want := ledger.HeaderOf(&d); h != want {
			t.Fatalf("event %d (%s): header %+v, full decode says %+v", i, e.Kind(), h, want)
		}
		for f, ok := range map[string]bool{"tenant": h.HasTenant, "corr": h.HasCorrelation, "chain": h.HasChain, "trace": h.HasTraceLink, "artifact": h.HasArtifact} {
			if ok {
				has[f]++
			}
		}
	}
	for _, f := range []string{"tenant", "corr", "chain", "trace", "artifact"} {
		if has[f] == 0 {
			t.Errorf("no generated event had %s set: the agreement test is vacuous for it", f)
		}
	}
}

// fixedEnvelopes are hand-built inputs for the format-stability goldens.
func mpFixedEnvelopes() map[string]ledger.ExperienceEventEnvelope {
	tenant := ledger.TenantID("tenant-acme")
	corr := ledger.CorrelationID("run-0001")
	conf := float32(0.333)
	topK := uint64(40)
	hash := ledger.ContentHash{0: 0x01, 1: 0x23, 31: 0xff}
	reason := "mentions competitor"
	maxU := uint64(math.MaxUint64)
	backend := ledger.BackendID("openrouter")
	contra := ledger.TensionID("tension-9")
	return map[string]ledger.ExperienceEventEnvelope{
		"proposal_created_local": {
			EventID: "01HZX3K8Q9W2E5R7T1Y4U6I8O0", OccurredAt: "2026-03-14T09:26:53Z", TenantID: &tenant, CorrelationID: &corr,
			Event: &ledger.ProposalCreated{
				Proposal: ledger.KernelProposal{
					ID: "prop-0001", Kind: ledger.ProposalKindClaims, Payload: "Revenue grew 12% QoQ in EMEA — Grüße",
					StructuredPayload: ledger.RawJSON(`{"claims":[{"text":"EMEA +12%","weight":0.25}],"z":null}`),
					TraceLink: ledger.ReplayTrace{Type: ledger.ReplayTraceLocal, Local: &ledger.LocalReplayTrace{
						BaseModelHash: "sha256:9f86", Adapter: &ledger.AdapterTrace{AdapterID: "lora", AdapterHash: "h", Merged: true},
						TokenizerHash: "tok", Seed: math.MaxUint64, Sampler: ledger.SamplerParams{Temperature: 0.7, TopP: 0.95, TopK: &topK},
						PromptVersion: "v1", Recall: &ledger.RecallTrace{CorpusFingerprint: "cf", CandidateIDs: []string{"doc-1", "doc-2"},
							CandidateScores: []float32{0.91, 1e-7}, InjectedCount: 2},
						ExecutionEnv: ledger.ExecutionEnv{Device: "cuda:0", Backend: "candle", Precision: "bf16"}}},
					ContractResults: []ledger.ContractResult{{Name: "schema", Passed: true}, {Name: "brand", FailureReason: &reason}},
					RequiresHuman:   true, Confidence: &conf,
				},
				ChainID: "chain-0001", Step: ledger.DecisionStepReasoning, PolicySnapshotHash: &hash,
			},
		},
		"outcome_recorded_stop": {
			EventID: "evt-or-1", OccurredAt: "2026-03-14T09:26:53.120Z",
			Event: &ledger.OutcomeRecorded{
				ChainID: "chain with spaces", Step: ledger.DecisionStepPlanning, Passed: false,
				StopReason: &ledger.StopReason{Kind: ledger.StopHitlGatePending, HitlGatePending: &ledger.StopHitlGatePendingData{
					GateID: "hitl-1", ProposalID: "prop-42", Summary: "Approve $12k", AgentID: "agent", Cycle: 5}},
				LatencyMs: &maxU, Tokens: nil, CostMicrodollars: &topK, Backend: &backend,
				Metadata: map[string]string{"b": "2", "a": "1", "note": "🚀 \"quoted\""},
			},
		},
		"hypothesis_resolved_neg_zero": {
			EventID: "evt-hr", OccurredAt: "x", TenantID: &tenant,
			Event: &ledger.HypothesisResolved{ChainID: "c", FactID: "f", Domain: "market", Claim: "≥ 5 %",
				Confidence: math.Copysign(0, -1), Outcome: ledger.HypothesisFalsified, ContradictionID: &contra,
				FormedCycle: 3, ResolvedCycle: math.MaxUint32},
		},
		"policy_routing": {
			EventID: "evt-psc", OccurredAt: "2026-03-14T09:26:53Z", CorrelationID: &corr,
			Event: &ledger.PolicySnapshotCaptured{PolicyID: "p", SnapshotHash: hash, CapturedBy: "ops",
				Policy: ledger.PolicySnapshot{Type: ledger.PolicySnapshotRouting, Routing: &ledger.RoutingPolicy{
					TruthPreferences:           map[string]string{"marketing": "openrouter", "finance": "local"},
					RiskTierBackends:           map[ledger.RiskTier][]string{ledger.RiskTierLow: {"a", "b"}, ledger.RiskTierCritical: {}},
					DataClassificationBackends: map[ledger.DataClassification][]string{ledger.DataRestricted: {}, ledger.DataPublic: {"x"}},
					DefaultBackend:             "local"}}},
		},
		"gate_reject": {
			EventID: "evt-gate", OccurredAt: "1773480000Z",
			Event: &ledger.GateDecisionRecorded{
				Request: ledger.GateRequest{GateID: "g", ProposalID: "p", Summary: "s", AgentID: "a",
					ContextData: []ledger.GateContextEntry{{Label: "amount", Value: "$12k"}}, Cycle: 300, RequestedAt: "r",
					Timeout: ledger.GateTimeout{TimeoutSecs: 70000, Action: ledger.TimeoutEscalate}},
				Decision: ledger.GateDecision{GateID: "g", Verdict: ledger.GateVerdict{Kind: ledger.GateReject, RejectReason: &reason},
					DecidedBy: "cfo", DecidedAt: "d"}},
		},
	}
}

func TestMsgpackGoldenBytes(t *testing.T) {
	dir := filepath.Join("testdata", "msgpack")
	for name, e := range mpFixedEnvelopes() {
		b := mpMarshal(t, &e)
		path := filepath.Join(dir, name+".msgpack")
		if *updateMsgpackGolden {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run with -update-msgpack to create)", name, err)
		}
		if !bytes.Equal(b, want) {
			t.Fatalf("%s: canonical encoding changed (format break!)\n got %x\nwant %x", name, b, want)
		}
		d, err := ledger.UnmarshalCanonical(want)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !ledger.EnvelopesEqual(d, e) {
			t.Fatalf("%s: golden decodes to a different envelope", name)
		}
	}
}

// TestMsgpackKnownBytes pins a tiny envelope byte for byte, independently of
// the encoder, to document the layout.
func TestMsgpackKnownBytes(t *testing.T) {
	e := ledger.ExperienceEventEnvelope{EventID: "e", OccurredAt: "t",
		Event: &ledger.FactPromoted{ProposalID: "p", FactID: "f", PromotedBy: "a", Reason: "", RequiresHuman: true}}
	var want []byte
	fixstr := func(s string) { want = append(want, 0xa0|byte(len(s))); want = append(want, s...) }
	want = append(want, 0x85)
	fixstr("event_id")
	fixstr("e")
	fixstr("occurred_at")
	fixstr("t")
	fixstr("tenant_id")
	want = append(want, 0xc0)
	fixstr("correlation_id")
	want = append(want, 0xc0)
	fixstr("event")
	want = append(want, 0x82)
	fixstr("type")
	fixstr("FactPromoted")
	fixstr("data")
	want = append(want, 0x85)
	for _, kv := range [][2]string{{"proposal_id", "p"}, {"fact_id", "f"}, {"promoted_by", "a"}, {"reason", ""}} {
		fixstr(kv[0])
		fixstr(kv[1])
	}
	fixstr("requires_human")
	want = append(want, 0xc3)
	if got := mpMarshal(t, &e); !bytes.Equal(got, want) {
		t.Fatalf("got  %x\nwant %x", got, want)
	}
}

func TestMsgpackIntegerAndFloatEncoding(t *testing.T) {
	cases := []struct {
		v    uint64
		want string
	}{
		{0, "00"}, {127, "7f"}, {128, "cc80"}, {255, "ccff"}, {256, "cd0100"}, {65535, "cdffff"},
		{65536, "ce00010000"}, {math.MaxUint32, "ceffffffff"}, {1 << 32, "cf0000000100000000"},
		{math.MaxUint64, "cfffffffffffffffff"},
	}
	for _, c := range cases {
		v := c.v
		e := ledger.ExperienceEventEnvelope{EventID: "e", OccurredAt: "t",
			Event: &ledger.OutcomeRecorded{ChainID: "c", Step: ledger.DecisionStepPlanning, LatencyMs: &v}}
		b := mpMarshal(t, &e)
		if !bytes.Contains(b, append([]byte("\xaalatency_ms"), mpMustHex(c.want)...)) {
			t.Errorf("uint %d: want encoding %s in %x", c.v, c.want, b)
		}
		d, err := ledger.UnmarshalCanonical(b)
		if err != nil || *d.Event.(*ledger.OutcomeRecorded).LatencyMs != c.v {
			t.Errorf("uint %d: round trip failed: %v", c.v, err)
		}
	}
	// f64 -0.0 and the smallest subnormal keep their bits.
	for _, f := range []float64{math.Copysign(0, -1), 5e-324, math.MaxFloat64, 0.30000000000000004} {
		e := ledger.ExperienceEventEnvelope{EventID: "e", OccurredAt: "t",
			Event: &ledger.HypothesisResolved{ChainID: "c", Outcome: ledger.HypothesisConfirmed, Confidence: f}}
		d, err := ledger.UnmarshalCanonical(mpMarshal(t, &e))
		if err != nil || math.Float64bits(d.Event.(*ledger.HypothesisResolved).Confidence) != math.Float64bits(f) {
			t.Errorf("f64 %v: bits not preserved (%v)", f, err)
		}
	}
}

func mpMustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

func TestMsgpackEncodeErrors(t *testing.T) {
	nan := float32(math.NaN())
	okEnv := func(ev ledger.ExperienceEvent) ledger.ExperienceEventEnvelope {
		return ledger.ExperienceEventEnvelope{EventID: "e", OccurredAt: "t", Event: ev}
	}
	cases := map[string]ledger.ExperienceEventEnvelope{
		"nil event":           okEnv(nil),
		"nil pointer":         okEnv((*ledger.FactPromoted)(nil)),
		"value not pointer":   okEnv(ledger.FactPromoted{}),
		"zero step":           okEnv(&ledger.OutcomeRecorded{ChainID: "c"}),
		"unknown step":        okEnv(&ledger.OutcomeRecorded{ChainID: "c", Step: "Thinking"}),
		"NaN confidence":      okEnv(&ledger.ProposalCreated{Step: ledger.DecisionStepPlanning, Proposal: ledger.KernelProposal{Kind: ledger.ProposalKindPlan, Confidence: &nan, TraceLink: ledger.ReplayTrace{Type: ledger.ReplayTraceLocal}}}),
		"Inf f64":             okEnv(&ledger.HypothesisResolved{Outcome: ledger.HypothesisConfirmed, Confidence: math.Inf(1)}),
		"unknown trace type":  okEnv(&ledger.ReplayTraceRecorded{TraceLinkID: "t"}),
		"unknown stop reason": okEnv(&ledger.OutcomeRecorded{ChainID: "c", Step: ledger.DecisionStepPlanning, StopReason: &ledger.StopReason{Kind: "Exploded"}}),
		"unknown risk tier": okEnv(&ledger.PolicySnapshotCaptured{Policy: ledger.PolicySnapshot{Type: ledger.PolicySnapshotRouting,
			Routing: &ledger.RoutingPolicy{RiskTierBackends: map[ledger.RiskTier][]string{"Extreme": nil}}}}),
		"unknown artifact kind": okEnv(&ledger.ArtifactStateTransitioned{ArtifactKind: ledger.ArtifactKind{Kind: "Widget"},
			Event: ledger.LifecycleEvent{FromState: ledger.StateDraft, ToState: ledger.StateActive}}),
		"unknown verdict": okEnv(&ledger.GateDecisionRecorded{Request: ledger.GateRequest{Timeout: ledger.GateTimeout{Action: ledger.TimeoutReject}}}),
	}
	for name, e := range cases {
		dst := []byte("prefix")
		out, err := ledger.AppendCanonical(dst, &e)
		var ee *ledger.EncodeError
		if err == nil || !errors.Is(err, ledger.ErrMsgpack) || !errors.As(err, &ee) {
			t.Errorf("%s: err = %v, want an *EncodeError wrapping ErrMsgpack", name, err)
		}
		if string(out) != "prefix" {
			t.Errorf("%s: dst not restored on error: %q", name, out)
		}
		if b, err := ledger.MarshalCanonical(&e); err == nil || b != nil {
			t.Errorf("%s: MarshalCanonical = %x, %v", name, b, err)
		}
	}
	if _, err := ledger.MarshalCanonical(nil); !errors.Is(err, ledger.ErrMsgpack) {
		t.Errorf("nil envelope: %v", err)
	}
}

func mpWantDecodeErr(t *testing.T, name string, b []byte) {
	t.Helper()
	_, err := ledger.UnmarshalCanonical(b)
	var de *ledger.DecodeError
	if err == nil || !errors.Is(err, ledger.ErrMsgpack) || !errors.As(err, &de) {
		t.Fatalf("%s: UnmarshalCanonical error = %v, want *DecodeError", name, err)
	}
	if de.Offset < 0 || de.Offset > len(b) {
		t.Fatalf("%s: offset %d outside input of %d bytes", name, de.Offset, len(b))
	}
}

func TestMsgpackDecodeRejectsNonCanonical(t *testing.T) {
	fx := mpFixedEnvelopes()
	e := fx["outcome_recorded_stop"]
	good := mpMarshal(t, &e)
	if _, err := ledger.UnmarshalCanonical(good); err != nil {
		t.Fatal(err)
	}
	replace := func(old, new string) []byte {
		if !bytes.Contains(good, []byte(old)) {
			t.Fatalf("fixture lacks %x", old)
		}
		return bytes.Replace(good, []byte(old), []byte(new), 1)
	}
	cases := map[string][]byte{
		"trailing byte":          append(append([]byte{}, good...), 0xc0),
		"non-minimal uint":       replace("\xa5cycle\x05", "\xa5cycle\xcc\x05"),
		"non-minimal str8":       replace("\xa6hitl-1", "\xd9\x06hitl-1"),
		"unknown key":            replace("\xa5cycle", "\xa5cyclX"),
		"unsorted map keys":      replace("\xa1a\xa11\xa1b\xa12", "\xa1b\xa12\xa1a\xa11"),
		"duplicate map keys":     replace("\xa1a\xa11\xa1b\xa12", "\xa1a\xa11\xa1a\xa12"),
		"unknown enum":           replace("\xa8Planning", "\xa8Plannin_"),
		"wrong type (int->str)":  replace("\xa5cycle\x05", "\xa5cycle\xa1x"[:7]),
		"bool as int":            replace("\xa6passed\xc2", "\xa6passed\x00"),
		"map16 for small map":    append([]byte{0xde, 0x00, 0x05}, good[1:]...),
		"array instead of map":   append([]byte{0x95}, good[1:]...),
		"unknown event kind":     replace("\xafOutcomeRecorded", "\xafOutcomeRecordex"),
		"nil for required field": replace("\xa8chain_id\xb1chain with spaces", "\xa8chain_id\xc0"),
	}
	for name, b := range cases {
		mpWantDecodeErr(t, name, b)
	}
	// Every proper prefix of a valid encoding is rejected (never a panic,
	// never a partial success).
	for _, e := range fx {
		b := mpMarshal(t, &e)
		for i := 0; i < len(b); i++ {
			mpWantDecodeErr(t, "prefix "+strconv.Itoa(i), b[:i])
			if _, err := ledger.DecodeHeader(b[:i]); err == nil && i < mpHeaderEnd(t, b) {
				t.Fatalf("DecodeHeader accepted a %d-byte prefix", i)
			}
		}
	}
	// NaN bits in a float32 field.
	p := fx["proposal_created_local"]
	pb := mpMarshal(t, &p)
	conf := math.Float32bits(0.333)
	nan := []byte{0xca, 0x7f, 0xc0, 0x00, 0x01}
	mpWantDecodeErr(t, "NaN float32", bytes.Replace(pb, []byte{0xca, byte(conf >> 24), byte(conf >> 16), byte(conf >> 8), byte(conf)}, nan, 1))
}

// headerEnd returns the smallest prefix length DecodeHeader accepts.
func mpHeaderEnd(t *testing.T, b []byte) int {
	for i := 0; i <= len(b); i++ {
		if _, err := ledger.DecodeHeader(b[:i]); err == nil {
			return i
		}
	}
	t.Fatal("DecodeHeader rejects the full encoding")
	return 0
}

// allocBytes returns the bytes allocated by f.
func mpAllocBytes(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func mpHostileInputs(t *testing.T) map[string][]byte {
	e := mpFixedEnvelopes()["outcome_recorded_stop"]
	good := mpMarshal(t, &e)
	deep := bytes.Repeat([]byte{0x91}, 100000) // arrays nested 100k deep
	hugeStr := append([]byte{}, good[:1+len("\xa8event_id")]...)
	hugeStr = append(hugeStr, 0xdb, 0xff, 0xff, 0xff, 0xff, 'x')
	withHugeMeta := bytes.Replace(good, []byte("\xa8metadata\x83"), []byte("\xa8metadata\xdf\xff\xff\xff\xff"), 1)
	p := mpFixedEnvelopes()["proposal_created_local"]
	pgood := mpMarshal(t, &p)
	at := bytes.Index(pgood, []byte("\xa8proposal")) + len("\xa8proposal")
	nestedProposal := append(append(append([]byte{}, pgood[:at]...), bytes.Repeat([]byte{0x91}, 100000)...), pgood[at:]...)
	hugeCandidates := bytes.Replace(pgood, []byte("\xadcandidate_ids\x92"), []byte("\xadcandidate_ids\xdd\xff\xff\xff\xff"), 1)
	hugeMapInSkip := append(append(append([]byte{}, pgood[:at]...), 0xdf, 0xff, 0xff, 0xff, 0xff), pgood[at:]...)
	return map[string][]byte{
		"envelope nested arrays in skipped field": nestedProposal,
		"envelope array32 candidate_ids":          hugeCandidates,
		"envelope map32 in skipped field":         hugeMapInSkip,
		"array32 max":                             {0xdd, 0xff, 0xff, 0xff, 0xff},
		"map32 max":                               {0xdf, 0xff, 0xff, 0xff, 0xff},
		"str32 max":                               {0xdb, 0xff, 0xff, 0xff, 0xff},
		"bin32 max":                               {0xc6, 0xff, 0xff, 0xff, 0xff},
		"deep nesting":                            deep,
		"envelope huge event_id":                  hugeStr,
		"envelope huge metadata":                  withHugeMeta,
		"envelope map32 header":                   append([]byte{0xdf, 0xff, 0xff, 0xff, 0xff}, good[1:]...),
		"empty":                                   {},
		"valid envelope (sanity)":                 good,
	}
}

func TestMsgpackHostileInputsAllocationBound(t *testing.T) {
	for name, in := range mpHostileInputs(t) {
		var err1, err2 error
		bound := uint64(4*len(in) + 64<<10)
		got := mpAllocBytes(func() { _, err1 = ledger.UnmarshalCanonical(in) })
		if got > bound {
			t.Errorf("%s: UnmarshalCanonical allocated %d bytes for %d input bytes (bound %d)", name, got, len(in), bound)
		}
		got = mpAllocBytes(func() { _, err2 = ledger.DecodeHeader(in) })
		if got > bound {
			t.Errorf("%s: DecodeHeader allocated %d bytes (bound %d)", name, got, bound)
		}
		if name == "valid envelope (sanity)" {
			if err1 != nil || err2 != nil {
				t.Fatalf("sanity input rejected: %v %v", err1, err2)
			}
			continue
		}
		if err1 == nil || !errors.Is(err1, ledger.ErrMsgpack) {
			t.Errorf("%s: UnmarshalCanonical err = %v", name, err1)
		}
		t.Logf("%-26s %7d bytes in, decode err: %v", name, len(in), err1)
	}
}

// TestMsgpackWorstCaseAllocation documents the worst case of the linear
// allocation bound: arrays of empty strings cost a 16-byte string header
// per input byte.
func TestMsgpackWorstCaseAllocation(t *testing.T) {
	const n = 60000
	e := ledger.ExperienceEventEnvelope{EventID: "e", OccurredAt: "t", Event: &ledger.ReplayTraceRecorded{TraceLinkID: "t",
		TraceLink: ledger.ReplayTrace{Type: ledger.ReplayTraceRemote, Remote: &ledger.RemoteReplayTrace{
			RetryReasons: make([]string, n), Replayability: ledger.ReplayabilityNone}}}}
	b := mpMarshal(t, &e)
	var err error
	got := mpAllocBytes(func() { _, err = ledger.UnmarshalCanonical(b) })
	if err != nil {
		t.Fatal(err)
	}
	if bound := uint64(ledger.MaxDecodeAllocFactor*len(b) + 64<<10); got > bound {
		t.Fatalf("allocated %d bytes for %d input bytes, over the documented bound %d", got, len(b), bound)
	}
	t.Logf("array of %d empty strings: %d input bytes, %d allocated (%.1fx)", n, len(b), got, float64(got)/float64(len(b)))
}

func TestMsgpackRandomAndMutatedInputs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	valid := [][]byte{}
	for _, e := range mpGenerated(200) {
		valid = append(valid, mpMarshal(t, &e))
	}
	iters := 20000
	if testing.Short() {
		iters = 4000
	}
	for i := range iters {
		var in []byte
		switch i % 3 {
		case 0: // random bytes
			in = make([]byte, r.IntN(300))
			for j := range in {
				in[j] = byte(r.Uint32())
			}
		default: // a valid encoding with a few bytes changed, dropped or inserted
			in = append([]byte{}, valid[r.IntN(len(valid))]...)
			for range 1 + r.IntN(3) {
				p := r.IntN(len(in))
				switch r.IntN(3) {
				case 0:
					in[p] = byte(r.Uint32())
				case 1:
					in = append(in[:p], in[p+1:]...)
				default:
					in = append(in[:p], append([]byte{byte(r.Uint32())}, in[p:]...)...)
				}
			}
		}
		var env ledger.ExperienceEventEnvelope
		var err error
		got := mpAllocBytes(func() { env, err = ledger.UnmarshalCanonical(in) })
		if bound := uint64(4*len(in) + 64<<10); got > bound {
			t.Fatalf("input %x: allocated %d > %d", in, got, bound)
		}
		h, herr := ledger.DecodeHeader(in)
		if err == nil {
			// Accepted input must be canonical and agree with the header.
			if out := mpMarshal(t, &env); !bytes.Equal(out, in) {
				t.Fatalf("accepted non-canonical input %x", in)
			}
			if herr != nil || h != ledger.HeaderOf(&env) {
				t.Fatalf("header disagrees for accepted input: %v", herr)
			}
		}
	}
}

// TestMsgpackDecodeDoesNotAliasInput: callers decode from pooled buffers
// they reuse, so nothing decoded may share memory with the input, and a
// decoded RawJSON, which the caller may modify, shares memory with nothing.
func TestMsgpackDecodeDoesNotAliasInput(t *testing.T) {
	for i, e := range mpGenerated(2000) {
		b := mpMarshal(t, &e)
		d, err := ledger.UnmarshalCanonical(b)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		h, err := ledger.DecodeHeader(b)
		if err != nil {
			t.Fatalf("event %d: header: %v", i, err)
		}
		for j := range b {
			b[j] = 0xa5
		}
		if pc, ok := d.Event.(*ledger.ProposalCreated); ok {
			for j := range pc.Proposal.StructuredPayload {
				pc.Proposal.StructuredPayload[j] = 'x'
			}
			pc.Proposal.StructuredPayload = e.Event.(*ledger.ProposalCreated).Proposal.StructuredPayload
		}
		if !reflect.DeepEqual(d, e) {
			t.Fatalf("event %d (%s): decoded envelope changed with its input or RawJSON:\n got %#v\nwant %#v", i, e.Kind(), d.Event, e.Event)
		}
		if h != ledger.HeaderOf(&e) {
			t.Fatalf("event %d (%s): decoded header changed with its input", i, e.Kind())
		}
	}
}

func TestMsgpackSteadyStateZeroAlloc(t *testing.T) {
	envs := mpGenerated(400)
	buf := make([]byte, 0, 1<<20)
	for i := range envs { // warm the pools
		buf, _ = ledger.AppendCanonical(buf[:0], &envs[i])
	}
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		buf, _ = ledger.AppendCanonical(buf[:0], &envs[i%len(envs)])
		i++
	})
	if allocs != 0 {
		t.Fatalf("AppendCanonical allocates %.2f times per event in steady state", allocs)
	}
	b := mpMarshal(t, &envs[0])
	if a := testing.AllocsPerRun(200, func() { _, _ = ledger.DecodeHeader(b) }); a > 1 {
		t.Fatalf("DecodeHeader allocates %.1f times, want <= 1", a)
	}
}

// TestMsgpackWorstCaseMapAllocation: maps of tiny distinct keys and empty
// values are the other worst case of the allocation bound.
func TestMsgpackWorstCaseMapAllocation(t *testing.T) {
	for _, n := range []int{300, 1000, 5000, 20000, 57345, 60000} {
		md := make(map[string]string, n)
		for i := range n {
			md[string([]byte{byte(i >> 8), byte(i)})] = ""
		}
		e := ledger.ExperienceEventEnvelope{EventID: "e", OccurredAt: "t",
			Event: &ledger.OutcomeRecorded{ChainID: "c", Step: ledger.DecisionStepPlanning, Metadata: md}}
		b := mpMarshal(t, &e)
		var err error
		got := mpAllocBytes(func() { _, err = ledger.UnmarshalCanonical(b) })
		if err != nil {
			t.Fatal(err)
		}
		if bound := uint64(ledger.MaxDecodeAllocFactor*len(b) + 64<<10); got > bound {
			t.Fatalf("allocated %d bytes for %d input bytes, over the documented bound %d", got, len(b), bound)
		}
		t.Logf("map of %d tiny keys: %d input bytes, %d allocated (%.1fx)", len(md), len(b), got, float64(got)/float64(len(b)))
	}
}

// TestMsgpackSharedDecoder: the scan's decoder, whose strings share
// arrays across envelopes, decodes exactly what UnmarshalCanonical does,
// rejects what it rejects, and never changes an envelope it returned
// earlier, however later inputs (valid, invalid, reused buffers) look.
func TestMsgpackSharedDecoder(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	events := mpGenerated(3000)
	sd := ledger.NewSharedDecoder()
	type kept struct {
		env  ledger.ExperienceEventEnvelope
		want ledger.ExperienceEventEnvelope
	}
	var keep []kept
	buf := make([]byte, 0, 1<<16)
	rejected := 0
	for i, e := range events {
		// The input lives in one reused buffer, as in a scan.
		buf = append(buf[:0], mpMarshal(t, &e)...)
		if i%7 == 3 { // a damaged input between valid ones
			bad := append([]byte{}, buf...)
			bad[r.IntN(len(bad))] ^= byte(1 + r.IntN(255))
			got, err := sd.Decode(bad)
			want, werr := ledger.UnmarshalCanonical(bad)
			if (err == nil) != (werr == nil) {
				t.Fatalf("event %d damaged: shared err %v, UnmarshalCanonical err %v", i, err, werr)
			}
			if err != nil {
				rejected++
				if err.Error() != werr.Error() {
					t.Fatalf("event %d damaged: shared err %q, UnmarshalCanonical err %q", i, err, werr)
				}
			} else if !reflect.DeepEqual(got, want) {
				t.Fatalf("event %d damaged but accepted: decoders disagree", i)
			}
		}
		got, err := sd.Decode(buf)
		if err != nil {
			t.Fatalf("event %d (%s): %v", i, e.Kind(), err)
		}
		for j := range buf {
			buf[j] = 0xa5
		}
		keep = append(keep, kept{got, e})
	}
	if rejected == 0 {
		t.Fatal("no damaged input was rejected; the test exercises nothing")
	}
	for i, k := range keep {
		if !reflect.DeepEqual(k.env, k.want) {
			t.Fatalf("event %d (%s) changed after later decodes:\n got %#v\nwant %#v", i, k.want.Kind(), k.env.Event, k.want.Event)
		}
	}
}

// TestMsgpackSharedDecoderCallerWrites: the shared decoder carves the
// structs and slices of successive events from shared blocks; what a
// caller does to one event (writing its structs and slices, appending to
// its slices) changes no other event.
func TestMsgpackSharedDecoderCallerWrites(t *testing.T) {
	events := mpGenerated(2000)
	sd := ledger.NewSharedDecoder()
	got := make([]ledger.ExperienceEventEnvelope, len(events))
	for i := range events {
		var err error
		if got[i], err = sd.Decode(mpMarshal(t, &events[i])); err != nil {
			t.Fatal(err)
		}
	}
	slices, structs := 0, 0
	// scribble appends to every slice reachable from v and overwrites
	// every struct field reachable through a pointer with a non-zero value
	// (the struct then no longer equals its event's).
	var scribble func(v reflect.Value, viaPtr bool)
	scribble = func(v reflect.Value, viaPtr bool) {
		switch v.Kind() {
		case reflect.Pointer, reflect.Interface:
			if !v.IsNil() {
				scribble(v.Elem(), v.Kind() == reflect.Pointer)
			}
		case reflect.Struct:
			if viaPtr {
				structs++
			}
			for i := 0; i < v.NumField(); i++ {
				if v.Field(i).CanSet() {
					scribble(v.Field(i), false)
				}
			}
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				scribble(v.Index(i), false)
			}
			if v.CanSet() {
				v.Set(reflect.Append(v, reflect.Zero(v.Type().Elem())))
				slices++
			}
		case reflect.String:
			if v.CanSet() {
				v.SetString("scribbled")
			}
		}
	}
	for i := range got {
		if i%2 == 0 {
			scribble(reflect.ValueOf(&got[i]).Elem(), false)
		}
	}
	if slices == 0 || structs == 0 {
		t.Fatalf("scribbled %d slices, %d structs: the test exercises nothing", slices, structs)
	}
	for i := 1; i < len(got); i += 2 {
		if !reflect.DeepEqual(got[i], events[i]) {
			t.Fatalf("event %d (%s) changed by writes to the events decoded around it:\n got %#v\nwant %#v", i, events[i].Kind(), got[i].Event, events[i].Event)
		}
	}
}

// mpKeyOffsets returns the offset of every map key in the msgpack value
// at b[0:], walking the value generically.
func mpKeyOffsets(t *testing.T, b []byte) []int {
	t.Helper()
	var keys []int
	off := 0
	be := func(n int) int {
		v := 0
		for _, c := range b[off : off+n] {
			v = v<<8 | int(c)
		}
		off += n
		return v
	}
	var walk func()
	walk = func() {
		c := b[off]
		off++
		switch {
		case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		case c&0xe0 == 0xa0:
			off += int(c & 0x1f)
		case c == 0xd9, c == 0xc4:
			off += be(1)
		case c == 0xda, c == 0xc5:
			off += be(2)
		case c == 0xdb, c == 0xc6:
			off += be(4)
		case c == 0xcc, c == 0xd0:
			off++
		case c == 0xcd, c == 0xd1:
			off += 2
		case c == 0xce, c == 0xd2, c == 0xca:
			off += 4
		case c == 0xcf, c == 0xd3, c == 0xcb:
			off += 8
		case c&0xf0 == 0x90, c == 0xdc, c == 0xdd:
			n := int(c & 0x0f)
			if c == 0xdc {
				n = be(2)
			} else if c == 0xdd {
				n = be(4)
			}
			for range n {
				walk()
			}
		case c&0xf0 == 0x80, c == 0xde, c == 0xdf:
			n := int(c & 0x0f)
			if c == 0xde {
				n = be(2)
			} else if c == 0xdf {
				n = be(4)
			}
			for range n {
				keys = append(keys, off)
				walk()
				walk()
			}
		default:
			t.Fatalf("unexpected msgpack byte %#x at %d", c, off-1)
		}
	}
	walk()
	if off != len(b) {
		t.Fatalf("walked %d of %d bytes", off, len(b))
	}
	return keys
}

// TestMsgpackKeyMismatchEveryKey: for every map key of generated events,
// a wrong last byte is reported as "expected key <name>" at the key's
// offset, by the standalone and the shared decoder, whichever of keyShort,
// key, keyLong or keyAny checks it.
func TestMsgpackKeyMismatchEveryKey(t *testing.T) {
	hit := map[string]int{} // by the length class of the key
	class := func(n int) string {
		switch {
		case n >= 4 && n <= 7:
			return "keyShort"
		case n >= 8 && n <= 16:
			return "key"
		case n >= 17 && n <= 24:
			return "keyLong"
		}
		return "keyAny"
	}
	fields := ledger.KeyNames(t)
	sd := ledger.NewSharedDecoder()
	for _, e := range mpGenerated(400) {
		enc := mpMarshal(t, &e)
		for _, i := range mpKeyOffsets(t, enc) {
			n := 1 + int(enc[i]&0x1f) // keys are fixstrs
			name := string(enc[i+1 : i+n])
			bad := append([]byte{}, enc...)
			bad[i+n-1] ^= 0x20
			for dname, decode := range map[string]func([]byte) error{
				"UnmarshalCanonical": func(b []byte) error { _, err := ledger.UnmarshalCanonical(b); return err },
				"shared decoder":     func(b []byte) error { _, err := sd.Decode(b); return err },
			} {
				if !fields[name] {
					continue // a metadata map's key: data, any value goes
				}
				err := decode(bad)
				de, ok := err.(*ledger.DecodeError)
				if !ok {
					t.Fatalf("%s: key %q corrupted: got %v, want a *ledger.DecodeError", dname, name, err)
				}
				// The key of an externally tagged enum is a variant name; the
				// first key is checked before decoding starts.
				if de.Offset == i && strings.HasPrefix(de.Reason, "unknown ") && strings.HasSuffix(de.Reason, " variant") ||
					i == 1 && de.Offset == 0 && strings.HasPrefix(de.Reason, "not a canonical envelope") {
					continue
				}
				if want := "expected key " + name; de.Reason != want || de.Offset != i {
					t.Fatalf("%s (%s): key %q corrupted: got %q at %d, want %q at %d", dname, e.Kind(), name, de.Reason, de.Offset, want, i)
				}
				hit[class(n)]++
			}
		}
	}
	for _, c := range []string{"keyShort", "key", "keyLong", "keyAny"} {
		if hit[c] == 0 {
			t.Errorf("no key checked by %s was exercised", c)
		}
	}
	t.Logf("key mismatches checked, by path: %v", hit)
}

// Every envelope of the reference corpus (5,000 operations recorded from
// the Rust implementation), encoded by the engine's canonical codec, is
// decoded by the vmihailenco/msgpack library to the same values as its
// Converge JSON form: the library stays the independent proof that the
// engine's bytes are standard msgpack (docs/format.md §6.1).
func TestMsgpackStandardReadableCorpus(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("ledgertest", "testdata", "corpus", "ops.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	check := func(raw json.RawMessage) {
		e, err := ledger.UnmarshalEnvelopeJSON(raw)
		if err != nil {
			t.Fatalf("corpus envelope: %v", err)
		}
		b := mpMarshal(t, &e)
		j, err := ledger.MarshalEnvelopeJSON(e)
		if err != nil {
			t.Fatal(err)
		}
		mpCheckStandard(t, "corpus "+string(e.EventID), b, j)
		n++
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var op struct {
			Op        string            `json:"op"`
			Envelope  json.RawMessage   `json:"envelope"`
			Envelopes []json.RawMessage `json:"envelopes"`
		}
		if err := json.Unmarshal(line, &op); err != nil {
			t.Fatal(err)
		}
		switch op.Op {
		case "append":
			check(op.Envelope)
		case "append_batch":
			for _, e := range op.Envelopes {
				check(e)
			}
		}
	}
	if n < 1000 {
		t.Fatalf("checked only %d corpus envelopes", n)
	}
	t.Logf("%d corpus envelopes decoded alike by the library", n)
}
