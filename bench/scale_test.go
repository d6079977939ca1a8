package main

import (
	"strings"
	"testing"
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
