package ledger

import (
	"encoding/hex"
	"errors"

	"github.com/exledger/exledger/internal/corrupt"
)

// CorruptionError is the error type every storage layer returns for bytes
// that failed a checksum, a bound or a format rule.
type CorruptionError = corrupt.CorruptionError

// Identifiers. Each is an opaque string with no internal format; in JSON it
// is a bare string.
type (
	EventID         string
	TenantID        string
	CorrelationID   string
	ChainID         string
	TraceLinkID     string
	ArtifactID      string
	ActorID         string
	BackendID       string
	FactID          string
	ProposalID      string
	PolicyID        string
	DomainID        string
	GateID          string
	CriterionID     string
	ApprovalPointID string
	TensionID       string
)

// Timestamp is an opaque string (ISO-8601 by convention, never parsed).
// Comparisons are byte-wise.
type Timestamp string

// DefaultTimestamp is the Rust Timestamp::default() value (the epoch).
const DefaultTimestamp Timestamp = "1970-01-01T00:00:00Z"

// ContentHash is a 32-byte hash, written in JSON as 64 lowercase hex chars.
type ContentHash [32]byte

// String returns the lowercase hex form.
func (h ContentHash) String() string { return hex.EncodeToString(h[:]) }

// errBadHash is returned by ParseContentHash for malformed input.
var errBadHash = errors.New("invalid content hash: expected 64 hex characters")

// ParseContentHash parses 64 hex characters (either case).
func ParseContentHash(s string) (ContentHash, error) {
	var h ContentHash
	if len(s) != 64 {
		return h, errBadHash
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, errBadHash
	}
	return h, nil
}

// RawJSON holds one arbitrary JSON value as compact, canonical serde_json
// bytes (object key order preserved, as serde_json's preserve_order does).
// nil means absent (JSON null).
type RawJSON []byte

// ExperienceEventEnvelope is one stored event with its metadata.
// Event always holds a pointer to one of the 14 variant structs
// (e.g. &ProposalCreated{...}); it must not be nil.
type ExperienceEventEnvelope struct {
	EventID       EventID
	OccurredAt    Timestamp
	TenantID      *TenantID
	CorrelationID *CorrelationID
	Event         ExperienceEvent
}

// Kind returns the kind of the envelope's event ("" when Event is nil).
func (e *ExperienceEventEnvelope) Kind() ExperienceEventKind {
	if e.Event == nil {
		return ""
	}
	return e.Event.Kind()
}

// ExperienceEvent is implemented by the 14 variant structs. Envelopes always
// hold pointers (*ProposalCreated, ...); the methods have value receivers so
// both forms satisfy the interface, but only pointers are produced by the
// decoders and only pointers are accepted by the encoders.
type ExperienceEvent interface {
	Kind() ExperienceEventKind
}

// ---- unit enums ----

// DecisionStep is the engine step an event belongs to.
type DecisionStep string

const (
	DecisionStepReasoning  DecisionStep = "Reasoning" // default
	DecisionStepEvaluation DecisionStep = "Evaluation"
	DecisionStepPlanning   DecisionStep = "Planning"
)

// ProposalKind classifies a KernelProposal.
type ProposalKind string

const (
	ProposalKindClaims         ProposalKind = "Claims"
	ProposalKindPlan           ProposalKind = "Plan"
	ProposalKindClassification ProposalKind = "Classification"
	ProposalKindEvaluation     ProposalKind = "Evaluation"
	ProposalKindDraftDocument  ProposalKind = "DraftDocument"
	ProposalKindReasoning      ProposalKind = "Reasoning"
)

// Replayability of a trace.
type Replayability string

const (
	ReplayabilityDeterministic Replayability = "Deterministic"
	ReplayabilityBestEffort    Replayability = "BestEffort"
	ReplayabilityNone          Replayability = "None"
)

// ReplayabilityDowngradeReason explains a ReplayabilityDowngraded event.
type ReplayabilityDowngradeReason string

