package ledger

// Canonical msgpack encoding of ExperienceEventEnvelope.
//
// This is the on-disk form of an event. It is standard msgpack (any msgpack
// reader, e.g. vmihailenco/msgpack's Unmarshal into map[string]any, can read
// it), restricted to exactly one byte sequence per value so that equal
// envelopes always give identical bytes (content hashes, duplicate detection
// and byte-identical idempotent re-appends rely on it).
//
// # Rules
//
//   - Every struct is a msgpack map whose keys are the SPEC / JSON field
//     names, in the SPEC's fixed field order (not sorted). Every field is
//     always present: the key count of a struct is fixed.
//   - An absent Option is nil (0xc0). This rule has no exceptions: the two
//     fields JSON omits (OutcomeRecorded.metadata when empty,
//     HypothesisResolved.contradiction_id when absent) are written here as an
//     empty map and as nil respectively.
//   - Sequences are arrays; nil and empty slices both encode as an empty
//     array. Go maps are maps with their keys sorted bytewise (ascending,
//     unique); nil and empty maps both encode as an empty map.
//   - Unit enums are their variant-name string. Every enum value is checked:
//     an unknown variant name (including the Go zero value "") is an encode
//     error, because it could not be read back.
//   - Tagged unions follow the JSON shapes of SPEC §2:
//     the envelope's event is {"type": kind, "data": {...}};
//     ReplayTrace is internally tagged ({"type": "Local", ...fields});
//     PolicySnapshot is {"type": ..., "policy": {...}};
//     StopReason, ArtifactKind, BudgetResource and GateVerdict are externally
//     tagged: a unit variant is its bare name string, a data variant is a
//     one-entry map {"Variant": data}.
//   - Integers (u32, u64, usize) use the smallest msgpack unsigned encoding:
//     positive fixint, uint8, uint16, uint32 or uint64.
//   - f32 fields are float32 (0xca), f64 fields are float64 (0xcb), bit-exact
//     (-0.0 is kept). NaN and ±Inf are rejected: JSON cannot carry them.
//   - ContentHash is bin8 of 32 bytes (c4 20 ...).
//   - Strings use the smallest header (fixstr, str8, str16, str32). Their
//     bytes are written as they are (the JSON layer owns UTF-8 handling).
//   - KernelProposal.structured_payload (RawJSON) is its compact JSON text as
//     a str; nil RawJSON (absent) is nil.
//   - Map and array headers use the smallest form (fix, 16, 32).
//
// Envelope layout:
//
//	{"event_id": str, "occurred_at": str, "tenant_id": str|nil,
//	 "correlation_id": str|nil, "event": {"type": str, "data": {...}}}
//
// # Decoding
//
// UnmarshalCanonical accepts exactly the bytes the encoder produces and
// nothing else: keys must appear in order, every integer, string and
// container header must use its smallest form, map keys must be sorted and
// unique, enums must name a known variant, floats must be finite, and no
// byte may follow the envelope. Unknown keys are rejected. Hence for any
// input x that decodes, MarshalCanonical(UnmarshalCanonical(x)) == x.
//
// The decoder never panics, checks every length and count against the
// remaining input before allocating (a count n needs at least n bytes, and
// more for types with a larger minimal encoding), and is schema driven, so
// nesting depth is bounded by the data model itself. Its allocations are
// linear in the input size: one array holding the decoded strings'
// contents (sized from the input; should the estimate fall short, a second
// one sized for the rest), one block per event holding the event and the
// targets of its optional fields, plus Go structure overhead, in total at
// most MaxDecodeAllocFactor*N + 64 KiB for any N-byte input (the worst
// cases are arrays of empty strings and maps of tiny keys; realistic events
// allocate about 1.2N in 3 allocations). Decoded values never alias the
// input. Maps are validated in a first pass and allocated once, at their
// exact size. Decoded empty arrays are non-nil empty
// slices; decoded empty maps are nil.
//
// DecodeHeader reads only the fields needed for indexing and skips the rest
// without allocating; it validates what it reads but not the skipped parts.

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"sync"
)

// ErrMsgpack is wrapped by every error of the canonical msgpack codec (both
// *DecodeError and *EncodeError match errors.Is(err, ErrMsgpack)).
var ErrMsgpack = errors.New("msgpack")

// DecodeError reports malformed or non-canonical input.
type DecodeError struct {
	Offset int    // byte offset in the input where the problem was found
	Reason string // what was wrong
}

func (e *DecodeError) Error() string {
	return "msgpack: offset " + strconv.Itoa(e.Offset) + ": " + e.Reason
}

// Unwrap returns ErrMsgpack.
func (e *DecodeError) Unwrap() error { return ErrMsgpack }

// EncodeError reports an envelope that has no canonical encoding (nil
// event, unknown enum variant, non-finite float, ...).
type EncodeError struct {
	Field  string // dotted path of the offending field
	Reason string
}

func (e *EncodeError) Error() string {
	return "msgpack: encode " + e.Field + ": " + e.Reason
}

// Unwrap returns ErrMsgpack.
func (e *EncodeError) Unwrap() error { return ErrMsgpack }

// msgpack format bytes used here.
const (
	mpNil     = 0xc0
	mpFalse   = 0xc2
	mpTrue    = 0xc3
	mpBin8    = 0xc4
	mpBin16   = 0xc5
	mpBin32   = 0xc6
	mpFloat32 = 0xca
	mpFloat64 = 0xcb
	mpUint8   = 0xcc
	mpUint16  = 0xcd
	mpUint32  = 0xce
	mpUint64  = 0xcf
	mpStr8    = 0xd9
	mpStr16   = 0xda
	mpStr32   = 0xdb
	mpArray16 = 0xdc
	mpArray32 = 0xdd
	mpMap16   = 0xde
	mpMap32   = 0xdf
)

// mk returns the fixstr encoding of a key (header byte + bytes). Every key
// of the data model is shorter than 32 bytes.
func mk(s string) string {
	if len(s) >= 32 {
		panic("ledger: msgpack key too long: " + s)
	}
	return string([]byte{0xa0 | byte(len(s))}) + s
}

