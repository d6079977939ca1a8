package ledger

import (
	"math"
	"strconv"
	"strings"
)

// This file decodes the jval tree into the Go types with serde's rules:
// required fields, duplicate struct fields rejected, unknown fields
// ignored, null only for Option fields, #[serde(default)] only for absent
// keys, unit enums as "Name" (or {"Name":null}), data enums as
// {"Name":...}, adjacently/internally tagged enums, exact integer ranges.
//
// Normalisation: empty arrays and empty maps decode to nil.

type decoder struct {
	src []byte
}

func (d *decoder) fail(v *jval, class JSONErrorClass, msg string) error {
	return newJSONError(d.src, v.end, class, msg)
}

// desc describes a value like serde's Unexpected.
func desc(v *jval) string {
	switch v.kind {
	case jNull:
		return "null"
	case jBool:
		if v.b {
			return "boolean `true`"
		}
		return "boolean `false`"
	case jNumber:
		cls, u, i := numClass(v.s)
		switch cls {
		case 'u':
			return "integer `" + strconv.FormatUint(u, 10) + "`"
		case 'i':
			return "integer `" + strconv.FormatInt(i, 10) + "`"
		}
		f, _ := strconv.ParseFloat(v.s, 64)
		return "floating point `" + strconv.FormatFloat(f, 'f', -1, 64) + "`"
	case jString:
		return "string " + strconv.Quote(v.s)
	case jArray:
		return "sequence"
	case jObject:
		return "map"
	}
	return "value"
}

func (d *decoder) invalidType(v *jval, expected string) error {
	return d.fail(v, JSONInvalidType, "invalid type: "+desc(v)+", expected "+expected)
}

func expectedVariants(names []string) string {
	switch len(names) {
	case 0:
		return "there are no variants"
	case 1:
		return "expected `" + names[0] + "`"
	case 2:
		return "expected `" + names[0] + "` or `" + names[1] + "`"
	}
	var sb strings.Builder
	sb.WriteString("expected one of ")
	for i, n := range names {
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("`" + n + "`")
	}
	return sb.String()
}

func (d *decoder) unknownVariant(v *jval, name string, names []string) error {
	return d.fail(v, JSONUnknownVariant, "unknown variant `"+name+"`, "+expectedVariants(names))
}

// ---- primitives ----

func dStr[T ~string](d *decoder, v *jval, out *T) error {
	if v.kind != jString {
		return d.invalidType(v, "a string")
	}
	*out = T(v.s)
	return nil
}

func dOptStr[T ~string](d *decoder, v *jval, out **T) error {
	if v.kind == jNull {
		*out = nil
		return nil
	}
	var s T
	if err := dStr(d, v, &s); err != nil {
		return err
	}
	*out = &s
	return nil
}

func (d *decoder) boolean(v *jval, out *bool) error {
	if v.kind != jBool {
		return d.invalidType(v, "a boolean")
	}
	*out = v.b
	return nil
}

// uint decodes an unsigned integer of at most max; name is the Rust type
// ("u64", "usize", "u32") used in messages.
func (d *decoder) uint(v *jval, name string, max uint64, out *uint64) error {
	if v.kind != jNumber {
		return d.invalidType(v, name)
	}
	cls, u, _ := numClass(v.s)
	switch cls {
	case 'u':
		if u > max {
			return d.fail(v, JSONInvalidValue, "invalid value: "+desc(v)+", expected "+name)
		}
		*out = u
		return nil
	case 'i':
		return d.fail(v, JSONInvalidValue, "invalid value: "+desc(v)+", expected "+name)
	}
	if _, ok := numFloat(v.s); !ok {
		return d.fail(v, JSONInvalidValue, "number out of range")
	}
	return d.invalidType(v, name)
}

func (d *decoder) u64(v *jval, out *uint64) error {
	return d.uint(v, "u64", ^uint64(0), out)
}

func (d *decoder) usize(v *jval, out *uint64) error {
	return d.uint(v, "usize", ^uint64(0), out)
}

func (d *decoder) u32(v *jval, out *uint32) error {
	var u uint64
	if err := d.uint(v, "u32", 1<<32-1, &u); err != nil {
		return err
	}
	*out = uint32(u)
	return nil
}

func (d *decoder) optU64(v *jval, name string, out **uint64) error {
	if v.kind == jNull {
		*out = nil
		return nil
	}
	var u uint64
	if err := d.uint(v, name, ^uint64(0), &u); err != nil {
		return err
	}
	*out = &u
	return nil
}

func (d *decoder) float(v *jval, name string) (float64, error) {
	if v.kind != jNumber {
		return 0, d.invalidType(v, name)
	}
	cls, u, i := numClass(v.s)
	switch cls {
	case 'u':
		return float64(u), nil
	case 'i':
		return float64(i), nil
	}
	f, ok := numFloat(v.s)
	if !ok {
		return 0, d.fail(v, JSONInvalidValue, "number out of range")
	}
	return f, nil
}

func (d *decoder) f64(v *jval, out *float64) error {
	f, err := d.float(v, "f64")
	*out = f
	return err
}

// f32 decodes like serde: parse as f64, then convert (`as f32`). One
// deliberate difference: a finite value beyond the f32 range is rejected
// ("number out of range") instead of becoming ±Inf, which serde_json would
// later write as null and could not read back.
func (d *decoder) f32(v *jval, out *float32) error {
	f, err := d.float(v, "f32")
	if err != nil {
		return err
	}
	x := float32(f)
	if math.IsInf(float64(x), 0) {
		return d.fail(v, JSONInvalidValue, "number out of range")
	}
	*out = x
	return nil
}

func (d *decoder) hash(v *jval, out *ContentHash) error {
	if v.kind != jString {
		return d.invalidType(v, "a string")
	}
	s := v.s
	if len(s)%2 != 0 {
		return d.fail(v, JSONInvalidValue, "Odd number of digits")
	}
	if len(s) != 64 {
		return d.fail(v, JSONInvalidValue, "Invalid string length")
	}
	for i := 0; i < 64; i += 2 {
		hi, lo := hexVal(s[i]), hexVal(s[i+1])
		if hi < 0 {
			return d.fail(v, JSONInvalidValue, "Invalid character "+strconv.QuoteRune(rune(s[i]))+" at position "+strconv.Itoa(i))
		}
		if lo < 0 {
			return d.fail(v, JSONInvalidValue, "Invalid character "+strconv.QuoteRune(rune(s[i+1]))+" at position "+strconv.Itoa(i+1))
		}
		out[i/2] = byte(hi<<4 | lo)
	}
	return nil
}

func (d *decoder) optHash(v *jval, out **ContentHash) error {
	if v.kind == jNull {
		*out = nil
		return nil
	}
	h := new(ContentHash)
	if err := d.hash(v, h); err != nil {
		return err
	}
	*out = h
	return nil
}