const (
	DowngradeRecallEmbedderNotDeterministic  ReplayabilityDowngradeReason = "RecallEmbedderNotDeterministic"
	DowngradeRecallCorpusNotContentAddressed ReplayabilityDowngradeReason = "RecallCorpusNotContentAddressed"
	DowngradeRemoteBackendUsed               ReplayabilityDowngradeReason = "RemoteBackendUsed"
	DowngradeNoSeedProvided                  ReplayabilityDowngradeReason = "NoSeedProvided"
	DowngradeMultipleReasons                 ReplayabilityDowngradeReason = "MultipleReasons"
)

// RecallUse is the purpose of a recall.
type RecallUse string

const (
	RecallUseRuntimeAugmentation        RecallUse = "RuntimeAugmentation" // default
	RecallUseTrainingCandidateSelection RecallUse = "TrainingCandidateSelection"
)

// RecallConsumer is a consumer of recall results.
type RecallConsumer string

const (
	RecallConsumerKernel    RecallConsumer = "Kernel"
	RecallConsumerAnalytics RecallConsumer = "Analytics"
	RecallConsumerTrainer   RecallConsumer = "Trainer"
)

// RecallStopReason says why a recall stopped.
type RecallStopReason string

const (
	RecallStopReachedTopK              RecallStopReason = "ReachedTopK"
	RecallStopBudgetExhausted          RecallStopReason = "BudgetExhausted"
	RecallStopBelowThreshold           RecallStopReason = "BelowThreshold"
	RecallStopTokenLimitReached        RecallStopReason = "TokenLimitReached"
	RecallStopLatencyExceeded          RecallStopReason = "LatencyExceeded"
	RecallStopEmbedderNotDeterministic RecallStopReason = "EmbedderNotDeterministic"
	RecallStopTenantScopeMissing       RecallStopReason = "TenantScopeMissing"
)

// HypothesisOutcome is the result of a resolved hypothesis.
type HypothesisOutcome string

const (
	HypothesisConfirmed  HypothesisOutcome = "Confirmed"
	HypothesisFalsified  HypothesisOutcome = "Falsified"
	HypothesisSuperseded HypothesisOutcome = "Superseded"
	HypothesisUnresolved HypothesisOutcome = "Unresolved"
)

// GovernedArtifactState is a lifecycle state of a governed artifact.
type GovernedArtifactState string

const (
	StateDraft       GovernedArtifactState = "Draft"
	StateApproved    GovernedArtifactState = "Approved"
	StateActive      GovernedArtifactState = "Active"
	StateQuarantined GovernedArtifactState = "Quarantined"
	StateDeprecated  GovernedArtifactState = "Deprecated"
	StateRolledBack  GovernedArtifactState = "RolledBack"
)

// RollbackSeverity grades a rollback.
type RollbackSeverity string

const (
	SeverityLow      RollbackSeverity = "Low"
	SeverityMedium   RollbackSeverity = "Medium"
	SeverityHigh     RollbackSeverity = "High"
	SeverityCritical RollbackSeverity = "Critical"
)

// RiskTier is a routing-policy map key.
type RiskTier string

const (
	RiskTierLow      RiskTier = "Low"
	RiskTierMedium   RiskTier = "Medium"
	RiskTierHigh     RiskTier = "High"
	RiskTierCritical RiskTier = "Critical"
)

// DataClassification is a routing-policy map key.
type DataClassification string

const (
	DataPublic       DataClassification = "Public"
	DataInternal     DataClassification = "Internal"
	DataConfidential DataClassification = "Confidential"
	DataRestricted   DataClassification = "Restricted"
)

// InvariantClass is carried by StopReason InvariantViolated.
type InvariantClass string

const (
	InvariantStructural InvariantClass = "Structural"
	InvariantSemantic   InvariantClass = "Semantic"
	InvariantAcceptance InvariantClass = "Acceptance"
)

// ErrorCategory is carried by StopReason Error.
type ErrorCategory string

const (
	ErrorCategoryInternal      ErrorCategory = "Internal"
	ErrorCategoryConfiguration ErrorCategory = "Configuration"
	ErrorCategoryExternal      ErrorCategory = "External"
	ErrorCategoryResource      ErrorCategory = "Resource"
	ErrorCategoryUnknown       ErrorCategory = "Unknown"
)

// TimeoutAction is what a gate does on timeout.
type TimeoutAction string

