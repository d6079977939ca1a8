package ledger

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// corpusDir is the shared fixture corpus; the test is skipped when this
// checkout does not have it next to the module.
var corpusDir = filepath.Join("..", "..", "shared", "fixtures", "corpus", "public")

// Every envelope, query and trace in the reference corpus (whose HashMap
// keys are sorted, like ours) re-encodes to exactly the reference bytes.
func TestCorpusJSONByteExact(t *testing.T) {
	f, err := os.Open(filepath.Join(corpusDir, "ops.jsonl"))
	if err != nil {
		t.Skipf("corpus not available: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var envs int
	check := func(raw json.RawMessage) {
		e, err := UnmarshalEnvelopeJSON(raw)
		if err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
		out, err := MarshalEnvelopeJSON(e)
		if err != nil || !bytes.Equal(out, raw) {
			t.Fatalf("re-encode differs (%v)\nwant %s\n got %s", err, raw, out)
		}
		envs++
	}
	lines := 0
	for sc.Scan() {
		lines++
		var op struct {
			Op        string            `json:"op"`
			Envelope  json.RawMessage   `json:"envelope"`
			Envelopes []json.RawMessage `json:"envelopes"`
			Kind      json.RawMessage   `json:"artifact_kind"`
			Event     json.RawMessage   `json:"event"`
		}
		if err := json.Unmarshal(sc.Bytes(), &op); err != nil {
			t.Fatal(err)
		}
		switch op.Op {
		case "append":
			check(op.Envelope)
		case "append_batch":
			for _, e := range op.Envelopes {
				check(e)
			}
		case "artifact_transition":
			var k ArtifactKind
			var ev LifecycleEvent
			if err := k.UnmarshalJSON(op.Kind); err != nil {
				t.Fatal(err)
			}
			if err := ev.UnmarshalJSON(op.Event); err != nil {
				t.Fatal(err)
			}
			kb, _ := k.MarshalJSON()
			eb, _ := ev.MarshalJSON()
			if !bytes.Equal(kb, op.Kind) || !bytes.Equal(eb, op.Event) {
				t.Fatalf("transition args differ: %s %s", kb, eb)
			}
		default:
			t.Fatalf("unknown op %q", op.Op)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines != 5000 || envs < 5000 {
		t.Fatalf("read %d ops, %d envelopes", lines, envs)
	}

	qf, err := os.ReadFile(filepath.Join(corpusDir, "queries.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	nq := 0
	for _, line := range bytes.Split(bytes.TrimSpace(qf), []byte("\n")) {
		var q struct {
			Query json.RawMessage `json:"query"`
		}
		if err := json.Unmarshal(line, &q); err != nil {
			t.Fatal(err)
		}
		eq, err := UnmarshalEventQueryJSON(q.Query)
		if err != nil {
			t.Fatalf("query %s: %v", q.Query, err)
		}
		out, _ := MarshalEventQueryJSON(eq)
		if !bytes.Equal(out, q.Query) {
			t.Fatalf("query differs\nwant %s\n got %s", q.Query, out)
		}
		nq++
	}
	tf, err := os.ReadFile(filepath.Join(corpusDir, "trace_links.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	nt := 0
	for _, line := range bytes.Split(bytes.TrimSpace(tf), []byte("\n")) {
		var tl struct {
			Trace json.RawMessage `json:"trace_link"`
		}
		if err := json.Unmarshal(line, &tl); err != nil {
			t.Fatal(err)
		}
		if string(tl.Trace) == "null" {
			continue
		}
		tr, err := UnmarshalReplayTraceJSON(tl.Trace)
		if err != nil {
			t.Fatalf("trace %s: %v", tl.Trace, err)
		}
		out, _ := MarshalReplayTraceJSON(tr)
		if !bytes.Equal(out, tl.Trace) {
			t.Fatalf("trace differs\nwant %s\n got %s", tl.Trace, out)
		}
		nt++
	}
	if nq < 150 || nt < 50 {
		t.Fatalf("%d queries, %d traces", nq, nt)
	}
	t.Logf("%d envelopes, %d queries, %d traces byte-exact", envs, nq, nt)
}