// seq decodes a JSON array; an empty array yields nil.
func seq[T any](d *decoder, v *jval, out *[]T, elem func(*jval, *T) error) error {
	if v.kind != jArray {
		return d.invalidType(v, "a sequence")
	}
	if len(v.elems) == 0 {
		*out = nil
		return nil
	}
	s := make([]T, len(v.elems))
	for i := range v.elems {
		if err := elem(&v.elems[i], &s[i]); err != nil {
			return err
		}
	}
	*out = s
	return nil
}

func (d *decoder) strs(v *jval, out *[]string) error {
	return seq(d, v, out, func(e *jval, o *string) error { return dStr(d, e, o) })
}

// strMap decodes a HashMap<String,String>: duplicate keys, last wins; an
// empty object yields nil.
func (d *decoder) strMap(v *jval, out *map[string]string) error {
	if v.kind != jObject {
		return d.invalidType(v, "a map")
	}
	if len(v.mems) == 0 {
		*out = nil
		return nil
	}
	m := make(map[string]string, len(v.mems))
	for i := range v.mems {
		var s string
		if err := dStr(d, &v.mems[i].val, &s); err != nil {
			return err
		}
		m[v.mems[i].key] = s
	}
	*out = m
	return nil
}

func listMap[K ~string](d *decoder, v *jval, names []string, out *map[K][]string) error {
	if v.kind != jObject {
		return d.invalidType(v, "a map")
	}
	if len(v.mems) == 0 {
		*out = nil
		return nil
	}
	m := make(map[K][]string, len(v.mems))
	for i := range v.mems {
		mem := &v.mems[i]
		if !oneOf(mem.key, names) {
			kv := jval{kind: jString, s: mem.key, off: mem.keyOff, end: mem.val.off}
			return d.unknownVariant(&kv, mem.key, names)
		}
		var l []string
		if err := d.strs(&mem.val, &l); err != nil {
			return err
		}
		m[K(mem.key)] = l
	}
	*out = m
	return nil
}

// ---- enums ----

// variant reads an externally tagged enum: "Name" (payload nil) or
// {"Name": payload}. The name is checked against names.
func (d *decoder) variant(v *jval, names []string) (string, *jval, error) {
	switch v.kind {
	case jString:
		if !oneOf(v.s, names) {
			return "", nil, d.unknownVariant(v, v.s, names)
		}
		return v.s, nil, nil
	case jObject:
		if len(v.mems) == 0 {
			return "", nil, d.fail(v, JSONSyntax, "expected value")
		}
		m := &v.mems[0]
		if !oneOf(m.key, names) {
			kv := jval{kind: jString, s: m.key, off: m.keyOff, end: m.val.off}
			return "", nil, d.unknownVariant(&kv, m.key, names)
		}
		return m.key, &m.val, nil
	}
	return "", nil, d.fail(v, JSONSyntax, "expected value")
}

// endVariant rejects a {"Name":...} map with more than one entry (after
// its first entry decoded successfully, as serde_json does).
func (d *decoder) endVariant(v *jval) error {
	if v.kind == jObject && len(v.mems) > 1 {
		return d.fail(&v.mems[1].val, JSONSyntax, "expected value")
	}
	return nil
}

// unit checks the payload of a unit variant.
func (d *decoder) unit(payload *jval) error {
	if payload != nil && payload.kind != jNull {
		return d.invalidType(payload, "unit")
	}
	return nil
}

func dEnum[T ~string](d *decoder, v *jval, names []string, out *T) error {
	name, payload, err := d.variant(v, names)
	if err != nil {
		return err
	}
	if err := d.unit(payload); err != nil {
		return err
	}
	if err := d.endVariant(v); err != nil {
		return err
	}
	*out = T(name)
	return nil
}

func dOptEnum[T ~string](d *decoder, v *jval, names []string, out **T) error {
	if v.kind == jNull {
		*out = nil
		return nil
	}
	var e T
	if err := dEnum(d, v, names, &e); err != nil {
		return err
	}
	*out = &e
	return nil
}

// stringDataEnum decodes ArtifactKind / BudgetResource: unit variants or
// {"Other":"text"}.
func (d *decoder) stringDataEnum(v *jval, names []string) (kind, other string, err error) {
	name, payload, err := d.variant(v, names)
	if err != nil {
		return "", "", err
	}
	if name == "Other" {
		if payload == nil {
			return "", "", d.fail(v, JSONInvalidType, "invalid type: unit variant, expected newtype variant")
		}
		if err := dStr(d, payload, &other); err != nil {
			return "", "", err
		}
	} else if err := d.unit(payload); err != nil {
		return "", "", err
	}
	return name, other, d.endVariant(v)
}

// ---- structs ----

type fieldMode uint8

const (
	fReq fieldMode = iota // required
	fOpt                  // Option<T>: absent key = None (map form only)
	fDef                  // #[serde(default)]: absent = default (both forms)
)

type fspec struct {
	name string
	mode fieldMode
}

// object decodes a struct from a map (or, when allowSeq, from a positional
// array as serde does). set is called for each present field, in input
// order; what names the struct for messages ("struct Foo").
func (d *decoder) object(v *jval, what string, allowSeq bool, fields []fspec, set func(i int, fv *jval) error) error {
	switch {
	case v.kind == jObject:
		var seen uint64
		for mi := range v.mems {
			m := &v.mems[mi]
			idx := -1
			for i := range fields {
				if fields[i].name == m.key {
					idx = i
					break
				}
			}
			if idx < 0 {
				continue
			}
			if seen&(1<<idx) != 0 {
				kv := jval{off: m.keyOff, end: m.val.off}
				return d.fail(&kv, JSONDuplicateField, "duplicate field `"+m.key+"`")
			}
			seen |= 1 << idx
			if err := set(idx, &m.val); err != nil {
				return err
			}
		}
		for i := range fields {
			if seen&(1<<i) == 0 && fields[i].mode == fReq {
				return d.fail(v, JSONMissingField, "missing field `"+fields[i].name+"`")
			}
		}
		return nil
	case v.kind == jArray && allowSeq:
		for i := range fields {
			if i >= len(v.elems) {
				if fields[i].mode == fDef {
					continue
				}
				return d.fail(v, JSONInvalidValue, "invalid length "+strconv.Itoa(i)+", expected "+what+" with "+strconv.Itoa(len(fields))+" elements")
			}
			if err := set(i, &v.elems[i]); err != nil {
				return err
			}
		}
		if len(v.elems) > len(fields) {
			return d.fail(&v.elems[len(fields)], JSONSyntax, "trailing characters")
		}
		return nil
	}
	return d.invalidType(v, what)
}

// ---- envelope ----

var envelopeFields = []fspec{{"event_id", fReq}, {"occurred_at", fReq}, {"tenant_id", fOpt}, {"correlation_id", fOpt}, {"event", fReq}}

func (d *decoder) envelope(v *jval, e *ExperienceEventEnvelope) error {
	*e = ExperienceEventEnvelope{}
	return d.object(v, "struct ExperienceEventEnvelope", true, envelopeFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dStr(d, f, &e.EventID)
		case 1:
			return dStr(d, f, &e.OccurredAt)
		case 2:
			return dOptStr(d, f, &e.TenantID)
		case 3:
			return dOptStr(d, f, &e.CorrelationID)
		default:
			ev, err := d.event(f)
			e.Event = ev
			return err
		}
	})
}

