package ledger

import (
	"errors"
	"testing"

	"github.com/exledger/exledger/internal/corrupt"
)

func init() { registerFeature("test-only-feature") }

// The manifest feature list gates format extensions: a ledger naming a
// feature this code does not know is refused as newer, a version-1 manifest
// may not name features, and adding a feature raises the version to 2.
func TestManifestFeatures(t *testing.T) {
	base := func() *ledgerManifest {
		return &ledgerManifest{Version: formatVersionBase, LedgerID: "00", Salt: 1}
	}
	m := base()
	if m.hasFeature("test-only-feature") {
		t.Fatal("fresh manifest has a feature")
	}
	m.addFeature("test-only-feature")
	m.addFeature("test-only-feature")
	if m.Version != 2 || len(m.Features) != 1 || !m.hasFeature("test-only-feature") {
		t.Fatalf("after addFeature: version %d features %q", m.Version, m.Features)
	}
	c := m.clone()
	c.Features[0] = "changed"
	if m.Features[0] != "test-only-feature" {
		t.Fatal("clone shares the feature slice")
	}

	cases := []struct {
		name    string
		edit    func(*ledgerManifest)
		newer   bool
		corrupt bool
	}{
		{"base", func(*ledgerManifest) {}, false, false},
		{"known feature", func(m *ledgerManifest) { m.addFeature("test-only-feature") }, false, false},
		{"unknown feature", func(m *ledgerManifest) { m.Version = 2; m.Features = []string{"from-the-future"} }, true, false},
		{"features at version 1", func(m *ledgerManifest) { m.Features = []string{"test-only-feature"} }, false, true},
		{"version 3", func(m *ledgerManifest) { m.Version = FormatVersion + 1 }, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := base()
			tc.edit(m)
			b, err := encodeManifest(m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decodeManifest("MANIFEST", b)
			var ce *corrupt.CorruptionError
			switch {
			case tc.newer:
				if !errors.Is(err, ErrNewerFormat) {
					t.Fatalf("want ErrNewerFormat, got %v", err)
				}
			case tc.corrupt:
				if !errors.As(err, &ce) {
					t.Fatalf("want corruption, got %v", err)
				}
			case err != nil:
				t.Fatal(err)
			default:
				if got.Version != m.Version || len(got.Features) != len(m.Features) {
					t.Fatalf("round trip: %+v", got)
				}
			}
		})
	}
}
