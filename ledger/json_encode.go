package ledger

import (
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"
)

// This file writes JSON byte-compatible with serde_json 1.0.87
// (to_string, preserve_order): struct keys in declaration order, strings
// escaped like serde (only '"', '\\' and C0 controls), floats in ryu's
// shortest format, HashMap fields with sorted keys (one valid order).

// encoder appends JSON to b; the first error sticks in err.
type encoder struct {
	b   []byte
	err error
}

func (w *encoder) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf("ledger: json encode: "+format, args...)
	}
}

func (w *encoder) raw(s string) { w.b = append(w.b, s...) }

func (w *encoder) str(s string) { w.b = appendJSONString(w.b, s) }

// key writes `,"name":` (or `"name":` when first).
func (w *encoder) key(first bool, name string) {
	if !first {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, name...)
	w.b = append(w.b, '"', ':')
}

func (w *encoder) u64(v uint64)  { w.b = strconv.AppendUint(w.b, v, 10) }
func (w *encoder) f64(v float64) { w.b = appendF64(w.b, v) }
func (w *encoder) f32(v float32) { w.b = appendF32(w.b, v) }

func (w *encoder) boolean(v bool) {
	if v {
		w.raw("true")
	} else {
		w.raw("false")
	}
}

func (w *encoder) optStr(p *string) {
	if p == nil {
		w.raw("null")
	} else {
		w.str(*p)
	}
}

func (w *encoder) optU64(p *uint64) {
	if p == nil {
		w.raw("null")
	} else {
		w.u64(*p)
	}
}

func (w *encoder) hash(h *ContentHash) {
	if h == nil {
		w.raw("null")
		return
	}
	var tmp [66]byte
	tmp[0] = '"'
	hex.Encode(tmp[1:65], h[:])
	tmp[65] = '"'
	w.b = append(w.b, tmp[:]...)
}

func (w *encoder) strs(v []string) {
	w.b = append(w.b, '[')
	for i, s := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.str(s)
	}
	w.b = append(w.b, ']')
}

// enum writes a unit variant after checking it is one of names.
func (w *encoder) enum(what, v string, names []string) {
	if !oneOf(v, names) {
		w.fail("invalid %s %q", what, v)
	}
	w.str(v)
}

func (w *encoder) strMap(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w.b = append(w.b, '{')
	for i, k := range keys {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.str(k)
		w.b = append(w.b, ':')
		w.str(m[k])
	}
	w.b = append(w.b, '}')
}

func encodeListMap[K ~string](w *encoder, what string, m map[K][]string, names []string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		if !oneOf(string(k), names) {
			w.fail("invalid %s %q", what, string(k))
		}
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	w.b = append(w.b, '{')
	for i, k := range keys {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.str(k)
		w.b = append(w.b, ':')
		w.strs(m[K(k)])
	}
	w.b = append(w.b, '}')
}

// ---- primitives ----

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string escaped exactly like
// serde_json: '"' and '\\' escaped, C0 controls as \b \t \n \f \r or
// \u00XX (lowercase hex), everything else (non-ASCII, DEL, <>&,
// U+2028/2029) raw. s is assumed to be valid UTF-8; invalid bytes are
// replaced by U+FFFD so the output is always valid JSON.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"':
			b = append(b, '\\', '"')
		case '\\':
			b = append(b, '\\', '\\')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendF64 formats like ryu::Buffer::format (serde_json's f64 output);
// NaN and ±Inf become null as in serde_json.
func appendF64(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	var tmp [32]byte
	return ryuPretty(b, strconv.AppendFloat(tmp[:0], f, 'e', -1, 64), 16, -5)
}

// appendF32 formats like ryu's f32 output (32-bit shortest digits).
func appendF32(b []byte, f float32) []byte {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		return append(b, "null"...)
	}
	var tmp [32]byte
	return ryuPretty(b, strconv.AppendFloat(tmp[:0], float64(f), 'e', -1, 32), 13, -6)
}

