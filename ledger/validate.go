package ledger

// Limits enforced by Validate (SPEC §4).
const (
	MaxIDLen         = 256 // event_id, tenant_id, correlation_id, in bytes
	MaxOccurredAtLen = 64  // occurred_at, in bytes
)

// Validate checks an envelope exactly like converge's validate_envelope:
// event_id, then occurred_at, then tenant_id and correlation_id when
// present. Ids must be 1..256 bytes of [A-Za-z0-9._-]; occurred_at must be
// 1..64 bytes (content unchecked). The payload is not validated. Failures
// are *StoreError of kind ErrKindInvalidQuery with the reference's exact
// message.
func Validate(e ExperienceEventEnvelope) error {
	if msg := checkID("event_id", string(e.EventID)); msg != "" {
		return InvalidQuery(msg)
	}
	switch {
	case len(e.OccurredAt) == 0:
		return InvalidQuery("occurred_at must not be empty")
	case len(e.OccurredAt) > MaxOccurredAtLen:
		return InvalidQuery("occurred_at exceeds maximum length of 64 characters")
	}
	if e.TenantID != nil {
		if msg := checkID("tenant_id", string(*e.TenantID)); msg != "" {
			return InvalidQuery(msg)
		}
	}
	if e.CorrelationID != nil {
		if msg := checkID("correlation_id", string(*e.CorrelationID)); msg != "" {
			return InvalidQuery(msg)
		}
	}
	return nil
}

// checkID returns the validation message for an invalid id, or "".
func checkID(field, s string) string {
	if len(s) == 0 {
		return field + " must not be empty"
	}
	if len(s) > MaxIDLen {
		return field + " exceeds maximum length of 256 characters"
	}
	for i := 0; i < len(s); i++ {
		if !idByte[s[i]] {
			return field + " contains invalid characters; only alphanumeric, '-', '_', '.' are allowed"
		}
	}
	return ""
}

// idByte[c] is true for the bytes allowed in ids: [A-Za-z0-9._-].
var idByte = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	t['-'], t['_'], t['.'] = true, true, true
	return t
}()

// ValidateQuery checks an EventQuery. The reference accepts every query, so
// this only exists for symmetry: it always returns nil for well-formed Go
// values and rejects kinds that are not one of the 14 known kinds (which
// cannot be expressed in the reference's typed API).
func ValidateQuery(q EventQuery) error {
	for _, k := range q.Kinds {
		if !k.Valid() {
			return InvalidQuery("unknown event kind " + string(k))
		}
	}
	return nil
}