// Pre-encoded keys: the fixstr encoding of each (header byte 0xa0|len,
// then the bytes). They are constants so that where dec.key is inlined
// the key's words are immediates; TestMsgpackKeyConstants checks them.
const (
	kEventID       = "\xa8event_id"
	kOccurredAt    = "\xaboccurred_at"
	kTenantID      = "\xa9tenant_id"
	kCorrelationID = "\xaecorrelation_id"
	kEvent         = "\xa5event"
	kType          = "\xa4type"
	kData          = "\xa4data"

	kProposal           = "\xa8proposal"
	kChainID            = "\xa8chain_id"
	kStep               = "\xa4step"
	kPolicySnapshotHash = "\xb4policy_snapshot_hash"
	kID                 = "\xa2id"
	kKind               = "\xa4kind"
	kPayload            = "\xa7payload"
	kStructuredPayload  = "\xb2structured_payload"
	kTraceLink          = "\xaatrace_link"
	kContractResults    = "\xb0contract_results"
	kRequiresHuman      = "\xaerequires_human"
	kConfidence         = "\xaaconfidence"
	kName               = "\xa4name"
	kPassed             = "\xa6passed"
	kFailureReason      = "\xaefailure_reason"

	kBaseModelHash       = "\xafbase_model_hash"
	kAdapter             = "\xa7adapter"
	kTokenizerHash       = "\xaetokenizer_hash"
	kSeed                = "\xa4seed"
	kSampler             = "\xa7sampler"
	kPromptVersion       = "\xaeprompt_version"
	kRecall              = "\xa6recall"
	kWeightsMutated      = "\xafweights_mutated"
	kExecutionEnv        = "\xadexecution_env"
	kProviderName        = "\xadprovider_name"
	kProviderModelID     = "\xb1provider_model_id"
	kRequestFingerprint  = "\xb3request_fingerprint"
	kResponseFingerprint = "\xb4response_fingerprint"
	kTemperature         = "\xabtemperature"
	kTopP                = "\xa5top_p"
	kMaxTokens           = "\xaamax_tokens"
	kProviderMetadata    = "\xb1provider_metadata"
	kRetried             = "\xa7retried"
	kRetryReasons        = "\xadretry_reasons"
	kReplayability       = "\xadreplayability"
	kAdapterID           = "\xaaadapter_id"
	kAdapterHash         = "\xacadapter_hash"
	kMerged              = "\xa6merged"
	kTopK                = "\xa5top_k"
	kCorpusFingerprint   = "\xb2corpus_fingerprint"
	kCandidateIDs        = "\xadcandidate_ids"
	kCandidateScores     = "\xb0candidate_scores"
	kInjectedCount       = "\xaeinjected_count"
	kDevice              = "\xa6device"
	kBackend             = "\xa7backend"
	kPrecision           = "\xa9precision"

	kProposalID = "\xabproposal_id"
	kAllPassed  = "\xaaall_passed"
	kValidator  = "\xa9validator"
	kFactID     = "\xa7fact_id"
	kPromotedBy = "\xabpromoted_by"
	kReason     = "\xa6reason"

	kQuery                = "\xa5query"
	kProvenance           = "\xaaprovenance"
	kTraceLinkID          = "\xadtrace_link_id"
	kQueryText            = "\xaaquery_text"
	kStepContext          = "\xacstep_context"
	kTenantScope          = "\xactenant_scope"
	kQueryHash            = "\xaaquery_hash"
	kEmbeddingInputHash   = "\xb4embedding_input_hash"
	kEmbeddingHash        = "\xaeembedding_hash"
	kEmbedderID           = "\xabembedder_id"
	kEmbedderSettingsHash = "\xb6embedder_settings_hash"
	kPurpose              = "\xa7purpose"
	kConsumers            = "\xa9consumers"
	kCandidatesSearched   = "\xb3candidates_searched"
	kCandidatesReturned   = "\xb3candidates_returned"
	kStopReason           = "\xabstop_reason"
	kLatencyMs            = "\xaalatency_ms"
	kTimestamp            = "\xa9timestamp"
	kSignature            = "\xa9signature"
	kScore                = "\xa5score"

	kFrom = "\xa4from"
	kTo   = "\xa2to"

	kArtifactID   = "\xabartifact_id"
	kArtifactKind = "\xadartifact_kind"
	kFromState    = "\xaafrom_state"
	kToState      = "\xa8to_state"
	kActor        = "\xa5actor"
	kTicketRef    = "\xaaticket_ref"
	kOther        = "\xa5Other"

	kRollback           = "\xa8rollback"
	kPreviousState      = "\xaeprevious_state"
	kRolledBackAt       = "\xaerolled_back_at"
	kImpact             = "\xa6impact"
	kIncidentRef        = "\xacincident_ref"
	kAffectedCount      = "\xaeaffected_count"
	kQualityIssues      = "\xaequality_issues"
	kInvalidatesOutputs = "\xb3invalidates_outputs"
	kSeverity           = "\xa8severity"
	kAffectedTenants    = "\xb0affected_tenants"

	kBackendName = "\xacbackend_name"

	kTokens           = "\xa6tokens"
	kCostMicrodollars = "\xb1cost_microdollars"
	kMetadata         = "\xa8metadata"
	kCriteria         = "\xa8criteria"
	kApprovalRefs     = "\xadapproval_refs"
	kCyclesExecuted   = "\xafcycles_executed"
	kLimit            = "\xa5limit"
	kFactsCount       = "\xabfacts_count"
	kTokensConsumed   = "\xaftokens_consumed"
	kDurationMs       = "\xabduration_ms"
	kLimitMs          = "\xa8limit_ms"
	kClass            = "\xa5class"
	kMessage          = "\xa7message"
	kCategory         = "\xa8category"
	kAgentID          = "\xa8agent_id"
	kGateID           = "\xa7gate_id"
	kSummary          = "\xa7summary"
	kCycle            = "\xa5cycle"

	kResource = "\xa8resource"
	kObserved = "\xa8observed"

	kPolicyID              = "\xa9policy_id"
	kPolicy                = "\xa6policy"
	kSnapshotHash          = "\xadsnapshot_hash"
	kCapturedBy            = "\xabcaptured_by"
	kRecallEnabled         = "\xaerecall_enabled"
	kRecallMaxCandidates   = "\xb5recall_max_candidates"
	kRecallMinScore        = "\xb0recall_min_score"
	kRequiredTruths        = "\xafrequired_truths"
	kTruthPreferences      = "\xb1truth_preferences"
	kRiskTierBackends      = "\xb2risk_tier_backends"
	kDataClassBackends     = "\xbcdata_classification_backends"
	kDefaultBackend        = "\xafdefault_backend"
	kEnabled               = "\xa7enabled"
	kMaxKTotal             = "\xabmax_k_total"
	kMaxTokensInjection    = "\xb4max_tokens_injection"
	kMinScoreThreshold     = "\xb3min_score_threshold"
	kBudgets               = "\xa7budgets"
	kAllowedUses           = "\xacallowed_uses"
	kMaxLatencyMs          = "\xaemax_latency_ms"
	kMaxEmbeddingCalls     = "\xb3max_embedding_calls"
	kMaxTokensPerCandidate = "\xb8max_tokens_per_candidate"

	kDomain          = "\xa6domain"
	kClaim           = "\xa5claim"
	kOutcome         = "\xa7outcome"
	kContradictionID = "\xb0contradiction_id"
	kFormedCycle     = "\xacformed_cycle"
	kResolvedCycle   = "\xaeresolved_cycle"

	kRequest     = "\xa7request"
	kDecision    = "\xa8decision"
	kRationale   = "\xa9rationale"
	kContextData = "\xaccontext_data"
	kRequestedAt = "\xacrequested_at"
	kTimeout     = "\xa7timeout"
	kLabel       = "\xa5label"
	kValue       = "\xa5value"
	kTimeoutSecs = "\xactimeout_secs"
	kAction      = "\xa6action"
	kVerdict     = "\xa7verdict"
	kDecidedBy   = "\xaadecided_by"
	kDecidedAt   = "\xaadecided_at"
	kReject      = "\xa6Reject"
)

