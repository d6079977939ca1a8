package ledger

import (
	"bytes"
	"fmt"
)

// JSONErrorClass is the class of a JSON decode error. It mirrors the kinds
// of serde_json errors so callers (and the fixture tests) can compare the
// class rather than the exact wording.
type JSONErrorClass int

const (
	// JSONSyntax: malformed JSON (including serde's "expected value",
	// "trailing characters", invalid escapes, invalid UTF-8).
	JSONSyntax JSONErrorClass = iota + 1
	// JSONEOF: the input ended early.
	JSONEOF
	// JSONMissingField: a required struct field is absent.
	JSONMissingField
	// JSONDuplicateField: a struct field appears twice.
	JSONDuplicateField
	// JSONUnknownVariant: an enum variant name is not known.
	JSONUnknownVariant
	// JSONInvalidType: a value has the wrong JSON type.
	JSONInvalidType
	// JSONInvalidValue: the type is right but the value is not (integer
	// out of range, bad ContentHash text, wrong array length, ...).
	JSONInvalidValue
)

func (c JSONErrorClass) String() string {
	switch c {
	case JSONSyntax:
		return "syntax"
	case JSONEOF:
		return "eof"
	case JSONMissingField:
		return "missing field"
	case JSONDuplicateField:
		return "duplicate field"
	case JSONUnknownVariant:
		return "unknown variant"
	case JSONInvalidType:
		return "invalid type"
	case JSONInvalidValue:
		return "invalid value"
	}
	return "unknown"
}

// JSONError is returned by every JSON decoder of this package. Msg follows
// serde_json's wording where practical; Line and Column (1-based line,
// 0-based column like serde_json's "column" of the offending byte) locate
// the problem.
type JSONError struct {
	Class  JSONErrorClass
	Msg    string
	Offset int
	Line   int
	Column int
}

func (e *JSONError) Error() string {
	return fmt.Sprintf("%s at line %d column %d", e.Msg, e.Line, e.Column)
}

func newJSONError(src []byte, off int, class JSONErrorClass, msg string) *JSONError {
	if off > len(src) {
		off = len(src)
	}
	if off < 0 {
		off = 0
	}
	line := 1 + bytes.Count(src[:off], []byte{'\n'})
	col := off - (bytes.LastIndexByte(src[:off], '\n') + 1)
	return &JSONError{Class: class, Msg: msg, Offset: off, Line: line, Column: col}
}

// ---- public API ----
//
// The Marshal*/Append* functions produce exactly serde_json::to_string's
// bytes (HashMap fields with sorted keys). The Unmarshal* functions are
// strict like serde_json::from_slice and return *JSONError on bad input.
//
// The MarshalJSON methods exist so the types work with encoding/json, but
// note that encoding/json re-escapes '<', '>', '&' and U+2028/9 unless
// SetEscapeHTML(false) is used; the functions below are byte-exact.

// AppendEnvelopeJSON appends the JSON form of e to dst.
func AppendEnvelopeJSON(dst []byte, e *ExperienceEventEnvelope) ([]byte, error) {
	w := encoder{b: dst}
	w.envelope(e)
	if w.err != nil {
		return dst, w.err
	}
	return w.b, nil
}

// AppendEventJSON appends the JSON form of ev alone, {"type":…,"data":…}:
// the bytes AppendEnvelopeJSON writes for the envelope's "event" member
// (the form Converge's LanceDB adapter stores).
func AppendEventJSON(dst []byte, ev ExperienceEvent) ([]byte, error) {
	w := encoder{b: dst}
	w.event(ev)
	if w.err != nil {
		return dst, w.err
	}
	return w.b, nil
}

// MarshalEnvelopeJSON returns the JSON form of e.
func MarshalEnvelopeJSON(e ExperienceEventEnvelope) ([]byte, error) {
	return AppendEnvelopeJSON(make([]byte, 0, 512), &e)
}