// ryuPretty turns Go's shortest 'e' form ("-d.ddde±XX") into ryu's layout.
// maxK is 16 for f64 and 13 for f32; minK is the exclusive lower bound of
// the "0.000ddd" form (-5 for f64, -6 for f32).
func ryuPretty(b, e []byte, maxK, minK int) []byte {
	if e[0] == '-' {
		b = append(b, '-')
		e = e[1:]
	}
	var digits [24]byte
	n := 0
	i := 0
	for ; i < len(e) && e[i] != 'e'; i++ {
		if e[i] != '.' {
			digits[n] = e[i]
			n++
		}
	}
	exp, _ := strconv.Atoi(string(e[i+1:]))
	if n == 1 && digits[0] == '0' {
		return append(b, "0.0"...)
	}
	d := digits[:n]
	kk := exp + 1 // value = 0.d × 10^kk
	k := kk - n   // value = d × 10^k
	switch {
	case k >= 0 && kk <= maxK:
		b = append(b, d...)
		for j := 0; j < k; j++ {
			b = append(b, '0')
		}
		return append(b, '.', '0')
	case kk > 0 && kk <= maxK:
		b = append(b, d[:kk]...)
		b = append(b, '.')
		return append(b, d[kk:]...)
	case kk > minK && kk <= 0:
		b = append(b, '0', '.')
		for j := 0; j < -kk; j++ {
			b = append(b, '0')
		}
		return append(b, d...)
	case n == 1:
		b = append(b, d[0], 'e')
		return strconv.AppendInt(b, int64(kk-1), 10)
	default:
		b = append(b, d[0], '.')
		b = append(b, d[1:]...)
		b = append(b, 'e')
		return strconv.AppendInt(b, int64(kk-1), 10)
	}
}

// ---- envelope and events ----

var errNilEvent = errors.New("ledger: json encode: envelope has no event")

func (w *encoder) envelope(e *ExperienceEventEnvelope) {
	w.raw(`{"event_id":`)
	w.str(string(e.EventID))
	w.raw(`,"occurred_at":`)
	w.str(string(e.OccurredAt))
	w.raw(`,"tenant_id":`)
	if e.TenantID == nil {
		w.raw("null")
	} else {
		w.str(string(*e.TenantID))
	}
	w.raw(`,"correlation_id":`)
	if e.CorrelationID == nil {
		w.raw("null")
	} else {
		w.str(string(*e.CorrelationID))
	}
	w.raw(`,"event":`)
	w.event(e.Event)
	w.b = append(w.b, '}')
}

