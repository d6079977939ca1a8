package ledger

// ExperienceEventKind names one of the 14 event variants; it equals the
// variant's JSON "type" tag.
type ExperienceEventKind string

const (
	KindProposalCreated           ExperienceEventKind = "ProposalCreated"
	KindProposalValidated         ExperienceEventKind = "ProposalValidated"
	KindFactPromoted              ExperienceEventKind = "FactPromoted"
	KindRecallExecuted            ExperienceEventKind = "RecallExecuted"
	KindReplayTraceRecorded       ExperienceEventKind = "ReplayTraceRecorded"
	KindReplayabilityDowngraded   ExperienceEventKind = "ReplayabilityDowngraded"
	KindArtifactStateTransitioned ExperienceEventKind = "ArtifactStateTransitioned"
	KindArtifactRollbackRecorded  ExperienceEventKind = "ArtifactRollbackRecorded"
	KindBackendInvoked            ExperienceEventKind = "BackendInvoked"
	KindOutcomeRecorded           ExperienceEventKind = "OutcomeRecorded"
	KindBudgetExceeded            ExperienceEventKind = "BudgetExceeded"
	KindPolicySnapshotCaptured    ExperienceEventKind = "PolicySnapshotCaptured"
	KindHypothesisResolved        ExperienceEventKind = "HypothesisResolved"
	KindGateDecisionRecorded      ExperienceEventKind = "GateDecisionRecorded"
)

// AllKinds lists the 14 kinds in SPEC (and Rust declaration) order. Callers
// must not modify it.
var AllKinds = []ExperienceEventKind{
	KindProposalCreated,
	KindProposalValidated,
	KindFactPromoted,
	KindRecallExecuted,
	KindReplayTraceRecorded,
	KindReplayabilityDowngraded,
	KindArtifactStateTransitioned,
	KindArtifactRollbackRecorded,
	KindBackendInvoked,
	KindOutcomeRecorded,
	KindBudgetExceeded,
	KindPolicySnapshotCaptured,
	KindHypothesisResolved,
	KindGateDecisionRecorded,
}

// ParseKind returns the kind named s (exact, case-sensitive match).
func ParseKind(s string) (ExperienceEventKind, bool) {
	switch k := ExperienceEventKind(s); k {
	case KindProposalCreated, KindProposalValidated, KindFactPromoted,
		KindRecallExecuted, KindReplayTraceRecorded, KindReplayabilityDowngraded,
		KindArtifactStateTransitioned, KindArtifactRollbackRecorded,
		KindBackendInvoked, KindOutcomeRecorded, KindBudgetExceeded,
		KindPolicySnapshotCaptured, KindHypothesisResolved, KindGateDecisionRecorded:
		return k, true
	}
	return "", false
}

// Index returns the position of k in AllKinds (0..13), or -1 when k is not
// a known kind. Useful as a compact on-disk or bitmap code.
func (k ExperienceEventKind) Index() int {
	for i, x := range AllKinds {
		if x == k {
			return i
		}
	}
	return -1
}

// Valid reports whether k is one of the 14 kinds.
func (k ExperienceEventKind) Valid() bool { return k.Index() >= 0 }

// NewEvent returns a pointer to a zero value of the variant struct for k
// (e.g. &ProposalCreated{}), or nil for an unknown kind.
func NewEvent(k ExperienceEventKind) ExperienceEvent {
	switch k {
	case KindProposalCreated:
		return &ProposalCreated{}
	case KindProposalValidated:
		return &ProposalValidated{}
	case KindFactPromoted:
		return &FactPromoted{}
	case KindRecallExecuted:
		return &RecallExecuted{}
	case KindReplayTraceRecorded:
		return &ReplayTraceRecorded{}
	case KindReplayabilityDowngraded:
		return &ReplayabilityDowngraded{}
	case KindArtifactStateTransitioned:
		return &ArtifactStateTransitioned{}
	case KindArtifactRollbackRecorded:
		return &ArtifactRollbackRecorded{}
	case KindBackendInvoked:
		return &BackendInvoked{}
	case KindOutcomeRecorded:
		return &OutcomeRecorded{}
	case KindBudgetExceeded:
		return &BudgetExceeded{}
	case KindPolicySnapshotCaptured:
		return &PolicySnapshotCaptured{}
	case KindHypothesisResolved:
		return &HypothesisResolved{}
	case KindGateDecisionRecorded:
		return &GateDecisionRecorded{}
	}
	return nil
}

