package ledger

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
)

// ExperienceEventSummary is the output of Summarize, the Go port of
// converge-experience's summarize_events (v3.7.3): per-kind counters plus
// by_kind, a map from the kind's snake_case summary name to its count that
// only holds kinds that occur (a Rust BTreeMap, so JSON keys are sorted).
type ExperienceEventSummary struct {
	TotalEvents               uint64
	ProposalCreated           uint64
	ProposalValidated         uint64
	FactPromoted              uint64
	RecallExecuted            uint64
	TraceLinkRecorded         uint64 // ReplayTraceRecorded events
	ReplayabilityDowngraded   uint64
	ArtifactStateTransitioned uint64
	ArtifactRollbackRecorded  uint64
	BackendInvoked            uint64
	OutcomeRecorded           uint64
	BudgetExceeded            uint64
	PolicySnapshotCaptured    uint64
	HypothesisResolved        uint64
	GateDecisionRecorded      uint64
	ByKind                    map[string]uint64
}

// SummaryName returns the snake_case name summarize_events uses for kind k
// (note: ReplayTraceRecorded is "trace_link_recorded"), or "" for an unknown
// kind.
func SummaryName(k ExperienceEventKind) string {
	switch k {
	case KindProposalCreated:
		return "proposal_created"
	case KindProposalValidated:
		return "proposal_validated"
	case KindFactPromoted:
		return "fact_promoted"
	case KindRecallExecuted:
		return "recall_executed"
	case KindReplayTraceRecorded:
		return "trace_link_recorded"
	case KindReplayabilityDowngraded:
		return "replayability_downgraded"
	case KindArtifactStateTransitioned:
		return "artifact_state_transitioned"
	case KindArtifactRollbackRecorded:
		return "artifact_rollback_recorded"
	case KindBackendInvoked:
		return "backend_invoked"
	case KindOutcomeRecorded:
		return "outcome_recorded"
	case KindBudgetExceeded:
		return "budget_exceeded"
	case KindPolicySnapshotCaptured:
		return "policy_snapshot_captured"
	case KindHypothesisResolved:
		return "hypothesis_resolved"
	case KindGateDecisionRecorded:
		return "gate_decision_recorded"
	}
	return ""
}

// counter returns the field of s that counts kind k (nil for unknown).
func (s *ExperienceEventSummary) counter(k ExperienceEventKind) *uint64 {
	switch k {
	case KindProposalCreated:
		return &s.ProposalCreated
	case KindProposalValidated:
		return &s.ProposalValidated
	case KindFactPromoted:
		return &s.FactPromoted
	case KindRecallExecuted:
		return &s.RecallExecuted
	case KindReplayTraceRecorded:
		return &s.TraceLinkRecorded
	case KindReplayabilityDowngraded:
		return &s.ReplayabilityDowngraded
	case KindArtifactStateTransitioned:
		return &s.ArtifactStateTransitioned
	case KindArtifactRollbackRecorded:
		return &s.ArtifactRollbackRecorded
	case KindBackendInvoked:
		return &s.BackendInvoked
	case KindOutcomeRecorded:
		return &s.OutcomeRecorded
	case KindBudgetExceeded:
		return &s.BudgetExceeded
	case KindPolicySnapshotCaptured:
		return &s.PolicySnapshotCaptured
	case KindHypothesisResolved:
		return &s.HypothesisResolved
	case KindGateDecisionRecorded:
		return &s.GateDecisionRecorded
	}
	return nil
}

// Summarize counts events per kind, like summarize_events. Envelopes with a
// nil or unknown event count towards TotalEvents only. ByKind is never nil.
func Summarize(events []ExperienceEventEnvelope) ExperienceEventSummary {
	s := ExperienceEventSummary{ByKind: make(map[string]uint64)}
	for i := range events {
		s.TotalEvents++
		k := events[i].Kind()
		if c := s.counter(k); c != nil {
			*c++
			s.ByKind[SummaryName(k)]++
		}
	}
	return s
}

// MarshalJSON writes the summary exactly like serde_json::to_string: fields
// in declaration order, by_kind keys sorted.
func (s ExperienceEventSummary) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"total_events":`)
	b.WriteString(strconv.FormatUint(s.TotalEvents, 10))
	for _, k := range AllKinds {
		b.WriteString(`,"`)
		b.WriteString(SummaryName(k))
		b.WriteString(`":`)
		b.WriteString(strconv.FormatUint(*s.counter(k), 10))
	}
	b.WriteString(`,"by_kind":{`)
	keys := make([]string, 0, len(s.ByKind))
	for k := range s.ByKind {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		b.Write(kb)
		b.WriteByte(':')
		b.WriteString(strconv.FormatUint(s.ByKind[k], 10))
	}
	b.WriteString("}}")
	return b.Bytes(), nil
}

// MarshalIndentJSON writes the summary like serde_json::to_string_pretty
// (two-space indent), the format of the corpus summary.json.
func (s ExperienceEventSummary) MarshalIndentJSON() ([]byte, error) {
	raw, err := s.MarshalJSON()
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