// UnmarshalEnvelopeJSON decodes one envelope.
func UnmarshalEnvelopeJSON(data []byte) (ExperienceEventEnvelope, error) {
	var e ExperienceEventEnvelope
	v, err := parseJSON(data)
	if err != nil {
		return e, err
	}
	d := decoder{src: data}
	if err := d.envelope(&v, &e); err != nil {
		return ExperienceEventEnvelope{}, err
	}
	return e, nil
}

// MarshalEventQueryJSON returns the JSON form of q.
func MarshalEventQueryJSON(q EventQuery) ([]byte, error) {
	w := encoder{b: make([]byte, 0, 128)}
	w.eventQuery(&q)
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

// UnmarshalEventQueryJSON decodes one EventQuery ("kinds" is required).
func UnmarshalEventQueryJSON(data []byte) (EventQuery, error) {
	var q EventQuery
	v, err := parseJSON(data)
	if err != nil {
		return q, err
	}
	d := decoder{src: data}
	if err := d.eventQuery(&v, &q); err != nil {
		return EventQuery{}, err
	}
	return q, nil
}

// MarshalReplayTraceJSON returns the JSON form of t.
func MarshalReplayTraceJSON(t ReplayTrace) ([]byte, error) {
	w := encoder{b: make([]byte, 0, 256)}
	w.replayTrace(&t)
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

// UnmarshalReplayTraceJSON decodes one ReplayTrace.
func UnmarshalReplayTraceJSON(data []byte) (ReplayTrace, error) {
	var t ReplayTrace
	v, err := parseJSON(data)
	if err != nil {
		return t, err
	}
	d := decoder{src: data}
	if err := d.replayTrace(&v, &t); err != nil {
		return ReplayTrace{}, err
	}
	return t, nil
}

// CanonicalizeJSON parses any JSON value strictly and returns it the way
// serde_json::Value (preserve_order) re-serializes it. It is what
// KernelProposal.StructuredPayload holds.
func CanonicalizeJSON(data []byte) (RawJSON, error) {
	v, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	return appendValue(nil, &v, data)
}

// EnvelopesEqual reports whether a and b have the same JSON form (so nil
// and empty slices/maps compare equal). Envelopes that cannot be encoded
// are never equal.
func EnvelopesEqual(a, b ExperienceEventEnvelope) bool {
	x, err1 := MarshalEnvelopeJSON(a)
	y, err2 := MarshalEnvelopeJSON(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// encodeWith runs one encoder method into a fresh buffer.
func encodeWith(f func(w *encoder)) ([]byte, error) {
	w := encoder{b: make([]byte, 0, 64)}
	f(&w)
	if w.err != nil {
		return nil, w.err
	}
	return w.b, nil
}

// decodeWith parses data and runs one decoder method on it.
func decodeWith(data []byte, f func(d *decoder, v *jval) error) error {
	v, err := parseJSON(data)
	if err != nil {
		return err
	}
	d := decoder{src: data}
	return f(&d, &v)
}

// MarshalJSON implements json.Marshaler.
func (e ExperienceEventEnvelope) MarshalJSON() ([]byte, error) { return MarshalEnvelopeJSON(e) }

// UnmarshalJSON implements json.Unmarshaler (strict, serde-compatible).
func (e *ExperienceEventEnvelope) UnmarshalJSON(data []byte) error {
	x, err := UnmarshalEnvelopeJSON(data)
	if err != nil {
		return err
	}
	*e = x
	return nil
}

// MarshalJSON implements json.Marshaler.
func (q EventQuery) MarshalJSON() ([]byte, error) { return MarshalEventQueryJSON(q) }

// UnmarshalJSON implements json.Unmarshaler (strict, serde-compatible).
func (q *EventQuery) UnmarshalJSON(data []byte) error {
	x, err := UnmarshalEventQueryJSON(data)
	if err != nil {
		return err
	}
	*q = x
	return nil
}

// MarshalJSON implements json.Marshaler.
func (t ReplayTrace) MarshalJSON() ([]byte, error) { return MarshalReplayTraceJSON(t) }

// UnmarshalJSON implements json.Unmarshaler (strict, serde-compatible).
func (t *ReplayTrace) UnmarshalJSON(data []byte) error {
	x, err := UnmarshalReplayTraceJSON(data)
	if err != nil {
		return err
	}
	*t = x
	return nil
}

// MarshalJSON implements json.Marshaler (64 lowercase hex chars).
func (h ContentHash) MarshalJSON() ([]byte, error) {
	return encodeWith(func(w *encoder) { w.hash(&h) })
}

// UnmarshalJSON implements json.Unmarshaler (64 hex chars, either case).
func (h *ContentHash) UnmarshalJSON(data []byte) error {
	return decodeWith(data, func(d *decoder, v *jval) error { return d.hash(v, h) })
}

// MarshalJSON implements json.Marshaler ("Adapter" or {"Other":"x"}).
func (k ArtifactKind) MarshalJSON() ([]byte, error) {
	return encodeWith(func(w *encoder) { w.artifactKind(k) })
}

// UnmarshalJSON implements json.Unmarshaler.
func (k *ArtifactKind) UnmarshalJSON(data []byte) error {
	return decodeWith(data, func(d *decoder, v *jval) error {
		kind, other, err := d.stringDataEnum(v, artifactKindNames)
		if err == nil {
			*k = ArtifactKind{Kind: ArtifactKindTag(kind), Other: other}
		}
		return err
	})
}

// MarshalJSON implements json.Marshaler ("Tokens" or {"Other":"x"}).
func (r BudgetResource) MarshalJSON() ([]byte, error) {
	return encodeWith(func(w *encoder) {
		w.taggedString("budget resource", string(r.Kind), r.Other, budgetResourceNames)
	})
}

// UnmarshalJSON implements json.Unmarshaler.
func (r *BudgetResource) UnmarshalJSON(data []byte) error {
	return decodeWith(data, func(d *decoder, v *jval) error {
		kind, other, err := d.stringDataEnum(v, budgetResourceNames)
		if err == nil {
			*r = BudgetResource{Kind: BudgetResourceTag(kind), Other: other}
		}
		return err
	})
}

// MarshalJSON implements json.Marshaler.
func (e LifecycleEvent) MarshalJSON() ([]byte, error) {
	return encodeWith(func(w *encoder) { w.lifecycleEvent(&e) })
}

// UnmarshalJSON implements json.Unmarshaler.
func (e *LifecycleEvent) UnmarshalJSON(data []byte) error {
	return decodeWith(data, func(d *decoder, v *jval) error { return d.lifecycleEvent(v, e) })
}

// MarshalJSON implements json.Marshaler.
func (s StopReason) MarshalJSON() ([]byte, error) {
	return encodeWith(func(w *encoder) { w.stopReason(&s) })
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *StopReason) UnmarshalJSON(data []byte) error {
	return decodeWith(data, func(d *decoder, v *jval) error { return d.stopReason(v, s) })
}

// MarshalJSON implements json.Marshaler.
func (p PolicySnapshot) MarshalJSON() ([]byte, error) {
	return encodeWith(func(w *encoder) { w.policySnapshot(&p) })
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *PolicySnapshot) UnmarshalJSON(data []byte) error {
	return decodeWith(data, func(d *decoder, v *jval) error { return d.policySnapshot(v, p) })
}

// MarshalJSON implements json.Marshaler.
func (g GateVerdict) MarshalJSON() ([]byte, error) {
	return encodeWith(func(w *encoder) { w.gateVerdict(g) })
}

// UnmarshalJSON implements json.Unmarshaler.
func (g *GateVerdict) UnmarshalJSON(data []byte) error {
	return decodeWith(data, func(d *decoder, v *jval) error { return d.gateVerdict(v, g) })
}

// MarshalJSON implements json.Marshaler: the canonical bytes (or null).
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if r == nil {
		return []byte("null"), nil
	}
	return CanonicalizeJSON(r)
}

// UnmarshalJSON implements json.Unmarshaler: stores the canonical form
// (null becomes nil).
func (r *RawJSON) UnmarshalJSON(data []byte) error {
	c, err := CanonicalizeJSON(data)
	if err != nil {
		return err
	}
	if string(c) == "null" {
		c = nil
	}
	*r = c
	return nil
}