// ---- enum tables (each lists every variant; order is irrelevant) ----

var (
	enumDecisionStep   = []DecisionStep{DecisionStepReasoning, DecisionStepEvaluation, DecisionStepPlanning}
	enumProposalKind   = []ProposalKind{ProposalKindClaims, ProposalKindPlan, ProposalKindClassification, ProposalKindEvaluation, ProposalKindDraftDocument, ProposalKindReasoning}
	enumReplayability  = []Replayability{ReplayabilityDeterministic, ReplayabilityBestEffort, ReplayabilityNone}
	enumDowngrade      = []ReplayabilityDowngradeReason{DowngradeRecallEmbedderNotDeterministic, DowngradeRecallCorpusNotContentAddressed, DowngradeRemoteBackendUsed, DowngradeNoSeedProvided, DowngradeMultipleReasons}
	enumRecallUse      = []RecallUse{RecallUseRuntimeAugmentation, RecallUseTrainingCandidateSelection}
	enumRecallConsumer = []RecallConsumer{RecallConsumerKernel, RecallConsumerAnalytics, RecallConsumerTrainer}
	enumRecallStop     = []RecallStopReason{RecallStopReachedTopK, RecallStopBudgetExhausted, RecallStopBelowThreshold, RecallStopTokenLimitReached, RecallStopLatencyExceeded, RecallStopEmbedderNotDeterministic, RecallStopTenantScopeMissing}
	enumHypothesis     = []HypothesisOutcome{HypothesisConfirmed, HypothesisFalsified, HypothesisSuperseded, HypothesisUnresolved}
	enumArtifactState  = []GovernedArtifactState{StateDraft, StateApproved, StateActive, StateQuarantined, StateDeprecated, StateRolledBack}
	enumSeverity       = []RollbackSeverity{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}
	enumInvariantClass = []InvariantClass{InvariantStructural, InvariantSemantic, InvariantAcceptance}
	enumErrorCategory  = []ErrorCategory{ErrorCategoryInternal, ErrorCategoryConfiguration, ErrorCategoryExternal, ErrorCategoryResource, ErrorCategoryUnknown}
	enumTimeoutAction  = []TimeoutAction{TimeoutReject, TimeoutApprove, TimeoutEscalate}
	// unit variants of the externally tagged enums with an Other(String) arm
	enumArtifactKindUnit   = []ArtifactKindTag{ArtifactKindAdapter, ArtifactKindPack, ArtifactKindPolicy, ArtifactKindTruthFile, ArtifactKindEvalSuite}
	enumBudgetResourceUnit = []BudgetResourceTag{BudgetEngineBudget, BudgetTokens, BudgetFacts, BudgetCycles, BudgetTime, BudgetCost}
	// map-key enums, in bytewise sorted order (the canonical key order)
	sortedRiskTiers = []RiskTier{RiskTierCritical, RiskTierHigh, RiskTierLow, RiskTierMedium}
	sortedDataClass = []DataClassification{DataConfidential, DataInternal, DataPublic, DataRestricted}
)

func enumOK[E ~string](vals []E, v E) bool {
	for _, x := range vals {
		if x == v {
			return true
		}
	}
	return false
}

// ---- encoder ----

// enc appends canonical msgpack to b. The first error is sticky; later calls
// keep appending harmless bytes that the caller discards.
type enc struct {
	b    []byte
	err  error
	keys *[]string // scratch for sorting map keys, from keyPool
}

var keyPool = sync.Pool{New: func() any { s := make([]string, 0, 16); return &s }}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// AppendCanonical appends the canonical msgpack encoding of e to dst and
// returns the extended slice. On error dst is returned unchanged (its
// length; bytes past it may have been written). It does not allocate in
// steady state beyond growing dst.
func AppendCanonical(dst []byte, e *ExperienceEventEnvelope) ([]byte, error) {
	n := len(dst)
	en := enc{b: dst}
	en.envelope(e)
	if en.keys != nil {
		clear(*en.keys)
		*en.keys = (*en.keys)[:0]
		keyPool.Put(en.keys)
	}
	if en.err != nil {
		return en.b[:n], en.err
	}
	return en.b, nil
}

// MarshalCanonical returns the canonical msgpack encoding of e in a new
// slice of exactly the encoded length.
func MarshalCanonical(e *ExperienceEventEnvelope) ([]byte, error) {
	bp := bufPool.Get().(*[]byte)
	b, err := AppendCanonical((*bp)[:0], e)
	var out []byte
	if err == nil {
		out = make([]byte, len(b))
		copy(out, b)
	}
	if cap(b) <= 1<<20 { // do not keep outlier buffers alive
		*bp = b[:0]
		bufPool.Put(bp)
	}
	return out, err
}

func (e *enc) fail(field, reason string) {
	if e.err == nil {
		e.err = &EncodeError{Field: field, Reason: reason}
	}
}