func (w *encoder) event(ev ExperienceEvent) {
	if ev == nil {
		if w.err == nil {
			w.err = errNilEvent
		}
		return
	}
	w.raw(`{"type":"`)
	w.raw(string(ev.Kind()))
	w.raw(`","data":`)
	switch e := ev.(type) {
	case *ProposalCreated:
		w.proposalCreated(e)
	case *ProposalValidated:
		w.proposalValidated(e)
	case *FactPromoted:
		w.factPromoted(e)
	case *RecallExecuted:
		w.recallExecuted(e)
	case *ReplayTraceRecorded:
		w.raw(`{"trace_link_id":`)
		w.str(string(e.TraceLinkID))
		w.raw(`,"trace_link":`)
		w.replayTrace(&e.TraceLink)
		w.b = append(w.b, '}')
	case *ReplayabilityDowngraded:
		w.raw(`{"trace_link_id":`)
		w.str(string(e.TraceLinkID))
		w.raw(`,"from":`)
		w.enum("replayability", string(e.From), replayabilityNames)
		w.raw(`,"to":`)
		w.enum("replayability", string(e.To), replayabilityNames)
		w.raw(`,"reason":`)
		w.enum("downgrade reason", string(e.Reason), downgradeReasonNames)
		w.b = append(w.b, '}')
	case *ArtifactStateTransitioned:
		w.raw(`{"artifact_id":`)
		w.str(string(e.ArtifactID))
		w.raw(`,"artifact_kind":`)
		w.artifactKind(e.ArtifactKind)
		w.raw(`,"event":`)
		w.lifecycleEvent(&e.Event)
		w.b = append(w.b, '}')
	case *ArtifactRollbackRecorded:
		w.raw(`{"rollback":`)
		w.rollbackRecord(&e.Rollback)
		w.b = append(w.b, '}')
	case *BackendInvoked:
		w.raw(`{"backend_name":`)
		w.str(string(e.BackendName))
		w.raw(`,"adapter_id":`)
		if e.AdapterID == nil {
			w.raw("null")
		} else {
			w.str(string(*e.AdapterID))
		}
		w.raw(`,"trace_link_id":`)
		w.str(string(e.TraceLinkID))
		w.raw(`,"step":`)
		w.enum("decision step", string(e.Step), decisionStepNames)
		w.raw(`,"policy_snapshot_hash":`)
		w.hash(e.PolicySnapshotHash)
		w.b = append(w.b, '}')
	case *OutcomeRecorded:
		w.outcomeRecorded(e)
	case *BudgetExceeded:
		w.raw(`{"chain_id":`)
		w.str(string(e.ChainID))
		w.raw(`,"resource":`)
		w.taggedString("budget resource", string(e.Resource.Kind), e.Resource.Other, budgetResourceNames)
		w.raw(`,"limit":`)
		w.str(e.Limit)
		w.raw(`,"observed":`)
		w.optStr(e.Observed)
		w.b = append(w.b, '}')
	case *PolicySnapshotCaptured:
		w.raw(`{"policy_id":`)
		w.str(string(e.PolicyID))
		w.raw(`,"policy":`)
		w.policySnapshot(&e.Policy)
		w.raw(`,"snapshot_hash":`)
		w.hash(&e.SnapshotHash)
		w.raw(`,"captured_by":`)
		w.str(string(e.CapturedBy))
		w.b = append(w.b, '}')
	case *HypothesisResolved:
		w.raw(`{"chain_id":`)
		w.str(string(e.ChainID))
		w.raw(`,"fact_id":`)
		w.str(string(e.FactID))
		w.raw(`,"domain":`)
		w.str(string(e.Domain))
		w.raw(`,"claim":`)
		w.str(e.Claim)
		w.raw(`,"confidence":`)
		w.f64(e.Confidence)
		w.raw(`,"outcome":`)
		w.enum("hypothesis outcome", string(e.Outcome), hypothesisOutcomeNames)
		if e.ContradictionID != nil {
			w.raw(`,"contradiction_id":`)
			w.str(string(*e.ContradictionID))
		}
		w.raw(`,"formed_cycle":`)
		w.u64(uint64(e.FormedCycle))
		w.raw(`,"resolved_cycle":`)
		w.u64(uint64(e.ResolvedCycle))
		w.b = append(w.b, '}')
	case *GateDecisionRecorded:
		w.raw(`{"request":`)
		w.gateRequest(&e.Request)
		w.raw(`,"decision":`)
		w.gateDecision(&e.Decision)
		w.b = append(w.b, '}')
	default:
		w.fail("unsupported event type %T (envelopes hold pointers to the variant structs)", ev)
		return
	}
	w.b = append(w.b, '}')
}

func (w *encoder) proposalCreated(e *ProposalCreated) {
	p := &e.Proposal
	w.raw(`{"proposal":{"id":`)
	w.str(p.ID)
	w.raw(`,"kind":`)
	w.enum("proposal kind", string(p.Kind), proposalKindNames)
	w.raw(`,"payload":`)
	w.str(p.Payload)
	w.raw(`,"structured_payload":`)
	if p.StructuredPayload == nil {
		w.raw("null")
	} else {
		w.rawJSON(p.StructuredPayload)
	}
	w.raw(`,"trace_link":`)
	w.replayTrace(&p.TraceLink)
	w.raw(`,"contract_results":[`)
	for i := range p.ContractResults {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		c := &p.ContractResults[i]
		w.contractResult(c.Name, c.Passed, c.FailureReason)
	}
	w.raw(`],"requires_human":`)
	w.boolean(p.RequiresHuman)
	w.raw(`,"confidence":`)
	if p.Confidence == nil {
		w.raw("null")
	} else {
		w.f32(*p.Confidence)
	}
	w.raw(`},"chain_id":`)
	w.str(string(e.ChainID))
	w.raw(`,"step":`)
	w.enum("decision step", string(e.Step), decisionStepNames)
	w.raw(`,"policy_snapshot_hash":`)
	w.hash(e.PolicySnapshotHash)
	w.b = append(w.b, '}')
}

// rawJSON re-emits a stored arbitrary JSON value in canonical serde form
// (validating it on the way).
func (w *encoder) rawJSON(r RawJSON) {
	v, err := parseJSON(r)
	if err != nil {
		w.fail("structured_payload: %v", err)
		return
	}
	b, err := appendValue(w.b, &v, r)
	if err != nil {
		w.fail("structured_payload: %v", err)
		return
	}
	w.b = b
}

