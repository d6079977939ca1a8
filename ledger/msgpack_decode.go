package ledger

import (
	"encoding/binary"
	"math"
	"strings"
	"unsafe"
)

// dec is a strict, bounds-checked reader of canonical msgpack. The first
// error is sticky: after it every read returns a zero value and consumes
// nothing, so callers may check d.err once at the end. The first error also
// cuts b at the error offset, where off then stays, so the fast paths of the
// readers find no byte left after an error and need not check err.
type dec struct {
	b   []byte
	off int
	err error
	// strs is the array decoded strings are copied into (see copyStr):
	// append-only, so bytes a returned string covers are never written
	// again; a new array replaces it when full.
	strs []byte
	// arenaMin, when > 0, is the least size of a new strings' array, and
	// the array is kept from one envelope to the next (see
	// envelopeDecoder); 0 sizes an array for one envelope's strings.
	arenaMin int
	// sl are the blocks the structs of decoded events are carved from
	// (see decSlabs); nil: each struct is an allocation of its own.
	sl *decSlabs
}

// decSlabs are the blocks a decoder that decodes many envelopes (an
// envelopeDecoder) carves the structs and slices of its events from:
// one allocation per slabBytes of a kind's structs instead of one per
// event, as the strings share arrays (see copyStr). Like those, the
// blocks are append-only: a slot is handed out once, zero, and never
// written by the decoder again, so an event returned earlier never
// changes; keeping one event alive keeps its blocks alive. bytes is
// the size of a new block; 0 (noSlabs) allocates each struct and slice
// on its own, and writes nothing here.
type decSlabs struct {
	bytes                   int
	proposalCreated         []box[ProposalCreated, proposalCreatedX]
	proposalValidated       []box[ProposalValidated, struct{}]
	factPromoted            []box[FactPromoted, struct{}]
	recallExecuted          []box[RecallExecuted, recallExecutedX]
	replayTraceRecorded     []box[ReplayTraceRecorded, struct{}]
	replayabilityDowngraded []box[ReplayabilityDowngraded, struct{}]
	artifactState           []box[ArtifactStateTransitioned, lifecycleX]
	artifactRollback        []box[ArtifactRollbackRecorded, rollbackX]
	backendInvoked          []box[BackendInvoked, backendInvokedX]
	outcomeRecorded         []box[OutcomeRecorded, outcomeRecordedX]
	budgetExceeded          []box[BudgetExceeded, string]
	policySnapshot          []box[PolicySnapshotCaptured, struct{}]
	hypothesisResolved      []box[HypothesisResolved, TensionID]
	gateDecision            []box[GateDecisionRecorded, gateDecisionX]
	localTrace              []localTraceBlock
	remoteTrace             []RemoteReplayTrace
	contractResults         []ContractResult
	contractSnapshots       []ContractResultSnapshot
	candidateScores         []CandidateScore
	scores                  []float32
	strSlice                []string
	raw                     []byte
}

// slabBytes is the size of a block of decSlabs: about 8 to 16 events'
// structs of one kind.
const slabBytes = 2 << 10

// noSlabs is the decSlabs of a decoder without blocks (bytes 0): shared,
// never written.
var noSlabs decSlabs

// slabs returns d's blocks (noSlabs when it has none).
func (d *dec) slabs() *decSlabs {
	if d.sl == nil {
		return &noSlabs
	}
	return d.sl
}

// slabNew returns a new zero T: the next slot of the block *s, or (bytes
// 0) an allocation of its own.
func slabNew[T any](s *[]T, bytes int) *T {
	if bytes == 0 {
		return new(T)
	}
	if len(*s) == cap(*s) {
		var z T
		*s = make([]T, 0, max(1, bytes/max(1, int(unsafe.Sizeof(z)))))
	}
	*s = (*s)[:len(*s)+1]
	return &(*s)[len(*s)-1]
}

// slabMake is make([]T, n) carved from the block *s when n is small
// against a block (its capacity is n: an append by the caller copies);
// otherwise, or with bytes 0, an allocation of its own.
func slabMake[T any](s *[]T, n, bytes int) []T {
	var z T
	per := bytes / max(1, int(unsafe.Sizeof(z)))
	if n == 0 || n > per/4 {
		return make([]T, n)
	}
	if cap(*s)-len(*s) < n {
		*s = make([]T, 0, per)
	}
	i := len(*s)
	*s = (*s)[:i+n]
	return (*s)[i : i+n : i+n]
}

// envelopeDecoder decodes successive envelopes whose strings share
// arrays of at least envArenaBytes, so that a run of small events costs one
// strings allocation per array rather than one per event. A decoded event
// holds on to its array: keeping a single event alive keeps at most one
// array (about envArenaBytes) alive with it. The zero value is not usable;
// see newEnvelopeDecoder. Not safe for concurrent use.
type envelopeDecoder struct{ d dec }

// envArenaBytes is the strings' array size of an envelopeDecoder: about
// 16 events of the Converge workload.
const envArenaBytes = 8 << 10

func newEnvelopeDecoder() *envelopeDecoder {
	return &envelopeDecoder{d: dec{arenaMin: envArenaBytes, sl: &decSlabs{bytes: slabBytes}}}
}

// decode is UnmarshalCanonical with shared strings' arrays.
func (e *envelopeDecoder) decode(b []byte) (ExperienceEventEnvelope, error) {
	e.d.b, e.d.off, e.d.err = b, 0, nil
	return e.d.unmarshal()
}

// MaxDecodeAllocFactor bounds the memory UnmarshalCanonical allocates: for
// an N-byte input, at most MaxDecodeAllocFactor*N + 64 KiB, whatever the
// bytes (valid or hostile). The worst case is reached by arrays of empty
// strings and maps of tiny keys: a Go string header is 16 bytes and a map
// slot about 40 with table slack, for 1 to 4 input bytes (measured worst
// about 23x). Realistic events allocate about 1.2N.
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
	d := dec{b: b}
	return d.unmarshal()
}

// keyMismatch is the panic value of key (see there): the key expected.
type keyMismatch string

// recoverKey, deferred by every entry point of the decoder, turns a
// keyMismatch panic into the decode error keyAny sets (the first error
// stays); any other panic goes on.
func (d *dec) recoverKey() {
	if r := recover(); r != nil {
		k, ok := r.(keyMismatch)
		if !ok {
			panic(r)
		}
		d.keyAny(string(k))
		if d.err == nil { // unreachable: key panics only on a mismatch
			d.fail("expected key " + string(k[1:]))
		}
	}
}

// envelopeChecked is envelope with key mismatches made errors.
func (d *dec) envelopeChecked(env *ExperienceEventEnvelope) {
	defer d.recoverKey()
	d.envelope(env)
}

