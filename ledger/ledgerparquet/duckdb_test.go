package ledgerparquet_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgerparquet"
)

// duckDBNodeAPI is the exact npm package the interop check installs.
const duckDBNodeAPI = "@duckdb/node-api@1.5.6-r.1"

// TestDuckDBInterop reads a Parquet export with DuckDB, an engine nobody
// here wrote (through its Node.js client), and checks that its per-kind
// aggregates equal the same aggregates computed here from the JSON lines
// export of the same ledger. Where node or npm is missing, or the package
// cannot be installed, it skips with the reason (EXLEDGER_REQUIRE_DUCKDB=1
// turns those skips into failures).
func TestDuckDBInterop(t *testing.T) {
	if testing.Short() {
		t.Skip("DuckDB interop check skipped in -short mode")
	}
	modDir := duckDBModules(t)
	l, envs := newLedger(t, 5000)
	dir := t.TempDir()
	pq := filepath.Join(dir, "events.parquet")
	f, err := os.Create(pq)
	if err != nil {
		t.Fatal(err)
	}
	// Several row groups, so DuckDB reads more than one.
	if _, err := ledgerparquet.Export(context.Background(), l, ledger.EventQuery{}, f, ledgerparquet.Options{RowGroupRows: 1500}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	var jl bytes.Buffer
	if _, err := ledger.ExportJSONL(context.Background(), l, ledger.EventQuery{}, &jl); err != nil {
		t.Fatal(err)
	}
	want := aggregatesFromJSONL(t, jl.Bytes())

	duckDBCompare(t, modDir, pq, "", want)

	// The other codecs of --compression read the same.
	for _, name := range []string{"snappy", "none"} {
		c, err := ledgerparquet.ParseCompression(name)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "events-"+name+".parquet")
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ledgerparquet.Export(context.Background(), l, ledger.EventQuery{}, f, ledgerparquet.Options{RowGroupRows: 1500, Compression: c}); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		duckDBCompare(t, modDir, p, "", aggregatesFromJSONL(t, jl.Bytes()))
	}

	// A partitioned export read as one table with hive_partitioning gives
	// the same aggregates (tenant_id then comes from the directory names,
	// NULL from __HIVE_DEFAULT_PARTITION__), and every date directory is
	// its rows' UTC date. By date with one open file, so a date has
	// several part files.
	for _, by := range []ledgerparquet.Partition{ledgerparquet.ByTenant, ledgerparquet.ByDate} {
		root := filepath.Join(dir, by.String())
		create := func(p string) (io.WriteCloser, error) {
			full := filepath.Join(root, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
				return nil, err
			}
			return os.Create(full)
		}
		o := ledgerparquet.Options{RowGroupRows: 700}
		if by == ledgerparquet.ByDate {
			o.MaxOpenPartitions = 1
		}
		if _, err := ledgerparquet.ExportPartitioned(context.Background(), l, ledger.EventQuery{}, by, create, o); err != nil {
			t.Fatal(err)
		}
		glob := filepath.Join(root, "*", "*.parquet")
		if by == ledgerparquet.ByTenant {
			duckDBCompare(t, modDir, glob, "hive-tenant", aggregatesFromJSONL(t, jl.Bytes()))
			continue
		}
		raw := duckDBCompare(t, modDir, glob, "hive-date", aggregatesFromJSONL(t, jl.Bytes()))
		var got struct {
			Rows           string
			DateMismatches string `json:"date_mismatches"`
			Dates          string
			DateType       string `json:"date_type"`
		}
		if err := json.Unmarshal(raw["dates"], &got); err != nil {
			t.Fatalf("dates %s: %v", raw["dates"], err)
		}
		dates := map[string]bool{}
		for _, e := range envs {
			if ts, err := time.Parse(time.RFC3339Nano, string(e.OccurredAt)); err == nil {
				dates[ts.UTC().Format(time.DateOnly)] = true
			}
		}
		if got.Rows != strconv.Itoa(len(envs)) || got.DateMismatches != "0" || got.Dates != strconv.Itoa(len(dates)) || got.DateType != "DATE" {
			t.Errorf("DuckDB over the date partitions: %+v; want %d rows, 0 mismatches, %d dates", got, len(envs), len(dates))
		}
	}
}