func (w *encoder) contractResult(name string, passed bool, reason *string) {
	w.raw(`{"name":`)
	w.str(name)
	w.raw(`,"passed":`)
	w.boolean(passed)
	w.raw(`,"failure_reason":`)
	w.optStr(reason)
	w.b = append(w.b, '}')
}

func (w *encoder) proposalValidated(e *ProposalValidated) {
	w.raw(`{"proposal_id":`)
	w.str(string(e.ProposalID))
	w.raw(`,"chain_id":`)
	w.str(string(e.ChainID))
	w.raw(`,"step":`)
	w.enum("decision step", string(e.Step), decisionStepNames)
	w.raw(`,"contract_results":[`)
	for i := range e.ContractResults {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		c := &e.ContractResults[i]
		w.contractResult(c.Name, c.Passed, c.FailureReason)
	}
	w.raw(`],"all_passed":`)
	w.boolean(e.AllPassed)
	w.raw(`,"validator":`)
	w.str(string(e.Validator))
	w.b = append(w.b, '}')
}

func (w *encoder) factPromoted(e *FactPromoted) {
	w.raw(`{"proposal_id":`)
	w.str(string(e.ProposalID))
	w.raw(`,"fact_id":`)
	w.str(string(e.FactID))
	w.raw(`,"promoted_by":`)
	w.str(string(e.PromotedBy))
	w.raw(`,"reason":`)
	w.str(e.Reason)
	w.raw(`,"requires_human":`)
	w.boolean(e.RequiresHuman)
	w.b = append(w.b, '}')
}

func (w *encoder) recallExecuted(e *RecallExecuted) {
	q := &e.Query
	w.raw(`{"query":{"query_text":`)
	w.str(q.QueryText)
	w.raw(`,"top_k":`)
	w.u64(q.TopK)
	w.raw(`,"step_context":`)
	if q.StepContext == nil {
		w.raw("null")
	} else {
		w.enum("decision step", string(*q.StepContext), decisionStepNames)
	}
	w.raw(`,"tenant_scope":`)
	w.optStr(q.TenantScope)
	p := &e.Provenance
	w.raw(`},"provenance":{"query_hash":`)
	w.str(p.QueryHash)
	w.raw(`,"embedding_input_hash":`)
	w.str(p.EmbeddingInputHash)
	w.raw(`,"embedding_hash":`)
	w.str(p.EmbeddingHash)
	w.raw(`,"embedder_id":`)
	w.str(p.EmbedderID)
	w.raw(`,"embedder_settings_hash":`)
	w.str(p.EmbedderSettingsHash)
	w.raw(`,"corpus_fingerprint":`)
	w.str(p.CorpusFingerprint)
	w.raw(`,"policy_snapshot_hash":`)
	w.str(p.PolicySnapshotHash)
	w.raw(`,"purpose":`)
	w.enum("recall use", string(p.Purpose), recallUseNames)
	w.raw(`,"consumers":[`)
	for i, c := range p.Consumers {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.enum("recall consumer", string(c), recallConsumerNames)
	}
	w.raw(`],"candidate_scores":[`)
	for i := range p.CandidateScores {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.raw(`{"id":`)
		w.str(p.CandidateScores[i].ID)
		w.raw(`,"score":`)
		w.f64(p.CandidateScores[i].Score)
		w.b = append(w.b, '}')
	}
	w.raw(`],"candidates_searched":`)
	w.u64(p.CandidatesSearched)
	w.raw(`,"candidates_returned":`)
	w.u64(p.CandidatesReturned)
	w.raw(`,"stop_reason":`)
	if p.StopReason == nil {
		w.raw("null")
	} else {
		w.enum("recall stop reason", string(*p.StopReason), recallStopReasonNames)
	}
	w.raw(`,"latency_ms":`)
	w.u64(p.LatencyMs)
	w.raw(`,"timestamp":`)
	w.str(p.Timestamp)
	w.raw(`,"signature":`)
	w.str(p.Signature)
	w.raw(`},"trace_link_id":`)
	if e.TraceLinkID == nil {
		w.raw("null")
	} else {
		w.str(string(*e.TraceLinkID))
	}
	w.b = append(w.b, '}')
}