// Variant name tables, in Rust declaration order. They drive decoding
// ("expected one of ..." messages) and the encoder's validity checks.
var (
	decisionStepNames        = []string{"Reasoning", "Evaluation", "Planning"}
	proposalKindNames        = []string{"Claims", "Plan", "Classification", "Evaluation", "DraftDocument", "Reasoning"}
	replayabilityNames       = []string{"Deterministic", "BestEffort", "None"}
	downgradeReasonNames     = []string{"RecallEmbedderNotDeterministic", "RecallCorpusNotContentAddressed", "RemoteBackendUsed", "NoSeedProvided", "MultipleReasons"}
	recallUseNames           = []string{"RuntimeAugmentation", "TrainingCandidateSelection"}
	recallConsumerNames      = []string{"Kernel", "Analytics", "Trainer"}
	recallStopReasonNames    = []string{"ReachedTopK", "BudgetExhausted", "BelowThreshold", "TokenLimitReached", "LatencyExceeded", "EmbedderNotDeterministic", "TenantScopeMissing"}
	hypothesisOutcomeNames   = []string{"Confirmed", "Falsified", "Superseded", "Unresolved"}
	artifactStateNames       = []string{"Draft", "Approved", "Active", "Quarantined", "Deprecated", "RolledBack"}
	rollbackSeverityNames    = []string{"Low", "Medium", "High", "Critical"}
	riskTierNames            = []string{"Low", "Medium", "High", "Critical"}
	dataClassificationNames  = []string{"Public", "Internal", "Confidential", "Restricted"}
	invariantClassNames      = []string{"Structural", "Semantic", "Acceptance"}
	errorCategoryNames       = []string{"Internal", "Configuration", "External", "Resource", "Unknown"}
	timeoutActionNames       = []string{"Reject", "Approve", "Escalate"}
	artifactKindNames        = []string{"Adapter", "Pack", "Policy", "TruthFile", "EvalSuite", "Other"}
	budgetResourceNames      = []string{"EngineBudget", "Tokens", "Facts", "Cycles", "Time", "Cost", "Other"}
	stopReasonNames          = []string{"Converged", "CriteriaMet", "UserCancelled", "HumanInterventionRequired", "CycleBudgetExhausted", "FactBudgetExhausted", "TokenBudgetExhausted", "TimeBudgetExhausted", "InvariantViolated", "PromotionRejected", "Error", "AgentRefused", "HitlGatePending"}
	replayTraceTypeNames     = []string{"Local", "Remote"}
	policySnapshotTypeNames  = []string{"Kernel", "Routing", "Recall"}
	gateVerdictNames         = []string{"Approve", "Reject"}
	experienceEventKindNames = func() []string {
		s := make([]string, len(AllKinds))
		for i, k := range AllKinds {
			s[i] = string(k)
		}
		return s
	}()
)

func oneOf(s string, names []string) bool {
	for _, n := range names {
		if n == s {
			return true
		}
	}
	return false
}

// Valid reports whether the value is one of the type's variants.
func (v DecisionStep) Valid() bool { return oneOf(string(v), decisionStepNames) }

// Valid reports whether the value is one of the type's variants.
func (v ProposalKind) Valid() bool { return oneOf(string(v), proposalKindNames) }

// Valid reports whether the value is one of the type's variants.
func (v Replayability) Valid() bool { return oneOf(string(v), replayabilityNames) }

// Valid reports whether the value is one of the type's variants.
func (v ReplayabilityDowngradeReason) Valid() bool {
	return oneOf(string(v), downgradeReasonNames)
}

// Valid reports whether the value is one of the type's variants.
func (v RecallUse) Valid() bool { return oneOf(string(v), recallUseNames) }

// Valid reports whether the value is one of the type's variants.
func (v RecallConsumer) Valid() bool { return oneOf(string(v), recallConsumerNames) }

// Valid reports whether the value is one of the type's variants.
func (v RecallStopReason) Valid() bool { return oneOf(string(v), recallStopReasonNames) }

// Valid reports whether the value is one of the type's variants.
func (v HypothesisOutcome) Valid() bool { return oneOf(string(v), hypothesisOutcomeNames) }

// Valid reports whether the value is one of the type's variants.
func (v GovernedArtifactState) Valid() bool { return oneOf(string(v), artifactStateNames) }

// Valid reports whether the value is one of the type's variants.
func (v RollbackSeverity) Valid() bool { return oneOf(string(v), rollbackSeverityNames) }

// Valid reports whether the value is one of the type's variants.
func (v RiskTier) Valid() bool { return oneOf(string(v), riskTierNames) }

// Valid reports whether the value is one of the type's variants.
func (v DataClassification) Valid() bool { return oneOf(string(v), dataClassificationNames) }

// Valid reports whether the value is one of the type's variants.
func (v InvariantClass) Valid() bool { return oneOf(string(v), invariantClassNames) }

// Valid reports whether the value is one of the type's variants.
func (v ErrorCategory) Valid() bool { return oneOf(string(v), errorCategoryNames) }

// Valid reports whether the value is one of the type's variants.
func (v TimeoutAction) Valid() bool { return oneOf(string(v), timeoutActionNames) }