func (e *enc) key(k string) { e.b = append(e.b, k...) }

func (e *enc) nil_() { e.b = append(e.b, mpNil) }

func (e *enc) boolean(v bool) {
	if v {
		e.b = append(e.b, mpTrue)
	} else {
		e.b = append(e.b, mpFalse)
	}
}

func (e *enc) mapHdr(n int) {
	switch {
	case n < 16:
		e.b = append(e.b, 0x80|byte(n))
	case n <= math.MaxUint16:
		e.b = append(e.b, mpMap16, byte(n>>8), byte(n))
	case uint64(n) <= math.MaxUint32:
		e.b = append(e.b, mpMap32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		e.fail("map", "too many entries")
	}
}

func (e *enc) arrHdr(n int) {
	switch {
	case n < 16:
		e.b = append(e.b, 0x90|byte(n))
	case n <= math.MaxUint16:
		e.b = append(e.b, mpArray16, byte(n>>8), byte(n))
	case uint64(n) <= math.MaxUint32:
		e.b = append(e.b, mpArray32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		e.fail("array", "too many elements")
	}
}

func (e *enc) str(s string) {
	if e.strHdr(len(s)) {
		e.b = append(e.b, s...)
	}
}

// strBytes writes b as a msgpack str.
func (e *enc) strBytes(b []byte) {
	if e.strHdr(len(b)) {
		e.b = append(e.b, b...)
	}
}

func (e *enc) strHdr(n int) bool {
	switch {
	case n < 32:
		e.b = append(e.b, 0xa0|byte(n))
	case n <= math.MaxUint8:
		e.b = append(e.b, mpStr8, byte(n))
	case n <= math.MaxUint16:
		e.b = append(e.b, mpStr16, byte(n>>8), byte(n))
	case uint64(n) <= math.MaxUint32:
		e.b = append(e.b, mpStr32, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	default:
		e.fail("string", "longer than 4 GiB")
		return false
	}
	return true
}

func (e *enc) uint(v uint64) {
	switch {
	case v < 0x80:
		e.b = append(e.b, byte(v))
	case v <= math.MaxUint8:
		e.b = append(e.b, mpUint8, byte(v))
	case v <= math.MaxUint16:
		e.b = append(e.b, mpUint16, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		e.b = append(e.b, mpUint32, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	default:
		e.b = append(e.b, mpUint64, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
			byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
}

func (e *enc) f32(field string, v float32) {
	f := float64(v)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		e.fail(field, "non-finite float")
	}
	u := math.Float32bits(v)
	e.b = append(e.b, mpFloat32, byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

func (e *enc) f64(field string, v float64) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		e.fail(field, "non-finite float")
	}
	u := math.Float64bits(v)
	e.b = append(e.b, mpFloat64, byte(u>>56), byte(u>>48), byte(u>>40), byte(u>>32),
		byte(u>>24), byte(u>>16), byte(u>>8), byte(u))
}

func (e *enc) hash(h *ContentHash) {
	e.b = append(e.b, mpBin8, 32)
	e.b = append(e.b, h[:]...)
}

func (e *enc) optHash(h *ContentHash) {
	if h == nil {
		e.nil_()
		return
	}
	e.hash(h)
}

func optStr[S ~string](e *enc, s *S) {
	if s == nil {
		e.nil_()
		return
	}
	e.str(string(*s))
}

func (e *enc) optUint(v *uint64) {
	if v == nil {
		e.nil_()
		return
	}
	e.uint(*v)
}

func enumStr[E ~string](e *enc, field string, vals []E, v E) {
	if !enumOK(vals, v) {
		e.fail(field, "unknown variant "+strconv.Quote(string(v)))
	}
	e.str(string(v))
}

func strSlice[S ~string](e *enc, s []S) {
	e.arrHdr(len(s))
	for _, x := range s {
		e.str(string(x))
	}
}

// strMap writes m with its keys sorted bytewise.
func (e *enc) strMap(m map[string]string) {
	e.mapHdr(len(m))
	if len(m) == 0 {
		return
	}
	if e.keys == nil {
		e.keys = keyPool.Get().(*[]string)
	}
	keys := (*e.keys)[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e.str(k)
		e.str(m[k])
	}
	clear(keys)
	*e.keys = keys[:0]
}

func (e *enc) envelope(env *ExperienceEventEnvelope) {
	if env == nil {
		e.fail("envelope", "nil envelope")
		return
	}
	e.mapHdr(5)
	e.key(kEventID)
	e.str(string(env.EventID))
	e.key(kOccurredAt)
	e.str(string(env.OccurredAt))
	e.key(kTenantID)
	optStr(e, env.TenantID)
	e.key(kCorrelationID)
	optStr(e, env.CorrelationID)
	e.key(kEvent)
	e.mapHdr(2)
	e.key(kType)
	switch ev := env.Event.(type) {
	case *ProposalCreated:
		e.variant(KindProposalCreated, ev == nil)
		if ev != nil {
			e.proposalCreated(ev)
		}
	case *ProposalValidated:
		e.variant(KindProposalValidated, ev == nil)
		if ev != nil {
			e.proposalValidated(ev)
		}
	case *FactPromoted:
		e.variant(KindFactPromoted, ev == nil)
		if ev != nil {
			e.factPromoted(ev)
		}
	case *RecallExecuted:
		e.variant(KindRecallExecuted, ev == nil)
		if ev != nil {
			e.recallExecuted(ev)
		}
	case *ReplayTraceRecorded:
		e.variant(KindReplayTraceRecorded, ev == nil)
		if ev != nil {
			e.mapHdr(2)
			e.key(kTraceLinkID)
			e.str(string(ev.TraceLinkID))
			e.key(kTraceLink)
			e.replayTrace(&ev.TraceLink)
		}
	case *ReplayabilityDowngraded:
		e.variant(KindReplayabilityDowngraded, ev == nil)
		if ev != nil {
			e.mapHdr(4)
			e.key(kTraceLinkID)
			e.str(string(ev.TraceLinkID))
			e.key(kFrom)
			enumStr(e, "from", enumReplayability, ev.From)
			e.key(kTo)
			enumStr(e, "to", enumReplayability, ev.To)
			e.key(kReason)
			enumStr(e, "reason", enumDowngrade, ev.Reason)
		}
	case *ArtifactStateTransitioned:
		e.variant(KindArtifactStateTransitioned, ev == nil)
		if ev != nil {
			e.mapHdr(3)
			e.key(kArtifactID)
			e.str(string(ev.ArtifactID))
			e.key(kArtifactKind)
			e.artifactKind(ev.ArtifactKind)
			e.key(kEvent)
			e.lifecycle(&ev.Event)
		}
	case *ArtifactRollbackRecorded:
		e.variant(KindArtifactRollbackRecorded, ev == nil)
		if ev != nil {
			e.mapHdr(1)
			e.key(kRollback)
			e.rollback(&ev.Rollback)
		}
	case *BackendInvoked:
		e.variant(KindBackendInvoked, ev == nil)
		if ev != nil {
			e.mapHdr(5)
			e.key(kBackendName)
			e.str(string(ev.BackendName))
			e.key(kAdapterID)
			optStr(e, ev.AdapterID)
			e.key(kTraceLinkID)
			e.str(string(ev.TraceLinkID))
			e.key(kStep)
			enumStr(e, "step", enumDecisionStep, ev.Step)
			e.key(kPolicySnapshotHash)
			e.optHash(ev.PolicySnapshotHash)
		}
	case *OutcomeRecorded:
		e.variant(KindOutcomeRecorded, ev == nil)
		if ev != nil {
			e.outcomeRecorded(ev)
		}
	case *BudgetExceeded:
		e.variant(KindBudgetExceeded, ev == nil)
		if ev != nil {
			e.mapHdr(4)
			e.key(kChainID)
			e.str(string(ev.ChainID))
			e.key(kResource)
			e.budgetResource(ev.Resource)
			e.key(kLimit)
			e.str(ev.Limit)
			e.key(kObserved)
			optStr(e, ev.Observed)
		}
	case *PolicySnapshotCaptured:
		e.variant(KindPolicySnapshotCaptured, ev == nil)
		if ev != nil {
			e.policySnapshotCaptured(ev)
		}
	case *HypothesisResolved:
		e.variant(KindHypothesisResolved, ev == nil)
		if ev != nil {
			e.mapHdr(9)
			e.key(kChainID)
			e.str(string(ev.ChainID))
			e.key(kFactID)
			e.str(string(ev.FactID))
			e.key(kDomain)
			e.str(string(ev.Domain))
			e.key(kClaim)
			e.str(ev.Claim)
			e.key(kConfidence)
			e.f64("confidence", ev.Confidence)
			e.key(kOutcome)
			enumStr(e, "outcome", enumHypothesis, ev.Outcome)
			e.key(kContradictionID)
			optStr(e, ev.ContradictionID)
			e.key(kFormedCycle)
			e.uint(uint64(ev.FormedCycle))
			e.key(kResolvedCycle)
			e.uint(uint64(ev.ResolvedCycle))
		}
	case *GateDecisionRecorded:
		e.variant(KindGateDecisionRecorded, ev == nil)
		if ev != nil {
			e.gateDecisionRecorded(ev)
		}
	case nil:
		e.fail("event", "nil event")
	default:
		e.fail("event", "unsupported event type (events must be pointers to a variant struct)")
	}
}

// variant writes the kind string and the "data" key.
func (e *enc) variant(k ExperienceEventKind, isNil bool) {
	if isNil {
		e.fail("event", "nil "+string(k))
		return
	}
	e.str(string(k))
	e.key(kData)
}

func (e *enc) proposalCreated(ev *ProposalCreated) {
	e.mapHdr(4)
	e.key(kProposal)
	p := &ev.Proposal
	e.mapHdr(8)
	e.key(kID)
	e.str(p.ID)
	e.key(kKind)
	enumStr(e, "proposal.kind", enumProposalKind, p.Kind)
	e.key(kPayload)
	e.str(p.Payload)
	e.key(kStructuredPayload)
	if p.StructuredPayload == nil {
		e.nil_()
	} else {
		e.strBytes(p.StructuredPayload)
	}
	e.key(kTraceLink)
	e.replayTrace(&p.TraceLink)
	e.key(kContractResults)
	e.arrHdr(len(p.ContractResults))
	for i := range p.ContractResults {
		c := &p.ContractResults[i]
		e.contractResult(c.Name, c.Passed, c.FailureReason)
	}
	e.key(kRequiresHuman)
	e.boolean(p.RequiresHuman)
	e.key(kConfidence)
	if p.Confidence == nil {
		e.nil_()
	} else {
		e.f32("proposal.confidence", *p.Confidence)
	}
	e.key(kChainID)
	e.str(string(ev.ChainID))
	e.key(kStep)
	enumStr(e, "step", enumDecisionStep, ev.Step)
	e.key(kPolicySnapshotHash)
	e.optHash(ev.PolicySnapshotHash)
}

func (e *enc) contractResult(name string, passed bool, reason *string) {
	e.mapHdr(3)
	e.key(kName)
	e.str(name)
	e.key(kPassed)
	e.boolean(passed)
	e.key(kFailureReason)
	optStr(e, reason)
}

func (e *enc) replayTrace(t *ReplayTrace) {
	switch t.Type {
	case ReplayTraceLocal:
		l := t.Local
		if l == nil {
			l = &LocalReplayTrace{}
		}
		e.mapHdr(10)
		e.key(kType)
		e.str(string(ReplayTraceLocal))
		e.key(kBaseModelHash)
		e.str(l.BaseModelHash)
		e.key(kAdapter)
		if l.Adapter == nil {
			e.nil_()
		} else {
			e.mapHdr(3)
			e.key(kAdapterID)
			e.str(l.Adapter.AdapterID)
			e.key(kAdapterHash)
			e.str(l.Adapter.AdapterHash)
			e.key(kMerged)
			e.boolean(l.Adapter.Merged)
		}
		e.key(kTokenizerHash)
		e.str(l.TokenizerHash)
		e.key(kSeed)
		e.uint(l.Seed)
		e.key(kSampler)
		e.mapHdr(3)
		e.key(kTemperature)
		e.f32("sampler.temperature", l.Sampler.Temperature)
		e.key(kTopP)
		e.f32("sampler.top_p", l.Sampler.TopP)
		e.key(kTopK)
		e.optUint(l.Sampler.TopK)
		e.key(kPromptVersion)
		e.str(l.PromptVersion)
		e.key(kRecall)
		if r := l.Recall; r == nil {
			e.nil_()
		} else {
			e.mapHdr(4)
			e.key(kCorpusFingerprint)
			e.str(r.CorpusFingerprint)
			e.key(kCandidateIDs)
			strSlice(e, r.CandidateIDs)
			e.key(kCandidateScores)
			e.arrHdr(len(r.CandidateScores))
			for _, s := range r.CandidateScores {
				e.f32("recall.candidate_scores", s)
			}
			e.key(kInjectedCount)
			e.uint(r.InjectedCount)
		}
		e.key(kWeightsMutated)
		e.boolean(l.WeightsMutated)
		e.key(kExecutionEnv)
		e.mapHdr(3)
		e.key(kDevice)
		e.str(l.ExecutionEnv.Device)
		e.key(kBackend)
		e.str(l.ExecutionEnv.Backend)
		e.key(kPrecision)
		e.str(l.ExecutionEnv.Precision)
	case ReplayTraceRemote:
		r := t.Remote
		if r == nil {
			r = &RemoteReplayTrace{}
		}
		e.mapHdr(12)
		e.key(kType)
		e.str(string(ReplayTraceRemote))
		e.key(kProviderName)
		e.str(r.ProviderName)
		e.key(kProviderModelID)
		e.str(r.ProviderModelID)
		e.key(kRequestFingerprint)
		e.str(r.RequestFingerprint)
		e.key(kResponseFingerprint)
		e.str(r.ResponseFingerprint)
		e.key(kTemperature)
		e.f32("trace.temperature", r.Temperature)
		e.key(kTopP)
		e.f32("trace.top_p", r.TopP)
		e.key(kMaxTokens)
		e.uint(r.MaxTokens)
		e.key(kProviderMetadata)
		e.strMap(r.ProviderMetadata)
		e.key(kRetried)
		e.boolean(r.Retried)
		e.key(kRetryReasons)
		strSlice(e, r.RetryReasons)
		e.key(kReplayability)
		enumStr(e, "trace.replayability", enumReplayability, r.Replayability)
	default:
		e.fail("trace_link.type", "unknown variant "+strconv.Quote(string(t.Type)))
	}
}

func (e *enc) proposalValidated(ev *ProposalValidated) {
	e.mapHdr(6)
	e.key(kProposalID)
	e.str(string(ev.ProposalID))
	e.key(kChainID)
	e.str(string(ev.ChainID))
	e.key(kStep)
	enumStr(e, "step", enumDecisionStep, ev.Step)
	e.key(kContractResults)
	e.arrHdr(len(ev.ContractResults))
	for i := range ev.ContractResults {
		c := &ev.ContractResults[i]
		e.contractResult(c.Name, c.Passed, c.FailureReason)
	}
	e.key(kAllPassed)
	e.boolean(ev.AllPassed)
	e.key(kValidator)
	e.str(string(ev.Validator))
}

func (e *enc) factPromoted(ev *FactPromoted) {
	e.mapHdr(5)
	e.key(kProposalID)
	e.str(string(ev.ProposalID))
	e.key(kFactID)
	e.str(string(ev.FactID))
	e.key(kPromotedBy)
	e.str(string(ev.PromotedBy))
	e.key(kReason)
	e.str(ev.Reason)
	e.key(kRequiresHuman)
	e.boolean(ev.RequiresHuman)
}

func (e *enc) recallExecuted(ev *RecallExecuted) {
	e.mapHdr(3)
	e.key(kQuery)
	q := &ev.Query
	e.mapHdr(4)
	e.key(kQueryText)
	e.str(q.QueryText)
	e.key(kTopK)
	e.uint(q.TopK)
	e.key(kStepContext)
	if q.StepContext == nil {
		e.nil_()
	} else {
		enumStr(e, "query.step_context", enumDecisionStep, *q.StepContext)
	}
	e.key(kTenantScope)
	optStr(e, q.TenantScope)

	e.key(kProvenance)
	p := &ev.Provenance
	e.mapHdr(16)
	e.key(kQueryHash)
	e.str(p.QueryHash)
	e.key(kEmbeddingInputHash)
	e.str(p.EmbeddingInputHash)
	e.key(kEmbeddingHash)
	e.str(p.EmbeddingHash)
	e.key(kEmbedderID)
	e.str(p.EmbedderID)
	e.key(kEmbedderSettingsHash)
	e.str(p.EmbedderSettingsHash)
	e.key(kCorpusFingerprint)
	e.str(p.CorpusFingerprint)
	e.key(kPolicySnapshotHash)
	e.str(p.PolicySnapshotHash)
	e.key(kPurpose)
	enumStr(e, "provenance.purpose", enumRecallUse, p.Purpose)
	e.key(kConsumers)
	e.arrHdr(len(p.Consumers))
	for _, c := range p.Consumers {
		enumStr(e, "provenance.consumers", enumRecallConsumer, c)
	}
	e.key(kCandidateScores)
	e.arrHdr(len(p.CandidateScores))
	for i := range p.CandidateScores {
		c := &p.CandidateScores[i]
		e.mapHdr(2)
		e.key(kID)
		e.str(c.ID)
		e.key(kScore)
		e.f64("provenance.candidate_scores.score", c.Score)
	}
	e.key(kCandidatesSearched)
	e.uint(p.CandidatesSearched)
	e.key(kCandidatesReturned)
	e.uint(p.CandidatesReturned)
	e.key(kStopReason)
	if p.StopReason == nil {
		e.nil_()
	} else {
		enumStr(e, "provenance.stop_reason", enumRecallStop, *p.StopReason)
	}
	e.key(kLatencyMs)
	e.uint(p.LatencyMs)
	e.key(kTimestamp)
	e.str(p.Timestamp)
	e.key(kSignature)
	e.str(p.Signature)

	e.key(kTraceLinkID)
	optStr(e, ev.TraceLinkID)
}

func (e *enc) artifactKind(k ArtifactKind) {
	if k.Kind == ArtifactKindOther {
		e.mapHdr(1)
		e.key(kOther)
		e.str(k.Other)
		return
	}
	enumStr(e, "artifact_kind", enumArtifactKindUnit, k.Kind)
}

func (e *enc) budgetResource(r BudgetResource) {
	if r.Kind == BudgetOther {
		e.mapHdr(1)
		e.key(kOther)
		e.str(r.Other)
		return
	}
	enumStr(e, "resource", enumBudgetResourceUnit, r.Kind)
}

func (e *enc) lifecycle(l *LifecycleEvent) {
	e.mapHdr(7)
	e.key(kFromState)
	enumStr(e, "event.from_state", enumArtifactState, l.FromState)
	e.key(kToState)
	enumStr(e, "event.to_state", enumArtifactState, l.ToState)
	e.key(kTimestamp)
	e.str(l.Timestamp)
	e.key(kActor)
	e.str(l.Actor)
	e.key(kReason)
	e.str(l.Reason)
	e.key(kTicketRef)
	optStr(e, l.TicketRef)
	e.key(kTenantID)
	optStr(e, l.TenantID)
}

func (e *enc) rollback(r *RollbackRecord) {
	e.mapHdr(8)
	e.key(kArtifactID)
	e.str(r.ArtifactID)
	e.key(kPreviousState)
	enumStr(e, "rollback.previous_state", enumArtifactState, r.PreviousState)
	e.key(kRolledBackAt)
	e.str(r.RolledBackAt)
	e.key(kActor)
	e.str(r.Actor)
	e.key(kReason)
	e.str(r.Reason)
	e.key(kImpact)
	im := &r.Impact
	e.mapHdr(5)
	e.key(kAffectedCount)
	e.optUint(im.AffectedCount)
	e.key(kQualityIssues)
	strSlice(e, im.QualityIssues)
	e.key(kInvalidatesOutputs)
	e.boolean(im.InvalidatesOutputs)
	e.key(kSeverity)
	enumStr(e, "rollback.impact.severity", enumSeverity, im.Severity)
	e.key(kAffectedTenants)
	strSlice(e, im.AffectedTenants)
	e.key(kIncidentRef)
	optStr(e, r.IncidentRef)
	e.key(kTenantID)
	optStr(e, r.TenantID)
}

func (e *enc) outcomeRecorded(ev *OutcomeRecorded) {
	e.mapHdr(9)
	e.key(kChainID)
	e.str(string(ev.ChainID))
	e.key(kStep)
	enumStr(e, "step", enumDecisionStep, ev.Step)
	e.key(kPassed)
	e.boolean(ev.Passed)
	e.key(kStopReason)
	if ev.StopReason == nil {
		e.nil_()
	} else {
		e.stopReason(ev.StopReason)
	}
	e.key(kLatencyMs)
	e.optUint(ev.LatencyMs)
	e.key(kTokens)
	e.optUint(ev.Tokens)
	e.key(kCostMicrodollars)
	e.optUint(ev.CostMicrodollars)
	e.key(kBackend)
	optStr(e, ev.Backend)
	e.key(kMetadata)
	e.strMap(ev.Metadata)
}

// stopVariant writes {"Variant": {<n fields>}} up to the inner map header.
func (e *enc) stopVariant(k StopReasonKind, n int) {
	e.mapHdr(1)
	e.str(string(k))
	e.mapHdr(n)
}

func (e *enc) stopReason(s *StopReason) {
	switch s.Kind {
	case StopConverged, StopUserCancelled:
		e.str(string(s.Kind))
	case StopCriteriaMet:
		var d StopCriteriaMetData
		if s.CriteriaMet != nil {
			d = *s.CriteriaMet
		}
		e.stopVariant(s.Kind, 1)
		e.key(kCriteria)
		strSlice(e, d.Criteria)
	case StopHumanInterventionRequired:
		var d StopHumanInterventionData
		if s.HumanInterventionRequired != nil {
			d = *s.HumanInterventionRequired
		}
		e.stopVariant(s.Kind, 2)
		e.key(kCriteria)
		strSlice(e, d.Criteria)
		e.key(kApprovalRefs)
		strSlice(e, d.ApprovalRefs)
	case StopCycleBudgetExhausted:
		var d StopCycleBudgetData
		if s.CycleBudgetExhausted != nil {
			d = *s.CycleBudgetExhausted
		}
		e.stopVariant(s.Kind, 2)
		e.key(kCyclesExecuted)
		e.uint(uint64(d.CyclesExecuted))
		e.key(kLimit)
		e.uint(uint64(d.Limit))
	case StopFactBudgetExhausted:
		var d StopFactBudgetData
		if s.FactBudgetExhausted != nil {
			d = *s.FactBudgetExhausted
		}
		e.stopVariant(s.Kind, 2)
		e.key(kFactsCount)
		e.uint(uint64(d.FactsCount))
		e.key(kLimit)
		e.uint(uint64(d.Limit))
	case StopTokenBudgetExhausted:
		var d StopTokenBudgetData
		if s.TokenBudgetExhausted != nil {
			d = *s.TokenBudgetExhausted
		}
		e.stopVariant(s.Kind, 2)
		e.key(kTokensConsumed)
		e.uint(d.TokensConsumed)
		e.key(kLimit)
		e.uint(d.Limit)
	case StopTimeBudgetExhausted:
		var d StopTimeBudgetData
		if s.TimeBudgetExhausted != nil {
			d = *s.TimeBudgetExhausted
		}
		e.stopVariant(s.Kind, 2)
		e.key(kDurationMs)
		e.uint(d.DurationMs)
		e.key(kLimitMs)
		e.uint(d.LimitMs)
	case StopInvariantViolated:
		var d StopInvariantViolatedData
		if s.InvariantViolated != nil {
			d = *s.InvariantViolated
		}
		e.stopVariant(s.Kind, 3)
		e.key(kClass)
		enumStr(e, "stop_reason.class", enumInvariantClass, d.Class)
		e.key(kName)
		e.str(d.Name)
		e.key(kReason)
		e.str(d.Reason)
	case StopPromotionRejected:
		var d StopPromotionRejectedData
		if s.PromotionRejected != nil {
			d = *s.PromotionRejected
		}
		e.stopVariant(s.Kind, 2)
		e.key(kProposalID)
		e.str(d.ProposalID)
		e.key(kReason)
		e.str(d.Reason)
	case StopError:
		var d StopErrorData
		if s.Error != nil {
			d = *s.Error
		}
		e.stopVariant(s.Kind, 2)
		e.key(kMessage)
		e.str(d.Message)
		e.key(kCategory)
		enumStr(e, "stop_reason.category", enumErrorCategory, d.Category)
	case StopAgentRefused:
		var d StopAgentRefusedData
		if s.AgentRefused != nil {
			d = *s.AgentRefused
		}
		e.stopVariant(s.Kind, 2)
		e.key(kAgentID)
		e.str(d.AgentID)
		e.key(kReason)
		e.str(d.Reason)
	case StopHitlGatePending:
		var d StopHitlGatePendingData
		if s.HitlGatePending != nil {
			d = *s.HitlGatePending
		}
		e.stopVariant(s.Kind, 5)
		e.key(kGateID)
		e.str(d.GateID)
		e.key(kProposalID)
		e.str(d.ProposalID)
		e.key(kSummary)
		e.str(d.Summary)
		e.key(kAgentID)
		e.str(d.AgentID)
		e.key(kCycle)
		e.uint(uint64(d.Cycle))
	default:
		e.fail("stop_reason", "unknown variant "+strconv.Quote(string(s.Kind)))
	}
}

func (e *enc) policySnapshotCaptured(ev *PolicySnapshotCaptured) {
	e.mapHdr(4)
	e.key(kPolicyID)
	e.str(string(ev.PolicyID))
	e.key(kPolicy)
	e.mapHdr(2)
	e.key(kType)
	p := &ev.Policy
	switch p.Type {
	case PolicySnapshotKernel:
		k := p.Kernel
		if k == nil {
			k = &KernelPolicy{}
		}
		e.str(string(p.Type))
		e.key(kPolicy)
		e.mapHdr(7)
		e.key(kAdapterID)
		optStr(e, k.AdapterID)
		e.key(kRecallEnabled)
		e.boolean(k.RecallEnabled)
		e.key(kRecallMaxCandidates)
		e.uint(k.RecallMaxCandidates)
		e.key(kRecallMinScore)
		e.f32("policy.recall_min_score", k.RecallMinScore)
		e.key(kSeed)
		e.optUint(k.Seed)
		e.key(kRequiresHuman)
		e.boolean(k.RequiresHuman)
		e.key(kRequiredTruths)
		strSlice(e, k.RequiredTruths)
	case PolicySnapshotRouting:
		r := p.Routing
		if r == nil {
			r = &RoutingPolicy{}
		}
		e.str(string(p.Type))
		e.key(kPolicy)
		e.mapHdr(4)
		e.key(kTruthPreferences)
		e.strMap(r.TruthPreferences)
		e.key(kRiskTierBackends)
		enumKeyMap(e, "policy.risk_tier_backends", sortedRiskTiers, r.RiskTierBackends)
		e.key(kDataClassBackends)
		enumKeyMap(e, "policy.data_classification_backends", sortedDataClass, r.DataClassificationBackends)
		e.key(kDefaultBackend)
		e.str(r.DefaultBackend)
	case PolicySnapshotRecall:
		r := p.Recall
		if r == nil {
			r = &RecallPolicy{}
		}
		e.str(string(p.Type))
		e.key(kPolicy)
		e.mapHdr(6)
		e.key(kEnabled)
		e.boolean(r.Enabled)
		e.key(kMaxKTotal)
		e.uint(r.MaxKTotal)
		e.key(kMaxTokensInjection)
		e.uint(r.MaxTokensInjection)
		e.key(kMinScoreThreshold)
		e.f64("policy.min_score_threshold", r.MinScoreThreshold)
		e.key(kBudgets)
		e.mapHdr(3)
		e.key(kMaxLatencyMs)
		e.uint(r.Budgets.MaxLatencyMs)
		e.key(kMaxEmbeddingCalls)
		e.uint(r.Budgets.MaxEmbeddingCalls)
		e.key(kMaxTokensPerCandidate)
		e.uint(r.Budgets.MaxTokensPerCandidate)
		e.key(kAllowedUses)
		e.arrHdr(len(r.AllowedUses))
		for _, u := range r.AllowedUses {
			enumStr(e, "policy.allowed_uses", enumRecallUse, u)
		}
	default:
		e.fail("policy.type", "unknown variant "+strconv.Quote(string(p.Type)))
	}
	e.key(kSnapshotHash)
	e.hash(&ev.SnapshotHash)
	e.key(kCapturedBy)
	e.str(string(ev.CapturedBy))
}

// enumKeyMap writes a map keyed by a small enum; sorted lists every key in
// bytewise order, so no sorting is needed.
func enumKeyMap[K ~string](e *enc, field string, sorted []K, m map[K][]string) {
	e.mapHdr(len(m))
	n := 0
	for _, k := range sorted {
		if v, ok := m[k]; ok {
			n++
			e.str(string(k))
			strSlice(e, v)
		}
	}
	if n != len(m) {
		e.fail(field, "unknown map key variant")
	}
}

func (e *enc) gateDecisionRecorded(ev *GateDecisionRecorded) {
	e.mapHdr(2)
	e.key(kRequest)
	r := &ev.Request
	e.mapHdr(9)
	e.key(kGateID)
	e.str(r.GateID)
	e.key(kProposalID)
	e.str(r.ProposalID)
	e.key(kSummary)
	e.str(r.Summary)
	e.key(kAgentID)
	e.str(r.AgentID)
	e.key(kRationale)
	optStr(e, r.Rationale)
	e.key(kContextData)
	e.arrHdr(len(r.ContextData))
	for i := range r.ContextData {
		c := &r.ContextData[i]
		e.mapHdr(2)
		e.key(kLabel)
		e.str(c.Label)
		e.key(kValue)
		e.str(c.Value)
	}
	e.key(kCycle)
	e.uint(uint64(r.Cycle))
	e.key(kRequestedAt)
	e.str(string(r.RequestedAt))
	e.key(kTimeout)
	e.mapHdr(2)
	e.key(kTimeoutSecs)
	e.uint(r.Timeout.TimeoutSecs)
	e.key(kAction)
	enumStr(e, "request.timeout.action", enumTimeoutAction, r.Timeout.Action)

	e.key(kDecision)
	d := &ev.Decision
	e.mapHdr(4)
	e.key(kGateID)
	e.str(d.GateID)
	e.key(kVerdict)
	switch d.Verdict.Kind {
	case GateApprove:
		e.str(string(GateApprove))
	case GateReject:
		e.mapHdr(1)
		e.key(kReject)
		e.mapHdr(1)
		e.key(kReason)
		optStr(e, d.Verdict.RejectReason)
	default:
		e.fail("decision.verdict", "unknown variant "+strconv.Quote(string(d.Verdict.Kind)))
	}
	e.key(kDecidedBy)
	e.str(d.DecidedBy)
	e.key(kDecidedAt)
	e.str(string(d.DecidedAt))
}