// adjacent reads an adjacently tagged enum {tagKey: "Name", contentKey: X}
// (or the [tag, content] sequence form serde also accepts).
func (d *decoder) adjacent(v *jval, what, contentKey string, names []string) (string, *jval, error) {
	switch v.kind {
	case jObject:
		var tag string
		var haveTag bool
		var content *jval
		for i := range v.mems {
			m := &v.mems[i]
			switch m.key {
			case "type":
				if haveTag {
					kv := jval{off: m.keyOff, end: m.val.off}
					return "", nil, d.fail(&kv, JSONDuplicateField, "duplicate field `type`")
				}
				if m.val.kind != jString {
					return "", nil, d.invalidType(&m.val, "variant identifier")
				}
				if !oneOf(m.val.s, names) {
					return "", nil, d.unknownVariant(&m.val, m.val.s, names)
				}
				tag, haveTag = m.val.s, true
			case contentKey:
				if content != nil {
					kv := jval{off: m.keyOff, end: m.val.off}
					return "", nil, d.fail(&kv, JSONDuplicateField, "duplicate field `"+contentKey+"`")
				}
				content = &m.val
			}
		}
		if !haveTag {
			return "", nil, d.fail(v, JSONMissingField, "missing field `type`")
		}
		if content == nil {
			return "", nil, d.fail(v, JSONMissingField, "missing field `"+contentKey+"`")
		}
		return tag, content, nil
	case jArray:
		if len(v.elems) == 0 {
			return "", nil, d.fail(v, JSONInvalidValue, "invalid length 0, expected "+what)
		}
		t := &v.elems[0]
		if t.kind != jString {
			return "", nil, d.invalidType(t, "variant identifier")
		}
		if !oneOf(t.s, names) {
			return "", nil, d.unknownVariant(t, t.s, names)
		}
		if len(v.elems) < 2 {
			return "", nil, d.fail(v, JSONInvalidValue, "invalid length 1, expected "+what)
		}
		if len(v.elems) > 2 {
			return "", nil, d.fail(&v.elems[2], JSONSyntax, "trailing characters")
		}
		return t.s, &v.elems[1], nil
	}
	return "", nil, d.invalidType(v, what)
}

func (d *decoder) event(v *jval) (ExperienceEvent, error) {
	tag, c, err := d.adjacent(v, "adjacently tagged enum ExperienceEvent", "data", experienceEventKindNames)
	if err != nil {
		return nil, err
	}
	what := "struct variant ExperienceEvent::" + tag
	switch ExperienceEventKind(tag) {
	case KindProposalCreated:
		e := &ProposalCreated{}
		return e, d.proposalCreated(c, what, e)
	case KindProposalValidated:
		e := &ProposalValidated{}
		return e, d.proposalValidated(c, what, e)
	case KindFactPromoted:
		e := &FactPromoted{}
		return e, d.factPromoted(c, what, e)
	case KindRecallExecuted:
		e := &RecallExecuted{}
		return e, d.recallExecuted(c, what, e)
	case KindReplayTraceRecorded:
		e := &ReplayTraceRecorded{}
		return e, d.object(c, what, false, replayTraceRecordedFields, func(i int, f *jval) error {
			if i == 0 {
				return dStr(d, f, &e.TraceLinkID)
			}
			return d.replayTrace(f, &e.TraceLink)
		})
	case KindReplayabilityDowngraded:
		e := &ReplayabilityDowngraded{}
		return e, d.object(c, what, false, downgradedFields, func(i int, f *jval) error {
			switch i {
			case 0:
				return dStr(d, f, &e.TraceLinkID)
			case 1:
				return dEnum(d, f, replayabilityNames, &e.From)
			case 2:
				return dEnum(d, f, replayabilityNames, &e.To)
			default:
				return dEnum(d, f, downgradeReasonNames, &e.Reason)
			}
		})
	case KindArtifactStateTransitioned:
		e := &ArtifactStateTransitioned{}
		return e, d.object(c, what, false, transitionedFields, func(i int, f *jval) error {
			switch i {
			case 0:
				return dStr(d, f, &e.ArtifactID)
			case 1:
				k, o, err := d.stringDataEnum(f, artifactKindNames)
				e.ArtifactKind = ArtifactKind{Kind: ArtifactKindTag(k), Other: o}
				return err
			default:
				return d.lifecycleEvent(f, &e.Event)
			}
		})
	case KindArtifactRollbackRecorded:
		e := &ArtifactRollbackRecorded{}
		return e, d.object(c, what, false, rollbackRecordedFields, func(i int, f *jval) error {
			return d.rollbackRecord(f, &e.Rollback)
		})
	case KindBackendInvoked:
		e := &BackendInvoked{}
		return e, d.object(c, what, false, backendInvokedFields, func(i int, f *jval) error {
			switch i {
			case 0:
				return dStr(d, f, &e.BackendName)
			case 1:
				return dOptStr(d, f, &e.AdapterID)
			case 2:
				return dStr(d, f, &e.TraceLinkID)
			case 3:
				return dEnum(d, f, decisionStepNames, &e.Step)
			default:
				return d.optHash(f, &e.PolicySnapshotHash)
			}
		})
	case KindOutcomeRecorded:
		e := &OutcomeRecorded{}
		return e, d.outcomeRecorded(c, what, e)
	case KindBudgetExceeded:
		e := &BudgetExceeded{}
		return e, d.object(c, what, false, budgetExceededFields, func(i int, f *jval) error {
			switch i {
			case 0:
				return dStr(d, f, &e.ChainID)
			case 1:
				k, o, err := d.stringDataEnum(f, budgetResourceNames)
				e.Resource = BudgetResource{Kind: BudgetResourceTag(k), Other: o}
				return err
			case 2:
				return dStr(d, f, &e.Limit)
			default:
				return dOptStr(d, f, &e.Observed)
			}
		})
	case KindPolicySnapshotCaptured:
		e := &PolicySnapshotCaptured{}
		return e, d.object(c, what, false, policyCapturedFields, func(i int, f *jval) error {
			switch i {
			case 0:
				return dStr(d, f, &e.PolicyID)
			case 1:
				return d.policySnapshot(f, &e.Policy)
			case 2:
				return d.hash(f, &e.SnapshotHash)
			default:
				return dStr(d, f, &e.CapturedBy)
			}
		})
	case KindHypothesisResolved:
		e := &HypothesisResolved{}
		return e, d.object(c, what, false, hypothesisFields, func(i int, f *jval) error {
			switch i {
			case 0:
				return dStr(d, f, &e.ChainID)
			case 1:
				return dStr(d, f, &e.FactID)
			case 2:
				return dStr(d, f, &e.Domain)
			case 3:
				return dStr(d, f, &e.Claim)
			case 4:
				return d.f64(f, &e.Confidence)
			case 5:
				return dEnum(d, f, hypothesisOutcomeNames, &e.Outcome)
			case 6:
				return dOptStr(d, f, &e.ContradictionID)
			case 7:
				return d.u32(f, &e.FormedCycle)
			default:
				return d.u32(f, &e.ResolvedCycle)
			}
		})
	default: // KindGateDecisionRecorded
		e := &GateDecisionRecorded{}
		return e, d.object(c, what, false, gateRecordedFields, func(i int, f *jval) error {
			if i == 0 {
				return d.gateRequest(f, &e.Request)
			}
			return d.gateDecision(f, &e.Decision)
		})
	}
}

