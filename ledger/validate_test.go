package ledger

import (
	"errors"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	ptr := func(s string) *string { return &s }
	env := func(id, at string, tenant, corr *string) ExperienceEventEnvelope {
		e := ExperienceEventEnvelope{EventID: EventID(id), OccurredAt: Timestamp(at), Event: &FactPromoted{}}
		if tenant != nil {
			x := TenantID(*tenant)
			e.TenantID = &x
		}
		if corr != nil {
			x := CorrelationID(*corr)
			e.CorrelationID = &x
		}
		return e
	}
	const bad = " contains invalid characters; only alphanumeric, '-', '_', '.' are allowed"
	cases := []struct {
		name string
		e    ExperienceEventEnvelope
		want string // "" = valid
	}{
		{"minimal", env("a", "t", nil, nil), ""},
		{"all set", env("A-z_0.9", "2026-01-01T00:00:00Z", ptr("tenant-1"), ptr("run.1")), ""},
		{"id 256", env(strings.Repeat("a", 256), "t", nil, nil), ""},
		{"occurred_at 64 bytes", env("a", strings.Repeat("x", 64), nil, nil), ""},
		{"occurred_at unchecked content", env("a", "not a timestamp / ü", nil, nil), ""},
		{"empty id", env("", "", ptr(""), nil), "event_id must not be empty"},
		{"id 257", env(strings.Repeat("a", 257), "t", nil, nil), "event_id exceeds maximum length of 256 characters"},
		{"id unicode 257 bytes", env(strings.Repeat("é", 128)+"a", "t", nil, nil), "event_id exceeds maximum length of 256 characters"},
		{"id unicode", env("é", "t", nil, nil), "event_id" + bad},
		{"id slash", env("a/b", "t", nil, nil), "event_id" + bad},
		{"id space", env("a b", "t", nil, nil), "event_id" + bad},
		{"id plus", env("a+b", "t", nil, nil), "event_id" + bad},
		{"id nul", env("a\x00", "t", nil, nil), "event_id" + bad},
		{"id before occurred_at", env("a b", "", nil, nil), "event_id" + bad},
		{"empty occurred_at", env("a", "", ptr("bad tenant"), nil), "occurred_at must not be empty"},
		{"occurred_at 65", env("a", strings.Repeat("x", 65), nil, nil), "occurred_at exceeds maximum length of 64 characters"},
		{"occurred_at multibyte 66 bytes", env("a", strings.Repeat("ü", 33), nil, nil), "occurred_at exceeds maximum length of 64 characters"},
		{"empty tenant", env("a", "t", ptr(""), nil), "tenant_id must not be empty"},
		{"tenant before correlation", env("a", "t", ptr("x/y"), ptr("")), "tenant_id" + bad},
		{"tenant 257", env("a", "t", ptr(strings.Repeat("t", 257)), nil), "tenant_id exceeds maximum length of 256 characters"},
		{"empty correlation", env("a", "t", ptr("ok"), ptr("")), "correlation_id must not be empty"},
		{"correlation 257", env("a", "t", nil, ptr(strings.Repeat("c", 257))), "correlation_id exceeds maximum length of 256 characters"},
		{"correlation bad", env("a", "t", nil, ptr("c:1")), "correlation_id" + bad},
	}
	for _, c := range cases {
		err := Validate(c.e)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: unexpected %v", c.name, err)
			}
			continue
		}
		if err == nil || err.Error() != "Invalid query: "+c.want {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want)
			continue
		}
		var se *StoreError
		if !errors.As(err, &se) || se.Kind != ErrKindInvalidQuery || se.Msg != c.want || !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("%s: wrong error shape %#v", c.name, err)
		}
	}
	// Every byte outside [A-Za-z0-9._-] is rejected, every byte inside accepted.
	for c := 0; c < 256; c++ {
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.'
		err := Validate(env("x"+string([]byte{byte(c)}), "t", nil, nil))
		if (err == nil) != ok {
			t.Errorf("byte %#x: err=%v, allowed=%v", c, err, ok)
		}
	}
}

func TestValidateQuery(t *testing.T) {
	if err := ValidateQuery(EventQuery{Kinds: AllKinds}); err != nil {
		t.Fatal(err)
	}
	if err := ValidateQuery(EventQuery{Kinds: []ExperienceEventKind{"Bogus"}}); !errors.Is(err, ErrInvalidQuery) {
		t.Fatalf("bogus kind: %v", err)
	}
}