const (
	TimeoutReject   TimeoutAction = "Reject"
	TimeoutApprove  TimeoutAction = "Approve"
	TimeoutEscalate TimeoutAction = "Escalate"
)

// ---- enums with data ----

// ArtifactKindTag is the variant name of an ArtifactKind.
type ArtifactKindTag string

const (
	ArtifactKindAdapter   ArtifactKindTag = "Adapter"
	ArtifactKindPack      ArtifactKindTag = "Pack"
	ArtifactKindPolicy    ArtifactKindTag = "Policy"
	ArtifactKindTruthFile ArtifactKindTag = "TruthFile"
	ArtifactKindEvalSuite ArtifactKindTag = "EvalSuite"
	ArtifactKindOther     ArtifactKindTag = "Other"
)

// ArtifactKind is the Rust enum ArtifactKind. Kind is the variant; Other is
// the payload of the Other(String) variant and must be "" for every other
// variant. JSON: "Adapter" ... or {"Other":"x"}.
type ArtifactKind struct {
	Kind  ArtifactKindTag
	Other string
}

// BudgetResourceTag is the variant name of a BudgetResource.
type BudgetResourceTag string

const (
	BudgetEngineBudget BudgetResourceTag = "EngineBudget"
	BudgetTokens       BudgetResourceTag = "Tokens"
	BudgetFacts        BudgetResourceTag = "Facts"
	BudgetCycles       BudgetResourceTag = "Cycles"
	BudgetTime         BudgetResourceTag = "Time"
	BudgetCost         BudgetResourceTag = "Cost"
	BudgetOther        BudgetResourceTag = "Other"
)

// BudgetResource is the Rust enum BudgetResource; same convention as
// ArtifactKind.
type BudgetResource struct {
	Kind  BudgetResourceTag
	Other string
}

// StopReasonKind is the variant name of an engine StopReason.
type StopReasonKind string

const (
	StopConverged                 StopReasonKind = "Converged"
	StopCriteriaMet               StopReasonKind = "CriteriaMet"
	StopUserCancelled             StopReasonKind = "UserCancelled"
	StopHumanInterventionRequired StopReasonKind = "HumanInterventionRequired"
	StopCycleBudgetExhausted      StopReasonKind = "CycleBudgetExhausted"
	StopFactBudgetExhausted       StopReasonKind = "FactBudgetExhausted"
	StopTokenBudgetExhausted      StopReasonKind = "TokenBudgetExhausted"
	StopTimeBudgetExhausted       StopReasonKind = "TimeBudgetExhausted"
	StopInvariantViolated         StopReasonKind = "InvariantViolated"
	StopPromotionRejected         StopReasonKind = "PromotionRejected"
	StopError                     StopReasonKind = "Error"
	StopAgentRefused              StopReasonKind = "AgentRefused"
	StopHitlGatePending           StopReasonKind = "HitlGatePending"
)

// StopReason is the engine's externally tagged StopReason enum.
//
// Kind is the discriminant. The three unit variants (Converged,
// UserCancelled) carry no data; every data variant has exactly one matching
// pointer field below, which is non-nil when Kind names that variant and nil
// otherwise (decoders always produce this shape; encoders treat a nil
// pointer as the zero value of the variant's data).
type StopReason struct {
	Kind StopReasonKind

	CriteriaMet               *StopCriteriaMetData
	HumanInterventionRequired *StopHumanInterventionData
	CycleBudgetExhausted      *StopCycleBudgetData
	FactBudgetExhausted       *StopFactBudgetData
	TokenBudgetExhausted      *StopTokenBudgetData
	TimeBudgetExhausted       *StopTimeBudgetData
	InvariantViolated         *StopInvariantViolatedData
	PromotionRejected         *StopPromotionRejectedData
	Error                     *StopErrorData
	AgentRefused              *StopAgentRefusedData
	HitlGatePending           *StopHitlGatePendingData
}

// StopCriteriaMetData is CriteriaMet{criteria}.
type StopCriteriaMetData struct {
	Criteria []CriterionID
}

// StopHumanInterventionData is HumanInterventionRequired{criteria, approval_refs}.
type StopHumanInterventionData struct {
	Criteria     []CriterionID
	ApprovalRefs []ApprovalPointID
}