var (
	proposalCreatedFields     = []fspec{{"proposal", fReq}, {"chain_id", fReq}, {"step", fReq}, {"policy_snapshot_hash", fOpt}}
	kernelProposalFields      = []fspec{{"id", fReq}, {"kind", fReq}, {"payload", fReq}, {"structured_payload", fOpt}, {"trace_link", fReq}, {"contract_results", fReq}, {"requires_human", fReq}, {"confidence", fOpt}}
	contractResultFields      = []fspec{{"name", fReq}, {"passed", fReq}, {"failure_reason", fOpt}}
	proposalValidatedFields   = []fspec{{"proposal_id", fReq}, {"chain_id", fReq}, {"step", fReq}, {"contract_results", fReq}, {"all_passed", fReq}, {"validator", fReq}}
	factPromotedFields        = []fspec{{"proposal_id", fReq}, {"fact_id", fReq}, {"promoted_by", fReq}, {"reason", fReq}, {"requires_human", fReq}}
	recallExecutedFields      = []fspec{{"query", fReq}, {"provenance", fReq}, {"trace_link_id", fOpt}}
	recallQueryFields         = []fspec{{"query_text", fReq}, {"top_k", fReq}, {"step_context", fOpt}, {"tenant_scope", fOpt}}
	candidateScoreFields      = []fspec{{"id", fReq}, {"score", fReq}}
	replayTraceRecordedFields = []fspec{{"trace_link_id", fReq}, {"trace_link", fReq}}
	downgradedFields          = []fspec{{"trace_link_id", fReq}, {"from", fReq}, {"to", fReq}, {"reason", fReq}}
	transitionedFields        = []fspec{{"artifact_id", fReq}, {"artifact_kind", fReq}, {"event", fReq}}
	rollbackRecordedFields    = []fspec{{"rollback", fReq}}
	backendInvokedFields      = []fspec{{"backend_name", fReq}, {"adapter_id", fOpt}, {"trace_link_id", fReq}, {"step", fReq}, {"policy_snapshot_hash", fOpt}}
	outcomeFields             = []fspec{{"chain_id", fReq}, {"step", fReq}, {"passed", fReq}, {"stop_reason", fOpt}, {"latency_ms", fOpt}, {"tokens", fOpt}, {"cost_microdollars", fOpt}, {"backend", fOpt}, {"metadata", fDef}}
	budgetExceededFields      = []fspec{{"chain_id", fReq}, {"resource", fReq}, {"limit", fReq}, {"observed", fOpt}}
	policyCapturedFields      = []fspec{{"policy_id", fReq}, {"policy", fReq}, {"snapshot_hash", fReq}, {"captured_by", fReq}}
	hypothesisFields          = []fspec{{"chain_id", fReq}, {"fact_id", fReq}, {"domain", fReq}, {"claim", fReq}, {"confidence", fReq}, {"outcome", fReq}, {"contradiction_id", fDef}, {"formed_cycle", fReq}, {"resolved_cycle", fReq}}
	gateRecordedFields        = []fspec{{"request", fReq}, {"decision", fReq}}
	provenanceFields          = []fspec{{"query_hash", fReq}, {"embedding_input_hash", fReq}, {"embedding_hash", fReq}, {"embedder_id", fReq}, {"embedder_settings_hash", fReq}, {"corpus_fingerprint", fReq}, {"policy_snapshot_hash", fReq}, {"purpose", fDef}, {"consumers", fDef}, {"candidate_scores", fReq}, {"candidates_searched", fReq}, {"candidates_returned", fReq}, {"stop_reason", fOpt}, {"latency_ms", fReq}, {"timestamp", fReq}, {"signature", fDef}}
	localTraceFields          = []fspec{{"base_model_hash", fReq}, {"adapter", fOpt}, {"tokenizer_hash", fReq}, {"seed", fReq}, {"sampler", fReq}, {"prompt_version", fReq}, {"recall", fOpt}, {"weights_mutated", fReq}, {"execution_env", fReq}}
	remoteTraceFields         = []fspec{{"provider_name", fReq}, {"provider_model_id", fReq}, {"request_fingerprint", fReq}, {"response_fingerprint", fReq}, {"temperature", fReq}, {"top_p", fReq}, {"max_tokens", fReq}, {"provider_metadata", fReq}, {"retried", fReq}, {"retry_reasons", fReq}, {"replayability", fReq}}
	adapterTraceFields        = []fspec{{"adapter_id", fReq}, {"adapter_hash", fReq}, {"merged", fReq}}
	samplerFields             = []fspec{{"temperature", fReq}, {"top_p", fReq}, {"top_k", fOpt}}
	recallTraceFields         = []fspec{{"corpus_fingerprint", fReq}, {"candidate_ids", fReq}, {"candidate_scores", fReq}, {"injected_count", fReq}}
	execEnvFields             = []fspec{{"device", fReq}, {"backend", fReq}, {"precision", fReq}}
	lifecycleFields           = []fspec{{"from_state", fReq}, {"to_state", fReq}, {"timestamp", fReq}, {"actor", fReq}, {"reason", fReq}, {"ticket_ref", fOpt}, {"tenant_id", fOpt}}
	rollbackFields            = []fspec{{"artifact_id", fReq}, {"previous_state", fReq}, {"rolled_back_at", fReq}, {"actor", fReq}, {"reason", fReq}, {"impact", fReq}, {"incident_ref", fOpt}, {"tenant_id", fOpt}}
	impactFields              = []fspec{{"affected_count", fOpt}, {"quality_issues", fReq}, {"invalidates_outputs", fReq}, {"severity", fReq}, {"affected_tenants", fReq}}
	kernelPolicyFields        = []fspec{{"adapter_id", fOpt}, {"recall_enabled", fReq}, {"recall_max_candidates", fReq}, {"recall_min_score", fReq}, {"seed", fOpt}, {"requires_human", fReq}, {"required_truths", fReq}}
	routingPolicyFields       = []fspec{{"truth_preferences", fReq}, {"risk_tier_backends", fReq}, {"data_classification_backends", fReq}, {"default_backend", fReq}}
	recallPolicyFields        = []fspec{{"enabled", fReq}, {"max_k_total", fReq}, {"max_tokens_injection", fReq}, {"min_score_threshold", fReq}, {"budgets", fReq}, {"allowed_uses", fDef}}
	budgetsFields             = []fspec{{"max_latency_ms", fReq}, {"max_embedding_calls", fReq}, {"max_tokens_per_candidate", fReq}}
	gateRequestFields         = []fspec{{"gate_id", fReq}, {"proposal_id", fReq}, {"summary", fReq}, {"agent_id", fReq}, {"rationale", fOpt}, {"context_data", fReq}, {"cycle", fReq}, {"requested_at", fReq}, {"timeout", fReq}}
	contextEntryFields        = []fspec{{"label", fReq}, {"value", fReq}}
	timeoutFields             = []fspec{{"timeout_secs", fReq}, {"action", fReq}}
	gateDecisionFields        = []fspec{{"gate_id", fReq}, {"verdict", fReq}, {"decided_by", fReq}, {"decided_at", fReq}}
	rejectFields              = []fspec{{"reason", fOpt}}
	criteriaFields            = []fspec{{"criteria", fReq}}
	humanFields               = []fspec{{"criteria", fReq}, {"approval_refs", fReq}}
	cycleFields               = []fspec{{"cycles_executed", fReq}, {"limit", fReq}}
	factFields                = []fspec{{"facts_count", fReq}, {"limit", fReq}}
	tokenFields               = []fspec{{"tokens_consumed", fReq}, {"limit", fReq}}
	timeFields                = []fspec{{"duration_ms", fReq}, {"limit_ms", fReq}}
	invariantFields           = []fspec{{"class", fReq}, {"name", fReq}, {"reason", fReq}}
	promotionFields           = []fspec{{"proposal_id", fReq}, {"reason", fReq}}
	errorFields               = []fspec{{"message", fReq}, {"category", fReq}}
	agentRefusedFields        = []fspec{{"agent_id", fReq}, {"reason", fReq}}
	hitlFields                = []fspec{{"gate_id", fReq}, {"proposal_id", fReq}, {"summary", fReq}, {"agent_id", fReq}, {"cycle", fReq}}
	eventQueryFields          = []fspec{{"tenant_id", fOpt}, {"time_range", fOpt}, {"kinds", fReq}, {"correlation_id", fOpt}, {"chain_id", fOpt}, {"limit", fOpt}}
	timeRangeFields           = []fspec{{"start", fOpt}, {"end", fOpt}}
)