// duckDBCompare runs aggregate.cjs over path (mode "" for one file, or
// hive-tenant / hive-date for a partitioned directory's glob) and checks
// DuckDB's per-kind aggregates against want; it returns DuckDB's whole
// output.
func duckDBCompare(t *testing.T, modDir, path, mode string, want map[string]map[string]any) map[string]json.RawMessage {
	t.Helper()
	script, err := filepath.Abs(filepath.Join("testdata", "duckdb", "aggregate.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := []string{script, path}
	if mode != "" {
		args = append(args, mode)
	}
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Env = append(os.Environ(), "EXLEDGER_DUCKDB_DIR="+modDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node aggregate.cjs: %v\n%s", err, stderr.String())
	}
	var got struct {
		DuckDB string           `json:"duckdb"`
		Kinds  []map[string]any `json:"kinds"`
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("DuckDB output %q: %v", out, err)
	}
	if err := json.Unmarshal(out, &raw); err != nil {
		t.Fatalf("DuckDB output %q: %v", out, err)
	}
	t.Logf("DuckDB %s read %d kinds", got.DuckDB, len(got.Kinds))
	if len(got.Kinds) != len(want) || len(want) != len(ledger.AllKinds) {
		t.Fatalf("DuckDB saw %d kinds, JSONL has %d (want all %d)", len(got.Kinds), len(want), len(ledger.AllKinds))
	}
	for _, row := range got.Kinds {
		kind, _ := row["kind"].(string)
		w, ok := want[kind]
		if !ok {
			t.Errorf("DuckDB kind %q is not in the JSONL export", kind)
			continue
		}
		for col, wv := range w {
			gv, ok := row[col]
			if !ok {
				t.Errorf("%s: DuckDB output lacks %s", kind, col)
				continue
			}
			switch wv := wv.(type) {
			case float64:
				g, ok := gv.(float64)
				if !ok || math.Abs(g-wv) > 1e-9*math.Max(1, math.Abs(wv)) {
					t.Errorf("%s.%s: DuckDB %v, JSONL %v", kind, col, gv, wv)
				}
			default:
				if fmt.Sprint(gv) != fmt.Sprint(wv) {
					t.Errorf("%s.%s: DuckDB %v, JSONL %v", kind, col, gv, wv)
				}
			}
		}
		delete(want, kind)
	}
	return raw
}

// aggregatesFromJSONL computes, per kind, the aggregates aggregate.cjs
// asks DuckDB for, from the JSON lines export alone (encoding/json, not
// the exporter's code). Integers are decimal strings, as DuckDB prints
// them after the casts; doubles are float64.
func aggregatesFromJSONL(t *testing.T, jsonl []byte) map[string]map[string]any {
	t.Helper()
	type acc struct {
		events, sumSeq, maxSeq, withTenant, withCorr, withChain, withTrace, withArtifact int64
		withTS, withPassed, passed, withLimit, jsonBytes, jsonChars                      int64
		tenants                                                                          map[string]bool
		minUS, maxUS                                                                     *int64
		maxRaw                                                                           string
		latency, tokens, cost                                                            big.Int
		sumLimit, maxObserved, sumConfidence                                             float64
		hasObserved                                                                      bool
	}
	accs := map[string]*acc{}
	sc := bufio.NewScanner(bytes.NewReader(jsonl))
	sc.Buffer(nil, 1<<24)
	seq := int64(0)
	for sc.Scan() {
		seq++
		line := sc.Bytes()
		var env struct {
			OccurredAt    string          `json:"occurred_at"`
			TenantID      *string         `json:"tenant_id"`
			CorrelationID *string         `json:"correlation_id"`
			Event         json.RawMessage `json:"event"`
		}
		if err := json.Unmarshal(line, &env); err != nil {
			t.Fatal(err)
		}
		var ev struct {
			Type string                     `json:"type"`
			Data map[string]json.RawMessage `json:"data"`
		}
		if err := json.Unmarshal(env.Event, &ev); err != nil {
			t.Fatal(err)
		}
		a := accs[ev.Type]
		if a == nil {
			a = &acc{tenants: map[string]bool{}}
			accs[ev.Type] = a
		}
		d := ev.Data
		field := func(path ...string) json.RawMessage {
			m := d
			for _, p := range path[:len(path)-1] {
				var sub map[string]json.RawMessage
				if json.Unmarshal(m[p], &sub) != nil {
					return nil
				}
				m = sub
			}
			if v := m[path[len(path)-1]]; v != nil && string(v) != "null" {
				return v
			}
			return nil
		}
		addInt := func(dst *big.Int, raw json.RawMessage) {
			if raw != nil {
				v, ok := new(big.Int).SetString(string(raw), 10)
				if !ok {
					t.Fatalf("not an integer: %s", raw)
				}
				dst.Add(dst, v)
			}
		}
		number := func(raw json.RawMessage) (float64, bool) {
			var s string
			if raw == nil || json.Unmarshal(raw, &s) != nil {
				return 0, false
			}
			var f float64
			if v := s; v == "" || strings.TrimSpace(v) != v || v[0] == 'n' || json.Unmarshal([]byte(v), &f) != nil {
				return 0, false
			}
			return f, true
		}
		a.events++
		a.sumSeq += seq
		a.maxSeq = max(a.maxSeq, seq)
		if env.TenantID != nil {
			a.withTenant++
			a.tenants[*env.TenantID] = true
		}
		if env.CorrelationID != nil {
			a.withCorr++
		}
		switch ev.Type {
		case "ProposalCreated", "ProposalValidated", "OutcomeRecorded", "BudgetExceeded", "HypothesisResolved":
			a.withChain++
		case "ReplayTraceRecorded", "ReplayabilityDowngraded", "BackendInvoked":
			a.withTrace++
		case "RecallExecuted":
			if field("trace_link_id") != nil {
				a.withTrace++
			}
		case "ArtifactStateTransitioned", "ArtifactRollbackRecorded":
			a.withArtifact++
		}
		if ts, err := time.Parse(time.RFC3339Nano, env.OccurredAt); err == nil {
			a.withTS++
			us := ts.UnixMicro()
			if a.minUS == nil || us < *a.minUS {
				a.minUS = &us
			}
			if a.maxUS == nil || us > *a.maxUS {
				a.maxUS = &us
			}
		}
		a.maxRaw = max(a.maxRaw, env.OccurredAt)
		switch ev.Type {
		case "OutcomeRecorded", "ProposalValidated":
			p := field("passed")
			if ev.Type == "ProposalValidated" {
				p = field("all_passed")
			}
			a.withPassed++
			if string(p) == "true" {
				a.passed++
			}
		}
		switch ev.Type {
		case "OutcomeRecorded":
			addInt(&a.latency, field("latency_ms"))
			addInt(&a.tokens, field("tokens"))
			addInt(&a.cost, field("cost_microdollars"))
		case "RecallExecuted":
			addInt(&a.latency, field("provenance", "latency_ms"))
		case "BudgetExceeded":
			if f, ok := number(field("limit")); ok {
				a.withLimit++
				a.sumLimit += f
			}
			if f, ok := number(field("observed")); ok && (!a.hasObserved || f > a.maxObserved) {
				a.maxObserved, a.hasObserved = f, true
			}
		case "HypothesisResolved":
			f, _ := strconv.ParseFloat(string(field("confidence")), 64)
			a.sumConfidence += f
		case "ProposalCreated":
			if c := field("proposal", "confidence"); c != nil {
				f, err := strconv.ParseFloat(string(c), 32)
				if err != nil {
					t.Fatal(err)
				}
				a.sumConfidence += f
			}
		}
		a.jsonBytes += int64(len(env.Event))
		a.jsonChars += int64(utf8.RuneCount(env.Event))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	out := map[string]map[string]any{}
	for kind, a := range accs {
		m := map[string]any{
			"events": i(a.events), "max_seq": i(a.maxSeq), "sum_seq": i(a.sumSeq),
			"with_tenant": i(a.withTenant), "tenants": i(int64(len(a.tenants))),
			"with_correlation": i(a.withCorr), "with_chain": i(a.withChain),
			"with_trace_link": i(a.withTrace), "with_artifact": i(a.withArtifact),
			"with_timestamp": i(a.withTS), "max_occurred_raw": a.maxRaw,
			"with_passed": i(a.withPassed), "passed": i(a.passed),
			"sum_latency_ms": a.latency.String(), "sum_tokens": a.tokens.String(),
			"sum_cost_microdollars": a.cost.String(),
			"with_budget_limit":     i(a.withLimit), "sum_budget_limit": a.sumLimit,
			"max_budget_observed": a.maxObserved, "sum_confidence": a.sumConfidence,
			"event_json_bytes": i(a.jsonBytes), "event_json_chars": i(a.jsonChars),
			"json_type_matches": i(a.events),
		}
		if a.minUS != nil {
			m["min_occurred_us"], m["max_occurred_us"] = i(*a.minUS), i(*a.maxUS)
		} else {
			m["min_occurred_us"], m["max_occurred_us"] = nil, nil
		}
		out[kind] = m
	}
	return out
}

// duckDBModules returns a directory whose node_modules holds
// duckDBNodeAPI, installing it with npm on first use into a cache under
// the system temp dir (shared by later runs). It skips the test where node
// or npm is missing or the install fails.
func duckDBModules(t *testing.T) string {
	t.Helper()
	skip := func(format string, args ...any) {
		t.Helper()
		msg := "DuckDB interop check skipped: " + fmt.Sprintf(format, args...)
		if os.Getenv("EXLEDGER_REQUIRE_DUCKDB") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			skip("%s not found on PATH (install Node.js 18+ with npm to run it)", tool)
		}
	}
	name := strings.NewReplacer("@", "-", "/", "-").Replace(strings.TrimPrefix(duckDBNodeAPI, "@"))
	cache := filepath.Join(os.TempDir(), "exledger-npm-cache", name)
	marker := filepath.Join(cache, "node_modules", "@duckdb", "node-api", "package.json")
	if _, err := os.Stat(marker); err == nil {
		return cache
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o755); err != nil {
		skip("cache dir: %v", err)
	}
	var lastErr error
	for attempt := 1; attempt <= 2; attempt++ {
		tmp, err := os.MkdirTemp(filepath.Dir(cache), name+".tmp-")
		if err != nil {
			skip("cache dir: %v", err)
		}
		lastErr = npmInstall(tmp)
		if lastErr == nil {
			// Another run may have won the race; either copy will do.
			if err := os.Rename(tmp, cache); err != nil {
				os.RemoveAll(tmp)
			}
			if _, err := os.Stat(marker); err == nil {
				return cache
			}
			lastErr = fmt.Errorf("installed, but %s is missing", marker)
		}
		os.RemoveAll(tmp)
		t.Logf("npm install %s (attempt %d): %v", duckDBNodeAPI, attempt, lastErr)
	}
	skip("npm install %s failed: %v", duckDBNodeAPI, lastErr)
	return ""
}

func npmInstall(dir string) error {
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"private":true}`+"\n"), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--no-package-lock",
		"--save-exact", "--loglevel=error", duckDBNodeAPI)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			err = ctx.Err()
		}
		return fmt.Errorf("%v: %s", err, bytes.TrimSpace(out))
	}
	return nil
}
