package ledger

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestAppendF64(t *testing.T) {
	cases := []struct {
		in   float64
		want string
	}{
		{0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1, "1.0"}, {-1, "-1.0"},
		{0.1, "0.1"}, {1e-7, "1e-7"}, {1e-6, "1e-6"}, {1e-5, "0.00001"}, {0.0001234, "0.0001234"},
		{1e15, "1000000000000000.0"}, {1e16, "1e16"}, {1.5e16, "1.5e16"}, {1e21, "1e21"},
		{123456.789, "123456.789"}, {0.30000000000000004, "0.30000000000000004"},
		{math.MaxFloat64, "1.7976931348623157e308"}, {5e-324, "5e-324"},
		{1234567890123456, "1234567890123456.0"}, {12345678901234567, "1.2345678901234568e16"},
		{2.5e-10, "2.5e-10"}, {-123.25, "-123.25"}, {100, "100.0"},
		{math.NaN(), "null"}, {math.Inf(1), "null"}, {math.Inf(-1), "null"},
	}
	for _, c := range cases {
		if got := string(appendF64(nil, c.in)); got != c.want {
			t.Errorf("appendF64(%v) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestAppendF32(t *testing.T) {
	cases := []struct {
		in   float32
		want string
	}{
		{0, "0.0"}, {0.7, "0.7"}, {0.9, "0.9"}, {0.95, "0.95"}, {1, "1.0"}, {1e-7, "1e-7"},
		{1e-6, "0.000001"}, {0.333, "0.333"}, {1e12, "1000000000000.0"}, {1e13, "1e13"},
		{123456.79, "123456.79"}, {math.MaxFloat32, "3.4028235e38"},
		{float32(math.Inf(1)), "null"},
	}
	for _, c := range cases {
		if got := string(appendF32(nil, c.in)); got != c.want {
			t.Errorf("appendF32(%v) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestAppendJSONString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", `""`},
		{"plain", `"plain"`},
		{"q\"b\\s/", `"q\"b\\s/"`},
		{"\n\t\r\b\f", `"\n\t\r\b\f"`},
		{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
		{"<>&\u2028\u2029\x7f", "\"<>&\u2028\u2029\x7f\""},
		{"café 東京 🚀", `"café 東京 🚀"`},
		{"bad\xffbyte", "\"bad\uFFFDbyte\""},
	}
	for _, c := range cases {
		if got := string(appendJSONString(nil, c.in)); got != c.want {
			t.Errorf("appendJSONString(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestParseStrictness(t *testing.T) {
	bad := []struct {
		name, in string
		class    JSONErrorClass
	}{
		{"empty", "", JSONEOF},
		{"ws only", "  \n", JSONEOF},
		{"trailing", `{} x`, JSONSyntax},
		{"two values", `1 2`, JSONSyntax},
		{"leading zero", `01`, JSONSyntax},
		{"bare dot", `1.`, JSONEOF},
		{"dot no digit", `1.e5`, JSONSyntax},
		{"exp no digit", `1e+`, JSONEOF},
		{"plus sign", `+1`, JSONSyntax},
		{"NaN", `NaN`, JSONSyntax},
		{"Infinity", `Infinity`, JSONSyntax},
		{"single quotes", `'a'`, JSONSyntax},
		{"truncated true", `tru`, JSONEOF},
		{"bad literal", `trux`, JSONSyntax},
		{"control char", "\"a\x01b\"", JSONSyntax},
		{"raw newline", "\"a\nb\"", JSONSyntax},
		{"bad escape", `"\x41"`, JSONSyntax},
		{"short unicode escape at end", `"\u12"`, JSONEOF},
		{"non-hex unicode escape", `"\u12zz"`, JSONSyntax},
		{"lone high surrogate", `"\ud83d"`, JSONSyntax},
		{"lone high then char", `"\ud83dx"`, JSONSyntax},
		{"lone low surrogate", `"\ude80"`, JSONSyntax},
		{"high + non-low", `"\ud83d\u0041"`, JSONSyntax},
		{"invalid utf8", "\"\xff\"", JSONSyntax},
		{"invalid utf8 after escape", "\"\\n\xc3\"", JSONSyntax},
		{"overlong utf8", "\"\xc0\xaf\"", JSONSyntax},
		{"utf8 surrogate", "\"\xed\xa0\x80\"", JSONSyntax},
		{"trailing comma obj", `{"a":1,}`, JSONSyntax},
		{"trailing comma arr", `[1,]`, JSONSyntax},
		{"missing colon", `{"a" 1}`, JSONSyntax},
		{"non-string key", `{1:2}`, JSONSyntax},
		{"unterminated obj", `{"a":1`, JSONEOF},
		{"unterminated arr", `[1`, JSONEOF},
		{"unterminated str", `"abc`, JSONEOF},
		{"deep", strings.Repeat("[", 129) + strings.Repeat("]", 129), JSONSyntax},
	}
	for _, c := range bad {
		_, err := parseJSON([]byte(c.in))
		var je *JSONError
		if !errors.As(err, &je) {
			t.Errorf("%s: err = %v, want *JSONError", c.name, err)
			continue
		}
		if je.Class != c.class {
			t.Errorf("%s: class %v (%v), want %v", c.name, je.Class, err, c.class)
		}
	}
	good := []struct{ in, canon string }{
		{` {"a" : [ 1 , -2 , 3.5e0 , true , null ] } `, `{"a":[1,-2,3.5,true,null]}`},
		{strings.Repeat("[", 128) + strings.Repeat("]", 128), strings.Repeat("[", 128) + strings.Repeat("]", 128)},
		{`"\ud83d\ude80 \u00e9 \/"`, `"🚀 é /"`},
		{`{"b":1,"a":2,"b":3}`, `{"b":3,"a":2}`},
		{`-0`, `-0.0`},
		{`1E2`, `100.0`},
		{`1.50`, `1.5`},
		{`18446744073709551615`, `18446744073709551615`},
		{`18446744073709551616`, `1.8446744073709552e19`},
		{`-9223372036854775808`, `-9223372036854775808`},
		{`-9223372036854775809`, `-9.223372036854776e18`},
		{`1e-400`, `0.0`},
		{`"\u0000"`, `"\u0000"`},
	}
	for _, c := range good {
		got, err := CanonicalizeJSON([]byte(c.in))
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if string(got) != c.canon {
			t.Errorf("%q: got %s, want %s", c.in, got, c.canon)
		}
	}
	if _, err := CanonicalizeJSON([]byte(`1e400`)); err == nil {
		t.Error("1e400 accepted as a Value")
	}
}

// A big object with many duplicate keys keeps first positions and last
// values (the map-based path of appendValue).
func TestCanonicalizeLargeObjectDuplicates(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("{")
	for i := 0; i < 40; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + string(rune('a'+i%20)) + `":` + string(rune('0'+i%10)))
	}
	b.WriteString("}")
	got, err := CanonicalizeJSON(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	want.WriteString("{")
	for i := 0; i < 20; i++ {
		if i > 0 {
			want.WriteString(",")
		}
		want.WriteString(`"k` + string(rune('a'+i)) + `":` + string(rune('0'+(i+20)%10)))
	}
	want.WriteString("}")
	if string(got) != want.String() {
		t.Fatalf("got  %s\nwant %s", got, want.String())
	}
}

const baseFact = `{"event_id":"e","occurred_at":"t","event":{"type":"FactPromoted","data":{"proposal_id":"p","fact_id":"f","promoted_by":"a","reason":"r","requires_human":false}}}`

func outcome(data string) string {
	return `{"event_id":"e","occurred_at":"t","event":{"type":"OutcomeRecorded","data":{"chain_id":"c","step":"Planning","passed":true` + data + `}}}`
}

func hypo(data string) string {
	return `{"event_id":"e","occurred_at":"t","event":{"type":"HypothesisResolved","data":{"chain_id":"c","fact_id":"f","domain":"d","claim":"x","outcome":"Confirmed","formed_cycle":1` + data + `}}}`
}

func TestDecodeStrictness(t *testing.T) {
	bad := []struct {
		name, in string
		class    JSONErrorClass
	}{
		{"dup envelope field", `{"event_id":"e","event_id":"f","occurred_at":"t","event":{"type":"FactPromoted","data":{}}}`, JSONDuplicateField},
		{"dup data field", strings.Replace(baseFact, `"reason":"r"`, `"reason":"r","reason":"s"`, 1), JSONDuplicateField},
		{"dup type", strings.Replace(baseFact, `"type":"FactPromoted"`, `"type":"FactPromoted","type":"FactPromoted"`, 1), JSONDuplicateField},
		{"missing event_id", `{"occurred_at":"t","event":{"type":"FactPromoted","data":{"proposal_id":"p","fact_id":"f","promoted_by":"a","reason":"r","requires_human":false}}}`, JSONMissingField},
		{"null required string", strings.Replace(baseFact, `"reason":"r"`, `"reason":null`, 1), JSONInvalidType},
		{"u64 overflow", outcome(`,"tokens":18446744073709551616`), JSONInvalidType},
		{"u64 negative", outcome(`,"tokens":-1`), JSONInvalidValue},
		{"u64 negative zero", outcome(`,"tokens":-0`), JSONInvalidType},
		{"u64 float", outcome(`,"tokens":1.0`), JSONInvalidType},
		{"u64 exponent", outcome(`,"tokens":1e3`), JSONInvalidType},
		{"u64 string", outcome(`,"tokens":"1"`), JSONInvalidType},
		{"u32 overflow", hypo(`,"confidence":0.5,"resolved_cycle":4294967296`), JSONInvalidValue},
		{"f64 overflow", hypo(`,"confidence":1e400,"resolved_cycle":1`), JSONInvalidValue},
		{"f64 bool", hypo(`,"confidence":true,"resolved_cycle":1`), JSONInvalidType},
		{"metadata null", outcome(`,"metadata":null`), JSONInvalidType},
		{"stop reason number", outcome(`,"stop_reason":5`), JSONSyntax},
		{"stop reason two keys", outcome(`,"stop_reason":{"Converged":null,"UserCancelled":null}`), JSONSyntax},
		{"stop reason empty map", outcome(`,"stop_reason":{}`), JSONSyntax},
		{"stop reason unknown", outcome(`,"stop_reason":"Done"`), JSONUnknownVariant},
		{"stop reason u32 range", outcome(`,"stop_reason":{"CycleBudgetExhausted":{"cycles_executed":4294967296,"limit":1}}`), JSONInvalidValue},
		{"step lowercase", strings.Replace(outcome(""), `"Planning"`, `"planning"`, 1), JSONUnknownVariant},
		{"step map non-null", strings.Replace(outcome(""), `"Planning"`, `{"Planning":1}`, 1), JSONInvalidType},
		{"kinds missing", `{}`, JSONMissingField},
		{"data not object", strings.Replace(baseFact, `"data":{`, `"data":5,"x":{`, 1), JSONInvalidType},
		{"envelope array short", `["e","t"]`, JSONInvalidValue},
		{"envelope array long", `["e","t",null,null,{"type":"FactPromoted","data":{"proposal_id":"p","fact_id":"f","promoted_by":"a","reason":"r","requires_human":false}},1]`, JSONSyntax},
	}
	for _, c := range bad {
		var err error
		if strings.HasPrefix(c.in, `{}`) {
			_, err = UnmarshalEventQueryJSON([]byte(c.in))
		} else {
			_, err = UnmarshalEnvelopeJSON([]byte(c.in))
		}
		var je *JSONError
		if !errors.As(err, &je) {
			t.Errorf("%s: err = %v, want *JSONError", c.name, err)
			continue
		}
		if je.Class != c.class {
			t.Errorf("%s: class %v (%v), want %v", c.name, je.Class, err, c.class)
		}
	}

	good := []struct{ name, in, canon string }{
		{"unit variant as map", strings.Replace(outcome(""), `"Planning"`, `{"Planning":null}`, 1),
			`{"event_id":"e","occurred_at":"t","tenant_id":null,"correlation_id":null,"event":{"type":"OutcomeRecorded","data":{"chain_id":"c","step":"Planning","passed":true,"stop_reason":null,"latency_ms":null,"tokens":null,"cost_microdollars":null,"backend":null}}}`},
		{"positional envelope", `["e","t",null,"c",{"type":"FactPromoted","data":{"proposal_id":"p","fact_id":"f","promoted_by":"a","reason":"r","requires_human":false}}]`,
			`{"event_id":"e","occurred_at":"t","tenant_id":null,"correlation_id":"c","event":{"type":"FactPromoted","data":{"proposal_id":"p","fact_id":"f","promoted_by":"a","reason":"r","requires_human":false}}}`},
		{"adjacent seq form", `{"event_id":"e","occurred_at":"t","event":["FactPromoted",{"proposal_id":"p","fact_id":"f","promoted_by":"a","reason":"r","requires_human":false}]}`,
			`{"event_id":"e","occurred_at":"t","tenant_id":null,"correlation_id":null,"event":{"type":"FactPromoted","data":{"proposal_id":"p","fact_id":"f","promoted_by":"a","reason":"r","requires_human":false}}}`},
		{"struct variant as seq", outcome(`,"stop_reason":{"CycleBudgetExhausted":[3,4]},"metadata":{"b":"2","a":"1"}`),
			`{"event_id":"e","occurred_at":"t","tenant_id":null,"correlation_id":null,"event":{"type":"OutcomeRecorded","data":{"chain_id":"c","step":"Planning","passed":true,"stop_reason":{"CycleBudgetExhausted":{"cycles_executed":3,"limit":4}},"latency_ms":null,"tokens":null,"cost_microdollars":null,"backend":null,"metadata":{"a":"1","b":"2"}}}}`},
		{"u32 max and f64 integer", hypo(`,"confidence":-3,"resolved_cycle":4294967295`),
			`{"event_id":"e","occurred_at":"t","tenant_id":null,"correlation_id":null,"event":{"type":"HypothesisResolved","data":{"chain_id":"c","fact_id":"f","domain":"d","claim":"x","confidence":-3.0,"outcome":"Confirmed","formed_cycle":1,"resolved_cycle":4294967295}}}`},
		{"contradiction null", hypo(`,"confidence":0.5,"resolved_cycle":2,"contradiction_id":null`),
			`{"event_id":"e","occurred_at":"t","tenant_id":null,"correlation_id":null,"event":{"type":"HypothesisResolved","data":{"chain_id":"c","fact_id":"f","domain":"d","claim":"x","confidence":0.5,"outcome":"Confirmed","formed_cycle":1,"resolved_cycle":2}}}`},
	}
	for _, c := range good {
		e, err := UnmarshalEnvelopeJSON([]byte(c.in))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		out, err := MarshalEnvelopeJSON(e)
		if err != nil {
			t.Errorf("%s: encode: %v", c.name, err)
			continue
		}
		if string(out) != c.canon {
			t.Errorf("%s:\n got %s\nwant %s", c.name, out, c.canon)
		}
	}
}

func TestEncodeRejectsInvalidValues(t *testing.T) {
	base := func() ExperienceEventEnvelope {
		return ExperienceEventEnvelope{EventID: "e", OccurredAt: "t", Event: &BackendInvoked{BackendName: "b", TraceLinkID: "tl", Step: DecisionStepPlanning}}
	}
	if _, err := MarshalEnvelopeJSON(base()); err != nil {
		t.Fatalf("valid envelope rejected: %v", err)
	}
	cases := map[string]ExperienceEventEnvelope{}
	e := base()
	e.Event = nil
	cases["nil event"] = e
	e = base()
	e.Event = BackendInvoked{BackendName: "b", Step: DecisionStepPlanning} // value, not pointer
	cases["value event"] = e
	e = base()
	e.Event = &BackendInvoked{Step: "planning"}
	cases["bad enum"] = e
	e = base()
	e.Event = &OutcomeRecorded{Step: DecisionStepPlanning, StopReason: &StopReason{Kind: "Nope"}}
	cases["bad stop reason"] = e
	e = base()
	e.Event = &ProposalCreated{Step: DecisionStepPlanning, Proposal: KernelProposal{Kind: ProposalKindPlan, TraceLink: ReplayTrace{Type: "Hybrid"}}}
	cases["bad trace type"] = e
	e = base()
	e.Event = &ProposalCreated{Step: DecisionStepPlanning, Proposal: KernelProposal{Kind: ProposalKindPlan, StructuredPayload: RawJSON(`{"a":`), TraceLink: ReplayTrace{Type: ReplayTraceRemote}}}
	cases["bad raw json"] = e
	for name, env := range cases {
		if b, err := MarshalEnvelopeJSON(env); err == nil {
			t.Errorf("%s: encoded %s", name, b)
		}
	}
}

func TestStructuredPayloadPreservesOrder(t *testing.T) {
	env := ExperienceEventEnvelope{EventID: "e", OccurredAt: "t", Event: &ProposalCreated{
		Proposal: KernelProposal{ID: "p", Kind: ProposalKindClaims, StructuredPayload: RawJSON(` {"z" : 1, "a":[1E2, "\u00e9"], "m":{}} `),
			TraceLink: ReplayTrace{Type: ReplayTraceRemote, Remote: &RemoteReplayTrace{Replayability: ReplayabilityNone}}},
		ChainID: "c", Step: DecisionStepReasoning,
	}}
	b, err := MarshalEnvelopeJSON(env)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"structured_payload":{"z":1,"a":[100.0,"é"],"m":{}}`)) {
		t.Fatalf("payload not canonical/ordered: %s", b)
	}
	back, err := UnmarshalEnvelopeJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(back.Event.(*ProposalCreated).Proposal.StructuredPayload); got != `{"z":1,"a":[100.0,"é"],"m":{}}` {
		t.Fatalf("decoded payload %s", got)
	}
}

func TestJSONMethods(t *testing.T) {
	h := ContentHash{0xab, 0x01}
	b, err := h.MarshalJSON()
	if err != nil || string(b) != `"ab01`+strings.Repeat("0", 60)+`"` {
		t.Fatalf("hash: %s %v", b, err)
	}
	var h2 ContentHash
	if err := h2.UnmarshalJSON([]byte(strings.ToUpper(string(b)))); err != nil || h2 != h {
		t.Fatalf("hash back: %v %v", h2, err)
	}
	if err := h2.UnmarshalJSON([]byte(`"abc"`)); err == nil {
		t.Fatal("short hash accepted")
	}
	k := ArtifactKind{Kind: ArtifactKindOther, Other: "x"}
	b, _ = k.MarshalJSON()
	var k2 ArtifactKind
	if string(b) != `{"Other":"x"}` || k2.UnmarshalJSON(b) != nil || k2 != k {
		t.Fatalf("artifact kind: %s %v", b, k2)
	}
	if err := k2.UnmarshalJSON([]byte(`"Other"`)); err == nil {
		t.Fatal("unit Other accepted")
	}
	var r BudgetResource
	if err := r.UnmarshalJSON([]byte(`"Tokens"`)); err != nil || r != (BudgetResource{Kind: BudgetTokens}) {
		t.Fatalf("budget: %v %v", r, err)
	}
	g := GateVerdict{Kind: GateReject}
	if b, _ := g.MarshalJSON(); string(b) != `{"Reject":{"reason":null}}` {
		t.Fatalf("verdict %s", b)
	}
	var q EventQuery
	if err := q.UnmarshalJSON([]byte(`{"kinds":["GateDecisionRecorded"],"limit":0}`)); err != nil || len(q.Kinds) != 1 || q.Limit == nil || *q.Limit != 0 {
		t.Fatalf("query: %+v %v", q, err)
	}
	var raw RawJSON
	if err := raw.UnmarshalJSON([]byte(`null`)); err != nil || raw != nil {
		t.Fatalf("raw null: %v %v", raw, err)
	}
}
