package main

import "testing"

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
