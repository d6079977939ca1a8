package ledgertest

import (
	"fmt"
	"math"

	"github.com/exledger/exledger/ledger"
)

// mk builds an envelope. tenant and corr may be "" for absent.
func mk(id, at, tenant, corr string, ev ledger.ExperienceEvent) env {
	e := env{EventID: ledger.EventID(id), OccurredAt: ledger.Timestamp(at), Event: ev}
	if tenant != "" {
		e.TenantID = ptr(ledger.TenantID(tenant))
	}
	if corr != "" {
		e.CorrelationID = ptr(ledger.CorrelationID(corr))
	}
	return e
}

func hashOf(seed int) ledger.ContentHash {
	var h ledger.ContentHash
	for i := range h {
		h[i] = byte(seed*31 + i*7)
	}
	return h
}

// localTrace returns a Local ReplayTrace that differs per seed.
func localTrace(seed int) ledger.ReplayTrace {
	lt := &ledger.LocalReplayTrace{
		BaseModelHash:  fmt.Sprintf("sha256:base-%d", seed),
		TokenizerHash:  fmt.Sprintf("tok-%d", seed),
		Seed:           uint64(seed) * 0x9E3779B97F4A7C15, // wide u64 values
		Sampler:        ledger.SamplerParams{Temperature: 0.7, TopP: 0.95, TopK: ptr(uint64(40 + seed))},
		PromptVersion:  fmt.Sprintf("v%d.0", seed),
		WeightsMutated: seed%2 == 1,
		ExecutionEnv:   ledger.ExecutionEnv{Device: "cuda:0", Backend: "candle", Precision: "bf16"},
	}
	if seed%2 == 0 {
		lt.Adapter = &ledger.AdapterTrace{AdapterID: "lora-x", AdapterHash: "sha256:ad", Merged: true}
		lt.Recall = &ledger.RecallTrace{
			CorpusFingerprint: "corpus:1",
			CandidateIDs:      []string{"doc-1", "doc-2"},
			CandidateScores:   []float32{0.9, 0.325},
			InjectedCount:     2,
		}
	}
	return ledger.ReplayTrace{Type: ledger.ReplayTraceLocal, Local: lt}
}

// remoteTrace returns a Remote ReplayTrace that differs per seed.
func remoteTrace(seed int) ledger.ReplayTrace {
	return ledger.ReplayTrace{Type: ledger.ReplayTraceRemote, Remote: &ledger.RemoteReplayTrace{
		ProviderName:        "provider",
		ProviderModelID:     fmt.Sprintf("model-%d", seed),
		RequestFingerprint:  "req",
		ResponseFingerprint: "resp",
		Temperature:         0.1,
		TopP:                1,
		MaxTokens:           math.MaxUint64,
		ProviderMetadata:    map[string]string{"region": "eu", "b": "2", "a": "1"},
		Retried:             true,
		RetryReasons:        []string{"timeout", "rate limit"},
		Replayability:       ledger.ReplayabilityBestEffort,
	}}
}

