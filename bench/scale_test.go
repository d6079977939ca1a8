package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNearestPair: the tenant+kind pair whose count is nearest the target,
// never an untenanted one, ties broken by (tenant, kind) order.
func TestNearestPair(t *testing.T) {
	pair := map[[2]string]int{
		{"", "A"}:   100, // exact but untenanted: not expressible as tenant+kind
		{"t2", "A"}: 90,
		{"t1", "B"}: 110,
		{"t1", "A"}: 10,
	}
	if tn, k, n := nearestPair(pair, 100); tn != "t1" || k != "B" || n != 110 {
		t.Fatalf("nearest 100: %s %s %d, want t1 B 110 (tie with t2 A broken by order)", tn, k, n)
	}
	if tn, k, n := nearestPair(pair, 12); tn != "t1" || k != "A" || n != 10 {
		t.Fatalf("nearest 12: %s %s %d, want t1 A 10", tn, k, n)
	}
	if tn, _, n := nearestPair(map[[2]string]int{{"", "A"}: 5}, 5); tn != "" || n != 0 {
		t.Fatalf("only untenanted pairs: %q %d, want none", tn, n)
	}
}

// TestScaleReport: figures a result did not record (older runs' JSON, a
// child run with EXLEDGER_SCALE_NOSCAN=1) are shown as missing, not as
// zero, and a time-bounded scan says it covered a prefix.
func TestScaleReport(t *testing.T) {
	old := scaleResult{N: 1_000_000, OpenMs: 15, Sel01Ms: 23, Sel01N: 982, ScanN: 1_000_000, ScanSec: 8, ScanEventsPerSec: 125_000}
	noscan := scaleResult{N: 10_000_000, OpenMs: 63, OpenCPUMs: 30, Sel01Ms: 236, Sel01CPUMs: 58, Sel01N: 9715, Load1Start: 13.1, Load1End: 14}
	big := scaleResult{N: 100_000_000, OpenMs: 300, Sel01Ms: 2000, Sel01N: 100_000, ScanN: 90_000_000, ScanSec: 120, ScanEventsPerSec: 750_000, ScanCPUUs: 2.5, DataBytes: 17_000_000_000, IndexBytes: 1_900_000_000, DirBytes: 19_000_000_000}
	md := scaleReport([]scaleResult{old, noscan, big}, 0)
	rows := strings.Split(strings.TrimSpace(md), "\n")
	if len(rows) < 5 {
		t.Fatalf("report has %d lines:\n%s", len(rows), md)
	}
	for i, want := range []struct{ in, out string }{
		{"| 1M | – → – |", "0.00 µs"},               // no CPU recorded: not a zero figure
		{"| 10M | 13.1 → 14.0 |", "0.00M events/s"}, // no scan: "not run", not 0/s
		{"90M prefix", "| 0.0 + "},                  // bytes per event of the real sizes
	} {
		row := rows[2+i]
		if !strings.Contains(row, want.in) || strings.Contains(row, want.out) {
			t.Errorf("row %d: want %q and not %q in\n%s", i, want.in, want.out, row)
		}
	}
	if !strings.Contains(rows[3], "not run") || !strings.Contains(rows[3], "5.97 µs") {
		t.Errorf("10M row: want the scan 'not run' and 5.97 µs of CPU per result:\n%s", rows[3])
	}
}

