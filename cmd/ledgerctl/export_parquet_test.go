package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgerparquet"
)

func readParquet(t *testing.T, b []byte) []ledgerparquet.Row {
	t.Helper()
	rows, err := parquet.Read[ledgerparquet.Row](bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// TestExportParquet: export --format parquet to a file and to stdout holds
// the same events as the JSON lines export, in the same order; the
// filters apply; bad flags are usage errors.
func TestExportParquet(t *testing.T) {
	dir, evs := makeLedger(t, 2500, 19)
	file := filepath.Join(t.TempDir(), "events.parquet")
	r := runCLI(t, nil, "export", dir, "--format", "parquet", "--file", file).must(t, exitOK)
	if !strings.Contains(r.stdout, "exported 2,500 events to "+file+" (parquet)") {
		t.Errorf("summary: %q", r.stdout)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := os.ReadDir(filepath.Dir(file)); len(names) != 1 {
		t.Errorf("temporary file left behind: %v", names)
	}
	rows := readParquet(t, b)
	lines := strings.Split(strings.TrimSuffix(toJSONL(t, evs), "\n"), "\n")
	if len(rows) != len(evs) || len(lines) != len(evs) {
		t.Fatalf("%d rows, %d lines, want %d", len(rows), len(lines), len(evs))
	}
	for i, row := range rows {
		if row.Seq != int64(i+1) || row.EventID != string(evs[i].EventID) || row.Kind != string(evs[i].Kind()) {
			t.Fatalf("row %d: seq %d id %s kind %s", i, row.Seq, row.EventID, row.Kind)
		}
		if !strings.HasSuffix(lines[i], `,"event":`+row.EventJSON+"}") {
			t.Fatalf("row %d: event_json is not the JSON line's event", i)
		}
	}
	if out := runCLI(t, nil, "export", dir, "--format", "parquet").must(t, exitOK).stdout; out != string(b) {
		t.Fatal("parquet export to stdout differs from the file")
	}
	r = runCLI(t, nil, "export", dir, "--format", "parquet", "--out", file, "-o", "json").must(t, exitOK)
	var rep struct {
		Events uint64
		Format string
	}
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || rep.Events != 2500 || rep.Format != "parquet" {
		t.Fatalf("json summary %q: %v", r.stdout, err)
	}

	// Filters select the same events as the JSON lines export.
	tenant := string(*evs[0].TenantID)
	jl := runCLI(t, nil, "export", dir, "--tenant", tenant, "--kind", "OutcomeRecorded", "--kind", "BudgetExceeded").must(t, exitOK).stdout
	pq := runCLI(t, nil, "export", dir, "--format", "parquet", "--tenant", tenant, "--kind", "OutcomeRecorded", "--kind", "BudgetExceeded").must(t, exitOK).stdout
	frows := readParquet(t, []byte(pq))
	flines := strings.Split(strings.TrimSuffix(jl, "\n"), "\n")
	if len(frows) == 0 || len(frows) != len(flines) {
		t.Fatalf("filtered: %d rows, %d lines", len(frows), len(flines))
	}
	for i, row := range frows {
		env, err := ledger.UnmarshalEnvelopeJSON([]byte(flines[i]))
		if err != nil {
			t.Fatal(err)
		}
		if row.EventID != string(env.EventID) || row.TenantID == nil || *row.TenantID != tenant {
			t.Fatalf("filtered row %d: %s, want %s", i, row.EventID, env.EventID)
		}
	}

	// --compression picks the codec of every column chunk; the rows are
	// the same.
	for name, codec := range map[string]format.CompressionCodec{"zstd": format.Zstd, "snappy": format.Snappy, "none": format.Uncompressed} {
		out := runCLI(t, nil, "export", dir, "--format", "parquet", "--compression", name).must(t, exitOK).stdout
		pf, err := parquet.OpenFile(strings.NewReader(out), int64(len(out)))
		if err != nil {
			t.Fatalf("--compression %s: %v", name, err)
		}
		for _, rg := range pf.Metadata().RowGroups {
			for _, c := range rg.Columns {
				if c.MetaData.Codec != codec {
					t.Fatalf("--compression %s: column %v codec %v", name, c.MetaData.PathInSchema, c.MetaData.Codec)
				}
			}
		}
		crows := readParquet(t, []byte(out))
		if !reflect.DeepEqual(crows, rows) {
			t.Fatalf("--compression %s: %d rows differ from the default export's", name, len(crows))
		}
	}
	runCLI(t, nil, "export", dir, "--format", "parquet", "--compression", "lz4").must(t, exitUsage)
	runCLI(t, nil, "export", dir, "--compression", "snappy").must(t, exitUsage)

	runCLI(t, nil, "export", dir, "--format", "csv").must(t, exitUsage)
	runCLI(t, nil, "export", dir, "--file", "a", "--out", "b").must(t, exitUsage)
	// A failed export leaves no file behind.
	bad := filepath.Join(t.TempDir(), "missing-dir", "x.parquet")
	runCLI(t, nil, "export", dir, "--format", "parquet", "--file", bad).must(t, exitError)
	if _, err := os.Stat(bad); err == nil {
		t.Fatal("file created by a failed export")
	}
}

// TestExportParquetPartitioned: --partition-by writes a new directory of
// Hive-style partitions whose files together hold every event once, each
// in its partition's directory; misuse is a usage error and an existing
// directory is not touched.
func TestExportParquetPartitioned(t *testing.T) {
	dir, evs := makeLedger(t, 2500, 19)
	for _, by := range []string{"tenant", "date"} {
		out := filepath.Join(t.TempDir(), "events")
		r := runCLI(t, nil, "export", dir, "--format", "parquet", "--partition-by", by, "--file", out).must(t, exitOK)
		if !strings.Contains(r.stdout, "exported 2,500 events to "+out+" (parquet, ") || !strings.Contains(r.stdout, "partitioned by "+by) {
			t.Errorf("summary: %q", r.stdout)
		}
		if names, _ := os.ReadDir(filepath.Dir(out)); len(names) != 1 {
			t.Errorf("temporary directory left behind: %v", names)
		}
		parts, err := filepath.Glob(filepath.Join(out, "*", "part-*.parquet"))
		if err != nil || len(parts) < 2 {
			t.Fatalf("files %v: %v", parts, err)
		}
		seen := map[int64]bool{}
		for _, p := range parts {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			dirName := filepath.Base(filepath.Dir(p))
			for _, row := range readParquet(t, b) {
				if seen[row.Seq] {
					t.Fatalf("seq %d twice", row.Seq)
				}
				seen[row.Seq] = true
				ev := evs[row.Seq-1]
				want := ledgerparquet.HiveDefaultPartition
				switch {
				case by == "tenant" && ev.TenantID != nil:
					want = string(*ev.TenantID)
				case by == "date":
					if ts, err := time.Parse(time.RFC3339Nano, string(ev.OccurredAt)); err == nil {
						want = ts.UTC().Format(time.DateOnly)
					}
				}
				key := map[string]string{"tenant": "tenant_id", "date": "date"}[by]
				if dirName != key+"="+want {
					t.Fatalf("seq %d (%s) in %s", row.Seq, want, dirName)
				}
			}
		}
		if len(seen) != len(evs) {
			t.Fatalf("%d of %d events in the files", len(seen), len(evs))
		}
		// The directory exists now: a second export refuses to touch it.
		runCLI(t, nil, "export", dir, "--format", "parquet", "--partition-by", by, "--file", out).must(t, exitError)
	}
	runCLI(t, nil, "export", dir, "--partition-by", "tenant", "--file", t.TempDir()+"/x").must(t, exitUsage)
	runCLI(t, nil, "export", dir, "--format", "parquet", "--partition-by", "month", "--file", t.TempDir()+"/x").must(t, exitUsage)
	runCLI(t, nil, "export", dir, "--format", "parquet", "--partition-by", "tenant").must(t, exitUsage)
}