// unmarshal decodes one envelope from exactly d.b, from offset 0.
func (d *dec) unmarshal() (ExperienceEventEnvelope, error) {
	var env ExperienceEventEnvelope
	// Cheap structural pre-check before allocating: a canonical envelope
	// starts with a fixmap of 5 and the key "event_id".
	b := d.b
	if len(b) < 1+len(kEventID) || b[0] != 0x85 || string(b[1:1+len(kEventID)]) != kEventID {
		return env, &DecodeError{Offset: 0, Reason: "not a canonical envelope (expected map of 5 starting with event_id)"}
	}
	d.envelopeChecked(&env)
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
		d.b = d.b[:d.off]
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
	b := d.b[d.off : d.off+n]
	d.off += n
	switch n {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.BigEndian.Uint16(b))
	case 4:
		return uint64(binary.BigEndian.Uint32(b))
	case 8:
		return binary.BigEndian.Uint64(b)
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v
}

// keyAny consumes the pre-encoded key k, of any length (keys are 2 to 32
// bytes, so comparing a few overlapping words beats a call to the generic
// memequal). Keys of 4 to 24 bytes use the inlined keyShort, key and
// keyLong instead (msgpack_key_fast.go).
func (d *dec) keyAny(k string) {
	off, n := d.off, len(k)
	if n <= len(d.b)-off && n >= 2 {
		b := d.b[off : off+n]
		var eq bool
		switch {
		case n >= 8:
			eq = binary.LittleEndian.Uint64(b) == str64(k) &&
				binary.LittleEndian.Uint64(b[n-8:]) == str64(k[n-8:])
			if n > 16 {
				eq = eq && binary.LittleEndian.Uint64(b[8:]) == str64(k[8:])
				if n > 24 {
					eq = eq && binary.LittleEndian.Uint64(b[16:]) == str64(k[16:])
				}
			}
		case n >= 4:
			eq = binary.LittleEndian.Uint32(b) == str32(k) &&
				binary.LittleEndian.Uint32(b[n-4:]) == str32(k[n-4:])
		default:
			eq = binary.LittleEndian.Uint16(b) == str16(k) && b[n-1] == k[n-1]
		}
		if eq {
			d.off = off + n
			return
		}
	}
	if d.err == nil {
		d.fail("expected key " + k[1:])
	}
}

func str64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func str32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

func str16(s string) uint16 {
	_ = s[1]
	return uint16(s[0]) | uint16(s[1])<<8
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
	if off := d.off; n < 16 && off < len(d.b) && d.b[off] == 0x80|byte(n) {
		d.off = off + 1 // fast path: the fixmap
		return
	}
	d.mapNSlow(n)
}

func (d *dec) mapNSlow(n uint64) {
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
	// Fast path: a fixstr.
	if off := d.off; off < len(d.b) && d.b[off]&0xe0 == 0xa0 {
		if end := off + 1 + int(d.b[off]&0x1f); end <= len(d.b) {
			d.off = end
			return off + 1, end - off - 1
		}
	}
	return d.strSpanSlow()
}