func (w *encoder) replayTrace(t *ReplayTrace) {
	switch t.Type {
	case ReplayTraceLocal:
		l := t.Local
		if l == nil {
			l = &LocalReplayTrace{}
		}
		w.raw(`{"type":"Local","base_model_hash":`)
		w.str(l.BaseModelHash)
		w.raw(`,"adapter":`)
		if l.Adapter == nil {
			w.raw("null")
		} else {
			w.raw(`{"adapter_id":`)
			w.str(l.Adapter.AdapterID)
			w.raw(`,"adapter_hash":`)
			w.str(l.Adapter.AdapterHash)
			w.raw(`,"merged":`)
			w.boolean(l.Adapter.Merged)
			w.b = append(w.b, '}')
		}
		w.raw(`,"tokenizer_hash":`)
		w.str(l.TokenizerHash)
		w.raw(`,"seed":`)
		w.u64(l.Seed)
		w.raw(`,"sampler":{"temperature":`)
		w.f32(l.Sampler.Temperature)
		w.raw(`,"top_p":`)
		w.f32(l.Sampler.TopP)
		w.raw(`,"top_k":`)
		w.optU64(l.Sampler.TopK)
		w.raw(`},"prompt_version":`)
		w.str(l.PromptVersion)
		w.raw(`,"recall":`)
		if l.Recall == nil {
			w.raw("null")
		} else {
			r := l.Recall
			w.raw(`{"corpus_fingerprint":`)
			w.str(r.CorpusFingerprint)
			w.raw(`,"candidate_ids":`)
			w.strs(r.CandidateIDs)
			w.raw(`,"candidate_scores":[`)
			for i, s := range r.CandidateScores {
				if i > 0 {
					w.b = append(w.b, ',')
				}
				w.f32(s)
			}
			w.raw(`],"injected_count":`)
			w.u64(r.InjectedCount)
			w.b = append(w.b, '}')
		}
		w.raw(`,"weights_mutated":`)
		w.boolean(l.WeightsMutated)
		w.raw(`,"execution_env":{"device":`)
		w.str(l.ExecutionEnv.Device)
		w.raw(`,"backend":`)
		w.str(l.ExecutionEnv.Backend)
		w.raw(`,"precision":`)
		w.str(l.ExecutionEnv.Precision)
		w.raw(`}}`)
	case ReplayTraceRemote:
		r := t.Remote
		if r == nil {
			r = &RemoteReplayTrace{}
		}
		w.raw(`{"type":"Remote","provider_name":`)
		w.str(r.ProviderName)
		w.raw(`,"provider_model_id":`)
		w.str(r.ProviderModelID)
		w.raw(`,"request_fingerprint":`)
		w.str(r.RequestFingerprint)
		w.raw(`,"response_fingerprint":`)
		w.str(r.ResponseFingerprint)
		w.raw(`,"temperature":`)
		w.f32(r.Temperature)
		w.raw(`,"top_p":`)
		w.f32(r.TopP)
		w.raw(`,"max_tokens":`)
		w.u64(r.MaxTokens)
		w.raw(`,"provider_metadata":`)
		w.strMap(r.ProviderMetadata)
		w.raw(`,"retried":`)
		w.boolean(r.Retried)
		w.raw(`,"retry_reasons":`)
		w.strs(r.RetryReasons)
		w.raw(`,"replayability":`)
		w.enum("replayability", string(r.Replayability), replayabilityNames)
		w.b = append(w.b, '}')
	default:
		w.fail("invalid replay trace type %q", string(t.Type))
	}
}

func (w *encoder) taggedString(what, kind, other string, names []string) {
	if kind == "Other" {
		w.raw(`{"Other":`)
		w.str(other)
		w.b = append(w.b, '}')
		return
	}
	w.enum(what, kind, names)
}

func (w *encoder) artifactKind(k ArtifactKind) {
	w.taggedString("artifact kind", string(k.Kind), k.Other, artifactKindNames)
}

func (w *encoder) lifecycleEvent(e *LifecycleEvent) {
	w.raw(`{"from_state":`)
	w.enum("artifact state", string(e.FromState), artifactStateNames)
	w.raw(`,"to_state":`)
	w.enum("artifact state", string(e.ToState), artifactStateNames)
	w.raw(`,"timestamp":`)
	w.str(e.Timestamp)
	w.raw(`,"actor":`)
	w.str(e.Actor)
	w.raw(`,"reason":`)
	w.str(e.Reason)
	w.raw(`,"ticket_ref":`)
	w.optStr(e.TicketRef)
	w.raw(`,"tenant_id":`)
	w.optStr(e.TenantID)
	w.b = append(w.b, '}')
}