// StopCycleBudgetData is CycleBudgetExhausted{cycles_executed, limit}.
type StopCycleBudgetData struct {
	CyclesExecuted uint32
	Limit          uint32
}

// StopFactBudgetData is FactBudgetExhausted{facts_count, limit}.
type StopFactBudgetData struct {
	FactsCount uint32
	Limit      uint32
}

// StopTokenBudgetData is TokenBudgetExhausted{tokens_consumed, limit}.
type StopTokenBudgetData struct {
	TokensConsumed uint64
	Limit          uint64
}

// StopTimeBudgetData is TimeBudgetExhausted{duration_ms, limit_ms}.
type StopTimeBudgetData struct {
	DurationMs uint64
	LimitMs    uint64
}

// StopInvariantViolatedData is InvariantViolated{class, name, reason}.
type StopInvariantViolatedData struct {
	Class  InvariantClass
	Name   string
	Reason string
}

// StopPromotionRejectedData is PromotionRejected{proposal_id, reason}.
type StopPromotionRejectedData struct {
	ProposalID string
	Reason     string
}

// StopErrorData is Error{message, category}.
type StopErrorData struct {
	Message  string
	Category ErrorCategory
}

// StopAgentRefusedData is AgentRefused{agent_id, reason}.
type StopAgentRefusedData struct {
	AgentID string
	Reason  string
}

// StopHitlGatePendingData is HitlGatePending{gate_id, proposal_id, summary, agent_id, cycle}.
type StopHitlGatePendingData struct {
	GateID     string
	ProposalID string
	Summary    string
	AgentID    string
	Cycle      uint32
}

// ReplayTraceType is the "type" tag of a ReplayTrace.
type ReplayTraceType string

const (
	ReplayTraceLocal  ReplayTraceType = "Local"
	ReplayTraceRemote ReplayTraceType = "Remote"
)

// ReplayTrace is internally tagged: {"type":"Local", ...fields}. Type is the
// discriminant; exactly the matching pointer is non-nil.
type ReplayTrace struct {
	Type   ReplayTraceType
	Local  *LocalReplayTrace
	Remote *RemoteReplayTrace
}

// LocalReplayTrace is the Local variant of ReplayTrace.
type LocalReplayTrace struct {
	BaseModelHash  string
	Adapter        *AdapterTrace
	TokenizerHash  string
	Seed           uint64
	Sampler        SamplerParams
	PromptVersion  string
	Recall         *RecallTrace
	WeightsMutated bool
	ExecutionEnv   ExecutionEnv
}

// RemoteReplayTrace is the Remote variant of ReplayTrace.
type RemoteReplayTrace struct {
	ProviderName        string
	ProviderModelID     string
	RequestFingerprint  string
	ResponseFingerprint string
	Temperature         float32
	TopP                float32
	MaxTokens           uint64
	ProviderMetadata    map[string]string
	Retried             bool
	RetryReasons        []string
	Replayability       Replayability
}

// AdapterTrace identifies the adapter used by a local run.
type AdapterTrace struct {
	AdapterID   string
	AdapterHash string
	Merged      bool
}

// SamplerParams are the sampling parameters of a local run.
type SamplerParams struct {
	Temperature float32
	TopP        float32
	TopK        *uint64
}

// RecallTrace records the recall step of a local run.
type RecallTrace struct {
	CorpusFingerprint string
	CandidateIDs      []string
	CandidateScores   []float32
	InjectedCount     uint64
}

// ExecutionEnv describes where a local run executed.
type ExecutionEnv struct {
	Device    string
	Backend   string
	Precision string
}

// ContractResult is one contract check of a KernelProposal.
type ContractResult struct {
	Name          string
	Passed        bool
	FailureReason *string
}

// ContractResultSnapshot is one contract check in ProposalValidated.
type ContractResultSnapshot struct {
	Name          string
	Passed        bool
	FailureReason *string
}

// KernelProposal is the proposal carried by ProposalCreated.
type KernelProposal struct {
	ID                string
	Kind              ProposalKind
	Payload           string
	StructuredPayload RawJSON // nil = absent
	TraceLink         ReplayTrace
	ContractResults   []ContractResult
	RequiresHuman     bool
	Confidence        *float32
}

