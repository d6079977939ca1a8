package ledgerparquet

import (
	"encoding/json"
	"testing"
)

// TestParseNumber: budget limits become numbers exactly when they are JSON
// numbers that are finite as a float64 (encoding/json is the reference).
func TestParseNumber(t *testing.T) {
	for _, s := range []string{
		"0", "-0", "1", "-1", "10", "1.5", "-0.25", "1e3", "1E+3", "2e-3", "123456789012345678901234567890",
		"1e308", "1e309", "-1e999", "", "-", "+1", "01", "1.", ".5", "1e", "1e+", "0x10", "1_000", " 5", "5 ",
		"NaN", "Inf", "-inf", "infinity", "1.5.2", "--1", "1e3.5", "٣", "0.0000001", "5e-324", "1e-400",
	} {
		want, wantOK := jsonNumber(s)
		got, ok := parseNumber(s)
		if ok != wantOK || (ok && got != want) {
			t.Errorf("parseNumber(%q) = %v, %v; encoding/json: %v, %v", s, got, ok, want, wantOK)
		}
	}
}

// FuzzParseNumber checks parseNumber against encoding/json on any input.
func FuzzParseNumber(f *testing.F) {
	for _, s := range []string{"1", "-0.5e-3", "1e999", "NaN", "0x1p3", "1_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, wantOK := jsonNumber(s)
		got, ok := parseNumber(s)
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("parseNumber(%q) = %v, %v; encoding/json: %v, %v", s, got, ok, want, wantOK)
		}
	})
}

// jsonNumber is the oracle: s is one JSON number, nothing around it, that
// encoding/json decodes into a float64 (finite: it rejects overflow).
func jsonNumber(s string) (float64, bool) {
	var f float64
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) || s[len(s)-1] < '0' || s[len(s)-1] > '9' {
		return 0, false
	}
	if json.Unmarshal([]byte(s), &f) != nil {
		return 0, false
	}
	return f, true
}