// internedKeys holds every field name the decoders look up, so the parser
// can return shared strings for them.
var internedKeys, maxInternLen = func() (map[string]string, int) {
	m := map[string]string{"type": "type", "data": "data", "policy": "policy"}
	for _, fs := range [][]fspec{envelopeFields, proposalCreatedFields, kernelProposalFields, contractResultFields,
		proposalValidatedFields, factPromotedFields, recallExecutedFields, recallQueryFields, candidateScoreFields,
		replayTraceRecordedFields, downgradedFields, transitionedFields, rollbackRecordedFields, backendInvokedFields,
		outcomeFields, budgetExceededFields, policyCapturedFields, hypothesisFields, gateRecordedFields,
		provenanceFields, localTraceFields, remoteTraceFields, adapterTraceFields, samplerFields, recallTraceFields,
		execEnvFields, lifecycleFields, rollbackFields, impactFields, kernelPolicyFields, routingPolicyFields,
		recallPolicyFields, budgetsFields, gateRequestFields, contextEntryFields, timeoutFields, gateDecisionFields,
		rejectFields, criteriaFields, humanFields, cycleFields, factFields, tokenFields, timeFields, invariantFields,
		promotionFields, errorFields, agentRefusedFields, hitlFields, eventQueryFields, timeRangeFields} {
		for _, f := range fs {
			m[f.name] = f.name
		}
	}
	for _, names := range [][]string{stopReasonNames, artifactKindNames, budgetResourceNames, gateVerdictNames,
		riskTierNames, dataClassificationNames} {
		for _, n := range names {
			m[n] = n
		}
	}
	max := 0
	for k := range m {
		if len(k) > max {
			max = len(k)
		}
	}
	return m, max
}()

func (d *decoder) proposalCreated(v *jval, what string, e *ProposalCreated) error {
	return d.object(v, what, false, proposalCreatedFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return d.kernelProposal(f, &e.Proposal)
		case 1:
			return dStr(d, f, &e.ChainID)
		case 2:
			return dEnum(d, f, decisionStepNames, &e.Step)
		default:
			return d.optHash(f, &e.PolicySnapshotHash)
		}
	})
}

func (d *decoder) kernelProposal(v *jval, p *KernelProposal) error {
	return d.object(v, "struct KernelProposal", true, kernelProposalFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dStr(d, f, &p.ID)
		case 1:
			return dEnum(d, f, proposalKindNames, &p.Kind)
		case 2:
			return dStr(d, f, &p.Payload)
		case 3:
			if f.kind == jNull {
				p.StructuredPayload = nil
				return nil
			}
			b, err := appendValue(nil, f, d.src)
			p.StructuredPayload = b
			return err
		case 4:
			return d.replayTrace(f, &p.TraceLink)
		case 5:
			return seq(d, f, &p.ContractResults, func(e *jval, c *ContractResult) error {
				return d.contractResult(e, "struct ContractResult", &c.Name, &c.Passed, &c.FailureReason)
			})
		case 6:
			return d.boolean(f, &p.RequiresHuman)
		default:
			if f.kind == jNull {
				p.Confidence = nil
				return nil
			}
			c := new(float32)
			p.Confidence = c
			return d.f32(f, c)
		}
	})
}

func (d *decoder) contractResult(v *jval, what string, name *string, passed *bool, reason **string) error {
	return d.object(v, what, true, contractResultFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dStr(d, f, name)
		case 1:
			return d.boolean(f, passed)
		default:
			return dOptStr(d, f, reason)
		}
	})
}

func (d *decoder) proposalValidated(v *jval, what string, e *ProposalValidated) error {
	return d.object(v, what, false, proposalValidatedFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dStr(d, f, &e.ProposalID)
		case 1:
			return dStr(d, f, &e.ChainID)
		case 2:
			return dEnum(d, f, decisionStepNames, &e.Step)
		case 3:
			return seq(d, f, &e.ContractResults, func(x *jval, c *ContractResultSnapshot) error {
				return d.contractResult(x, "struct ContractResultSnapshot", &c.Name, &c.Passed, &c.FailureReason)
			})
		case 4:
			return d.boolean(f, &e.AllPassed)
		default:
			return dStr(d, f, &e.Validator)
		}
	})
}

func (d *decoder) factPromoted(v *jval, what string, e *FactPromoted) error {
	return d.object(v, what, false, factPromotedFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dStr(d, f, &e.ProposalID)
		case 1:
			return dStr(d, f, &e.FactID)
		case 2:
			return dStr(d, f, &e.PromotedBy)
		case 3:
			return dStr(d, f, &e.Reason)
		default:
			return d.boolean(f, &e.RequiresHuman)
		}
	})
}