// RecallQuery is the query of a RecallExecuted event.
type RecallQuery struct {
	QueryText   string
	TopK        uint64
	StepContext *DecisionStep
	TenantScope *string
}

// CandidateScore is one scored recall candidate.
type CandidateScore struct {
	ID    string
	Score float64
}

// RecallProvenanceEnvelope is the provenance of a RecallExecuted event.
type RecallProvenanceEnvelope struct {
	QueryHash            string
	EmbeddingInputHash   string
	EmbeddingHash        string
	EmbedderID           string
	EmbedderSettingsHash string
	CorpusFingerprint    string
	PolicySnapshotHash   string
	Purpose              RecallUse        // default RuntimeAugmentation
	Consumers            []RecallConsumer // default empty
	CandidateScores      []CandidateScore
	CandidatesSearched   uint64
	CandidatesReturned   uint64
	StopReason           *RecallStopReason
	LatencyMs            uint64
	Timestamp            string
	Signature            string // default "unsigned"
}

// LifecycleEvent is one governed-artifact state transition.
type LifecycleEvent struct {
	FromState GovernedArtifactState
	ToState   GovernedArtifactState
	Timestamp string
	Actor     string
	Reason    string
	TicketRef *string
	TenantID  *string
}

// RollbackImpact describes the impact of a rollback.
type RollbackImpact struct {
	AffectedCount      *uint64
	QualityIssues      []string
	InvalidatesOutputs bool
	Severity           RollbackSeverity
	AffectedTenants    []string
}

// RollbackRecord is the payload of ArtifactRollbackRecorded.
type RollbackRecord struct {
	ArtifactID    string
	PreviousState GovernedArtifactState
	RolledBackAt  string
	Actor         string
	Reason        string
	Impact        RollbackImpact
	IncidentRef   *string
	TenantID      *string
}

// PolicySnapshotType is the "type" tag of a PolicySnapshot.
type PolicySnapshotType string

const (
	PolicySnapshotKernel  PolicySnapshotType = "Kernel"
	PolicySnapshotRouting PolicySnapshotType = "Routing"
	PolicySnapshotRecall  PolicySnapshotType = "Recall"
)

// PolicySnapshot is adjacently tagged {"type":..., "policy":{...}}. Type is
// the discriminant; exactly the matching pointer is non-nil.
type PolicySnapshot struct {
	Type    PolicySnapshotType
	Kernel  *KernelPolicy
	Routing *RoutingPolicy
	Recall  *RecallPolicy
}

// KernelPolicy is the Kernel variant of PolicySnapshot.
type KernelPolicy struct {
	AdapterID           *string
	RecallEnabled       bool
	RecallMaxCandidates uint64
	RecallMinScore      float32
	Seed                *uint64
	RequiresHuman       bool
	RequiredTruths      []string
}

// RoutingPolicy is the Routing variant of PolicySnapshot.
type RoutingPolicy struct {
	TruthPreferences           map[string]string
	RiskTierBackends           map[RiskTier][]string
	DataClassificationBackends map[DataClassification][]string
	DefaultBackend             string
}

// RecallBudgets bounds a recall.
type RecallBudgets struct {
	MaxLatencyMs          uint64
	MaxEmbeddingCalls     uint64
	MaxTokensPerCandidate uint64
}

// RecallPolicy is the Recall variant of PolicySnapshot.
type RecallPolicy struct {
	Enabled            bool
	MaxKTotal          uint64
	MaxTokensInjection uint64
	MinScoreThreshold  float64
	Budgets            RecallBudgets
	AllowedUses        []RecallUse // default [RuntimeAugmentation] when the key is missing
}

// GateContextEntry is one label/value pair of a GateRequest.
type GateContextEntry struct {
	Label string
	Value string
}

// GateTimeout is the timeout policy of a GateRequest.
type GateTimeout struct {
	TimeoutSecs uint64
	Action      TimeoutAction
}

