package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/exledger/exledger/ledger"
)

// Issue 17's workload shape ("coldappend"): one goroutine appends batches
// of 1000 envelopes of ~1 KB (JSON 350–1,900 B, a payload of repeated
// English words that compresses well), 4 kinds, 8 tenants, a new
// correlation every 50 events; the store is opened right before the first
// batch (exledger: ledger.Open(dir, nil)). The figure is the rate of the
// first appendN events after Open; the same round then appends appendN
// more events to the same store, whose rate is the steady rate the first
// ones are compared with.

var i17Words = strings.Fields(`the quarterly revenue forecast for the region grew while churn
declined and the pipeline signal stayed stable against the baseline budget with
evidence from the customer report and the vendor invoice summary so the plan was
confirmed by the policy review and the draft contract approval`)

// issue17Events returns n envelopes of the issue's shape, deterministic
// for a seed.
func issue17Events(n int, seed uint64) []ledger.ExperienceEventEnvelope {
	rng := rand.New(rand.NewPCG(seed, 17))
	tenants := make([]ledger.TenantID, 8)
	for i := range tenants {
		tenants[i] = ledger.TenantID(fmt.Sprintf("tenant-%d", i))
	}
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	// text returns want bytes of words (at most 10 more).
	text := func(want int) string {
		var b strings.Builder
		b.Grow(want + 16)
		for b.Len() < want {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(i17Words[rng.IntN(len(i17Words))])
		}
		return b.String()
	}
	var jbuf []byte
	evs := make([]ledger.ExperienceEventEnvelope, n)
	var corr *ledger.CorrelationID
	for i := range evs {
		if i%50 == 0 {
			c := ledger.CorrelationID(fmt.Sprintf("corr-%d-%d", seed, i/50))
			corr = &c
		}
		chain := ledger.ChainID(fmt.Sprintf("chain-%d", i/50))
		var ev ledger.ExperienceEvent
		var payload *string // the field that carries the words
		switch rng.IntN(4) {
		case 0:
			ev = &ledger.ProposalCreated{
				Proposal: ledger.KernelProposal{ID: fmt.Sprintf("prop-%d", i), Kind: ledger.ProposalKindClaims, Payload: "",
					TraceLink: ledger.ReplayTrace{Type: ledger.ReplayTraceLocal, Local: &ledger.LocalReplayTrace{BaseModelHash: "sha256:0", TokenizerHash: "sha256:1", Seed: 7, Sampler: ledger.SamplerParams{Temperature: 0.7, TopP: 0.9}, PromptVersion: "v1"}}},
				ChainID: chain, Step: ledger.DecisionStepReasoning,
			}
		case 1:
			reason := ""
			ev = &ledger.ProposalValidated{ProposalID: ledger.ProposalID(fmt.Sprintf("prop-%d", i)), ChainID: chain, Step: ledger.DecisionStepEvaluation,
				ContractResults: []ledger.ContractResultSnapshot{{Name: "schema", Passed: true}, {Name: "policy", Passed: false, FailureReason: &reason}},
				Validator:       "validator-1"}
		case 2:
			ev = &ledger.FactPromoted{ProposalID: ledger.ProposalID(fmt.Sprintf("prop-%d", i)), FactID: ledger.FactID(fmt.Sprintf("fact-%d", i)),
				PromotedBy: "reviewer-1"}
		default:
			ev = &ledger.HypothesisResolved{ChainID: chain, FactID: ledger.FactID(fmt.Sprintf("fact-%d", i)), Domain: "finance",
				Confidence: 0.8, Outcome: ledger.HypothesisConfirmed, FormedCycle: 1, ResolvedCycle: 2}
		}
		switch e := ev.(type) {
		case *ledger.ProposalCreated:
			payload = &e.Proposal.Payload
		case *ledger.ProposalValidated:
			payload = e.ContractResults[1].FailureReason
		case *ledger.FactPromoted:
			payload = &e.Reason
		case *ledger.HypothesisResolved:
			payload = &e.Claim
		}
		evs[i] = ledger.ExperienceEventEnvelope{
			EventID:       ledger.EventID(fmt.Sprintf("e17-%d-%08d", seed, i)),
			OccurredAt:    ledger.Timestamp(base.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)),
			TenantID:      &tenants[rng.IntN(len(tenants))],
			CorrelationID: corr,
			Event:         ev,
		}
		// The JSON size is drawn uniformly from 350–1,890 B; the words
		// fill what the envelope's other fields leave.
		jbuf, _ = ledger.AppendEnvelopeJSON(jbuf[:0], &evs[i])
		*payload = text(max(20, 350+rng.IntN(1541)-len(jbuf)))
	}
	return evs
}

// coldAppend is one round of the issue 17 case: open, appendN events
// (the measured figure), then appendN more (the steady rate, in s.alt).
func (r *runner) coldAppend(name string, round int, evs []ledger.ExperienceEventEnvelope, n int) (sample, error) {
	dir := r.scratch("w17", fmt.Sprintf("%s-%d", name, round))
	defer os.RemoveAll(dir)
	e := newEngine(name)
	if err := e.open(dir, true); err != nil {
		return sample{}, err
	}
	defer e.close()
	const batch = 1000
	var s sample
	m := startMeter(e)
	done := 0
	run := func(to int) error {
		for ; done+batch <= to; done += batch {
			t := time.Now()
			if err := e.append(evs[done : done+batch]); err != nil {
				return err
			}
			s.lat = append(s.lat, time.Since(t))
		}
		return nil
	}
	if err := run(n); err != nil {
		return s, err
	}
	m.stop(e, &s, done, done/batch)
	t := time.Now()
	if err := run(2 * n); err != nil {
		return s, err
	}
	s.alt = float64(done-n) / time.Since(t).Seconds()
	s.note = fmt.Sprintf("steady (events %d–%d) %s; first ÷ steady %.2f", n, done, fmtVal(s.alt, "events/s"), s.v/s.alt)
	// Every round is logged, the warm-up round (the first Open of the
	// process) included: the report's medians leave it out.
	logf("coldappend round %d %s: first %s, steady %s, CPU %.2f µs/event", round, name, fmtVal(s.v, "events/s"), fmtVal(s.alt, "events/s"), s.cpu)
	if got, err := e.lastSeq(); err != nil || got != uint64(done) {
		return s, fmt.Errorf("stored %d events, want %d (%v)", got, done, err)
	}
	return s, nil
}

func (r *runner) coldAppendCase() {
	c := &r.cfg
	n := c.appendN / 1000 * 1000
	logf("generating %d events of the issue 17 shape", 2*n)
	evs := issue17Events(2*n, 17)
	var jbuf []byte
	var jsonBytes int
	for i := range evs {
		jbuf, _ = ledger.AppendEnvelopeJSON(jbuf[:0], &evs[i])
		jsonBytes += len(jbuf)
	}
	logf("issue 17 events: %.0f B of JSON per event on average", float64(jsonBytes)/float64(len(evs)))
	cs := r.newCase("coldappend", fmt.Sprintf("Issue 17 shape: durable appends, batch 1000, ~1 KB events, the first %d after Open (steady: the next %d)", n, n), "events/s", true,
		r.pick("exledger", "pebble", "sqlite"))
	r.alternate(cs, c.rounds, func(name string, round int) (sample, error) {
		return r.coldAppend(name, round, evs, n)
	})
	if cs.find("exledger") {
		logf("coldappend: exledger first ÷ steady %.2f", medianOf(cs.cells["exledger"].samples, func(s sample) float64 { return s.v / s.alt }))
	}
}