// sampleEvent returns a payload of kind k that varies with seed. Kinds that
// carry a chain_id get chain.
func sampleEvent(k ledger.ExperienceEventKind, seed int, chain ledger.ChainID) ledger.ExperienceEvent {
	s := fmt.Sprint(seed)
	switch k {
	case ledger.KindProposalCreated:
		return &ledger.ProposalCreated{
			Proposal: ledger.KernelProposal{
				ID:                "prop-" + s,
				Kind:              ledger.ProposalKindPlan,
				Payload:           "plan <&> \"quoted\" ünïcode 東京 \u2028 " + s,
				StructuredPayload: ledger.RawJSON(`{"z":1,"a":[true,null,"x"],"m":{"k":-2.5}}`),
				TraceLink:         localTrace(seed),
				ContractResults: []ledger.ContractResult{
					{Name: "c0", Passed: true},
					{Name: "c1", Passed: false, FailureReason: ptr("too long")},
				},
				RequiresHuman: seed%2 == 0,
				Confidence:    ptr(float32(0.9)),
			},
			ChainID:            chain,
			Step:               ledger.DecisionStepPlanning,
			PolicySnapshotHash: ptr(hashOf(seed)),
		}
	case ledger.KindProposalValidated:
		return &ledger.ProposalValidated{
			ProposalID: ledger.ProposalID("prop-" + s),
			ChainID:    chain,
			Step:       ledger.DecisionStepEvaluation,
			ContractResults: []ledger.ContractResultSnapshot{
				{Name: "c0", Passed: true}, {Name: "c1", Passed: false, FailureReason: ptr("nope")},
			},
			AllPassed: false,
			Validator: "validator-schema",
		}
	case ledger.KindFactPromoted:
		return &ledger.FactPromoted{
			ProposalID: ledger.ProposalID("prop-" + s), FactID: ledger.FactID("fact-" + s),
			PromotedBy: "agent-1", Reason: "evidence " + s, RequiresHuman: true,
		}
	case ledger.KindRecallExecuted:
		return &ledger.RecallExecuted{
			Query: ledger.RecallQuery{QueryText: "what " + s, TopK: 5,
				StepContext: ptr(ledger.DecisionStepReasoning), TenantScope: ptr("tenant-a")},
			Provenance: ledger.RecallProvenanceEnvelope{
				QueryHash: "qh", EmbeddingInputHash: "eih", EmbeddingHash: "eh", EmbedderID: "emb",
				EmbedderSettingsHash: "esh", CorpusFingerprint: "cf", PolicySnapshotHash: "psh",
				Purpose:   ledger.RecallUseTrainingCandidateSelection,
				Consumers: []ledger.RecallConsumer{ledger.RecallConsumerKernel, ledger.RecallConsumerTrainer},
				CandidateScores: []ledger.CandidateScore{
					{ID: "doc-1", Score: 0.30000000000000004}, {ID: "doc-2", Score: 1e-7},
				},
				CandidatesSearched: 100, CandidatesReturned: 2,
				StopReason: ptr(ledger.RecallStopReachedTopK), LatencyMs: 12,
				Timestamp: "2026-01-01T00:00:00Z", Signature: "unsigned",
			},
			TraceLinkID: ptr(ledger.TraceLinkID("tl-recall-" + s)),
		}
	case ledger.KindReplayTraceRecorded:
		tr := localTrace(seed)
		if seed%3 == 0 {
			tr = remoteTrace(seed)
		}
		return &ledger.ReplayTraceRecorded{TraceLinkID: ledger.TraceLinkID("tl-" + s), TraceLink: tr}
	case ledger.KindReplayabilityDowngraded:
		return &ledger.ReplayabilityDowngraded{
			TraceLinkID: ledger.TraceLinkID("tl-down-" + s),
			From:        ledger.ReplayabilityDeterministic, To: ledger.ReplayabilityNone,
			Reason: ledger.DowngradeRemoteBackendUsed,
		}
	case ledger.KindArtifactStateTransitioned:
		return &ledger.ArtifactStateTransitioned{
			ArtifactID:   ledger.ArtifactID("art-" + s),
			ArtifactKind: ledger.ArtifactKind{Kind: ledger.ArtifactKindOther, Other: "dataset"},
			Event: ledger.LifecycleEvent{
				FromState: ledger.StateDraft, ToState: ledger.StateApproved,
				Timestamp: "2026-03-01T00:00:00Z", Actor: "alice", Reason: "ok",
				TicketRef: ptr("T-1"), TenantID: ptr("tenant-a"),
			},
		}
	case ledger.KindArtifactRollbackRecorded:
		return &ledger.ArtifactRollbackRecorded{Rollback: ledger.RollbackRecord{
			ArtifactID: "art-" + s, PreviousState: ledger.StateActive, RolledBackAt: "2026-03-02T00:00:00Z",
			Actor: "bob", Reason: "regression",
			Impact: ledger.RollbackImpact{AffectedCount: ptr(uint64(3)), QualityIssues: []string{"q1"},
				InvalidatesOutputs: true, Severity: ledger.SeverityHigh, AffectedTenants: []string{"tenant-a", "tenant-b"}},
			IncidentRef: ptr("INC-" + s),
		}}
	case ledger.KindBackendInvoked:
		return &ledger.BackendInvoked{
			BackendName: "llama", AdapterID: ptr(ledger.BackendID("lora-1")),
			TraceLinkID: ledger.TraceLinkID("tl-backend-" + s), Step: ledger.DecisionStepReasoning,
			PolicySnapshotHash: ptr(hashOf(seed + 1)),
		}
	case ledger.KindOutcomeRecorded:
		return &ledger.OutcomeRecorded{
			ChainID: chain, Step: ledger.DecisionStepPlanning, Passed: seed%2 == 0,
			StopReason: &ledger.StopReason{Kind: ledger.StopCycleBudgetExhausted,
				CycleBudgetExhausted: &ledger.StopCycleBudgetData{CyclesExecuted: math.MaxUint32, Limit: 10}},
			LatencyMs: ptr(uint64(120)), Tokens: ptr(uint64(math.MaxUint64)), CostMicrodollars: ptr(uint64(7)),
			Backend:  ptr(ledger.BackendID("llama")),
			Metadata: map[string]string{"k1": "v1", "k0": "v0 " + s},
		}
	case ledger.KindBudgetExceeded:
		return &ledger.BudgetExceeded{
			ChainID: chain, Resource: ledger.BudgetResource{Kind: ledger.BudgetOther, Other: "gpu-hours"},
			Limit: "100", Observed: ptr("101"),
		}
	case ledger.KindPolicySnapshotCaptured:
		return &ledger.PolicySnapshotCaptured{
			PolicyID: ledger.PolicyID("pol-" + s),
			Policy: ledger.PolicySnapshot{Type: ledger.PolicySnapshotKernel, Kernel: &ledger.KernelPolicy{
				AdapterID: ptr("lora-1"), RecallEnabled: true, RecallMaxCandidates: 8, RecallMinScore: 0.7,
				Seed: ptr(uint64(math.MaxUint64)), RequiresHuman: false, RequiredTruths: []string{"t1"},
			}},
			SnapshotHash: hashOf(seed + 2), CapturedBy: "admin",
		}
	case ledger.KindHypothesisResolved:
		return &ledger.HypothesisResolved{
			ChainID: chain, FactID: ledger.FactID("fact-" + s), Domain: "finance", Claim: "claim " + s,
			Confidence: 0.1, Outcome: ledger.HypothesisConfirmed,
			ContradictionID: ptr(ledger.TensionID("tension-" + s)), FormedCycle: 1, ResolvedCycle: math.MaxUint32,
		}
	case ledger.KindGateDecisionRecorded:
		return &ledger.GateDecisionRecorded{
			Request: ledger.GateRequest{
				GateID: "gate-" + s, ProposalID: "prop-" + s, Summary: "approve?", AgentID: "agent-2",
				Rationale:   ptr("because"),
				ContextData: []ledger.GateContextEntry{{Label: "risk", Value: "low"}},
				Cycle:       3, RequestedAt: "2026-01-01T00:00:00Z",
				Timeout: ledger.GateTimeout{TimeoutSecs: 60, Action: ledger.TimeoutEscalate},
			},
			Decision: ledger.GateDecision{
				GateID: "gate-" + s, Verdict: ledger.GateVerdict{Kind: ledger.GateReject, RejectReason: ptr("risky")},
				DecidedBy: "carol", DecidedAt: "2026-01-01T00:01:00Z",
			},
		}
	}
	panic("ledgertest: unknown kind " + string(k))
}