func (w *encoder) rollbackRecord(r *RollbackRecord) {
	w.raw(`{"artifact_id":`)
	w.str(r.ArtifactID)
	w.raw(`,"previous_state":`)
	w.enum("artifact state", string(r.PreviousState), artifactStateNames)
	w.raw(`,"rolled_back_at":`)
	w.str(r.RolledBackAt)
	w.raw(`,"actor":`)
	w.str(r.Actor)
	w.raw(`,"reason":`)
	w.str(r.Reason)
	w.raw(`,"impact":{"affected_count":`)
	w.optU64(r.Impact.AffectedCount)
	w.raw(`,"quality_issues":`)
	w.strs(r.Impact.QualityIssues)
	w.raw(`,"invalidates_outputs":`)
	w.boolean(r.Impact.InvalidatesOutputs)
	w.raw(`,"severity":`)
	w.enum("rollback severity", string(r.Impact.Severity), rollbackSeverityNames)
	w.raw(`,"affected_tenants":`)
	w.strs(r.Impact.AffectedTenants)
	w.raw(`},"incident_ref":`)
	w.optStr(r.IncidentRef)
	w.raw(`,"tenant_id":`)
	w.optStr(r.TenantID)
	w.b = append(w.b, '}')
}

func (w *encoder) outcomeRecorded(e *OutcomeRecorded) {
	w.raw(`{"chain_id":`)
	w.str(string(e.ChainID))
	w.raw(`,"step":`)
	w.enum("decision step", string(e.Step), decisionStepNames)
	w.raw(`,"passed":`)
	w.boolean(e.Passed)
	w.raw(`,"stop_reason":`)
	if e.StopReason == nil {
		w.raw("null")
	} else {
		w.stopReason(e.StopReason)
	}
	w.raw(`,"latency_ms":`)
	w.optU64(e.LatencyMs)
	w.raw(`,"tokens":`)
	w.optU64(e.Tokens)
	w.raw(`,"cost_microdollars":`)
	w.optU64(e.CostMicrodollars)
	w.raw(`,"backend":`)
	if e.Backend == nil {
		w.raw("null")
	} else {
		w.str(string(*e.Backend))
	}
	if len(e.Metadata) > 0 {
		w.raw(`,"metadata":`)
		w.strMap(e.Metadata)
	}
	w.b = append(w.b, '}')
}

func criteriaList[T ~string](w *encoder, v []T) {
	w.b = append(w.b, '[')
	for i, s := range v {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.str(string(s))
	}
	w.b = append(w.b, ']')
}

