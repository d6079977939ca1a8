package ledger

import (
	"math"
	"strings"
)

// dec is a strict, bounds-checked reader of canonical msgpack. The first
// error is sticky: after it every read returns a zero value and consumes
// nothing, so callers may check d.err once at the end.
type dec struct {
	b   []byte
	s   string // the same bytes as b; decoded strings are substrings of it
	off int
	err error
}

// MaxDecodeAllocFactor bounds the memory UnmarshalCanonical allocates: for
// an N-byte input, at most MaxDecodeAllocFactor*N + 64 KiB, whatever the
// bytes (valid or hostile). The worst case is reached by arrays of empty
// strings and maps of tiny keys: a Go string header is 16 bytes and a map
// slot about 40 with table slack, for 1 to 4 input bytes (measured worst
// about 23x). Realistic events allocate about 2N.
const MaxDecodeAllocFactor = 32

// Minimal encoded sizes of array elements, used to bound counts before
// allocating (a count n needs at least n*min bytes of input).
var (
	minContractResult = minStruct(kName, kPassed, kFailureReason)
	minCandidateScore = minStruct(kID, kScore) + 8 // score is always 9 bytes
	minContextEntry   = minStruct(kLabel, kValue)
)

func minStruct(keys ...string) int {
	n := 1
	for _, k := range keys {
		n += len(k) + 1
	}
	return n
}

// UnmarshalCanonical decodes one envelope from exactly the bytes of b (see
// the format rules in msgpack.go). Any deviation from the canonical form is
// an error wrapping ErrMsgpack (a *DecodeError). The result does not alias
// b.
func UnmarshalCanonical(b []byte) (ExperienceEventEnvelope, error) {
	var env ExperienceEventEnvelope
	// Cheap structural pre-check before copying the input: a canonical
	// envelope starts with a fixmap of 5 and the key "event_id".
	if len(b) < 1+len(kEventID) || b[0] != 0x85 || string(b[1:1+len(kEventID)]) != kEventID {
		return env, &DecodeError{Offset: 0, Reason: "not a canonical envelope (expected map of 5 starting with event_id)"}
	}
	d := dec{b: b, s: string(b)}
	d.envelope(&env)
	if d.err == nil && d.off != len(d.b) {
		d.fail("trailing bytes after envelope")
	}
	if d.err != nil {
		return ExperienceEventEnvelope{}, d.err
	}
	return env, nil
}

func (d *dec) fail(reason string) {
	if d.err == nil {
		d.err = &DecodeError{Offset: d.off, Reason: reason}
	}
}

// need reports whether n more bytes are available.
func (d *dec) need(n uint64) bool {
	if d.err != nil {
		return false
	}
	if n > uint64(len(d.b)-d.off) {
		d.fail("length exceeds remaining input")
		return false
	}
	return true
}

func (d *dec) byte1() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("unexpected end of input")
		return 0
	}
	c := d.b[d.off]
	d.off++
	return c
}

func (d *dec) peek() byte {
	if d.err != nil || d.off >= len(d.b) {
		return 0
	}
	return d.b[d.off]
}

// isNil consumes a nil and reports true when the next value is nil.
func (d *dec) isNil() bool {
	if d.err == nil && d.off < len(d.b) && d.b[d.off] == mpNil {
		d.off++
		return true
	}
	return false
}

func (d *dec) be(n int) uint64 {
	if !d.need(uint64(n)) {
		return 0
	}
	var v uint64
	for _, c := range d.b[d.off : d.off+n] {
		v = v<<8 | uint64(c)
	}
	d.off += n
	return v
}

// key consumes the pre-encoded key k.
func (d *dec) key(k string) {
	if d.err != nil {
		return
	}
	if len(d.b)-d.off < len(k) || string(d.b[d.off:d.off+len(k)]) != k {
		d.fail("expected key " + k[1:])
		return
	}
	d.off += len(k)
}

// containerLen reads a map (isMap) or array header in its smallest form.
func (d *dec) containerLen(isMap bool) uint64 {
	c := d.byte1()
	if d.err != nil {
		return 0
	}
	fix, c16, c32 := byte(0x90), byte(mpArray16), byte(mpArray32)
	what := "array"
	if isMap {
		fix, c16, c32, what = 0x80, mpMap16, mpMap32, "map"
	}
	var n uint64
	switch {
	case c&0xf0 == fix:
		return uint64(c & 0x0f)
	case c == c16:
		n = d.be(2)
		if d.err == nil && n < 16 {
			d.fail("non-canonical " + what + "16 header")
		}
	case c == c32:
		n = d.be(4)
		if d.err == nil && n <= math.MaxUint16 {
			d.fail("non-canonical " + what + "32 header")
		}
	default:
		d.off--
		d.fail("expected " + what)
	}
	if d.err != nil {
		return 0
	}
	return n
}

// mapN consumes a map header that must announce exactly n entries.
func (d *dec) mapN(n uint64) {
	if m := d.containerLen(true); d.err == nil && m != n {
		d.fail("wrong number of map entries")
	}
}

// arrayLen reads an array header and checks that its elements, each at
// least minElem bytes, fit in the remaining input.
func (d *dec) arrayLen(minElem int) int {
	n := d.containerLen(false)
	if !d.need(n * uint64(minElem)) {
		return 0
	}
	return int(n)
}

// mapLen reads a map header for a dynamic map (2 bytes per entry minimum).
func (d *dec) mapLen() int {
	n := d.containerLen(true)
	if !d.need(2 * n) {
		return 0
	}
	return int(n)
}