// carriesChain reports whether kind k has a chain_id field at all.
func carriesChain(k ledger.ExperienceEventKind) bool {
	switch k {
	case ledger.KindProposalCreated, ledger.KindProposalValidated, ledger.KindOutcomeRecorded,
		ledger.KindBudgetExceeded, ledger.KindHypothesisResolved:
		return true
	}
	return false
}

// rtr builds a ReplayTraceRecorded envelope.
func rtr(id, traceID string, tr ledger.ReplayTrace) env {
	return mk(id, "2026-05-01T00:00:00Z", "tenant-a", "", &ledger.ReplayTraceRecorded{
		TraceLinkID: ledger.TraceLinkID(traceID), TraceLink: tr,
	})
}

// dataset is a deterministic mixed workload used by the filter tests:
// n envelopes over every kind, 2 tenants plus untenanted, 3 correlation ids
// plus none (some runs untenanted), 3 chains, and a pool of timestamps with
// exact repeats, fractional and offset forms, the epoch and odd strings,
// deliberately not in insertion order.
func dataset(n int) []env {
	tenants := []string{"tenant-a", "tenant-b", "", "tenant-a", "tenant-b"}
	corrs := []string{"run-1", "run-2", "", "run-3"}
	chains := []ledger.ChainID{"chain-1", "chain 2/東京", "chain-3"}
	times := []string{
		"2026-02-15T12:00:00Z", "2026-01-31T23:59:59Z", "2026-02-15T12:00:00.500Z",
		"1970-01-01T00:00:00Z", "2026-03-01T00:00:00+02:00", "2026-02", "2026-12-31T23:59:59.999999Z",
		"2026-02-15T12:00:00Z", "not-a-timestamp", "2026-02-01 08:00:00", "2026-06-01T00:00:00",
	}
	out := make([]env, 0, n)
	for i := 0; i < n; i++ {
		k := ledger.AllKinds[(i*5)%len(ledger.AllKinds)]
		tenant := tenants[i%len(tenants)]
		corr := corrs[(i/2)%len(corrs)]
		if corr == "run-3" {
			tenant = "" // run-3 is an untenanted run
		}
		out = append(out, mk(
			fmt.Sprintf("ds-%03d", i),
			times[(i*7)%len(times)],
			tenant, corr,
			sampleEvent(k, i, chains[(i/3)%len(chains)]),
		))
	}
	return out
}
