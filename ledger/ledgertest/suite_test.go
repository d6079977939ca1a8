package ledgertest

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/exledger/exledger/ledger"
)

// TestFakeStoreCapabilities runs the suite against the fake store in the
// capability combinations a durable store uses, so every durable branch of
// the suite (including the transformed corpus replay) is known to be
// consistent before it judges a real store.
func TestFakeStoreCapabilities(t *testing.T) {
	all := Capabilities{AtomicBatches: true, ChainIncludesHypothesis: true, DurableArtifactTransitions: true, IdempotentDuplicates: true}
	cases := []struct {
		name   string
		caps   Capabilities
		corpus bool
	}{
		{"reference", Capabilities{}, false},
		{"durable-defaults", all, false},
		{"durable-allow-duplicates", Capabilities{AtomicBatches: true, ChainIncludesHypothesis: true, DurableArtifactTransitions: true}, true},
		{"atomic-only", Capabilities{AtomicBatches: true}, false},
		{"chain-only", Capabilities{ChainIncludesHypothesis: true}, false},
		{"transitions-only", Capabilities{DurableArtifactTransitions: true}, false},
		{"idempotent-only", Capabilities{IdempotentDuplicates: true}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runWith(t, c.caps, func(t *testing.T) ledger.ExperienceStore { return newFakeStore(c.caps, "") }, c.corpus)
		})
	}
}

// mutant is a deliberately broken store (or a store run under the wrong
// capabilities); the suite must fail on it, in subtest wantFail.
type mutant struct {
	bug        string
	storeCaps  Capabilities
	suiteCaps  Capabilities
	wantFail   string
	withCorpus bool
}

var (
	atomicCaps = Capabilities{AtomicBatches: true}
	chainCaps  = Capabilities{ChainIncludesHypothesis: true}
	transCaps  = Capabilities{DurableArtifactTransitions: true}
	idemCaps   = Capabilities{IdempotentDuplicates: true, AtomicBatches: true}
)

var mutants = []mutant{
	{bug: "tenant-nil-matches", wantFail: "TenantIsolation"},
	{bug: "corr-nil-matches", wantFail: "Correlation"},
	{bug: "start-exclusive", wantFail: "TimeBounds"},
	{bug: "end-exclusive", wantFail: "TimeBounds"},
	{bug: "inverted-swapped", wantFail: "TimeBounds"},
	{bug: "kinds-first-only", wantFail: "FiltersAlone"},
	{bug: "chain-rule-flipped", wantFail: "Chain"},
	{bug: "chain-rule-flipped", storeCaps: chainCaps, suiteCaps: chainCaps, wantFail: "Chain"},
	{bug: "chain-prefix", wantFail: "Chain"},
	{bug: "limit-zero-means-all", wantFail: "Limit"},
	{bug: "limit-off-by-one", wantFail: "Limit"},
	{bug: "sort-by-time", wantFail: "InsertionOrder"},
	{bug: "alias-results", wantFail: "NoAliasing"},
	{bug: "trace-mention-registers", wantFail: "TraceLinks"},
	{bug: "trace-first-wins", wantFail: "TraceLinks"},
	{bug: "trace-absent-error", wantFail: "Empty"},
	{bug: "rejected-trace-registers", wantFail: "Validation"},
	{bug: "error-wrapped", wantFail: "Validation"},
	{bug: "batch-continues", wantFail: "Batch"},
	{bug: "batch-atomicity-flipped", wantFail: "Batch"},
	{bug: "batch-atomicity-flipped", storeCaps: atomicCaps, suiteCaps: atomicCaps, wantFail: "Batch"},
	{bug: "transition-counter-from-1", wantFail: "ArtifactTransitions"},
	{bug: "transition-keeps-tenant", wantFail: "ArtifactTransitions"},
	{bug: "dup-dropped", wantFail: "Duplicates"},
	// A correct store judged under the wrong capabilities.
	{suiteCaps: atomicCaps, wantFail: "Batch"},
	{suiteCaps: chainCaps, wantFail: "Chain"},
	{suiteCaps: transCaps, wantFail: "ArtifactTransitions"},
	{suiteCaps: idemCaps, storeCaps: atomicCaps, wantFail: "Duplicates"},
	{storeCaps: idemCaps, suiteCaps: atomicCaps, wantFail: "Duplicates"},
	{storeCaps: chainCaps, wantFail: "Chain"},
	{storeCaps: transCaps, wantFail: "ArtifactTransitions"},
	// Bugs the corpus replay alone must catch too.
	{bug: "sort-by-time", wantFail: "Corpus", withCorpus: true},
	{bug: "transition-counter-from-1", wantFail: "Corpus", withCorpus: true},
	{bug: "batch-continues", wantFail: "Corpus", withCorpus: true},
	{storeCaps: chainCaps, wantFail: "Corpus", withCorpus: true},
}

const mutantEnv = "LEDGERTEST_MUTANT"

// TestMutants re-runs this test binary once per mutant and requires the
// suite to fail in the expected subtest: proof that the suite's checks can
// fail.
func TestMutants(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("inside a mutant run")
	}
	for i, m := range mutants {
		name := fmt.Sprintf("%02d-%s", i, m.bug)
		if m.bug == "" {
			name += "wrong-caps"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if testing.Short() && m.withCorpus {
				t.Skip("corpus mutants skipped in -short mode")
			}
			run := "^TestMutantChild$"
			if !m.withCorpus {
				run += "/^" + m.wantFail + "$"
			}
			cmd := exec.Command(os.Args[0], "-test.run="+run, "-test.count=1")
			cmd.Env = append(os.Environ(), mutantEnv+"="+strconv.Itoa(i))
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the suite passed on mutant %+v:\n%s", m, out)
			}
			if _, ok := err.(*exec.ExitError); !ok {
				t.Fatalf("running mutant: %v", err)
			}
			if !strings.Contains(string(out), "--- FAIL: TestMutantChild/"+m.wantFail) {
				t.Fatalf("mutant %+v did not fail in %s:\n%s", m, m.wantFail, out)
			}
		})
	}
}

// TestMutantChild is the body of one mutant run (only active inside
// TestMutants' subprocesses).
func TestMutantChild(t *testing.T) {
	v := os.Getenv(mutantEnv)
	if v == "" {
		t.Skip("only runs as a TestMutants subprocess")
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 || i >= len(mutants) {
		t.Fatalf("bad %s=%q", mutantEnv, v)
	}
	m := mutants[i]
	runWith(t, m.suiteCaps, func(t *testing.T) ledger.ExperienceStore { return newFakeStore(m.storeCaps, m.bug) }, m.withCorpus)
}
