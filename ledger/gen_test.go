package ledger

import (
	"math"
	"math/rand"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// gen produces random but well-formed values of every type, normalised the
// way the decoders normalise (empty slices and maps are nil).
type gen struct{ r *rand.Rand }

var genAlphabet = []string{"a", "Z", "0", "-", "_", ".", " ", "\"", "\\", "/", "\n", "\t", "\x00", "\x1f", "\x7f",
	"é", "東京", "🚀", "\u2028", "<", "&", "ü"}

func (g gen) str() string {
	n := g.r.Intn(12)
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteString(genAlphabet[g.r.Intn(len(genAlphabet))])
	}
	return sb.String()
}

func (g gen) id() string {
	const chars = "abcXYZ019-_."
	n := 1 + g.r.Intn(20)
	b := make([]byte, n)
	for i := range b {
		b[i] = chars[g.r.Intn(len(chars))]
	}
	return string(b)
}

func (g gen) coin() bool { return g.r.Intn(2) == 0 }

func (g gen) optStr() *string {
	if g.coin() {
		return nil
	}
	s := g.str()
	return &s
}

func (g gen) u64() uint64 {
	switch g.r.Intn(4) {
	case 0:
		return 0
	case 1:
		return math.MaxUint64
	case 2:
		return uint64(g.r.Intn(1000))
	}
	return g.r.Uint64()
}

func (g gen) optU64() *uint64 {
	if g.coin() {
		return nil
	}
	v := g.u64()
	return &v
}

func (g gen) u32() uint32 {
	if g.r.Intn(4) == 0 {
		return math.MaxUint32
	}
	return g.r.Uint32()
}

func (g gen) f64() float64 {
	specials := []float64{0, 1, -1, 0.1, 1e-7, 1e16, 1e21, 123456.789, math.MaxFloat64, 5e-324, 0.30000000000000004, 1e-5}
	switch g.r.Intn(3) {
	case 0:
		return specials[g.r.Intn(len(specials))]
	case 1:
		return g.r.NormFloat64() * math.Pow(10, float64(g.r.Intn(40)-20))
	}
	for {
		f := math.Float64frombits(g.r.Uint64())
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f
		}
	}
}

func (g gen) f32() float32 {
	if g.coin() {
		return float32(g.r.Intn(100)) / 100
	}
	for {
		f := math.Float32frombits(g.r.Uint32())
		if !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0) {
			return f
		}
	}
}

func pick[T ~string](g gen, names []string) T { return T(names[g.r.Intn(len(names))]) }

func genSlice[T any](g gen, max int, f func() T) []T {
	n := g.r.Intn(max + 1)
	if n == 0 {
		return nil
	}
	s := make([]T, n)
	for i := range s {
		s[i] = f()
	}
	return s
}

func (g gen) strMap() map[string]string {
	n := g.r.Intn(4)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for i := 0; i < n; i++ {
		m[g.str()] = g.str()
	}
	return m
}

func (g gen) hash() ContentHash {
	var h ContentHash
	g.r.Read(h[:])
	return h
}

func (g gen) optHash() *ContentHash {
	if g.coin() {
		return nil
	}
	h := g.hash()
	return &h
}