func (w *encoder) stopReason(s *StopReason) {
	switch s.Kind {
	case StopConverged, StopUserCancelled:
		w.b = append(w.b, '"')
		w.raw(string(s.Kind))
		w.b = append(w.b, '"')
		return
	}
	if !oneOf(string(s.Kind), stopReasonNames) {
		w.fail("invalid stop reason %q", string(s.Kind))
		return
	}
	w.raw(`{"`)
	w.raw(string(s.Kind))
	w.raw(`":`)
	switch s.Kind {
	case StopCriteriaMet:
		d := s.CriteriaMet
		if d == nil {
			d = &StopCriteriaMetData{}
		}
		w.raw(`{"criteria":`)
		criteriaList(w, d.Criteria)
	case StopHumanInterventionRequired:
		d := s.HumanInterventionRequired
		if d == nil {
			d = &StopHumanInterventionData{}
		}
		w.raw(`{"criteria":`)
		criteriaList(w, d.Criteria)
		w.raw(`,"approval_refs":`)
		criteriaList(w, d.ApprovalRefs)
	case StopCycleBudgetExhausted:
		d := s.CycleBudgetExhausted
		if d == nil {
			d = &StopCycleBudgetData{}
		}
		w.raw(`{"cycles_executed":`)
		w.u64(uint64(d.CyclesExecuted))
		w.raw(`,"limit":`)
		w.u64(uint64(d.Limit))
	case StopFactBudgetExhausted:
		d := s.FactBudgetExhausted
		if d == nil {
			d = &StopFactBudgetData{}
		}
		w.raw(`{"facts_count":`)
		w.u64(uint64(d.FactsCount))
		w.raw(`,"limit":`)
		w.u64(uint64(d.Limit))
	case StopTokenBudgetExhausted:
		d := s.TokenBudgetExhausted
		if d == nil {
			d = &StopTokenBudgetData{}
		}
		w.raw(`{"tokens_consumed":`)
		w.u64(d.TokensConsumed)
		w.raw(`,"limit":`)
		w.u64(d.Limit)
	case StopTimeBudgetExhausted:
		d := s.TimeBudgetExhausted
		if d == nil {
			d = &StopTimeBudgetData{}
		}
		w.raw(`{"duration_ms":`)
		w.u64(d.DurationMs)
		w.raw(`,"limit_ms":`)
		w.u64(d.LimitMs)
	case StopInvariantViolated:
		d := s.InvariantViolated
		if d == nil {
			d = &StopInvariantViolatedData{}
		}
		w.raw(`{"class":`)
		w.enum("invariant class", string(d.Class), invariantClassNames)
		w.raw(`,"name":`)
		w.str(d.Name)
		w.raw(`,"reason":`)
		w.str(d.Reason)
	case StopPromotionRejected:
		d := s.PromotionRejected
		if d == nil {
			d = &StopPromotionRejectedData{}
		}
		w.raw(`{"proposal_id":`)
		w.str(d.ProposalID)
		w.raw(`,"reason":`)
		w.str(d.Reason)
	case StopError:
		d := s.Error
		if d == nil {
			d = &StopErrorData{}
		}
		w.raw(`{"message":`)
		w.str(d.Message)
		w.raw(`,"category":`)
		w.enum("error category", string(d.Category), errorCategoryNames)
	case StopAgentRefused:
		d := s.AgentRefused
		if d == nil {
			d = &StopAgentRefusedData{}
		}
		w.raw(`{"agent_id":`)
		w.str(d.AgentID)
		w.raw(`,"reason":`)
		w.str(d.Reason)
	case StopHitlGatePending:
		d := s.HitlGatePending
		if d == nil {
			d = &StopHitlGatePendingData{}
		}
		w.raw(`{"gate_id":`)
		w.str(d.GateID)
		w.raw(`,"proposal_id":`)
		w.str(d.ProposalID)
		w.raw(`,"summary":`)
		w.str(d.Summary)
		w.raw(`,"agent_id":`)
		w.str(d.AgentID)
		w.raw(`,"cycle":`)
		w.u64(uint64(d.Cycle))
	}
	w.raw(`}}`)
}

func (w *encoder) policySnapshot(p *PolicySnapshot) {
	switch p.Type {
	case PolicySnapshotKernel:
		k := p.Kernel
		if k == nil {
			k = &KernelPolicy{}
		}
		w.raw(`{"type":"Kernel","policy":{"adapter_id":`)
		w.optStr(k.AdapterID)
		w.raw(`,"recall_enabled":`)
		w.boolean(k.RecallEnabled)
		w.raw(`,"recall_max_candidates":`)
		w.u64(k.RecallMaxCandidates)
		w.raw(`,"recall_min_score":`)
		w.f32(k.RecallMinScore)
		w.raw(`,"seed":`)
		w.optU64(k.Seed)
		w.raw(`,"requires_human":`)
		w.boolean(k.RequiresHuman)
		w.raw(`,"required_truths":`)
		w.strs(k.RequiredTruths)
	case PolicySnapshotRouting:
		r := p.Routing
		if r == nil {
			r = &RoutingPolicy{}
		}
		w.raw(`{"type":"Routing","policy":{"truth_preferences":`)
		w.strMap(r.TruthPreferences)
		w.raw(`,"risk_tier_backends":`)
		encodeListMap(w, "risk tier", r.RiskTierBackends, riskTierNames)
		w.raw(`,"data_classification_backends":`)
		encodeListMap(w, "data classification", r.DataClassificationBackends, dataClassificationNames)
		w.raw(`,"default_backend":`)
		w.str(r.DefaultBackend)
	case PolicySnapshotRecall:
		r := p.Recall
		if r == nil {
			r = &RecallPolicy{}
		}
		w.raw(`{"type":"Recall","policy":{"enabled":`)
		w.boolean(r.Enabled)
		w.raw(`,"max_k_total":`)
		w.u64(r.MaxKTotal)
		w.raw(`,"max_tokens_injection":`)
		w.u64(r.MaxTokensInjection)
		w.raw(`,"min_score_threshold":`)
		w.f64(r.MinScoreThreshold)
		w.raw(`,"budgets":{"max_latency_ms":`)
		w.u64(r.Budgets.MaxLatencyMs)
		w.raw(`,"max_embedding_calls":`)
		w.u64(r.Budgets.MaxEmbeddingCalls)
		w.raw(`,"max_tokens_per_candidate":`)
		w.u64(r.Budgets.MaxTokensPerCandidate)
		w.raw(`},"allowed_uses":[`)
		for i, u := range r.AllowedUses {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.enum("recall use", string(u), recallUseNames)
		}
		w.b = append(w.b, ']')
	default:
		w.fail("invalid policy snapshot type %q", string(p.Type))
		return
	}
	w.raw(`}}`)
}

