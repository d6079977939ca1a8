package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// makeVectorLedger writes n workload events, every other one with a
// 4-dimensional vector, into a new ledger (some sealed, a WAL tail).
func makeVectorLedger(t *testing.T, n int) (string, []ledger.VectorEvent) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "vl")
	o := testOpts()
	o.SegmentBytes = 32 << 10
	o.EmbeddingDim = 4
	l, err := ledger.Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	g := workload.New(workload.Config{Seed: 3, OutlierRate: -1, Tenants: 3})
	var all []ledger.VectorEvent
	ctx := context.Background()
	for _, e := range g.Batch(n) {
		i := len(all)
		ve := ledger.VectorEvent{Envelope: e}
		if i%2 == 0 {
			ve.Vector = []float32{float32(i%7) + 1, float32(i%5) - 2, 0.25, -float32(i % 3)}
			if err := l.AppendVectorEvents(ctx, []ledger.VectorEvent{ve}); err != nil {
				t.Fatal(err)
			}
		} else if err := l.AppendEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
		all = append(all, ve)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, all
}

func TestSimilarCommand(t *testing.T) {
	dir, all := makeVectorLedger(t, 400)
	tenant := *all[0].Envelope.TenantID
	out := runCLI(t, nil, "similar", dir, "--vector", "[1,-2,0.25,0]", "--tenant", string(tenant), "--limit", "5").must(t, 0).stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	prev := -1.0
	for _, ln := range lines {
		var x struct {
			TenantID string  `json:"tenant_id"`
			Distance float64 `json:"distance"`
		}
		if err := json.Unmarshal([]byte(ln), &x); err != nil {
			t.Fatalf("%v: %s", err, ln)
		}
		if x.TenantID != string(tenant) || x.Distance < prev {
			t.Fatalf("line %s (tenant %s, previous distance %v)", ln, tenant, prev)
		}
		prev = x.Distance
		if _, err := ledger.UnmarshalEnvelopeJSON([]byte(ln)); err != nil {
			t.Fatalf("a result line is not an envelope: %v", err)
		}
	}
	r := runCLI(t, nil, "similar", dir, "--vector", "[1,2]").must(t, 1)
	if !strings.Contains(r.stderr, "Invalid query: query vector dimension mismatch: expected 4, got 2") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	runCLI(t, nil, "similar", dir, "--vector", "nope").must(t, 2)
	runCLI(t, nil, "similar", dir).must(t, 2)
	st := runCLI(t, nil, "stat", "--no-counts", dir).must(t, 0).stdout
	if !strings.Contains(st, "200 of dimension 4") {
		t.Fatalf("stat does not show the vectors:\n%s", st)
	}
	var sj statJSON
	if err := json.Unmarshal([]byte(runCLI(t, nil, "stat", "-o", "json", "--no-counts", dir).must(t, 0).stdout), &sj); err != nil {
		t.Fatal(err)
	}
	if sj.EmbeddingDim != 4 || sj.Vectors != 200 || sj.VectorBytes == 0 {
		t.Fatalf("stat json: dim %d vectors %d bytes %d", sj.EmbeddingDim, sj.Vectors, sj.VectorBytes)
	}
}

func TestExportImportVectors(t *testing.T) {
	dir, all := makeVectorLedger(t, 300)
	exp := runCLI(t, nil, "export", "--vectors", dir).must(t, 0).stdout
	sc := bufio.NewScanner(strings.NewReader(exp))
	sc.Buffer(nil, 1<<20)
	i := 0
	for sc.Scan() {
		var x struct {
			EventID string     `json:"event_id"`
			Vector  *[]float32 `json:"vector"`
		}
		if err := json.Unmarshal(sc.Bytes(), &x); err != nil {
			t.Fatal(err)
		}
		want := all[i].Vector
		if x.EventID != string(all[i].Envelope.EventID) || (x.Vector == nil) != (want == nil) || (want != nil && fmt.Sprint(*x.Vector) != fmt.Sprint(want)) {
			t.Fatalf("line %d: %s", i+1, sc.Text())
		}
		i++
	}
	if i != len(all) {
		t.Fatalf("%d lines, want %d", i, len(all))
	}
	// Without --vectors the export is what it always was.
	plain := runCLI(t, nil, "export", dir).must(t, 0).stdout
	if strings.Contains(plain, `"vector"`) {
		t.Fatal("a plain export carries vectors")
	}
	// Import needs a dimension for lines with vectors.
	dst := filepath.Join(t.TempDir(), "copy")
	r := runCLI(t, strings.NewReader(exp), "import", dst, "-").must(t, 1)
	if !strings.Contains(r.stderr, "no embedding dimension") {
		t.Fatalf("stderr: %s", r.stderr)
	}
	dst = filepath.Join(t.TempDir(), "copy2")
	runCLI(t, strings.NewReader(exp), "import", "--embedding-dim", "4", dst, "-").must(t, 0)
	again := runCLI(t, nil, "export", "--vectors", dst).must(t, 0).stdout
	if again != exp {
		t.Fatal("export --vectors of the imported copy differs from the original's")
	}
	q := []string{"--vector", "[2,0,0.25,-1]", "--limit", "20"}
	a := runCLI(t, nil, append([]string{"similar", dir}, q...)...).must(t, 0).stdout
	b := runCLI(t, nil, append([]string{"similar", dst}, q...)...).must(t, 0).stdout
	if a != b || strings.Count(a, "\n") != 20 {
		t.Fatalf("search answers differ after export/import:\n%s\n---\n%s", a, b)
	}
}