// rawValue produces random JSON text (not canonical).
func (g gen) rawValue(depth int) string {
	k := g.r.Intn(7)
	if depth > 3 {
		k = g.r.Intn(4)
	}
	switch k {
	case 0:
		return "null"
	case 1:
		return strconv.FormatBool(g.coin())
	case 2:
		return []string{"0", "-0", "12", "-7", "1.5", "1E2", "18446744073709551615", "18446744073709551616", "0.1e-3"}[g.r.Intn(9)]
	case 3:
		return string(appendJSONString(nil, g.str()))
	case 4, 5:
		n := g.r.Intn(4)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = string(appendJSONString(nil, g.id()[:1])) + ":" + g.rawValue(depth+1)
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	n := g.r.Intn(4)
	parts := make([]string, n)
	for i := range parts {
		parts[i] = g.rawValue(depth + 1)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func (g gen) replayTrace() ReplayTrace {
	if g.coin() {
		l := &LocalReplayTrace{BaseModelHash: g.str(), TokenizerHash: g.str(), Seed: g.u64(),
			Sampler:       SamplerParams{Temperature: g.f32(), TopP: g.f32(), TopK: g.optU64()},
			PromptVersion: g.str(), WeightsMutated: g.coin(),
			ExecutionEnv: ExecutionEnv{Device: g.str(), Backend: g.str(), Precision: g.str()}}
		if g.coin() {
			l.Adapter = &AdapterTrace{AdapterID: g.str(), AdapterHash: g.str(), Merged: g.coin()}
		}
		if g.coin() {
			l.Recall = &RecallTrace{CorpusFingerprint: g.str(), CandidateIDs: genSlice(g, 3, g.str),
				CandidateScores: genSlice(g, 3, g.f32), InjectedCount: g.u64()}
		}
		return ReplayTrace{Type: ReplayTraceLocal, Local: l}
	}
	return ReplayTrace{Type: ReplayTraceRemote, Remote: &RemoteReplayTrace{
		ProviderName: g.str(), ProviderModelID: g.str(), RequestFingerprint: g.str(), ResponseFingerprint: g.str(),
		Temperature: g.f32(), TopP: g.f32(), MaxTokens: g.u64(), ProviderMetadata: g.strMap(), Retried: g.coin(),
		RetryReasons: genSlice(g, 3, g.str), Replayability: pick[Replayability](g, replayabilityNames)}}
}

func (g gen) stopReason() *StopReason {
	s := &StopReason{Kind: pick[StopReasonKind](g, stopReasonNames)}
	crit := func() CriterionID { return CriterionID(g.str()) }
	switch s.Kind {
	case StopCriteriaMet:
		s.CriteriaMet = &StopCriteriaMetData{Criteria: genSlice(g, 3, crit)}
	case StopHumanInterventionRequired:
		s.HumanInterventionRequired = &StopHumanInterventionData{Criteria: genSlice(g, 3, crit),
			ApprovalRefs: genSlice(g, 3, func() ApprovalPointID { return ApprovalPointID(g.str()) })}
	case StopCycleBudgetExhausted:
		s.CycleBudgetExhausted = &StopCycleBudgetData{g.u32(), g.u32()}
	case StopFactBudgetExhausted:
		s.FactBudgetExhausted = &StopFactBudgetData{g.u32(), g.u32()}
	case StopTokenBudgetExhausted:
		s.TokenBudgetExhausted = &StopTokenBudgetData{g.u64(), g.u64()}
	case StopTimeBudgetExhausted:
		s.TimeBudgetExhausted = &StopTimeBudgetData{g.u64(), g.u64()}
	case StopInvariantViolated:
		s.InvariantViolated = &StopInvariantViolatedData{pick[InvariantClass](g, invariantClassNames), g.str(), g.str()}
	case StopPromotionRejected:
		s.PromotionRejected = &StopPromotionRejectedData{g.str(), g.str()}
	case StopError:
		s.Error = &StopErrorData{g.str(), pick[ErrorCategory](g, errorCategoryNames)}
	case StopAgentRefused:
		s.AgentRefused = &StopAgentRefusedData{g.str(), g.str()}
	case StopHitlGatePending:
		s.HitlGatePending = &StopHitlGatePendingData{g.str(), g.str(), g.str(), g.str(), g.u32()}
	}
	return s
}

func (g gen) contractResults() []ContractResult {
	return genSlice(g, 3, func() ContractResult { return ContractResult{g.str(), g.coin(), g.optStr()} })
}

func (g gen) event(k ExperienceEventKind) ExperienceEvent {
	step := func() DecisionStep { return pick[DecisionStep](g, decisionStepNames) }
	switch k {
	case KindProposalCreated:
		p := KernelProposal{ID: g.str(), Kind: pick[ProposalKind](g, proposalKindNames), Payload: g.str(),
			TraceLink: g.replayTrace(), ContractResults: g.contractResults(), RequiresHuman: g.coin()}
		if g.coin() {
			raw, err := CanonicalizeJSON([]byte(g.rawValue(0)))
			if err != nil {
				panic(err)
			}
			if string(raw) != "null" {
				p.StructuredPayload = raw
			}
		}
		if g.coin() {
			c := g.f32()
			p.Confidence = &c
		}
		return &ProposalCreated{Proposal: p, ChainID: ChainID(g.str()), Step: step(), PolicySnapshotHash: g.optHash()}
	case KindProposalValidated:
		return &ProposalValidated{ProposalID: ProposalID(g.str()), ChainID: ChainID(g.str()), Step: step(),
			ContractResults: genSlice(g, 3, func() ContractResultSnapshot { return ContractResultSnapshot{g.str(), g.coin(), g.optStr()} }),
			AllPassed:       g.coin(), Validator: ActorID(g.str())}
	case KindFactPromoted:
		return &FactPromoted{ProposalID(g.str()), FactID(g.str()), ActorID(g.str()), g.str(), g.coin()}
	case KindRecallExecuted:
		e := &RecallExecuted{Query: RecallQuery{QueryText: g.str(), TopK: g.u64(), TenantScope: g.optStr()},
			Provenance: RecallProvenanceEnvelope{QueryHash: g.str(), EmbeddingInputHash: g.str(), EmbeddingHash: g.str(),
				EmbedderID: g.str(), EmbedderSettingsHash: g.str(), CorpusFingerprint: g.str(), PolicySnapshotHash: g.str(),
				Purpose:            pick[RecallUse](g, recallUseNames),
				Consumers:          genSlice(g, 3, func() RecallConsumer { return pick[RecallConsumer](g, recallConsumerNames) }),
				CandidateScores:    genSlice(g, 3, func() CandidateScore { return CandidateScore{g.str(), g.f64()} }),
				CandidatesSearched: g.u64(), CandidatesReturned: g.u64(), LatencyMs: g.u64(), Timestamp: g.str(), Signature: g.str()}}
		if g.coin() {
			s := step()
			e.Query.StepContext = &s
		}
		if g.coin() {
			s := pick[RecallStopReason](g, recallStopReasonNames)
			e.Provenance.StopReason = &s
		}
		if g.coin() {
			tl := TraceLinkID(g.str())
			e.TraceLinkID = &tl
		}
		return e
	case KindReplayTraceRecorded:
		return &ReplayTraceRecorded{TraceLinkID(g.str()), g.replayTrace()}
	case KindReplayabilityDowngraded:
		return &ReplayabilityDowngraded{TraceLinkID(g.str()), pick[Replayability](g, replayabilityNames),
			pick[Replayability](g, replayabilityNames), pick[ReplayabilityDowngradeReason](g, downgradeReasonNames)}
	case KindArtifactStateTransitioned:
		ak := ArtifactKind{Kind: pick[ArtifactKindTag](g, artifactKindNames)}
		if ak.Kind == ArtifactKindOther {
			ak.Other = g.str()
		}
		return &ArtifactStateTransitioned{ArtifactID(g.str()), ak, LifecycleEvent{
			pick[GovernedArtifactState](g, artifactStateNames), pick[GovernedArtifactState](g, artifactStateNames),
			g.str(), g.str(), g.str(), g.optStr(), g.optStr()}}
	case KindArtifactRollbackRecorded:
		return &ArtifactRollbackRecorded{RollbackRecord{g.str(), pick[GovernedArtifactState](g, artifactStateNames),
			g.str(), g.str(), g.str(), RollbackImpact{g.optU64(), genSlice(g, 3, g.str), g.coin(),
				pick[RollbackSeverity](g, rollbackSeverityNames), genSlice(g, 3, g.str)}, g.optStr(), g.optStr()}}
	case KindBackendInvoked:
		e := &BackendInvoked{BackendName: BackendID(g.str()), TraceLinkID: TraceLinkID(g.str()), Step: step(), PolicySnapshotHash: g.optHash()}
		if g.coin() {
			a := BackendID(g.str())
			e.AdapterID = &a
		}
		return e
	case KindOutcomeRecorded:
		e := &OutcomeRecorded{ChainID: ChainID(g.str()), Step: step(), Passed: g.coin(), LatencyMs: g.optU64(),
			Tokens: g.optU64(), CostMicrodollars: g.optU64(), Metadata: g.strMap()}
		if g.coin() {
			e.StopReason = g.stopReason()
		}
		if g.coin() {
			b := BackendID(g.str())
			e.Backend = &b
		}
		return e
	case KindBudgetExceeded:
		r := BudgetResource{Kind: pick[BudgetResourceTag](g, budgetResourceNames)}
		if r.Kind == BudgetOther {
			r.Other = g.str()
		}
		return &BudgetExceeded{ChainID(g.str()), r, g.str(), g.optStr()}
	case KindPolicySnapshotCaptured:
		var p PolicySnapshot
		switch g.r.Intn(3) {
		case 0:
			p = PolicySnapshot{Type: PolicySnapshotKernel, Kernel: &KernelPolicy{g.optStr(), g.coin(), g.u64(), g.f32(), g.optU64(), g.coin(), genSlice(g, 3, g.str)}}
		case 1:
			rp := &RoutingPolicy{TruthPreferences: g.strMap(), DefaultBackend: g.str()}
			for _, n := range riskTierNames {
				if g.coin() {
					if rp.RiskTierBackends == nil {
						rp.RiskTierBackends = map[RiskTier][]string{}
					}
					rp.RiskTierBackends[RiskTier(n)] = genSlice(g, 2, g.str)
				}
			}
			for _, n := range dataClassificationNames {
				if g.coin() {
					if rp.DataClassificationBackends == nil {
						rp.DataClassificationBackends = map[DataClassification][]string{}
					}
					rp.DataClassificationBackends[DataClassification(n)] = genSlice(g, 2, g.str)
				}
			}
			p = PolicySnapshot{Type: PolicySnapshotRouting, Routing: rp}
		default:
			p = PolicySnapshot{Type: PolicySnapshotRecall, Recall: &RecallPolicy{g.coin(), g.u64(), g.u64(), g.f64(),
				RecallBudgets{g.u64(), g.u64(), g.u64()}, genSlice(g, 2, func() RecallUse { return pick[RecallUse](g, recallUseNames) })}}
		}
		return &PolicySnapshotCaptured{PolicyID(g.str()), p, g.hash(), ActorID(g.str())}
	case KindHypothesisResolved:
		e := &HypothesisResolved{ChainID(g.str()), FactID(g.str()), DomainID(g.str()), g.str(), g.f64(),
			pick[HypothesisOutcome](g, hypothesisOutcomeNames), nil, g.u32(), g.u32()}
		if g.coin() {
			c := TensionID(g.str())
			e.ContradictionID = &c
		}
		return e
	}
	v := GateVerdict{Kind: pick[GateVerdictKind](g, gateVerdictNames)}
	if v.Kind == GateReject {
		v.RejectReason = g.optStr()
	}
	return &GateDecisionRecorded{
		GateRequest{g.str(), g.str(), g.str(), g.str(), g.optStr(),
			genSlice(g, 3, func() GateContextEntry { return GateContextEntry{g.str(), g.str()} }),
			g.u32(), Timestamp(g.str()), GateTimeout{g.u64(), pick[TimeoutAction](g, timeoutActionNames)}},
		GateDecision{g.str(), v, g.str(), Timestamp(g.str())}}
}

func (g gen) envelope(k ExperienceEventKind) ExperienceEventEnvelope {
	e := ExperienceEventEnvelope{EventID: EventID(g.id()), OccurredAt: Timestamp(g.str()), Event: g.event(k)}
	if g.coin() {
		t := TenantID(g.id())
		e.TenantID = &t
	}
	if g.coin() {
		c := CorrelationID(g.id())
		e.CorrelationID = &c
	}
	return e
}

func TestPropertyJSONRoundTrip(t *testing.T) {
	g := gen{rand.New(rand.NewSource(1))}
	iters := 300
	if testing.Short() {
		iters = 40
	}
	for i := 0; i < iters; i++ {
		for _, k := range AllKinds {
			e := g.envelope(k)
			b, err := MarshalEnvelopeJSON(e)
			if err != nil {
				t.Fatalf("%s: encode: %v", k, err)
			}
			back, err := UnmarshalEnvelopeJSON(b)
			if err != nil {
				t.Fatalf("%s: decode %s: %v", k, b, err)
			}
			if !reflect.DeepEqual(e, back) {
				t.Fatalf("%s: round trip differs\n in: %#v\nout: %#v\njson: %s", k, e.Event, back.Event, b)
			}
			b2, err := MarshalEnvelopeJSON(back)
			if err != nil || string(b2) != string(b) {
				t.Fatalf("%s: re-encode differs: %v\n%s\n%s", k, err, b, b2)
			}
			if !EnvelopesEqual(e, back) {
				t.Fatalf("%s: EnvelopesEqual false", k)
			}
		}
	}
	for i := 0; i < iters; i++ {
		tr := g.replayTrace()
		b, err := MarshalReplayTraceJSON(tr)
		if err != nil {
			t.Fatal(err)
		}
		back, err := UnmarshalReplayTraceJSON(b)
		if err != nil || !reflect.DeepEqual(tr, back) {
			t.Fatalf("trace round trip: %v\n%s", err, b)
		}
		q := EventQuery{Kinds: genSlice(g, 4, func() ExperienceEventKind { return AllKinds[g.r.Intn(14)] }), Limit: g.optU64()}
		if g.coin() {
			s, e := Timestamp(g.str()), Timestamp(g.str())
			q.TimeRange = &TimeRange{Start: &s}
			if g.coin() {
				q.TimeRange.End = &e
			}
		}
		if g.coin() {
			x := TenantID(g.str())
			q.TenantID = &x
		}
		if g.coin() {
			x := ChainID(g.str())
			q.ChainID = &x
		}
		b, err = MarshalEventQueryJSON(q)
		if err != nil {
			t.Fatal(err)
		}
		qb, err := UnmarshalEventQueryJSON(b)
		if err != nil || !reflect.DeepEqual(q, qb) {
			t.Fatalf("query round trip: %v\n%s", err, b)
		}
	}
}

// Every prefix and every single-byte corruption of valid documents is
// handled without panicking; prefixes are always rejected.
func TestDecodeMutationsNoPanic(t *testing.T) {
	g := gen{rand.New(rand.NewSource(2))}
	for _, k := range AllKinds {
		b, err := MarshalEnvelopeJSON(g.envelope(k))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(b); i++ {
			if _, err := UnmarshalEnvelopeJSON(b[:i]); err == nil {
				t.Fatalf("%s: prefix of %d bytes accepted", k, i)
			}
		}
		mut := make([]byte, len(b))
		for i := 0; i < 200; i++ {
			copy(mut, b)
			mut[g.r.Intn(len(mut))] = byte(g.r.Intn(256))
			e, err := UnmarshalEnvelopeJSON(mut)
			if err == nil {
				// Whatever was accepted must re-encode and decode again.
				out, err := MarshalEnvelopeJSON(e)
				if err != nil {
					t.Fatalf("accepted mutation does not re-encode: %v\n%s", err, mut)
				}
				if _, err := UnmarshalEnvelopeJSON(out); err != nil {
					t.Fatalf("re-encoded mutation rejected: %v\n%s", err, out)
				}
			}
		}
	}
}

func FuzzUnmarshalEnvelopeJSON(f *testing.F) {
	g := gen{rand.New(rand.NewSource(3))}
	for _, k := range AllKinds {
		b, _ := MarshalEnvelopeJSON(g.envelope(k))
		f.Add(b)
	}
	f.Add([]byte(`{"kinds":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := UnmarshalEnvelopeJSON(data)
		if err == nil {
			out, err := MarshalEnvelopeJSON(e)
			if err != nil {
				t.Fatalf("decoded envelope does not encode: %v", err)
			}
			e2, err := UnmarshalEnvelopeJSON(out)
			if err != nil {
				t.Fatalf("re-decode: %v", err)
			}
			out2, _ := MarshalEnvelopeJSON(e2)
			if string(out) != string(out2) {
				t.Fatalf("not a fixed point:\n%s\n%s", out, out2)
			}
		}
		_, _ = UnmarshalEventQueryJSON(data)
		_, _ = UnmarshalReplayTraceJSON(data)
		_, _ = CanonicalizeJSON(data)
	})
}