// GateRequest is a human-in-the-loop gate request.
type GateRequest struct {
	GateID      string
	ProposalID  string
	Summary     string
	AgentID     string
	Rationale   *string
	ContextData []GateContextEntry
	Cycle       uint32
	RequestedAt Timestamp
	Timeout     GateTimeout
}

// GateVerdictKind is the variant of a GateVerdict.
type GateVerdictKind string

const (
	GateApprove GateVerdictKind = "Approve"
	GateReject  GateVerdictKind = "Reject"
)

// GateVerdict is "Approve" or {"Reject":{"reason": opt}}. RejectReason is
// only meaningful (and must be nil otherwise) when Kind is GateReject.
type GateVerdict struct {
	Kind         GateVerdictKind
	RejectReason *string
}

// GateDecision is the decision recorded for a gate.
type GateDecision struct {
	GateID    string
	Verdict   GateVerdict
	DecidedBy string
	DecidedAt Timestamp
}

// ---- the 14 event variants ----

// ProposalCreated records a new kernel proposal.
type ProposalCreated struct {
	Proposal           KernelProposal
	ChainID            ChainID
	Step               DecisionStep
	PolicySnapshotHash *ContentHash
}

// ProposalValidated records the validation of a proposal.
type ProposalValidated struct {
	ProposalID      ProposalID
	ChainID         ChainID
	Step            DecisionStep
	ContractResults []ContractResultSnapshot
	AllPassed       bool
	Validator       ActorID
}

// FactPromoted records the promotion of a proposal to a fact.
type FactPromoted struct {
	ProposalID    ProposalID
	FactID        FactID
	PromotedBy    ActorID
	Reason        string
	RequiresHuman bool
}

// RecallExecuted records a recall.
type RecallExecuted struct {
	Query       RecallQuery
	Provenance  RecallProvenanceEnvelope
	TraceLinkID *TraceLinkID
}

// ReplayTraceRecorded registers a replay trace under a trace link id.
type ReplayTraceRecorded struct {
	TraceLinkID TraceLinkID
	TraceLink   ReplayTrace
}

// ReplayabilityDowngraded records a drop in replayability.
type ReplayabilityDowngraded struct {
	TraceLinkID TraceLinkID
	From        Replayability
	To          Replayability
	Reason      ReplayabilityDowngradeReason
}

// ArtifactStateTransitioned records a governed-artifact lifecycle move.
type ArtifactStateTransitioned struct {
	ArtifactID   ArtifactID
	ArtifactKind ArtifactKind
	Event        LifecycleEvent
}

// ArtifactRollbackRecorded records an artifact rollback.
type ArtifactRollbackRecorded struct {
	Rollback RollbackRecord
}

// BackendInvoked records a backend call.
type BackendInvoked struct {
	BackendName        BackendID
	AdapterID          *BackendID
	TraceLinkID        TraceLinkID
	Step               DecisionStep
	PolicySnapshotHash *ContentHash
}

// OutcomeRecorded records the outcome of a chain step.
type OutcomeRecorded struct {
	ChainID          ChainID
	Step             DecisionStep
	Passed           bool
	StopReason       *StopReason
	LatencyMs        *uint64
	Tokens           *uint64
	CostMicrodollars *uint64
	Backend          *BackendID
	Metadata         map[string]string // omitted from JSON when empty
}

// BudgetExceeded records a budget overrun.
type BudgetExceeded struct {
	ChainID  ChainID
	Resource BudgetResource
	Limit    string
	Observed *string
}

// PolicySnapshotCaptured records a policy snapshot.
type PolicySnapshotCaptured struct {
	PolicyID     PolicyID
	Policy       PolicySnapshot
	SnapshotHash ContentHash
	CapturedBy   ActorID
}

// HypothesisResolved records the resolution of a hypothesis.
type HypothesisResolved struct {
	ChainID         ChainID
	FactID          FactID
	Domain          DomainID
	Claim           string
	Confidence      float64
	Outcome         HypothesisOutcome
	ContradictionID *TensionID // omitted from JSON when nil
	FormedCycle     uint32
	ResolvedCycle   uint32
}

// GateDecisionRecorded records a human-in-the-loop gate decision.
type GateDecisionRecorded struct {
	Request  GateRequest
	Decision GateDecision
}