func (w *encoder) gateRequest(r *GateRequest) {
	w.raw(`{"gate_id":`)
	w.str(r.GateID)
	w.raw(`,"proposal_id":`)
	w.str(r.ProposalID)
	w.raw(`,"summary":`)
	w.str(r.Summary)
	w.raw(`,"agent_id":`)
	w.str(r.AgentID)
	w.raw(`,"rationale":`)
	w.optStr(r.Rationale)
	w.raw(`,"context_data":[`)
	for i := range r.ContextData {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.raw(`{"label":`)
		w.str(r.ContextData[i].Label)
		w.raw(`,"value":`)
		w.str(r.ContextData[i].Value)
		w.b = append(w.b, '}')
	}
	w.raw(`],"cycle":`)
	w.u64(uint64(r.Cycle))
	w.raw(`,"requested_at":`)
	w.str(string(r.RequestedAt))
	w.raw(`,"timeout":{"timeout_secs":`)
	w.u64(r.Timeout.TimeoutSecs)
	w.raw(`,"action":`)
	w.enum("timeout action", string(r.Timeout.Action), timeoutActionNames)
	w.raw(`}}`)
}

func (w *encoder) gateDecision(d *GateDecision) {
	w.raw(`{"gate_id":`)
	w.str(d.GateID)
	w.raw(`,"verdict":`)
	w.gateVerdict(d.Verdict)
	w.raw(`,"decided_by":`)
	w.str(d.DecidedBy)
	w.raw(`,"decided_at":`)
	w.str(string(d.DecidedAt))
	w.b = append(w.b, '}')
}

func (w *encoder) gateVerdict(g GateVerdict) {
	switch g.Kind {
	case GateApprove:
		w.raw(`"Approve"`)
	case GateReject:
		w.raw(`{"Reject":{"reason":`)
		w.optStr(g.RejectReason)
		w.raw(`}}`)
	default:
		w.fail("invalid gate verdict %q", string(g.Kind))
	}
}

func (w *encoder) eventQuery(q *EventQuery) {
	w.raw(`{"tenant_id":`)
	if q.TenantID == nil {
		w.raw("null")
	} else {
		w.str(string(*q.TenantID))
	}
	w.raw(`,"time_range":`)
	if q.TimeRange == nil {
		w.raw("null")
	} else {
		w.raw(`{"start":`)
		if q.TimeRange.Start == nil {
			w.raw("null")
		} else {
			w.str(string(*q.TimeRange.Start))
		}
		w.raw(`,"end":`)
		if q.TimeRange.End == nil {
			w.raw("null")
		} else {
			w.str(string(*q.TimeRange.End))
		}
		w.b = append(w.b, '}')
	}
	w.raw(`,"kinds":[`)
	for i, k := range q.Kinds {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.enum("event kind", string(k), experienceEventKindNames)
	}
	w.raw(`],"correlation_id":`)
	if q.CorrelationID == nil {
		w.raw("null")
	} else {
		w.str(string(*q.CorrelationID))
	}
	w.raw(`,"chain_id":`)
	if q.ChainID == nil {
		w.raw("null")
	} else {
		w.str(string(*q.ChainID))
	}
	w.raw(`,"limit":`)
	w.optU64(q.Limit)
	w.b = append(w.b, '}')
}