// TestScaleReportFirstWarm: the 0.1% query's first run and warm median are
// reported apart, and the ratios compare first with first and warm with
// warm against the smallest size.
func TestScaleReportFirstWarm(t *testing.T) {
	small := scaleResult{N: 1_000_000, Sel01N: 1000, Sel01Ms: 2, Sel01FirstMs: 10, Sel01FirstCPUMs: 12, Sel01WarmMs: 2, Sel01WarmCPUMs: 3, Sel01WarmRuns: 5, Sel01FirstReadMB: 1.5, Sel01FirstMisses: 40, Sel01WarmHits: 40, ReadOnly: true, PageCache: "dropped"}
	big := scaleResult{N: 100_000_000, Sel01N: 100_000, Sel01Ms: 300, Sel01FirstMs: 1500, Sel01FirstCPUMs: 2400, Sel01WarmMs: 300, Sel01WarmCPUMs: 900, Sel01WarmRuns: 5, ReadOnly: true}
	md := scaleReport([]scaleResult{small, big}, 0)
	for _, want := range []string{
		"10.00 / 12.00 µs (1.5 MB; 0 / 40)",        // 1M first run per result
		"2.00 / 3.00 µs (0.0 MB; 40 / 0)",          // 1M warm per result
		"15.00 / 24.00 µs",                         // 100M first run per result
		"| 100M | 1.50× / 2.00× | 1.50× / 3.00× |", // first vs first, warm vs warm
		"1M: dropped, read-only Open; 100M: as left, read-only Open",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	// An older result (no first/warm split) gives no ratio row and shows
	// the split as missing.
	old := scaleResult{N: 10_000_000, Sel01N: 10_000, Sel01Ms: 20}
	md = scaleReport([]scaleResult{small, old}, 0)
	for _, ln := range strings.Split(md, "\n") {
		if strings.HasPrefix(ln, "| 10M |") && strings.Contains(ln, "×") {
			t.Errorf("older result got a ratio row: %s", ln)
		}
	}
	if !strings.Contains(md, "| – | – |") {
		t.Errorf("older result's first/warm columns not shown as missing:\n%s", md)
	}
}

// TestScaleProfilesDir: profiles go to the flag's directory, else beside
// the report, never beside a ledger.
func TestScaleProfilesDir(t *testing.T) {
	tmp := t.TempDir()
	if d, err := scaleProfilesDir(filepath.Join(tmp, "p"), filepath.Join(tmp, "r.md")); err != nil || d != filepath.Join(tmp, "p") {
		t.Fatalf("flag dir: %q %v", d, err)
	}
	if d, err := scaleProfilesDir("", filepath.Join(tmp, "r.md")); err != nil || d != filepath.Join(tmp, "r-profiles") {
		t.Fatalf("beside the report: %q %v", d, err)
	}
	if fi, err := os.Stat(filepath.Join(tmp, "r-profiles")); err != nil || !fi.IsDir() {
		t.Fatalf("not created: %v", err)
	}
}

// TestScaleChildReadOnly: the measuring child (in its -ledger-cold mode)
// leaves the ledger directory and its parent byte for byte as they were
// (names, sizes, modification times), writes its profiles into the
// profile directory, and reports the 0.1% query's first and warm runs.
func TestScaleChildReadOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a ledger")
	}
	tmp := t.TempDir()
	if err := scaleMain("20000", tmp, "", "", false, true, time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	snap := func() map[string]string {
		m := map[string]string{}
		filepath.WalkDir(tmp, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				t.Fatal(err)
			}
			fi, err := d.Info()
			if err != nil {
				t.Fatal(err)
			}
			if !d.IsDir() {
				m[p] = fmt.Sprintf("%d %v", fi.Size(), fi.ModTime().UnixNano())
			}
			return nil
		})
		return m
	}
	before := snap()
	prof := t.TempDir()
	oldDir, oldDrop := scaleProfDir, scaleDropCache
	scaleProfDir, scaleDropCache = prof, true
	defer func() { scaleProfDir, scaleDropCache = oldDir, oldDrop }()
	out := captureStdout(t, func() {
		if rc := scaleChild(filepath.Join(tmp, "ledger"), filepath.Join(tmp, "ledger.params.json")); rc != 0 {
			t.Fatalf("child exit %d", rc)
		}
	})
	if after := snap(); !maps.Equal(before, after) {
		t.Errorf("the child changed the ledger's directory:\nbefore %v\nafter  %v", before, after)
	}
	j, ok := strings.CutPrefix(strings.TrimSpace(out[strings.LastIndex(out, "RESULT "):]), "RESULT ")
	if !ok {
		t.Fatalf("no RESULT line in %q", out)
	}
	var r scaleResult
	if err := json.Unmarshal([]byte(j), &r); err != nil {
		t.Fatal(err)
	}
	if !r.ReadOnly || r.PageCache != "dropped" || r.Sel01WarmRuns != sel01WarmRuns || r.Sel01FirstMs <= 0 || r.Sel01WarmMs <= 0 || r.Sel01FirstMisses == 0 {
		t.Errorf("result: %+v", r)
	}
	// Named after the ledger's directory and its size ("ledger-n20000"),
	// the size not repeated when the name has it already.
	for _, f := range []string{"heap", "open.cpu", "q01-first.cpu", "q01-warm.cpu"} {
		p := filepath.Join(prof, fmt.Sprintf("ledger-n20000.%s.pprof", f))
		if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
			t.Errorf("profile %s: %v", p, err)
		}
	}
}

// captureStdout returns what fn printed to os.Stdout.
func captureStdout(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	done := make(chan []byte)
	go func() { b, _ := io.ReadAll(r); done <- b }()
	defer func() { os.Stdout = old }()
	fn()
	w.Close()
	os.Stdout = old
	return string(<-done)
}