func (d *decoder) recallExecuted(v *jval, what string, e *RecallExecuted) error {
	return d.object(v, what, false, recallExecutedFields, func(i int, f *jval) error {
		switch i {
		case 0:
			q := &e.Query
			return d.object(f, "struct RecallQuery", true, recallQueryFields, func(i int, f *jval) error {
				switch i {
				case 0:
					return dStr(d, f, &q.QueryText)
				case 1:
					return d.usize(f, &q.TopK)
				case 2:
					return dOptEnum(d, f, decisionStepNames, &q.StepContext)
				default:
					return dOptStr(d, f, &q.TenantScope)
				}
			})
		case 1:
			return d.provenance(f, &e.Provenance)
		default:
			return dOptStr(d, f, &e.TraceLinkID)
		}
	})
}

func (d *decoder) provenance(v *jval, p *RecallProvenanceEnvelope) error {
	p.Purpose = RecallUseRuntimeAugmentation
	p.Signature = "unsigned"
	return d.object(v, "struct RecallProvenanceEnvelope", true, provenanceFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dStr(d, f, &p.QueryHash)
		case 1:
			return dStr(d, f, &p.EmbeddingInputHash)
		case 2:
			return dStr(d, f, &p.EmbeddingHash)
		case 3:
			return dStr(d, f, &p.EmbedderID)
		case 4:
			return dStr(d, f, &p.EmbedderSettingsHash)
		case 5:
			return dStr(d, f, &p.CorpusFingerprint)
		case 6:
			return dStr(d, f, &p.PolicySnapshotHash)
		case 7:
			return dEnum(d, f, recallUseNames, &p.Purpose)
		case 8:
			return seq(d, f, &p.Consumers, func(x *jval, c *RecallConsumer) error {
				return dEnum(d, x, recallConsumerNames, c)
			})
		case 9:
			return seq(d, f, &p.CandidateScores, func(x *jval, c *CandidateScore) error {
				return d.object(x, "struct CandidateScore", true, candidateScoreFields, func(i int, f *jval) error {
					if i == 0 {
						return dStr(d, f, &c.ID)
					}
					return d.f64(f, &c.Score)
				})
			})
		case 10:
			return d.usize(f, &p.CandidatesSearched)
		case 11:
			return d.usize(f, &p.CandidatesReturned)
		case 12:
			return dOptEnum(d, f, recallStopReasonNames, &p.StopReason)
		case 13:
			return d.u64(f, &p.LatencyMs)
		case 14:
			return dStr(d, f, &p.Timestamp)
		default:
			return dStr(d, f, &p.Signature)
		}
	})
}

// replayTrace decodes the internally tagged ReplayTrace.
func (d *decoder) replayTrace(v *jval, t *ReplayTrace) error {
	*t = ReplayTrace{}
	var tag string
	body := v
	switch v.kind {
	case jObject:
		have := false
		for i := range v.mems {
			m := &v.mems[i]
			if m.key != "type" {
				continue
			}
			if have {
				kv := jval{off: m.keyOff, end: m.val.off}
				return d.fail(&kv, JSONDuplicateField, "duplicate field `type`")
			}
			if m.val.kind != jString {
				return d.invalidType(&m.val, "variant identifier")
			}
			if !oneOf(m.val.s, replayTraceTypeNames) {
				return d.unknownVariant(&m.val, m.val.s, replayTraceTypeNames)
			}
			tag, have = m.val.s, true
		}
		if !have {
			return d.fail(v, JSONMissingField, "missing field `type`")
		}
	case jArray:
		if len(v.elems) == 0 {
			return d.fail(v, JSONMissingField, "missing field `type`")
		}
		tv := &v.elems[0]
		if tv.kind != jString {
			return d.invalidType(tv, "variant identifier")
		}
		if !oneOf(tv.s, replayTraceTypeNames) {
			return d.unknownVariant(tv, tv.s, replayTraceTypeNames)
		}
		tag = tv.s
		body = &jval{kind: jArray, elems: v.elems[1:], off: v.off, end: v.end}
	default:
		return d.invalidType(v, "internally tagged enum ReplayTrace")
	}
	if tag == string(ReplayTraceLocal) {
		l := &LocalReplayTrace{}
		t.Type, t.Local = ReplayTraceLocal, l
		return d.object(body, "struct variant ReplayTrace::Local", true, localTraceFields, func(i int, f *jval) error {
			switch i {
			case 0:
				return dStr(d, f, &l.BaseModelHash)
			case 1:
				if f.kind == jNull {
					l.Adapter = nil
					return nil
				}
				a := &AdapterTrace{}
				l.Adapter = a
				return d.object(f, "struct AdapterTrace", true, adapterTraceFields, func(i int, f *jval) error {
					switch i {
					case 0:
						return dStr(d, f, &a.AdapterID)
					case 1:
						return dStr(d, f, &a.AdapterHash)
					default:
						return d.boolean(f, &a.Merged)
					}
				})
			case 2:
				return dStr(d, f, &l.TokenizerHash)
			case 3:
				return d.u64(f, &l.Seed)
			case 4:
				s := &l.Sampler
				*s = SamplerParams{}
				return d.object(f, "struct SamplerParams", true, samplerFields, func(i int, f *jval) error {
					switch i {
					case 0:
						return d.f32(f, &s.Temperature)
					case 1:
						return d.f32(f, &s.TopP)
					default:
						return d.optU64(f, "usize", &s.TopK)
					}
				})
			case 5:
				return dStr(d, f, &l.PromptVersion)
			case 6:
				if f.kind == jNull {
					l.Recall = nil
					return nil
				}
				r := &RecallTrace{}
				l.Recall = r
				return d.object(f, "struct RecallTrace", true, recallTraceFields, func(i int, f *jval) error {
					switch i {
					case 0:
						return dStr(d, f, &r.CorpusFingerprint)
					case 1:
						return d.strs(f, &r.CandidateIDs)
					case 2:
						return seq(d, f, &r.CandidateScores, func(x *jval, o *float32) error { return d.f32(x, o) })
					default:
						return d.usize(f, &r.InjectedCount)
					}
				})
			case 7:
				return d.boolean(f, &l.WeightsMutated)
			default:
				env := &l.ExecutionEnv
				return d.object(f, "struct ExecutionEnv", true, execEnvFields, func(i int, f *jval) error {
					switch i {
					case 0:
						return dStr(d, f, &env.Device)
					case 1:
						return dStr(d, f, &env.Backend)
					default:
						return dStr(d, f, &env.Precision)
					}
				})
			}
		})
	}
	r := &RemoteReplayTrace{}
	t.Type, t.Remote = ReplayTraceRemote, r
	return d.object(body, "struct variant ReplayTrace::Remote", true, remoteTraceFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dStr(d, f, &r.ProviderName)
		case 1:
			return dStr(d, f, &r.ProviderModelID)
		case 2:
			return dStr(d, f, &r.RequestFingerprint)
		case 3:
			return dStr(d, f, &r.ResponseFingerprint)
		case 4:
			return d.f32(f, &r.Temperature)
		case 5:
			return d.f32(f, &r.TopP)
		case 6:
			return d.usize(f, &r.MaxTokens)
		case 7:
			return d.strMap(f, &r.ProviderMetadata)
		case 8:
			return d.boolean(f, &r.Retried)
		case 9:
			return d.strs(f, &r.RetryReasons)
		default:
			return dEnum(d, f, replayabilityNames, &r.Replayability)
		}
	})
}