func (ProposalCreated) Kind() ExperienceEventKind           { return KindProposalCreated }
func (ProposalValidated) Kind() ExperienceEventKind         { return KindProposalValidated }
func (FactPromoted) Kind() ExperienceEventKind              { return KindFactPromoted }
func (RecallExecuted) Kind() ExperienceEventKind            { return KindRecallExecuted }
func (ReplayTraceRecorded) Kind() ExperienceEventKind       { return KindReplayTraceRecorded }
func (ReplayabilityDowngraded) Kind() ExperienceEventKind   { return KindReplayabilityDowngraded }
func (ArtifactStateTransitioned) Kind() ExperienceEventKind { return KindArtifactStateTransitioned }
func (ArtifactRollbackRecorded) Kind() ExperienceEventKind  { return KindArtifactRollbackRecorded }
func (BackendInvoked) Kind() ExperienceEventKind            { return KindBackendInvoked }
func (OutcomeRecorded) Kind() ExperienceEventKind           { return KindOutcomeRecorded }
func (BudgetExceeded) Kind() ExperienceEventKind            { return KindBudgetExceeded }
func (PolicySnapshotCaptured) Kind() ExperienceEventKind    { return KindPolicySnapshotCaptured }
func (HypothesisResolved) Kind() ExperienceEventKind        { return KindHypothesisResolved }
func (GateDecisionRecorded) Kind() ExperienceEventKind      { return KindGateDecisionRecorded }

// ChainIDOf returns the chain_id carried by ev, for every variant that has
// one (ProposalCreated, ProposalValidated, OutcomeRecorded, BudgetExceeded,
// HypothesisResolved). The reference store's narrower chain filter (without
// HypothesisResolved) is applied by MemStore itself.
func ChainIDOf(ev ExperienceEvent) (ChainID, bool) {
	switch e := ev.(type) {
	case *ProposalCreated:
		return e.ChainID, true
	case *ProposalValidated:
		return e.ChainID, true
	case *OutcomeRecorded:
		return e.ChainID, true
	case *BudgetExceeded:
		return e.ChainID, true
	case *HypothesisResolved:
		return e.ChainID, true
	case ProposalCreated:
		return e.ChainID, true
	case ProposalValidated:
		return e.ChainID, true
	case OutcomeRecorded:
		return e.ChainID, true
	case BudgetExceeded:
		return e.ChainID, true
	case HypothesisResolved:
		return e.ChainID, true
	}
	return "", false
}

// TraceLinkIDOf returns the trace_link_id field of ev: ReplayTraceRecorded,
// ReplayabilityDowngraded, BackendInvoked, and RecallExecuted when set.
// Only ReplayTraceRecorded registers a trace (see GetTraceLink).
func TraceLinkIDOf(ev ExperienceEvent) (TraceLinkID, bool) {
	switch e := ev.(type) {
	case *ReplayTraceRecorded:
		return e.TraceLinkID, true
	case *ReplayabilityDowngraded:
		return e.TraceLinkID, true
	case *BackendInvoked:
		return e.TraceLinkID, true
	case *RecallExecuted:
		if e.TraceLinkID != nil {
			return *e.TraceLinkID, true
		}
	case ReplayTraceRecorded:
		return e.TraceLinkID, true
	case ReplayabilityDowngraded:
		return e.TraceLinkID, true
	case BackendInvoked:
		return e.TraceLinkID, true
	case RecallExecuted:
		if e.TraceLinkID != nil {
			return *e.TraceLinkID, true
		}
	}
	return "", false
}

// ArtifactIDOf returns the artifact id of ArtifactStateTransitioned
// (artifact_id) and ArtifactRollbackRecorded (rollback.artifact_id).
func ArtifactIDOf(ev ExperienceEvent) (ArtifactID, bool) {
	switch e := ev.(type) {
	case *ArtifactStateTransitioned:
		return e.ArtifactID, true
	case *ArtifactRollbackRecorded:
		return ArtifactID(e.Rollback.ArtifactID), true
	case ArtifactStateTransitioned:
		return e.ArtifactID, true
	case ArtifactRollbackRecorded:
		return ArtifactID(e.Rollback.ArtifactID), true
	}
	return "", false
}
