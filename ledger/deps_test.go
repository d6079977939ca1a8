package ledger_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCoreDependencies keeps the operational dependencies out of package
// ledger: a plain library user must not link client_golang,
// OpenTelemetry, fsnotify, chromedp or parquet-go (they live in
// ledger/ledgerprom, ledger/ledgerotel, ledger/ledgertail, inspector and
// ledger/ledgerparquet).
func TestCoreDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/exledger/exledger/ledger").CombinedOutput()
	if err != nil {
		t.Skipf("go list unavailable: %v: %s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"github.com/prometheus/", "go.opentelemetry.io/", "github.com/fsnotify/", "github.com/chromedp/", "github.com/parquet-go/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("package ledger depends on %s", dep)
			}
		}
	}
}