func (d *decoder) lifecycleEvent(v *jval, e *LifecycleEvent) error {
	*e = LifecycleEvent{}
	return d.object(v, "struct LifecycleEvent", true, lifecycleFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dEnum(d, f, artifactStateNames, &e.FromState)
		case 1:
			return dEnum(d, f, artifactStateNames, &e.ToState)
		case 2:
			return dStr(d, f, &e.Timestamp)
		case 3:
			return dStr(d, f, &e.Actor)
		case 4:
			return dStr(d, f, &e.Reason)
		case 5:
			return dOptStr(d, f, &e.TicketRef)
		default:
			return dOptStr(d, f, &e.TenantID)
		}
	})
}

func (d *decoder) rollbackRecord(v *jval, r *RollbackRecord) error {
	return d.object(v, "struct RollbackRecord", true, rollbackFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dStr(d, f, &r.ArtifactID)
		case 1:
			return dEnum(d, f, artifactStateNames, &r.PreviousState)
		case 2:
			return dStr(d, f, &r.RolledBackAt)
		case 3:
			return dStr(d, f, &r.Actor)
		case 4:
			return dStr(d, f, &r.Reason)
		case 5:
			m := &r.Impact
			return d.object(f, "struct RollbackImpact", true, impactFields, func(i int, f *jval) error {
				switch i {
				case 0:
					return d.optU64(f, "u64", &m.AffectedCount)
				case 1:
					return d.strs(f, &m.QualityIssues)
				case 2:
					return d.boolean(f, &m.InvalidatesOutputs)
				case 3:
					return dEnum(d, f, rollbackSeverityNames, &m.Severity)
				default:
					return d.strs(f, &m.AffectedTenants)
				}
			})
		case 6:
			return dOptStr(d, f, &r.IncidentRef)
		default:
			return dOptStr(d, f, &r.TenantID)
		}
	})
}

func (d *decoder) outcomeRecorded(v *jval, what string, e *OutcomeRecorded) error {
	return d.object(v, what, false, outcomeFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dStr(d, f, &e.ChainID)
		case 1:
			return dEnum(d, f, decisionStepNames, &e.Step)
		case 2:
			return d.boolean(f, &e.Passed)
		case 3:
			if f.kind == jNull {
				e.StopReason = nil
				return nil
			}
			s := &StopReason{}
			e.StopReason = s
			return d.stopReason(f, s)
		case 4:
			return d.optU64(f, "u64", &e.LatencyMs)
		case 5:
			return d.optU64(f, "u64", &e.Tokens)
		case 6:
			return d.optU64(f, "u64", &e.CostMicrodollars)
		case 7:
			return dOptStr(d, f, &e.Backend)
		default:
			return d.strMap(f, &e.Metadata)
		}
	})
}

func (d *decoder) stopReason(v *jval, s *StopReason) error {
	name, p, err := d.variant(v, stopReasonNames)
	if err != nil {
		return err
	}
	*s = StopReason{Kind: StopReasonKind(name)}
	k := s.Kind
	if k == StopConverged || k == StopUserCancelled {
		if err := d.unit(p); err != nil {
			return err
		}
		return d.endVariant(v)
	}
	if p == nil {
		return d.fail(v, JSONInvalidType, "invalid type: unit variant, expected struct variant")
	}
	what := "struct variant StopReason::" + name
	switch k {
	case StopCriteriaMet:
		x := &StopCriteriaMetData{}
		s.CriteriaMet = x
		err = d.object(p, what, true, criteriaFields, func(i int, f *jval) error {
			return seq(d, f, &x.Criteria, func(e *jval, o *CriterionID) error { return dStr(d, e, o) })
		})
	case StopHumanInterventionRequired:
		x := &StopHumanInterventionData{}
		s.HumanInterventionRequired = x
		err = d.object(p, what, true, humanFields, func(i int, f *jval) error {
			if i == 0 {
				return seq(d, f, &x.Criteria, func(e *jval, o *CriterionID) error { return dStr(d, e, o) })
			}
			return seq(d, f, &x.ApprovalRefs, func(e *jval, o *ApprovalPointID) error { return dStr(d, e, o) })
		})
	case StopCycleBudgetExhausted:
		x := &StopCycleBudgetData{}
		s.CycleBudgetExhausted = x
		err = d.object(p, what, true, cycleFields, func(i int, f *jval) error {
			if i == 0 {
				return d.u32(f, &x.CyclesExecuted)
			}
			return d.u32(f, &x.Limit)
		})
	case StopFactBudgetExhausted:
		x := &StopFactBudgetData{}
		s.FactBudgetExhausted = x
		err = d.object(p, what, true, factFields, func(i int, f *jval) error {
			if i == 0 {
				return d.u32(f, &x.FactsCount)
			}
			return d.u32(f, &x.Limit)
		})
	case StopTokenBudgetExhausted:
		x := &StopTokenBudgetData{}
		s.TokenBudgetExhausted = x
		err = d.object(p, what, true, tokenFields, func(i int, f *jval) error {
			if i == 0 {
				return d.u64(f, &x.TokensConsumed)
			}
			return d.u64(f, &x.Limit)
		})
	case StopTimeBudgetExhausted:
		x := &StopTimeBudgetData{}
		s.TimeBudgetExhausted = x
		err = d.object(p, what, true, timeFields, func(i int, f *jval) error {
			if i == 0 {
				return d.u64(f, &x.DurationMs)
			}
			return d.u64(f, &x.LimitMs)
		})
	case StopInvariantViolated:
		x := &StopInvariantViolatedData{}
		s.InvariantViolated = x
		err = d.object(p, what, true, invariantFields, func(i int, f *jval) error {
			switch i {
			case 0:
				return dEnum(d, f, invariantClassNames, &x.Class)
			case 1:
				return dStr(d, f, &x.Name)
			default:
				return dStr(d, f, &x.Reason)
			}
		})
	case StopPromotionRejected:
		x := &StopPromotionRejectedData{}
		s.PromotionRejected = x
		err = d.object(p, what, true, promotionFields, func(i int, f *jval) error {
			if i == 0 {
				return dStr(d, f, &x.ProposalID)
			}
			return dStr(d, f, &x.Reason)
		})
	case StopError:
		x := &StopErrorData{}
		s.Error = x
		err = d.object(p, what, true, errorFields, func(i int, f *jval) error {
			if i == 0 {
				return dStr(d, f, &x.Message)
			}
			return dEnum(d, f, errorCategoryNames, &x.Category)
		})
	case StopAgentRefused:
		x := &StopAgentRefusedData{}
		s.AgentRefused = x
		err = d.object(p, what, true, agentRefusedFields, func(i int, f *jval) error {
			if i == 0 {
				return dStr(d, f, &x.AgentID)
			}
			return dStr(d, f, &x.Reason)
		})
	default: // StopHitlGatePending
		x := &StopHitlGatePendingData{}
		s.HitlGatePending = x
		err = d.object(p, what, true, hitlFields, func(i int, f *jval) error {
			switch i {
			case 0:
				return dStr(d, f, &x.GateID)
			case 1:
				return dStr(d, f, &x.ProposalID)
			case 2:
				return dStr(d, f, &x.Summary)
			case 3:
				return dStr(d, f, &x.AgentID)
			default:
				return d.u32(f, &x.Cycle)
			}
		})
	}
	if err != nil {
		return err
	}
	return d.endVariant(v)
}