// strSpan reads a str header in its smallest form and returns the offset
// and length of the string bytes, which are consumed.
func (d *dec) strSpan() (int, int) {
	c := d.byte1()
	if d.err != nil {
		return 0, 0
	}
	var n uint64
	switch {
	case c&0xe0 == 0xa0:
		n = uint64(c & 0x1f)
	case c == mpStr8:
		n = d.be(1)
		if d.err == nil && n < 32 {
			d.fail("non-canonical str8 header")
		}
	case c == mpStr16:
		n = d.be(2)
		if d.err == nil && n <= math.MaxUint8 {
			d.fail("non-canonical str16 header")
		}
	case c == mpStr32:
		n = d.be(4)
		if d.err == nil && n <= math.MaxUint16 {
			d.fail("non-canonical str32 header")
		}
	default:
		d.off--
		d.fail("expected string")
		return 0, 0
	}
	if !d.need(n) {
		return 0, 0
	}
	start := d.off
	d.off += int(n)
	return start, int(n)
}

func (d *dec) strBytes() []byte {
	start, n := d.strSpan()
	return d.b[start : start+n]
}

func (d *dec) str() string {
	start, n := d.strSpan()
	return d.s[start : start+n]
}

func decStr[S ~string](d *dec) S { return S(d.str()) }

func decOptStr[S ~string](d *dec) *S {
	if d.isNil() {
		return nil
	}
	v := S(d.str())
	if d.err != nil {
		return nil
	}
	return &v
}

func decEnum[E ~string](d *dec, vals []E, what string) E {
	start := d.off
	b := d.strBytes()
	if d.err != nil {
		return ""
	}
	for _, v := range vals {
		if string(v) == string(b) {
			return v
		}
	}
	d.off = start
	d.fail("unknown " + what + " variant")
	return ""
}

func decStrSlice[S ~string](d *dec) []S {
	n := d.arrayLen(1)
	out := make([]S, n)
	for i := range out {
		out[i] = S(d.str())
	}
	if d.err != nil {
		return nil
	}
	return out
}

func (d *dec) uint() uint64 {
	c := d.byte1()
	if d.err != nil {
		return 0
	}
	var v uint64
	switch c {
	case mpUint8:
		v = d.be(1)
		if d.err == nil && v < 0x80 {
			d.fail("non-canonical uint8")
		}
	case mpUint16:
		v = d.be(2)
		if d.err == nil && v <= math.MaxUint8 {
			d.fail("non-canonical uint16")
		}
	case mpUint32:
		v = d.be(4)
		if d.err == nil && v <= math.MaxUint16 {
			d.fail("non-canonical uint32")
		}
	case mpUint64:
		v = d.be(8)
		if d.err == nil && v <= math.MaxUint32 {
			d.fail("non-canonical uint64")
		}
	default:
		if c < 0x80 {
			return uint64(c)
		}
		d.off--
		d.fail("expected unsigned integer")
	}
	if d.err != nil {
		return 0
	}
	return v
}

func (d *dec) u32() uint32 {
	start := d.off
	v := d.uint()
	if v > math.MaxUint32 {
		d.off = start
		d.fail("u32 out of range")
		return 0
	}
	return uint32(v)
}

func (d *dec) optUint() *uint64 {
	if d.isNil() {
		return nil
	}
	v := d.uint()
	if d.err != nil {
		return nil
	}
	return &v
}

func (d *dec) boolean() bool {
	switch d.byte1() {
	case mpTrue:
		return true
	case mpFalse:
		return false
	}
	if d.err == nil {
		d.off--
		d.fail("expected bool")
	}
	return false
}

func (d *dec) f32() float32 {
	if d.peek() != mpFloat32 {
		d.fail("expected float32")
		return 0
	}
	d.off++
	f := math.Float32frombits(uint32(d.be(4)))
	if ff := float64(f); math.IsNaN(ff) || math.IsInf(ff, 0) {
		d.off -= 5
		d.fail("non-finite float32")
		return 0
	}
	return f
}

func (d *dec) f64() float64 {
	if d.peek() != mpFloat64 {
		d.fail("expected float64")
		return 0
	}
	d.off++
	f := math.Float64frombits(d.be(8))
	if math.IsNaN(f) || math.IsInf(f, 0) {
		d.off -= 9
		d.fail("non-finite float64")
		return 0
	}
	return f
}

func (d *dec) hash(h *ContentHash) {
	if !d.need(34) {
		return
	}
	if d.b[d.off] != mpBin8 || d.b[d.off+1] != 32 {
		d.fail("expected bin8 of 32 bytes")
		return
	}
	copy(h[:], d.b[d.off+2:d.off+34])
	d.off += 34
}

func (d *dec) optHash() *ContentHash {
	if d.isNil() {
		return nil
	}
	h := new(ContentHash)
	d.hash(h)
	if d.err != nil {
		return nil
	}
	return h
}