func (d *dec) strSpanSlow() (int, int) {
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

// str decodes a string and copies it (see copyStr); its fast path is a
// fixstr that fits in the strings' array.
func (d *dec) str() string {
	var start, n int
	if off := d.off; off < len(d.b) && d.b[off]&0xe0 == 0xa0 && off+1+int(d.b[off]&0x1f) <= len(d.b) {
		start, n = off+1, int(d.b[off]&0x1f) // fixstr
		d.off = start + n
	} else {
		start, n = d.strSpanSlow()
	}
	if n == 0 {
		return ""
	}
	if cap(d.strs)-len(d.strs) < n {
		return d.copyStr(start, n)
	}
	return d.appendStr(start, n)
}

// appendStr copies b[start:start+n] (n > 0) into strs, which has room.
func (d *dec) appendStr(start, n int) string {
	d.strs = append(d.strs, d.b[start:start+n]...)
	return unsafe.String(&d.strs[len(d.strs)-n], n)
}

// copyStr returns a copy of b[start:start+n] that shares its backing array
// with the other decoded strings, so that an envelope's strings cost one
// allocation that does not alias b and, unlike a copy of b, holds only
// string contents (no field keys, numbers or RawJSON). The decoder sizes
// that array, once it knows the event kind, for all the strings still to
// decode (see kindOverhead); were the estimate short, a new array sized for
// the rest of the input, where every string still to decode lies, is begun.
func (d *dec) copyStr(start, n int) string {
	if n == 0 {
		return ""
	}
	if cap(d.strs)-len(d.strs) < n {
		d.newArray(len(d.b) - start)
	}
	return d.appendStr(start, n)
}

// reserve makes room for n more string bytes, in a new array if the
// current one lacks it. Strings already decoded keep their array.
func (d *dec) reserve(n int) {
	if cap(d.strs)-len(d.strs) < n {
		d.newArray(n)
	}
}

func (d *dec) newArray(n int) {
	d.strs = make([]byte, 0, max(n, d.arenaMin))
}

func decStr[S ~string](d *dec) S { return S(d.str()) }

// optStrTo decodes an optional string into *dst and returns dst, or nil
// for nil. dst lives in a block allocated with the event, so the pointer
// costs no allocation of its own.
func optStrTo[S ~string](d *dec, dst *S) *S {
	if d.isNil() {
		return nil
	}
	*dst = S(d.str())
	return dst
}

func decEnum[E ~string](d *dec, vals []E, what string) E {
	if i := decEnumIndex(d, vals, what); i >= 0 {
		return vals[i]
	}
	return ""
}

// decEnumIndex decodes a string that must be one of vals and returns its
// index, or -1 after an error.
func decEnumIndex[E ~string](d *dec, vals []E, what string) int {
	start := d.off
	b := d.strBytes()
	if d.err != nil {
		return -1
	}
	for i, v := range vals {
		if string(v) == string(b) {
			return i
		}
	}
	d.off = start
	d.fail("unknown " + what + " variant")
	return -1
}

func decStrSlice[S ~string](d *dec) []S {
	n := d.arrayLen(1)
	sl := d.slabs()
	ss := slabMake(&sl.strSlice, n, sl.bytes)
	// S has string's layout: the block of strings serves every S.
	out := unsafe.Slice((*S)(unsafe.Pointer(unsafe.SliceData(ss))), len(ss))
	for i := range out {
		out[i] = S(d.str())
	}
	if d.err != nil {
		return nil
	}
	return out
}

func (d *dec) uint() uint64 {
	if off := d.off; off < len(d.b) && d.b[off] < 0x80 {
		d.off = off + 1 // fast path: a positive fixint
		return uint64(d.b[off])
	}
	return d.uintSlow()
}

func (d *dec) uintSlow() uint64 {
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

// optUintTo is optUint decoding into *dst (see optStrTo).
func (d *dec) optUintTo(dst *uint64) *uint64 {
	if d.isNil() {
		return nil
	}
	*dst = d.uint()
	return dst
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

// optHashTo decodes an optional hash into *dst (see optStrTo).
func (d *dec) optHashTo(dst *ContentHash) *ContentHash {
	if d.isNil() {
		return nil
	}
	d.hash(dst)
	return dst
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

// envIDs holds the envelope's optional ids. It is allocated inside the
// event's block (see box) so that the two pointers cost no allocation.
type envIDs struct {
	tenant TenantID
	corr   CorrelationID
}

// box is the single allocation behind a decoded event: the event itself,
// the targets of its optional scalar pointers (x) and the envelope's ids.
type box[E, X any] struct {
	ev  E
	x   X
	ids envIDs
}

// newBox allocates the block of an event and sets *ids to its envIDs.
func newBox[E, X any](s *[]box[E, X], bytes int, ids **envIDs) *box[E, X] {
	b := slabNew(s, bytes)
	*ids = &b.ids
	return b
}

// Optional fields of the event kinds, allocated with the event.
type (
	proposalCreatedX struct {
		conf float32
		hash ContentHash
	}
	recallExecutedX struct {
		step      DecisionStep
		scope     string
		stop      RecallStopReason
		trace     TraceLinkID
		consumers [3]RecallConsumer
	}
	lifecycleX struct {
		ticket, tenant string
	}
	rollbackX struct {
		affected         uint64
		incident, tenant string
	}
	backendInvokedX struct {
		adapter BackendID
		hash    ContentHash
	}
	outcomeRecordedX struct {
		stop                   StopReason
		latency, tokens, costs uint64
		backend                BackendID
	}
	gateDecisionX struct {
		rationale, reject string
	}
)

// fields is the least number of bytes that map entries with these keys
// take besides the contents of their string values: the keys and at least
// a header byte per value.
func fields(keys ...string) int {
	n := 0
	for _, k := range keys {
		n += len(k) + 1
	}
	return n
}

// enumLen is the least length of an enum value; enum values are not copied
// into the strings' array (decEnum returns the constants).
func enumLen[E ~string](vals []E) int {
	n := len(vals[0])
	for _, v := range vals {
		n = min(n, len(v))
	}
	return n
}

// Lower bounds on the bytes of parts of an event that are not string
// contents: map headers, keys, at least a byte per value, and the known
// sizes of floats, hashes and enum values. The input bytes left at some
// point, less such a bound, bound the bytes of the strings still to decode
// (see copyStr).
var (
	// traceOverhead: a ReplayTrace, Local or Remote, with its temperature
	// and top_p float32s.
	traceOverhead = 1 + 4 + 4 + min(
		fields(kType, kBaseModelHash, kAdapter, kTokenizerHash, kSeed, kSampler, kPromptVersion, kRecall, kWeightsMutated, kExecutionEnv)+
			len(ReplayTraceLocal)+fields(kTemperature, kTopP, kTopK)+fields(kDevice, kBackend, kPrecision),
		fields(kType, kProviderName, kProviderModelID, kRequestFingerprint, kResponseFingerprint, kTemperature, kTopP,
			kMaxTokens, kProviderMetadata, kRetried, kRetryReasons, kReplayability)+
			len(ReplayTraceLocal)+enumLen(enumReplayability))

	// proposalRestOverhead: what follows the structured payload of a
	// ProposalCreated.
	proposalRestOverhead = fields(kTraceLink, kContractResults, kRequiresHuman, kConfidence) - 1 + traceOverhead +
		fields(kChainID, kStep, kPolicySnapshotHash) + enumLen(enumDecisionStep)

	// kindOverhead[i]: the data map of an event of kind AllKinds[i] (unused
	// for ProposalCreated, see proposalRestOverhead).
	kindOverhead = func() (t [14]int) {
		step := enumLen(enumDecisionStep)
		for i, k := range AllKinds {
			var n int
			switch k {
			case KindProposalValidated:
				n = fields(kProposalID, kChainID, kStep, kContractResults, kAllPassed, kValidator) + step
			case KindFactPromoted:
				n = fields(kProposalID, kFactID, kPromotedBy, kReason, kRequiresHuman)
			case KindRecallExecuted:
				n = fields(kQuery, kProvenance, kTraceLinkID) + fields(kQueryText, kTopK, kStepContext, kTenantScope) +
					fields(kQueryHash, kEmbeddingInputHash, kEmbeddingHash, kEmbedderID, kEmbedderSettingsHash, kCorpusFingerprint,
						kPolicySnapshotHash, kPurpose, kConsumers, kCandidateScores, kCandidatesSearched, kCandidatesReturned,
						kStopReason, kLatencyMs, kTimestamp, kSignature) + enumLen(enumRecallUse)
			case KindReplayTraceRecorded:
				n = fields(kTraceLinkID, kTraceLink) - 1 + traceOverhead
			case KindReplayabilityDowngraded:
				n = fields(kTraceLinkID, kFrom, kTo, kReason) + 2*enumLen(enumReplayability) + enumLen(enumDowngrade)
			case KindArtifactStateTransitioned:
				n = fields(kArtifactID, kArtifactKind, kEvent) +
					fields(kFromState, kToState, kTimestamp, kActor, kReason, kTicketRef, kTenantID) + 2*enumLen(enumArtifactState)
			case KindArtifactRollbackRecorded:
				n = fields(kRollback) +
					fields(kArtifactID, kPreviousState, kRolledBackAt, kActor, kReason, kImpact, kIncidentRef, kTenantID) +
					fields(kAffectedCount, kQualityIssues, kInvalidatesOutputs, kSeverity, kAffectedTenants) +
					enumLen(enumArtifactState) + enumLen(enumSeverity)
			case KindBackendInvoked:
				n = fields(kBackendName, kAdapterID, kTraceLinkID, kStep, kPolicySnapshotHash) + step
			case KindOutcomeRecorded:
				n = fields(kChainID, kStep, kPassed, kStopReason, kLatencyMs, kTokens, kCostMicrodollars, kBackend, kMetadata) + step
			case KindBudgetExceeded:
				n = fields(kChainID, kResource, kLimit, kObserved)
			case KindPolicySnapshotCaptured:
				n = fields(kPolicyID, kPolicy, kSnapshotHash, kCapturedBy) + 33 + fields(kType, kPolicy) + enumLen(policyTypes)
			case KindHypothesisResolved:
				n = fields(kChainID, kFactID, kDomain, kClaim, kConfidence, kOutcome, kContradictionID, kFormedCycle, kResolvedCycle) +
					8 + enumLen(enumHypothesis)
			case KindGateDecisionRecorded:
				n = fields(kRequest, kDecision) +
					fields(kGateID, kProposalID, kSummary, kAgentID, kRationale, kContextData, kCycle, kRequestedAt, kTimeout) +
					fields(kTimeoutSecs, kAction) + fields(kGateID, kVerdict, kDecidedBy, kDecidedAt) + enumLen(enumTimeoutAction)
			}
			t[i] = 1 + n
		}
		return t
	}()
)

func (d *dec) envelope(env *ExperienceEventEnvelope) {
	d.mapN(5)
	d.key(kEventID)
	var id, at, tenant, corr span
	id.off, id.n = d.strSpan()
	d.key(kOccurredAt)
	at.off, at.n = d.strSpan()
	d.key(kTenantID)
	hasTenant := !d.isNil()
	if hasTenant {
		tenant.off, tenant.n = d.strSpan()
	}
	d.key(kCorrelationID)
	hasCorr := !d.isNil()
	if hasCorr {
		corr.off, corr.n = d.strSpan()
	}
	d.keyShort(kEvent)
	d.mapN(2)
	d.keyShort(kType)
	ki := decEnumIndex(d, AllKinds, "event kind")
	d.keyShort(kData)
	if d.err != nil {
		return
	}
	kind := AllKinds[ki]
	// One array holds every decoded string (see copyStr). It is sized here
	// but for ProposalCreated, which sizes it after its structured payload.
	envN := id.n + at.n + tenant.n + corr.n
	if kind != KindProposalCreated {
		d.reserve(envN + max(0, len(d.b)-d.off-kindOverhead[ki]))
	}
	var ids *envIDs
	sl := d.slabs()
	switch kind {
	case KindProposalCreated:
		b := newBox(&sl.proposalCreated, sl.bytes, &ids)
		d.proposalCreated(&b.ev, &b.x, envN)
		env.Event = &b.ev
	case KindProposalValidated:
		b := newBox(&sl.proposalValidated, sl.bytes, &ids)
		ev := &b.ev
		d.mapN(6)
		d.key(kProposalID)
		ev.ProposalID = decStr[ProposalID](d)
		d.key(kChainID)
		ev.ChainID = decStr[ChainID](d)
		d.keyShort(kStep)
		ev.Step = decEnum(d, enumDecisionStep, "DecisionStep")
		d.keyLong(kContractResults)
		n := d.arrayLen(minContractResult)
		ev.ContractResults = slabMake(&sl.contractSnapshots, n, sl.bytes)
		var reasons []string
		for i := range ev.ContractResults {
			d.contractResult((*ContractResult)(&ev.ContractResults[i]), &reasons, n-i)
		}
		d.key(kAllPassed)
		ev.AllPassed = d.boolean()
		d.key(kValidator)
		ev.Validator = decStr[ActorID](d)
		env.Event = ev
	case KindFactPromoted:
		b := newBox(&sl.factPromoted, sl.bytes, &ids)
		ev := &b.ev
		d.mapN(5)
		d.key(kProposalID)
		ev.ProposalID = decStr[ProposalID](d)
		d.key(kFactID)
		ev.FactID = decStr[FactID](d)
		d.key(kPromotedBy)
		ev.PromotedBy = decStr[ActorID](d)
		d.keyShort(kReason)
		ev.Reason = d.str()
		d.key(kRequiresHuman)
		ev.RequiresHuman = d.boolean()
		env.Event = ev
	case KindRecallExecuted:
		b := newBox(&sl.recallExecuted, sl.bytes, &ids)
		d.recallExecuted(&b.ev, &b.x)
		env.Event = &b.ev
	case KindReplayTraceRecorded:
		b := newBox(&sl.replayTraceRecorded, sl.bytes, &ids)
		ev := &b.ev
		d.mapN(2)
		d.key(kTraceLinkID)
		ev.TraceLinkID = decStr[TraceLinkID](d)
		d.key(kTraceLink)
		d.replayTrace(&ev.TraceLink)
		env.Event = ev
	case KindReplayabilityDowngraded:
		b := newBox(&sl.replayabilityDowngraded, sl.bytes, &ids)
		ev := &b.ev
		d.mapN(4)
		d.key(kTraceLinkID)
		ev.TraceLinkID = decStr[TraceLinkID](d)
		d.keyShort(kFrom)
		ev.From = decEnum(d, enumReplayability, "Replayability")
		d.keyAny(kTo)
		ev.To = decEnum(d, enumReplayability, "Replayability")
		d.keyShort(kReason)
		ev.Reason = decEnum(d, enumDowngrade, "ReplayabilityDowngradeReason")
		env.Event = ev
	case KindArtifactStateTransitioned:
		b := newBox(&sl.artifactState, sl.bytes, &ids)
		ev := &b.ev
		d.mapN(3)
		d.key(kArtifactID)
		ev.ArtifactID = decStr[ArtifactID](d)
		d.key(kArtifactKind)
		if d.peek() == 0x81 {
			d.off++
			d.keyShort(kOther)
			ev.ArtifactKind = ArtifactKind{Kind: ArtifactKindOther, Other: d.str()}
		} else {
			ev.ArtifactKind = ArtifactKind{Kind: decEnum(d, enumArtifactKindUnit, "ArtifactKind")}
		}
		d.keyShort(kEvent)
		d.lifecycle(&ev.Event, &b.x)
		env.Event = ev
	case KindArtifactRollbackRecorded:
		b := newBox(&sl.artifactRollback, sl.bytes, &ids)
		ev := &b.ev
		d.mapN(1)
		d.key(kRollback)
		d.rollback(&ev.Rollback, &b.x)
		env.Event = ev
	case KindBackendInvoked:
		b := newBox(&sl.backendInvoked, sl.bytes, &ids)
		ev := &b.ev
		d.mapN(5)
		d.key(kBackendName)
		ev.BackendName = decStr[BackendID](d)
		d.key(kAdapterID)
		ev.AdapterID = optStrTo(d, &b.x.adapter)
		d.key(kTraceLinkID)
		ev.TraceLinkID = decStr[TraceLinkID](d)
		d.keyShort(kStep)
		ev.Step = decEnum(d, enumDecisionStep, "DecisionStep")
		d.keyLong(kPolicySnapshotHash)
		ev.PolicySnapshotHash = d.optHashTo(&b.x.hash)
		env.Event = ev
	case KindOutcomeRecorded:
		b := newBox(&sl.outcomeRecorded, sl.bytes, &ids)
		d.outcomeRecorded(&b.ev, &b.x)
		env.Event = &b.ev
	case KindBudgetExceeded:
		b := newBox(&sl.budgetExceeded, sl.bytes, &ids)
		ev := &b.ev
		d.mapN(4)
		d.key(kChainID)
		ev.ChainID = decStr[ChainID](d)
		d.key(kResource)
		if d.peek() == 0x81 {
			d.off++
			d.keyShort(kOther)
			ev.Resource = BudgetResource{Kind: BudgetOther, Other: d.str()}
		} else {
			ev.Resource = BudgetResource{Kind: decEnum(d, enumBudgetResourceUnit, "BudgetResource")}
		}
		d.keyShort(kLimit)
		ev.Limit = d.str()
		d.key(kObserved)
		ev.Observed = optStrTo(d, &b.x)
		env.Event = ev
	case KindPolicySnapshotCaptured:
		b := newBox(&sl.policySnapshot, sl.bytes, &ids)
		d.policySnapshotCaptured(&b.ev)
		env.Event = &b.ev
	case KindHypothesisResolved:
		b := newBox(&sl.hypothesisResolved, sl.bytes, &ids)
		ev := &b.ev
		d.mapN(9)
		d.key(kChainID)
		ev.ChainID = decStr[ChainID](d)
		d.key(kFactID)
		ev.FactID = decStr[FactID](d)
		d.keyShort(kDomain)
		ev.Domain = decStr[DomainID](d)
		d.keyShort(kClaim)
		ev.Claim = d.str()
		d.key(kConfidence)
		ev.Confidence = d.f64()
		d.key(kOutcome)
		ev.Outcome = decEnum(d, enumHypothesis, "HypothesisOutcome")
		d.keyLong(kContradictionID)
		ev.ContradictionID = optStrTo(d, &b.x)
		d.key(kFormedCycle)
		ev.FormedCycle = d.u32()
		d.key(kResolvedCycle)
		ev.ResolvedCycle = d.u32()
		env.Event = ev
	case KindGateDecisionRecorded:
		b := newBox(&sl.gateDecision, sl.bytes, &ids)
		d.gateDecisionRecorded(&b.ev, &b.x)
		env.Event = &b.ev
	}
	if d.err != nil {
		return
	}
	env.EventID = EventID(d.copyStr(id.off, id.n))
	env.OccurredAt = Timestamp(d.copyStr(at.off, at.n))
	if hasTenant {
		ids.tenant = TenantID(d.copyStr(tenant.off, tenant.n))
		env.TenantID = &ids.tenant
	}
	if hasCorr {
		ids.corr = CorrelationID(d.copyStr(corr.off, corr.n))
		env.CorrelationID = &ids.corr
	}
}

// contractResult decodes one contract result into c. Failure reasons are
// carved from *reasons, allocated on first use for the left results that
// remain in the array, so an array costs at most one extra allocation.
func (d *dec) contractResult(c *ContractResult, reasons *[]string, left int) {
	d.mapN(3)
	d.keyShort(kName)
	c.Name = d.str()
	d.keyShort(kPassed)
	c.Passed = d.boolean()
	d.key(kFailureReason)
	if d.isNil() {
		return
	}
	if len(*reasons) == 0 {
		sl := d.slabs()
		*reasons = slabMake(&sl.strSlice, left, sl.bytes)
	}
	r := &(*reasons)[0]
	*reasons = (*reasons)[1:]
	*r = d.str()
	c.FailureReason = r
}

// proposalCreated decodes a ProposalCreated. It sizes the strings' array
// (see copyStr) after the structured payload, which is not copied there,
// for the envN bytes of the envelope's strings and its own.
func (d *dec) proposalCreated(ev *ProposalCreated, x *proposalCreatedX, envN int) {
	d.mapN(4)
	d.key(kProposal)
	p := &ev.Proposal
	d.mapN(8)
	d.keyAny(kID)
	var id, payload span
	id.off, id.n = d.strSpan()
	d.keyShort(kKind)
	p.Kind = decEnum(d, enumProposalKind, "ProposalKind")
	d.key(kPayload)
	payload.off, payload.n = d.strSpan()
	d.keyLong(kStructuredPayload)
	if !d.isNil() {
		raw := d.strBytes()
		if d.err == nil {
			sl := d.slabs()
			p.StructuredPayload = slabMake(&sl.raw, len(raw), sl.bytes)
			copy(p.StructuredPayload, raw)
		}
	}
	if d.err != nil {
		return
	}
	d.reserve(envN + id.n + payload.n + max(0, len(d.b)-d.off-proposalRestOverhead))
	p.ID = d.copyStr(id.off, id.n)
	p.Payload = d.copyStr(payload.off, payload.n)
	d.key(kTraceLink)
	d.replayTrace(&p.TraceLink)
	d.keyLong(kContractResults)
	n := d.arrayLen(minContractResult)
	sl := d.slabs()
	p.ContractResults = slabMake(&sl.contractResults, n, sl.bytes)
	var reasons []string
	for i := range p.ContractResults {
		d.contractResult(&p.ContractResults[i], &reasons, n-i)
	}
	d.key(kRequiresHuman)
	p.RequiresHuman = d.boolean()
	d.key(kConfidence)
	if !d.isNil() {
		x.conf = d.f32()
		p.Confidence = &x.conf
	}
	d.key(kChainID)
	ev.ChainID = decStr[ChainID](d)
	d.keyShort(kStep)
	ev.Step = decEnum(d, enumDecisionStep, "DecisionStep")
	d.keyLong(kPolicySnapshotHash)
	ev.PolicySnapshotHash = d.optHashTo(&x.hash)
}

// localTraceBlock is the single allocation behind a LocalReplayTrace and
// its optional parts.
type localTraceBlock struct {
	l       LocalReplayTrace
	adapter AdapterTrace
	recall  RecallTrace
	topK    uint64
}

func (d *dec) replayTrace(t *ReplayTrace) {
	switch d.peek() {
	case 0x80 | 10:
		d.off++
		d.keyShort(kType)
		d.keyAny(kvLocal)
		t.Type = ReplayTraceLocal
		sl := d.slabs()
		lb := slabNew(&sl.localTrace, sl.bytes)
		l := &lb.l
		d.key(kBaseModelHash)
		l.BaseModelHash = d.str()
		d.key(kAdapter)
		if !d.isNil() {
			a := &lb.adapter
			d.mapN(3)
			d.key(kAdapterID)
			a.AdapterID = d.str()
			d.key(kAdapterHash)
			a.AdapterHash = d.str()
			d.keyShort(kMerged)
			a.Merged = d.boolean()
			l.Adapter = a
		}
		d.key(kTokenizerHash)
		l.TokenizerHash = d.str()
		d.keyShort(kSeed)
		l.Seed = d.uint()
		d.key(kSampler)
		d.mapN(3)
		d.key(kTemperature)
		l.Sampler.Temperature = d.f32()
		d.keyShort(kTopP)
		l.Sampler.TopP = d.f32()
		d.keyShort(kTopK)
		l.Sampler.TopK = d.optUintTo(&lb.topK)
		d.key(kPromptVersion)
		l.PromptVersion = d.str()
		d.keyShort(kRecall)
		if !d.isNil() {
			r := &lb.recall
			d.mapN(4)
			d.keyLong(kCorpusFingerprint)
			r.CorpusFingerprint = d.str()
			d.key(kCandidateIDs)
			r.CandidateIDs = decStrSlice[string](d)
			d.keyLong(kCandidateScores)
			n := d.arrayLen(5)
			sl := d.slabs()
			r.CandidateScores = slabMake(&sl.scores, n, sl.bytes)
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
		d.keyShort(kDevice)
		l.ExecutionEnv.Device = d.str()
		d.key(kBackend)
		l.ExecutionEnv.Backend = d.str()
		d.key(kPrecision)
		l.ExecutionEnv.Precision = d.str()
		t.Local = l
	case 0x80 | 12:
		d.off++
		d.keyShort(kType)
		d.keyAny(kvRemote)
		t.Type = ReplayTraceRemote
		sl := d.slabs()
		r := slabNew(&sl.remoteTrace, sl.bytes)
		d.key(kProviderName)
		r.ProviderName = d.str()
		d.keyLong(kProviderModelID)
		r.ProviderModelID = d.str()
		d.keyLong(kRequestFingerprint)
		r.RequestFingerprint = d.str()
		d.keyLong(kResponseFingerprint)
		r.ResponseFingerprint = d.str()
		d.key(kTemperature)
		r.Temperature = d.f32()
		d.keyShort(kTopP)
		r.TopP = d.f32()
		d.key(kMaxTokens)
		r.MaxTokens = d.uint()
		d.keyLong(kProviderMetadata)
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

func (d *dec) recallExecuted(ev *RecallExecuted, x *recallExecutedX) {
	d.mapN(3)
	d.keyShort(kQuery)
	q := &ev.Query
	d.mapN(4)
	d.key(kQueryText)
	q.QueryText = d.str()
	d.keyShort(kTopK)
	q.TopK = d.uint()
	d.key(kStepContext)
	if !d.isNil() {
		x.step = decEnum(d, enumDecisionStep, "DecisionStep")
		q.StepContext = &x.step
	}
	d.key(kTenantScope)
	q.TenantScope = optStrTo(d, &x.scope)

	d.key(kProvenance)
	p := &ev.Provenance
	d.mapN(16)
	d.key(kQueryHash)
	p.QueryHash = d.str()
	d.keyLong(kEmbeddingInputHash)
	p.EmbeddingInputHash = d.str()
	d.key(kEmbeddingHash)
	p.EmbeddingHash = d.str()
	d.key(kEmbedderID)
	p.EmbedderID = d.str()
	d.keyLong(kEmbedderSettingsHash)
	p.EmbedderSettingsHash = d.str()
	d.keyLong(kCorpusFingerprint)
	p.CorpusFingerprint = d.str()
	d.keyLong(kPolicySnapshotHash)
	p.PolicySnapshotHash = d.str()
	d.key(kPurpose)
	p.Purpose = decEnum(d, enumRecallUse, "RecallUse")
	d.key(kConsumers)
	n := d.arrayLen(len("Kernel") + 1)
	if n <= len(x.consumers) {
		p.Consumers = x.consumers[:n:n]
	} else {
		p.Consumers = make([]RecallConsumer, n)
	}
	for i := range p.Consumers {
		p.Consumers[i] = decEnum(d, enumRecallConsumer, "RecallConsumer")
	}
	d.keyLong(kCandidateScores)
	n = d.arrayLen(minCandidateScore)
	sl := d.slabs()
	p.CandidateScores = slabMake(&sl.candidateScores, n, sl.bytes)
	for i := range p.CandidateScores {
		c := &p.CandidateScores[i]
		d.mapN(2)
		d.keyAny(kID)
		c.ID = d.str()
		d.keyShort(kScore)
		c.Score = d.f64()
	}
	d.keyLong(kCandidatesSearched)
	p.CandidatesSearched = d.uint()
	d.keyLong(kCandidatesReturned)
	p.CandidatesReturned = d.uint()
	d.key(kStopReason)
	if !d.isNil() {
		x.stop = decEnum(d, enumRecallStop, "RecallStopReason")
		p.StopReason = &x.stop
	}
	d.key(kLatencyMs)
	p.LatencyMs = d.uint()
	d.key(kTimestamp)
	p.Timestamp = d.str()
	d.key(kSignature)
	p.Signature = d.str()

	d.key(kTraceLinkID)
	ev.TraceLinkID = optStrTo(d, &x.trace)
}

func (d *dec) lifecycle(l *LifecycleEvent, x *lifecycleX) {
	d.mapN(7)
	d.key(kFromState)
	l.FromState = decEnum(d, enumArtifactState, "GovernedArtifactState")
	d.key(kToState)
	l.ToState = decEnum(d, enumArtifactState, "GovernedArtifactState")
	d.key(kTimestamp)
	l.Timestamp = d.str()
	d.keyShort(kActor)
	l.Actor = d.str()
	d.keyShort(kReason)
	l.Reason = d.str()
	d.key(kTicketRef)
	l.TicketRef = optStrTo(d, &x.ticket)
	d.key(kTenantID)
	l.TenantID = optStrTo(d, &x.tenant)
}

func (d *dec) rollback(r *RollbackRecord, x *rollbackX) {
	d.mapN(8)
	d.key(kArtifactID)
	r.ArtifactID = d.str()
	d.key(kPreviousState)
	r.PreviousState = decEnum(d, enumArtifactState, "GovernedArtifactState")
	d.key(kRolledBackAt)
	r.RolledBackAt = d.str()
	d.keyShort(kActor)
	r.Actor = d.str()
	d.keyShort(kReason)
	r.Reason = d.str()
	d.keyShort(kImpact)
	im := &r.Impact
	d.mapN(5)
	d.key(kAffectedCount)
	im.AffectedCount = d.optUintTo(&x.affected)
	d.key(kQualityIssues)
	im.QualityIssues = decStrSlice[string](d)
	d.keyLong(kInvalidatesOutputs)
	im.InvalidatesOutputs = d.boolean()
	d.key(kSeverity)
	im.Severity = decEnum(d, enumSeverity, "RollbackSeverity")
	d.keyLong(kAffectedTenants)
	im.AffectedTenants = decStrSlice[string](d)
	d.key(kIncidentRef)
	r.IncidentRef = optStrTo(d, &x.incident)
	d.key(kTenantID)
	r.TenantID = optStrTo(d, &x.tenant)
}

func (d *dec) outcomeRecorded(ev *OutcomeRecorded, x *outcomeRecordedX) {
	d.mapN(9)
	d.key(kChainID)
	ev.ChainID = decStr[ChainID](d)
	d.keyShort(kStep)
	ev.Step = decEnum(d, enumDecisionStep, "DecisionStep")
	d.keyShort(kPassed)
	ev.Passed = d.boolean()
	d.key(kStopReason)
	if !d.isNil() {
		d.stopReason(&x.stop)
		ev.StopReason = &x.stop
	}
	d.key(kLatencyMs)
	ev.LatencyMs = d.optUintTo(&x.latency)
	d.keyShort(kTokens)
	ev.Tokens = d.optUintTo(&x.tokens)
	d.keyLong(kCostMicrodollars)
	ev.CostMicrodollars = d.optUintTo(&x.costs)
	d.key(kBackend)
	ev.Backend = optStrTo(d, &x.backend)
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

// stopReason decodes a non-nil StopReason into the zero value *s.
func (d *dec) stopReason(s *StopReason) {
	if d.peek() != 0x81 {
		s.Kind = decEnum(d, stopUnitKinds, "StopReason")
		return
	}
	d.off++
	s.Kind = decEnum(d, stopDataKinds, "StopReason")
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
		d.keyShort(kLimit)
		v.Limit = d.u32()
		s.CycleBudgetExhausted = v
	case StopFactBudgetExhausted:
		v := &StopFactBudgetData{}
		d.mapN(2)
		d.key(kFactsCount)
		v.FactsCount = d.u32()
		d.keyShort(kLimit)
		v.Limit = d.u32()
		s.FactBudgetExhausted = v
	case StopTokenBudgetExhausted:
		v := &StopTokenBudgetData{}
		d.mapN(2)
		d.key(kTokensConsumed)
		v.TokensConsumed = d.uint()
		d.keyShort(kLimit)
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
		d.keyShort(kClass)
		v.Class = decEnum(d, enumInvariantClass, "InvariantClass")
		d.keyShort(kName)
		v.Name = d.str()
		d.keyShort(kReason)
		v.Reason = d.str()
		s.InvariantViolated = v
	case StopPromotionRejected:
		v := &StopPromotionRejectedData{}
		d.mapN(2)
		d.key(kProposalID)
		v.ProposalID = d.str()
		d.keyShort(kReason)
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
		d.keyShort(kReason)
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
		d.keyShort(kCycle)
		v.Cycle = d.u32()
		s.HitlGatePending = v
	}
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
	d.keyShort(kPolicy)
	d.mapN(2)
	d.keyShort(kType)
	p := &ev.Policy
	p.Type = decEnum(d, policyTypes, "PolicySnapshot")
	d.keyShort(kPolicy)
	switch p.Type {
	case PolicySnapshotKernel:
		kb := new(struct {
			k       KernelPolicy
			adapter string
			seed    uint64
		})
		k := &kb.k
		d.mapN(7)
		d.key(kAdapterID)
		k.AdapterID = optStrTo(d, &kb.adapter)
		d.key(kRecallEnabled)
		k.RecallEnabled = d.boolean()
		d.keyLong(kRecallMaxCandidates)
		k.RecallMaxCandidates = d.uint()
		d.keyLong(kRecallMinScore)
		k.RecallMinScore = d.f32()
		d.keyShort(kSeed)
		k.Seed = d.optUintTo(&kb.seed)
		d.key(kRequiresHuman)
		k.RequiresHuman = d.boolean()
		d.key(kRequiredTruths)
		k.RequiredTruths = decStrSlice[string](d)
		p.Kernel = k
	case PolicySnapshotRouting:
		r := &RoutingPolicy{}
		d.mapN(4)
		d.keyLong(kTruthPreferences)
		r.TruthPreferences = d.strMap()
		d.keyLong(kRiskTierBackends)
		r.RiskTierBackends = decEnumKeyMap(d, sortedRiskTiers, "RiskTier")
		d.keyAny(kDataClassBackends)
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
		d.keyLong(kMaxTokensInjection)
		r.MaxTokensInjection = d.uint()
		d.keyLong(kMinScoreThreshold)
		r.MinScoreThreshold = d.f64()
		d.key(kBudgets)
		d.mapN(3)
		d.key(kMaxLatencyMs)
		r.Budgets.MaxLatencyMs = d.uint()
		d.keyLong(kMaxEmbeddingCalls)
		r.Budgets.MaxEmbeddingCalls = d.uint()
		d.keyAny(kMaxTokensPerCandidate)
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

func (d *dec) gateDecisionRecorded(ev *GateDecisionRecorded, x *gateDecisionX) {
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
	r.Rationale = optStrTo(d, &x.rationale)
	d.key(kContextData)
	n := d.arrayLen(minContextEntry)
	r.ContextData = make([]GateContextEntry, n)
	for i := range r.ContextData {
		c := &r.ContextData[i]
		d.mapN(2)
		d.keyShort(kLabel)
		c.Label = d.str()
		d.keyShort(kValue)
		c.Value = d.str()
	}
	d.keyShort(kCycle)
	r.Cycle = d.u32()
	d.key(kRequestedAt)
	r.RequestedAt = decStr[Timestamp](d)
	d.key(kTimeout)
	d.mapN(2)
	d.key(kTimeoutSecs)
	r.Timeout.TimeoutSecs = d.uint()
	d.keyShort(kAction)
	r.Timeout.Action = decEnum(d, enumTimeoutAction, "TimeoutAction")

	d.key(kDecision)
	g := &ev.Decision
	d.mapN(4)
	d.key(kGateID)
	g.GateID = d.str()
	d.key(kVerdict)
	if d.peek() == 0x81 {
		d.off++
		d.keyShort(kReject)
		d.mapN(1)
		d.keyShort(kReason)
		g.Verdict = GateVerdict{Kind: GateReject, RejectReason: optStrTo(d, &x.reject)}
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

// headerSpans are where DecodeHeader's strings lie in its input.
type headerSpans struct{ id, at, tenant, corr, chain, trace, artifact span }

// header parses the header fields of an envelope into h and sp.
func (d *dec) header(h *EnvelopeHeader, sp *headerSpans) {
	defer d.recoverKey()
	d.mapN(5)
	d.key(kEventID)
	sp.id.off, sp.id.n = d.strSpan()
	d.key(kOccurredAt)
	sp.at.off, sp.at.n = d.strSpan()
	d.key(kTenantID)
	if !d.isNil() {
		sp.tenant.off, sp.tenant.n = d.strSpan()
		h.HasTenant = true
	}
	d.key(kCorrelationID)
	if !d.isNil() {
		sp.corr.off, sp.corr.n = d.strSpan()
		h.HasCorrelation = true
	}
	d.keyShort(kEvent)
	d.mapN(2)
	d.keyShort(kType)
	h.Kind = decEnum(d, AllKinds, "event kind")
	d.keyShort(kData)
	if d.err != nil {
		return
	}
	switch h.Kind {
	case KindProposalCreated:
		d.mapN(4)
		d.key(kProposal)
		d.skip()
		d.key(kChainID)
		sp.chain.off, sp.chain.n = d.strSpan()
		h.HasChain = true
	case KindProposalValidated:
		d.mapN(6)
		d.key(kProposalID)
		d.strSpan()
		d.key(kChainID)
		sp.chain.off, sp.chain.n = d.strSpan()
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
		sp.chain.off, sp.chain.n = d.strSpan()
		h.HasChain = true
	case KindReplayTraceRecorded, KindReplayabilityDowngraded:
		if h.Kind == KindReplayTraceRecorded {
			d.mapN(2)
		} else {
			d.mapN(4)
		}
		d.key(kTraceLinkID)
		sp.trace.off, sp.trace.n = d.strSpan()
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
		sp.trace.off, sp.trace.n = d.strSpan()
		h.HasTraceLink = true
	case KindRecallExecuted:
		d.mapN(3)
		d.keyShort(kQuery)
		d.skip()
		d.key(kProvenance)
		d.skip()
		d.key(kTraceLinkID)
		if !d.isNil() {
			sp.trace.off, sp.trace.n = d.strSpan()
			h.HasTraceLink = true
		}
	case KindArtifactStateTransitioned:
		d.mapN(3)
		d.key(kArtifactID)
		sp.artifact.off, sp.artifact.n = d.strSpan()
		h.HasArtifact = true
	case KindArtifactRollbackRecorded:
		d.mapN(1)
		d.key(kRollback)
		d.mapN(8)
		d.key(kArtifactID)
		sp.artifact.off, sp.artifact.n = d.strSpan()
		h.HasArtifact = true
	}
}

// DecodeHeader decodes the indexed fields of a canonical envelope without
// building the event: it skips the parts it does not need. It allocates at
// most once (all returned strings share one small backing string that does
// not alias b). It validates the fields it reads and the structure it skips,
// not the content of skipped fields; use UnmarshalCanonical for a full
// check.
func DecodeHeader(b []byte) (EnvelopeHeader, error) {
	var h EnvelopeHeader
	d := dec{b: b}
	var sp headerSpans
	d.header(&h, &sp)
	if d.err != nil {
		return EnvelopeHeader{}, d.err
	}
	id, at, tenant, corr, chain, trace, artifact := sp.id, sp.at, sp.tenant, sp.corr, sp.chain, sp.trace, sp.artifact
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
	if d.err != nil {
		return
	}
	b, off := d.b, d.off
	for pending := uint64(1); pending > 0; {
		pending--
		if off >= len(b) {
			d.off = off
			d.fail("unexpected end of input")
			return
		}
		c := b[off]
		off++
		var n uint64 // bytes to skip
		switch {
		case c <= 0x7f || c >= 0xe0: // fixint
		case c <= 0x8f: // fixmap
			pending += 2 * uint64(c&0x0f)
		case c <= 0x9f: // fixarray
			pending += uint64(c & 0x0f)
		case c <= 0xbf: // fixstr
			n = uint64(c & 0x1f)
		default:
			t := skipTypes[c-0xc0]
			n = uint64(t.fixed)
			if t.kind == skipInvalid {
				d.off = off - 1
				d.fail("invalid msgpack type byte")
				return
			}
			if w := int(t.lenWidth); w > 0 {
				if w > len(b)-off {
					d.off = off
					d.fail("length exceeds remaining input")
					return
				}
				var l uint64
				for _, x := range b[off : off+w] {
					l = l<<8 | uint64(x)
				}
				off += w
				switch t.kind {
				case skipData:
					n += l
				case skipArray:
					pending += l
				case skipMap:
					pending += 2 * l
				}
			}
		}
		if rest := uint64(len(b) - off); n > rest || pending > rest {
			d.off = off
			d.fail("length exceeds remaining input")
			return
		}
		off += int(n)
	}
	d.off = off
}

const (
	skipData = iota
	skipArray
	skipMap
	skipInvalid
)

// skipTypes describes the msgpack types 0xc0 to 0xdf for skip: fixed is
// the number of bytes to skip after the type byte and its length field, if
// any, of lenWidth bytes; the length counts bytes (skipData) or elements.
var skipTypes = [32]struct{ kind, fixed, lenWidth uint8 }{
	mpNil - 0xc0: {}, 0xc1 - 0xc0: {kind: skipInvalid}, mpFalse - 0xc0: {}, mpTrue - 0xc0: {},
	mpBin8 - 0xc0: {lenWidth: 1}, mpBin16 - 0xc0: {lenWidth: 2}, mpBin32 - 0xc0: {lenWidth: 4},
	0xc7 - 0xc0: {fixed: 1, lenWidth: 1}, 0xc8 - 0xc0: {fixed: 1, lenWidth: 2}, 0xc9 - 0xc0: {fixed: 1, lenWidth: 4}, // ext
	mpFloat32 - 0xc0: {fixed: 4}, mpFloat64 - 0xc0: {fixed: 8},
	mpUint8 - 0xc0: {fixed: 1}, mpUint16 - 0xc0: {fixed: 2}, mpUint32 - 0xc0: {fixed: 4}, mpUint64 - 0xc0: {fixed: 8},
	0xd0 - 0xc0: {fixed: 1}, 0xd1 - 0xc0: {fixed: 2}, 0xd2 - 0xc0: {fixed: 4}, 0xd3 - 0xc0: {fixed: 8}, // int
	0xd4 - 0xc0: {fixed: 2}, 0xd5 - 0xc0: {fixed: 3}, 0xd6 - 0xc0: {fixed: 5}, 0xd7 - 0xc0: {fixed: 9}, 0xd8 - 0xc0: {fixed: 17}, // fixext
	mpStr8 - 0xc0: {lenWidth: 1}, mpStr16 - 0xc0: {lenWidth: 2}, mpStr32 - 0xc0: {lenWidth: 4},
	mpArray16 - 0xc0: {kind: skipArray, lenWidth: 2}, mpArray32 - 0xc0: {kind: skipArray, lenWidth: 4},
	mpMap16 - 0xc0: {kind: skipMap, lenWidth: 2}, mpMap32 - 0xc0: {kind: skipMap, lenWidth: 4},
}