func (d *decoder) policySnapshot(v *jval, p *PolicySnapshot) error {
	tag, c, err := d.adjacent(v, "adjacently tagged enum PolicySnapshot", "policy", policySnapshotTypeNames)
	if err != nil {
		return err
	}
	*p = PolicySnapshot{Type: PolicySnapshotType(tag)}
	switch p.Type {
	case PolicySnapshotKernel:
		k := &KernelPolicy{}
		p.Kernel = k
		return d.object(c, "struct KernelPolicy", true, kernelPolicyFields, func(i int, f *jval) error {
			switch i {
			case 0:
				return dOptStr(d, f, &k.AdapterID)
			case 1:
				return d.boolean(f, &k.RecallEnabled)
			case 2:
				return d.usize(f, &k.RecallMaxCandidates)
			case 3:
				return d.f32(f, &k.RecallMinScore)
			case 4:
				return d.optU64(f, "u64", &k.Seed)
			case 5:
				return d.boolean(f, &k.RequiresHuman)
			default:
				return d.strs(f, &k.RequiredTruths)
			}
		})
	case PolicySnapshotRouting:
		r := &RoutingPolicy{}
		p.Routing = r
		return d.object(c, "struct RoutingPolicy", true, routingPolicyFields, func(i int, f *jval) error {
			switch i {
			case 0:
				return d.strMap(f, &r.TruthPreferences)
			case 1:
				return listMap(d, f, riskTierNames, &r.RiskTierBackends)
			case 2:
				return listMap(d, f, dataClassificationNames, &r.DataClassificationBackends)
			default:
				return dStr(d, f, &r.DefaultBackend)
			}
		})
	}
	r := &RecallPolicy{AllowedUses: []RecallUse{RecallUseRuntimeAugmentation}}
	p.Recall = r
	return d.object(c, "struct RecallPolicy", true, recallPolicyFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return d.boolean(f, &r.Enabled)
		case 1:
			return d.usize(f, &r.MaxKTotal)
		case 2:
			return d.usize(f, &r.MaxTokensInjection)
		case 3:
			return d.f64(f, &r.MinScoreThreshold)
		case 4:
			b := &r.Budgets
			return d.object(f, "struct RecallBudgets", true, budgetsFields, func(i int, f *jval) error {
				switch i {
				case 0:
					return d.u64(f, &b.MaxLatencyMs)
				case 1:
					return d.usize(f, &b.MaxEmbeddingCalls)
				default:
					return d.usize(f, &b.MaxTokensPerCandidate)
				}
			})
		default:
			return seq(d, f, &r.AllowedUses, func(x *jval, u *RecallUse) error {
				return dEnum(d, x, recallUseNames, u)
			})
		}
	})
}

func (d *decoder) gateRequest(v *jval, r *GateRequest) error {
	return d.object(v, "struct GateRequest", true, gateRequestFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dStr(d, f, &r.GateID)
		case 1:
			return dStr(d, f, &r.ProposalID)
		case 2:
			return dStr(d, f, &r.Summary)
		case 3:
			return dStr(d, f, &r.AgentID)
		case 4:
			return dOptStr(d, f, &r.Rationale)
		case 5:
			return seq(d, f, &r.ContextData, func(x *jval, c *GateContextEntry) error {
				return d.object(x, "struct ContextEntry", true, contextEntryFields, func(i int, f *jval) error {
					if i == 0 {
						return dStr(d, f, &c.Label)
					}
					return dStr(d, f, &c.Value)
				})
			})
		case 6:
			return d.u32(f, &r.Cycle)
		case 7:
			return dStr(d, f, &r.RequestedAt)
		default:
			t := &r.Timeout
			return d.object(f, "struct GateTimeout", true, timeoutFields, func(i int, f *jval) error {
				if i == 0 {
					return d.u64(f, &t.TimeoutSecs)
				}
				return dEnum(d, f, timeoutActionNames, &t.Action)
			})
		}
	})
}

func (d *decoder) gateDecision(v *jval, g *GateDecision) error {
	return d.object(v, "struct GateDecision", true, gateDecisionFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dStr(d, f, &g.GateID)
		case 1:
			return d.gateVerdict(f, &g.Verdict)
		case 2:
			return dStr(d, f, &g.DecidedBy)
		default:
			return dStr(d, f, &g.DecidedAt)
		}
	})
}

func (d *decoder) gateVerdict(v *jval, g *GateVerdict) error {
	name, p, err := d.variant(v, gateVerdictNames)
	if err != nil {
		return err
	}
	*g = GateVerdict{Kind: GateVerdictKind(name)}
	if g.Kind == GateApprove {
		if err := d.unit(p); err != nil {
			return err
		}
		return d.endVariant(v)
	}
	if p == nil {
		return d.fail(v, JSONInvalidType, "invalid type: unit variant, expected struct variant")
	}
	if err := d.object(p, "struct variant GateVerdict::Reject", true, rejectFields, func(i int, f *jval) error {
		return dOptStr(d, f, &g.RejectReason)
	}); err != nil {
		return err
	}
	return d.endVariant(v)
}

func (d *decoder) eventQuery(v *jval, q *EventQuery) error {
	*q = EventQuery{}
	return d.object(v, "struct EventQuery", true, eventQueryFields, func(i int, f *jval) error {
		switch i {
		case 0:
			return dOptStr(d, f, &q.TenantID)
		case 1:
			if f.kind == jNull {
				q.TimeRange = nil
				return nil
			}
			tr := &TimeRange{}
			q.TimeRange = tr
			return d.object(f, "struct TimeRange", true, timeRangeFields, func(i int, f *jval) error {
				if i == 0 {
					return dOptStr(d, f, &tr.Start)
				}
				return dOptStr(d, f, &tr.End)
			})
		case 2:
			return seq(d, f, &q.Kinds, func(x *jval, k *ExperienceEventKind) error {
				return dEnum(d, x, experienceEventKindNames, k)
			})
		case 3:
			return dOptStr(d, f, &q.CorrelationID)
		case 4:
			return dOptStr(d, f, &q.ChainID)
		default:
			return d.optU64(f, "usize", &q.Limit)
		}
	})
}