// strMap decodes a string→string map whose keys must be strictly
// increasing. Empty maps decode as nil. A first pass validates the whole
// map without allocating, so the map is allocated once, at its exact size,
// and only for well-formed input.
func (d *dec) strMap() map[string]string {
	n := d.mapLen()
	if n == 0 || d.err != nil {
		return nil
	}
	first := d.off
	var prev []byte
	for i := 0; i < n && d.err == nil; i++ {
		k := d.strBytes()
		if i > 0 && string(k) <= string(prev) {
			d.fail("map keys not strictly increasing")
		}
		d.strSpan()
		prev = k
	}
	if d.err != nil {
		return nil
	}
	d.off = first
	m := make(map[string]string, n)
	for i := 0; i < n; i++ {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

// enumKeyMap decodes a map keyed by a small enum (keys strictly increasing
// bytewise, each a known variant). Empty maps decode as nil.
func decEnumKeyMap[K ~string](d *dec, vals []K, what string) map[K][]string {
	n := d.mapLen()
	if n == 0 || d.err != nil {
		return nil
	}
	if n > len(vals) {
		d.fail("too many " + what + " keys")
		return nil
	}
	m := make(map[K][]string, n)
	var prev K
	for i := 0; i < n; i++ {
		k := decEnum(d, vals, what)
		if i > 0 && k <= prev {
			d.fail("map keys not strictly increasing")
		}
		v := decStrSlice[string](d)
		if d.err != nil {
			return nil
		}
		m[k] = v
		prev = k
	}
	return m
}

func (d *dec) envelope(env *ExperienceEventEnvelope) {
	d.mapN(5)
	d.key(kEventID)
	env.EventID = decStr[EventID](d)
	d.key(kOccurredAt)
	env.OccurredAt = decStr[Timestamp](d)
	d.key(kTenantID)
	env.TenantID = decOptStr[TenantID](d)
	d.key(kCorrelationID)
	env.CorrelationID = decOptStr[CorrelationID](d)
	d.key(kEvent)
	d.mapN(2)
	d.key(kType)
	kind := decEnum(d, AllKinds, "event kind")
	d.key(kData)
	if d.err != nil {
		return
	}
	switch kind {
	case KindProposalCreated:
		ev := &ProposalCreated{}
		d.proposalCreated(ev)
		env.Event = ev
	case KindProposalValidated:
		ev := &ProposalValidated{}
		d.mapN(6)
		d.key(kProposalID)
		ev.ProposalID = decStr[ProposalID](d)
		d.key(kChainID)
		ev.ChainID = decStr[ChainID](d)
		d.key(kStep)
		ev.Step = decEnum(d, enumDecisionStep, "DecisionStep")
		d.key(kContractResults)
		n := d.arrayLen(minContractResult)
		ev.ContractResults = make([]ContractResultSnapshot, n)
		for i := range ev.ContractResults {
			c := &ev.ContractResults[i]
			c.Name, c.Passed, c.FailureReason = d.contractResult()
		}
		d.key(kAllPassed)
		ev.AllPassed = d.boolean()
		d.key(kValidator)
		ev.Validator = decStr[ActorID](d)
		env.Event = ev
	case KindFactPromoted:
		ev := &FactPromoted{}
		d.mapN(5)
		d.key(kProposalID)
		ev.ProposalID = decStr[ProposalID](d)
		d.key(kFactID)
		ev.FactID = decStr[FactID](d)
		d.key(kPromotedBy)
		ev.PromotedBy = decStr[ActorID](d)
		d.key(kReason)
		ev.Reason = d.str()
		d.key(kRequiresHuman)
		ev.RequiresHuman = d.boolean()
		env.Event = ev
	case KindRecallExecuted:
		ev := &RecallExecuted{}
		d.recallExecuted(ev)
		env.Event = ev
	case KindReplayTraceRecorded:
		ev := &ReplayTraceRecorded{}
		d.mapN(2)
		d.key(kTraceLinkID)
		ev.TraceLinkID = decStr[TraceLinkID](d)
		d.key(kTraceLink)
		d.replayTrace(&ev.TraceLink)
		env.Event = ev
	case KindReplayabilityDowngraded:
		ev := &ReplayabilityDowngraded{}
		d.mapN(4)
		d.key(kTraceLinkID)
		ev.TraceLinkID = decStr[TraceLinkID](d)
		d.key(kFrom)
		ev.From = decEnum(d, enumReplayability, "Replayability")
		d.key(kTo)
		ev.To = decEnum(d, enumReplayability, "Replayability")
		d.key(kReason)
		ev.Reason = decEnum(d, enumDowngrade, "ReplayabilityDowngradeReason")
		env.Event = ev
	case KindArtifactStateTransitioned:
		ev := &ArtifactStateTransitioned{}
		d.mapN(3)
		d.key(kArtifactID)
		ev.ArtifactID = decStr[ArtifactID](d)
		d.key(kArtifactKind)
		if d.peek() == 0x81 {
			d.off++
			d.key(kOther)
			ev.ArtifactKind = ArtifactKind{Kind: ArtifactKindOther, Other: d.str()}
		} else {
			ev.ArtifactKind = ArtifactKind{Kind: decEnum(d, enumArtifactKindUnit, "ArtifactKind")}
		}
		d.key(kEvent)
		d.lifecycle(&ev.Event)
		env.Event = ev
	case KindArtifactRollbackRecorded:
		ev := &ArtifactRollbackRecorded{}
		d.mapN(1)
		d.key(kRollback)
		d.rollback(&ev.Rollback)
		env.Event = ev
	case KindBackendInvoked:
		ev := &BackendInvoked{}
		d.mapN(5)
		d.key(kBackendName)
		ev.BackendName = decStr[BackendID](d)
		d.key(kAdapterID)
		ev.AdapterID = decOptStr[BackendID](d)
		d.key(kTraceLinkID)
		ev.TraceLinkID = decStr[TraceLinkID](d)
		d.key(kStep)
		ev.Step = decEnum(d, enumDecisionStep, "DecisionStep")
		d.key(kPolicySnapshotHash)
		ev.PolicySnapshotHash = d.optHash()
		env.Event = ev
	case KindOutcomeRecorded:
		ev := &OutcomeRecorded{}
		d.outcomeRecorded(ev)
		env.Event = ev
	case KindBudgetExceeded:
		ev := &BudgetExceeded{}
		d.mapN(4)
		d.key(kChainID)
		ev.ChainID = decStr[ChainID](d)
		d.key(kResource)
		if d.peek() == 0x81 {
			d.off++
			d.key(kOther)
			ev.Resource = BudgetResource{Kind: BudgetOther, Other: d.str()}
		} else {
			ev.Resource = BudgetResource{Kind: decEnum(d, enumBudgetResourceUnit, "BudgetResource")}
		}
		d.key(kLimit)
		ev.Limit = d.str()
		d.key(kObserved)
		ev.Observed = decOptStr[string](d)
		env.Event = ev
	case KindPolicySnapshotCaptured:
		ev := &PolicySnapshotCaptured{}
		d.policySnapshotCaptured(ev)
		env.Event = ev
	case KindHypothesisResolved:
		ev := &HypothesisResolved{}
		d.mapN(9)
		d.key(kChainID)
		ev.ChainID = decStr[ChainID](d)
		d.key(kFactID)
		ev.FactID = decStr[FactID](d)
		d.key(kDomain)
		ev.Domain = decStr[DomainID](d)
		d.key(kClaim)
		ev.Claim = d.str()
		d.key(kConfidence)
		ev.Confidence = d.f64()
		d.key(kOutcome)
		ev.Outcome = decEnum(d, enumHypothesis, "HypothesisOutcome")
		d.key(kContradictionID)
		ev.ContradictionID = decOptStr[TensionID](d)
		d.key(kFormedCycle)
		ev.FormedCycle = d.u32()
		d.key(kResolvedCycle)
		ev.ResolvedCycle = d.u32()
		env.Event = ev
	case KindGateDecisionRecorded:
		ev := &GateDecisionRecorded{}
		d.gateDecisionRecorded(ev)
		env.Event = ev
	}
}

func (d *dec) contractResult() (string, bool, *string) {
	d.mapN(3)
	d.key(kName)
	name := d.str()
	d.key(kPassed)
	passed := d.boolean()
	d.key(kFailureReason)
	return name, passed, decOptStr[string](d)
}

func (d *dec) proposalCreated(ev *ProposalCreated) {
	d.mapN(4)
	d.key(kProposal)
	p := &ev.Proposal
	d.mapN(8)
	d.key(kID)
	p.ID = d.str()
	d.key(kKind)
	p.Kind = decEnum(d, enumProposalKind, "ProposalKind")
	d.key(kPayload)
	p.Payload = d.str()
	d.key(kStructuredPayload)
	if !d.isNil() {
		raw := d.strBytes()
		if d.err == nil {
			p.StructuredPayload = make(RawJSON, len(raw))
			copy(p.StructuredPayload, raw)
		}
	}
	d.key(kTraceLink)
	d.replayTrace(&p.TraceLink)
	d.key(kContractResults)
	n := d.arrayLen(minContractResult)
	p.ContractResults = make([]ContractResult, n)
	for i := range p.ContractResults {
		c := &p.ContractResults[i]
		c.Name, c.Passed, c.FailureReason = d.contractResult()
	}
	d.key(kRequiresHuman)
	p.RequiresHuman = d.boolean()
	d.key(kConfidence)
	if !d.isNil() {
		f := d.f32()
		if d.err == nil {
			p.Confidence = &f
		}
	}
	d.key(kChainID)
	ev.ChainID = decStr[ChainID](d)
	d.key(kStep)
	ev.Step = decEnum(d, enumDecisionStep, "DecisionStep")
	d.key(kPolicySnapshotHash)
	ev.PolicySnapshotHash = d.optHash()
}

func (d *dec) replayTrace(t *ReplayTrace) {
	switch d.peek() {
	case 0x80 | 10:
		d.off++
		d.key(kType)
		d.key(kvLocal)
		t.Type = ReplayTraceLocal
		l := &LocalReplayTrace{}
		d.key(kBaseModelHash)
		l.BaseModelHash = d.str()
		d.key(kAdapter)
		if !d.isNil() {
			a := &AdapterTrace{}
			d.mapN(3)
			d.key(kAdapterID)
			a.AdapterID = d.str()
			d.key(kAdapterHash)
			a.AdapterHash = d.str()
			d.key(kMerged)
			a.Merged = d.boolean()
			l.Adapter = a
		}
		d.key(kTokenizerHash)
		l.TokenizerHash = d.str()
		d.key(kSeed)
		l.Seed = d.uint()
		d.key(kSampler)
		d.mapN(3)
		d.key(kTemperature)
		l.Sampler.Temperature = d.f32()
		d.key(kTopP)
		l.Sampler.TopP = d.f32()
		d.key(kTopK)
		l.Sampler.TopK = d.optUint()
		d.key(kPromptVersion)
		l.PromptVersion = d.str()
		d.key(kRecall)
		if !d.isNil() {
			r := &RecallTrace{}
			d.mapN(4)
			d.key(kCorpusFingerprint)
			r.CorpusFingerprint = d.str()
			d.key(kCandidateIDs)
			r.CandidateIDs = decStrSlice[string](d)
			d.key(kCandidateScores)
			n := d.arrayLen(5)
			r.CandidateScores = make([]float32, n)
			for i := range r.CandidateScores {
				r.CandidateScores[i] = d.f32()
			}
			d.key(kInjectedCount)
			r.InjectedCount = d.uint()
			l.Recall = r
		}
		d.key(kWeightsMutated)
		l.WeightsMutated = d.boolean()
		d.key(kExecutionEnv)
		d.mapN(3)
		d.key(kDevice)
		l.ExecutionEnv.Device = d.str()
		d.key(kBackend)
		l.ExecutionEnv.Backend = d.str()
		d.key(kPrecision)
		l.ExecutionEnv.Precision = d.str()
		t.Local = l
	case 0x80 | 12:
		d.off++
		d.key(kType)
		d.key(kvRemote)
		t.Type = ReplayTraceRemote
		r := &RemoteReplayTrace{}
		d.key(kProviderName)
		r.ProviderName = d.str()
		d.key(kProviderModelID)
		r.ProviderModelID = d.str()
		d.key(kRequestFingerprint)
		r.RequestFingerprint = d.str()
		d.key(kResponseFingerprint)
		r.ResponseFingerprint = d.str()
		d.key(kTemperature)
		r.Temperature = d.f32()
		d.key(kTopP)
		r.TopP = d.f32()
		d.key(kMaxTokens)
		r.MaxTokens = d.uint()
		d.key(kProviderMetadata)
		r.ProviderMetadata = d.strMap()
		d.key(kRetried)
		r.Retried = d.boolean()
		d.key(kRetryReasons)
		r.RetryReasons = decStrSlice[string](d)
		d.key(kReplayability)
		r.Replayability = decEnum(d, enumReplayability, "Replayability")
		t.Remote = r
	default:
		d.fail("expected ReplayTrace (map of 10 for Local or 12 for Remote)")
	}
}

func (d *dec) recallExecuted(ev *RecallExecuted) {
	d.mapN(3)
	d.key(kQuery)
	q := &ev.Query
	d.mapN(4)
	d.key(kQueryText)
	q.QueryText = d.str()
	d.key(kTopK)
	q.TopK = d.uint()
	d.key(kStepContext)
	if !d.isNil() {
		s := decEnum(d, enumDecisionStep, "DecisionStep")
		if d.err == nil {
			q.StepContext = &s
		}
	}
	d.key(kTenantScope)
	q.TenantScope = decOptStr[string](d)

	d.key(kProvenance)
	p := &ev.Provenance
	d.mapN(16)
	d.key(kQueryHash)
	p.QueryHash = d.str()
	d.key(kEmbeddingInputHash)
	p.EmbeddingInputHash = d.str()
	d.key(kEmbeddingHash)
	p.EmbeddingHash = d.str()
	d.key(kEmbedderID)
	p.EmbedderID = d.str()
	d.key(kEmbedderSettingsHash)
	p.EmbedderSettingsHash = d.str()
	d.key(kCorpusFingerprint)
	p.CorpusFingerprint = d.str()
	d.key(kPolicySnapshotHash)
	p.PolicySnapshotHash = d.str()
	d.key(kPurpose)
	p.Purpose = decEnum(d, enumRecallUse, "RecallUse")
	d.key(kConsumers)
	n := d.arrayLen(len("Kernel") + 1)
	p.Consumers = make([]RecallConsumer, n)
	for i := range p.Consumers {
		p.Consumers[i] = decEnum(d, enumRecallConsumer, "RecallConsumer")
	}
	d.key(kCandidateScores)
	n = d.arrayLen(minCandidateScore)
	p.CandidateScores = make([]CandidateScore, n)
	for i := range p.CandidateScores {
		c := &p.CandidateScores[i]
		d.mapN(2)
		d.key(kID)
		c.ID = d.str()
		d.key(kScore)
		c.Score = d.f64()
	}
	d.key(kCandidatesSearched)
	p.CandidatesSearched = d.uint()
	d.key(kCandidatesReturned)
	p.CandidatesReturned = d.uint()
	d.key(kStopReason)
	if !d.isNil() {
		s := decEnum(d, enumRecallStop, "RecallStopReason")
		if d.err == nil {
			p.StopReason = &s
		}
	}
	d.key(kLatencyMs)
	p.LatencyMs = d.uint()
	d.key(kTimestamp)
	p.Timestamp = d.str()
	d.key(kSignature)
	p.Signature = d.str()

	d.key(kTraceLinkID)
	ev.TraceLinkID = decOptStr[TraceLinkID](d)
}

func (d *dec) lifecycle(l *LifecycleEvent) {
	d.mapN(7)
	d.key(kFromState)
	l.FromState = decEnum(d, enumArtifactState, "GovernedArtifactState")
	d.key(kToState)
	l.ToState = decEnum(d, enumArtifactState, "GovernedArtifactState")
	d.key(kTimestamp)
	l.Timestamp = d.str()
	d.key(kActor)
	l.Actor = d.str()
	d.key(kReason)
	l.Reason = d.str()
	d.key(kTicketRef)
	l.TicketRef = decOptStr[string](d)
	d.key(kTenantID)
	l.TenantID = decOptStr[string](d)
}

func (d *dec) rollback(r *RollbackRecord) {
	d.mapN(8)
	d.key(kArtifactID)
	r.ArtifactID = d.str()
	d.key(kPreviousState)
	r.PreviousState = decEnum(d, enumArtifactState, "GovernedArtifactState")
	d.key(kRolledBackAt)
	r.RolledBackAt = d.str()
	d.key(kActor)
	r.Actor = d.str()
	d.key(kReason)
	r.Reason = d.str()
	d.key(kImpact)
	im := &r.Impact
	d.mapN(5)
	d.key(kAffectedCount)
	im.AffectedCount = d.optUint()
	d.key(kQualityIssues)
	im.QualityIssues = decStrSlice[string](d)
	d.key(kInvalidatesOutputs)
	im.InvalidatesOutputs = d.boolean()
	d.key(kSeverity)
	im.Severity = decEnum(d, enumSeverity, "RollbackSeverity")
	d.key(kAffectedTenants)
	im.AffectedTenants = decStrSlice[string](d)
	d.key(kIncidentRef)
	r.IncidentRef = decOptStr[string](d)
	d.key(kTenantID)
	r.TenantID = decOptStr[string](d)
}

func (d *dec) outcomeRecorded(ev *OutcomeRecorded) {
	d.mapN(9)
	d.key(kChainID)
	ev.ChainID = decStr[ChainID](d)
	d.key(kStep)
	ev.Step = decEnum(d, enumDecisionStep, "DecisionStep")
	d.key(kPassed)
	ev.Passed = d.boolean()
	d.key(kStopReason)
	if !d.isNil() {
		ev.StopReason = d.stopReason()
	}
	d.key(kLatencyMs)
	ev.LatencyMs = d.optUint()
	d.key(kTokens)
	ev.Tokens = d.optUint()
	d.key(kCostMicrodollars)
	ev.CostMicrodollars = d.optUint()
	d.key(kBackend)
	ev.Backend = decOptStr[BackendID](d)
	d.key(kMetadata)
	ev.Metadata = d.strMap()
}

var (
	stopUnitKinds = []StopReasonKind{StopConverged, StopUserCancelled}
	stopDataKinds = []StopReasonKind{StopCriteriaMet, StopHumanInterventionRequired,
		StopCycleBudgetExhausted, StopFactBudgetExhausted, StopTokenBudgetExhausted,
		StopTimeBudgetExhausted, StopInvariantViolated, StopPromotionRejected, StopError,
		StopAgentRefused, StopHitlGatePending}
)

func (d *dec) stopReason() *StopReason {
	if d.peek() != 0x81 {
		k := decEnum(d, stopUnitKinds, "StopReason")
		if d.err != nil {
			return nil
		}
		return &StopReason{Kind: k}
	}
	d.off++
	s := &StopReason{Kind: decEnum(d, stopDataKinds, "StopReason")}
	switch s.Kind {
	case StopCriteriaMet:
		d.mapN(1)
		d.key(kCriteria)
		s.CriteriaMet = &StopCriteriaMetData{Criteria: decStrSlice[CriterionID](d)}
	case StopHumanInterventionRequired:
		v := &StopHumanInterventionData{}
		d.mapN(2)
		d.key(kCriteria)
		v.Criteria = decStrSlice[CriterionID](d)
		d.key(kApprovalRefs)
		v.ApprovalRefs = decStrSlice[ApprovalPointID](d)
		s.HumanInterventionRequired = v
	case StopCycleBudgetExhausted:
		v := &StopCycleBudgetData{}
		d.mapN(2)
		d.key(kCyclesExecuted)
		v.CyclesExecuted = d.u32()
		d.key(kLimit)
		v.Limit = d.u32()
		s.CycleBudgetExhausted = v
	case StopFactBudgetExhausted:
		v := &StopFactBudgetData{}
		d.mapN(2)
		d.key(kFactsCount)
		v.FactsCount = d.u32()
		d.key(kLimit)
		v.Limit = d.u32()
		s.FactBudgetExhausted = v
	case StopTokenBudgetExhausted:
		v := &StopTokenBudgetData{}
		d.mapN(2)
		d.key(kTokensConsumed)
		v.TokensConsumed = d.uint()
		d.key(kLimit)
		v.Limit = d.uint()
		s.TokenBudgetExhausted = v
	case StopTimeBudgetExhausted:
		v := &StopTimeBudgetData{}
		d.mapN(2)
		d.key(kDurationMs)
		v.DurationMs = d.uint()
		d.key(kLimitMs)
		v.LimitMs = d.uint()
		s.TimeBudgetExhausted = v
	case StopInvariantViolated:
		v := &StopInvariantViolatedData{}
		d.mapN(3)
		d.key(kClass)
		v.Class = decEnum(d, enumInvariantClass, "InvariantClass")
		d.key(kName)
		v.Name = d.str()
		d.key(kReason)
		v.Reason = d.str()
		s.InvariantViolated = v
	case StopPromotionRejected:
		v := &StopPromotionRejectedData{}
		d.mapN(2)
		d.key(kProposalID)
		v.ProposalID = d.str()
		d.key(kReason)
		v.Reason = d.str()
		s.PromotionRejected = v
	case StopError:
		v := &StopErrorData{}
		d.mapN(2)
		d.key(kMessage)
		v.Message = d.str()
		d.key(kCategory)
		v.Category = decEnum(d, enumErrorCategory, "ErrorCategory")
		s.Error = v
	case StopAgentRefused:
		v := &StopAgentRefusedData{}
		d.mapN(2)
		d.key(kAgentID)
		v.AgentID = d.str()
		d.key(kReason)
		v.Reason = d.str()
		s.AgentRefused = v
	case StopHitlGatePending:
		v := &StopHitlGatePendingData{}
		d.mapN(5)
		d.key(kGateID)
		v.GateID = d.str()
		d.key(kProposalID)
		v.ProposalID = d.str()
		d.key(kSummary)
		v.Summary = d.str()
		d.key(kAgentID)
		v.AgentID = d.str()
		d.key(kCycle)
		v.Cycle = d.u32()
		s.HitlGatePending = v
	}
	if d.err != nil {
		return nil
	}
	return s
}

var (
	kvLocal          = mk(string(ReplayTraceLocal))
	kvRemote         = mk(string(ReplayTraceRemote))
	gateUnitVerdicts = []GateVerdictKind{GateApprove}
)

var policyTypes = []PolicySnapshotType{PolicySnapshotKernel, PolicySnapshotRouting, PolicySnapshotRecall}

func (d *dec) policySnapshotCaptured(ev *PolicySnapshotCaptured) {
	d.mapN(4)
	d.key(kPolicyID)
	ev.PolicyID = decStr[PolicyID](d)
	d.key(kPolicy)
	d.mapN(2)
	d.key(kType)
	p := &ev.Policy
	p.Type = decEnum(d, policyTypes, "PolicySnapshot")
	d.key(kPolicy)
	switch p.Type {
	case PolicySnapshotKernel:
		k := &KernelPolicy{}
		d.mapN(7)
		d.key(kAdapterID)
		k.AdapterID = decOptStr[string](d)
		d.key(kRecallEnabled)
		k.RecallEnabled = d.boolean()
		d.key(kRecallMaxCandidates)
		k.RecallMaxCandidates = d.uint()
		d.key(kRecallMinScore)
		k.RecallMinScore = d.f32()
		d.key(kSeed)
		k.Seed = d.optUint()
		d.key(kRequiresHuman)
		k.RequiresHuman = d.boolean()
		d.key(kRequiredTruths)
		k.RequiredTruths = decStrSlice[string](d)
		p.Kernel = k
	case PolicySnapshotRouting:
		r := &RoutingPolicy{}
		d.mapN(4)
		d.key(kTruthPreferences)
		r.TruthPreferences = d.strMap()
		d.key(kRiskTierBackends)
		r.RiskTierBackends = decEnumKeyMap(d, sortedRiskTiers, "RiskTier")
		d.key(kDataClassBackends)
		r.DataClassificationBackends = decEnumKeyMap(d, sortedDataClass, "DataClassification")
		d.key(kDefaultBackend)
		r.DefaultBackend = d.str()
		p.Routing = r
	case PolicySnapshotRecall:
		r := &RecallPolicy{}
		d.mapN(6)
		d.key(kEnabled)
		r.Enabled = d.boolean()
		d.key(kMaxKTotal)
		r.MaxKTotal = d.uint()
		d.key(kMaxTokensInjection)
		r.MaxTokensInjection = d.uint()
		d.key(kMinScoreThreshold)
		r.MinScoreThreshold = d.f64()
		d.key(kBudgets)
		d.mapN(3)
		d.key(kMaxLatencyMs)
		r.Budgets.MaxLatencyMs = d.uint()
		d.key(kMaxEmbeddingCalls)
		r.Budgets.MaxEmbeddingCalls = d.uint()
		d.key(kMaxTokensPerCandidate)
		r.Budgets.MaxTokensPerCandidate = d.uint()
		d.key(kAllowedUses)
		n := d.arrayLen(len("RuntimeAugmentation") + 2)
		r.AllowedUses = make([]RecallUse, n)
		for i := range r.AllowedUses {
			r.AllowedUses[i] = decEnum(d, enumRecallUse, "RecallUse")
		}
		p.Recall = r
	}
	d.key(kSnapshotHash)
	d.hash(&ev.SnapshotHash)
	d.key(kCapturedBy)
	ev.CapturedBy = decStr[ActorID](d)
}

func (d *dec) gateDecisionRecorded(ev *GateDecisionRecorded) {
	d.mapN(2)
	d.key(kRequest)
	r := &ev.Request
	d.mapN(9)
	d.key(kGateID)
	r.GateID = d.str()
	d.key(kProposalID)
	r.ProposalID = d.str()
	d.key(kSummary)
	r.Summary = d.str()
	d.key(kAgentID)
	r.AgentID = d.str()
	d.key(kRationale)
	r.Rationale = decOptStr[string](d)
	d.key(kContextData)
	n := d.arrayLen(minContextEntry)
	r.ContextData = make([]GateContextEntry, n)
	for i := range r.ContextData {
		c := &r.ContextData[i]
		d.mapN(2)
		d.key(kLabel)
		c.Label = d.str()
		d.key(kValue)
		c.Value = d.str()
	}
	d.key(kCycle)
	r.Cycle = d.u32()
	d.key(kRequestedAt)
	r.RequestedAt = decStr[Timestamp](d)
	d.key(kTimeout)
	d.mapN(2)
	d.key(kTimeoutSecs)
	r.Timeout.TimeoutSecs = d.uint()
	d.key(kAction)
	r.Timeout.Action = decEnum(d, enumTimeoutAction, "TimeoutAction")

	d.key(kDecision)
	g := &ev.Decision
	d.mapN(4)
	d.key(kGateID)
	g.GateID = d.str()
	d.key(kVerdict)
	if d.peek() == 0x81 {
		d.off++
		d.key(kReject)
		d.mapN(1)
		d.key(kReason)
		g.Verdict = GateVerdict{Kind: GateReject, RejectReason: decOptStr[string](d)}
	} else {
		g.Verdict = GateVerdict{Kind: decEnum(d, gateUnitVerdicts, "GateVerdict")}
	}
	d.key(kDecidedBy)
	g.DecidedBy = d.str()
	d.key(kDecidedAt)
	g.DecidedAt = decStr[Timestamp](d)
}

// ---- header fast path ----

// EnvelopeHeader holds the indexed fields of an envelope. The Has* flags
// say whether the matching optional field is present; the strings are
// valid only when their flag is set.
type EnvelopeHeader struct {
	EventID    EventID
	OccurredAt Timestamp
	Kind       ExperienceEventKind

	TenantID      TenantID      // when HasTenant
	CorrelationID CorrelationID // when HasCorrelation
	ChainID       ChainID       // when HasChain (see ChainIDOf)
	TraceLinkID   TraceLinkID   // when HasTraceLink (see TraceLinkIDOf)
	ArtifactID    ArtifactID    // when HasArtifact (see ArtifactIDOf)

	HasTenant, HasCorrelation, HasChain, HasTraceLink, HasArtifact bool
}

// HeaderOf returns the header of an in-memory envelope; for any envelope
// that encodes, DecodeHeader(MarshalCanonical(e)) equals HeaderOf(e).
func HeaderOf(e *ExperienceEventEnvelope) EnvelopeHeader {
	h := EnvelopeHeader{EventID: e.EventID, OccurredAt: e.OccurredAt, Kind: e.Kind()}
	if e.TenantID != nil {
		h.TenantID, h.HasTenant = *e.TenantID, true
	}
	if e.CorrelationID != nil {
		h.CorrelationID, h.HasCorrelation = *e.CorrelationID, true
	}
	if e.Event != nil {
		h.ChainID, h.HasChain = ChainIDOf(e.Event)
		h.TraceLinkID, h.HasTraceLink = TraceLinkIDOf(e.Event)
		h.ArtifactID, h.HasArtifact = ArtifactIDOf(e.Event)
	}
	return h
}

type span struct{ off, n int }

// DecodeHeader decodes the indexed fields of a canonical envelope without
// building the event: it skips the parts it does not need. It allocates at
// most once (all returned strings share one small backing string that does
// not alias b). It validates the fields it reads and the structure it skips,
// not the content of skipped fields; use UnmarshalCanonical for a full
// check.
func DecodeHeader(b []byte) (EnvelopeHeader, error) {
	var h EnvelopeHeader
	d := dec{b: b}
	var id, at, tenant, corr, chain, trace, artifact span
	d.mapN(5)
	d.key(kEventID)
	id.off, id.n = d.strSpan()
	d.key(kOccurredAt)
	at.off, at.n = d.strSpan()
	d.key(kTenantID)
	if !d.isNil() {
		tenant.off, tenant.n = d.strSpan()
		h.HasTenant = true
	}
	d.key(kCorrelationID)
	if !d.isNil() {
		corr.off, corr.n = d.strSpan()
		h.HasCorrelation = true
	}
	d.key(kEvent)
	d.mapN(2)
	d.key(kType)
	h.Kind = decEnum(&d, AllKinds, "event kind")
	d.key(kData)
	if d.err != nil {
		return EnvelopeHeader{}, d.err
	}
	switch h.Kind {
	case KindProposalCreated:
		d.mapN(4)
		d.key(kProposal)
		d.skip()
		d.key(kChainID)
		chain.off, chain.n = d.strSpan()
		h.HasChain = true
	case KindProposalValidated:
		d.mapN(6)
		d.key(kProposalID)
		d.strSpan()
		d.key(kChainID)
		chain.off, chain.n = d.strSpan()
		h.HasChain = true
	case KindOutcomeRecorded, KindBudgetExceeded, KindHypothesisResolved:
		switch h.Kind {
		case KindOutcomeRecorded:
			d.mapN(9)
		case KindBudgetExceeded:
			d.mapN(4)
		default:
			d.mapN(9)
		}
		d.key(kChainID)
		chain.off, chain.n = d.strSpan()
		h.HasChain = true
	case KindReplayTraceRecorded, KindReplayabilityDowngraded:
		if h.Kind == KindReplayTraceRecorded {
			d.mapN(2)
		} else {
			d.mapN(4)
		}
		d.key(kTraceLinkID)
		trace.off, trace.n = d.strSpan()
		h.HasTraceLink = true
	case KindBackendInvoked:
		d.mapN(5)
		d.key(kBackendName)
		d.strSpan()
		d.key(kAdapterID)
		if !d.isNil() {
			d.strSpan()
		}
		d.key(kTraceLinkID)
		trace.off, trace.n = d.strSpan()
		h.HasTraceLink = true
	case KindRecallExecuted:
		d.mapN(3)
		d.key(kQuery)
		d.skip()
		d.key(kProvenance)
		d.skip()
		d.key(kTraceLinkID)
		if !d.isNil() {
			trace.off, trace.n = d.strSpan()
			h.HasTraceLink = true
		}
	case KindArtifactStateTransitioned:
		d.mapN(3)
		d.key(kArtifactID)
		artifact.off, artifact.n = d.strSpan()
		h.HasArtifact = true
	case KindArtifactRollbackRecorded:
		d.mapN(1)
		d.key(kRollback)
		d.mapN(8)
		d.key(kArtifactID)
		artifact.off, artifact.n = d.strSpan()
		h.HasArtifact = true
	}
	if d.err != nil {
		return EnvelopeHeader{}, d.err
	}
	var sb strings.Builder
	sb.Grow(id.n + at.n + tenant.n + corr.n + chain.n + trace.n + artifact.n)
	for _, sp := range [...]span{id, at, tenant, corr, chain, trace, artifact} {
		sb.Write(b[sp.off : sp.off+sp.n])
	}
	s := sb.String()
	cut := func(sp span) string {
		v := s[:sp.n]
		s = s[sp.n:]
		return v
	}
	h.EventID = EventID(cut(id))
	h.OccurredAt = Timestamp(cut(at))
	h.TenantID = TenantID(cut(tenant))
	h.CorrelationID = CorrelationID(cut(corr))
	h.ChainID = ChainID(cut(chain))
	h.TraceLinkID = TraceLinkID(cut(trace))
	h.ArtifactID = ArtifactID(cut(artifact))
	return h, nil
}

// skip consumes one msgpack value of any type without allocating. It is
// iterative (no recursion, so no depth limit is needed) and rejects
// containers whose element count cannot fit in the remaining input.
func (d *dec) skip() {
	pending := uint64(1)
	for pending > 0 && d.err == nil {
		pending--
		c := d.byte1()
		if d.err != nil {
			return
		}
		var n uint64 // bytes to skip
		switch {
		case c <= 0x7f || c >= 0xe0 || c == mpNil || c == mpFalse || c == mpTrue:
		case c&0xf0 == 0x80:
			pending += 2 * uint64(c&0x0f)
		case c&0xf0 == 0x90:
			pending += uint64(c & 0x0f)
		case c&0xe0 == 0xa0:
			n = uint64(c & 0x1f)
		default:
			switch c {
			case mpBin8, mpStr8:
				n = d.be(1)
			case mpBin16, mpStr16:
				n = d.be(2)
			case mpBin32, mpStr32:
				n = d.be(4)
			case mpFloat32, mpUint32, 0xd2:
				n = 4
			case mpFloat64, mpUint64, 0xd3:
				n = 8
			case mpUint8, 0xd0:
				n = 1
			case mpUint16, 0xd1:
				n = 2
			case 0xd4:
				n = 2
			case 0xd5:
				n = 3
			case 0xd6:
				n = 5
			case 0xd7:
				n = 9
			case 0xd8:
				n = 17
			case 0xc7:
				n = d.be(1) + 1
			case 0xc8:
				n = d.be(2) + 1
			case 0xc9:
				n = d.be(4) + 1
			case mpArray16:
				pending += d.be(2)
			case mpArray32:
				pending += d.be(4)
			case mpMap16:
				pending += 2 * d.be(2)
			case mpMap32:
				pending += 2 * d.be(4)
			default: // 0xc1, never used
				d.off--
				d.fail("invalid msgpack type byte")
				return
			}
		}
		if !d.need(n) || !d.need(pending) {
			return
		}
		d.off += int(n)
	}
}
