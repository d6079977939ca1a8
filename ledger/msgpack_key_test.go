package ledger

import (
	"go/ast"
	goparser "go/parser"
	"go/token"
	"strconv"
	"testing"
)

// keyConsts parses the pre-encoded key constants of msgpack.go.
func keyConsts(t *testing.T) map[string]string {
	t.Helper()
	f, err := goparser.ParseFile(token.NewFileSet(), "msgpack.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, decl := range f.Decls {
		g, ok := decl.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, spec := range g.Specs {
			vs := spec.(*ast.ValueSpec)
			for i, name := range vs.Names {
				if i >= len(vs.Values) {
					continue
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING || len(name.Name) < 2 || name.Name[0] != 'k' {
					continue
				}
				v, err := strconv.Unquote(lit.Value)
				if err != nil {
					t.Fatal(err)
				}
				keys[name.Name] = v
			}
		}
	}
	if len(keys) < 100 {
		t.Fatalf("found only %d key constants in msgpack.go", len(keys))
	}
	return keys
}

// TestMsgpackKeyConstants: every key constant is the fixstr encoding of
// its name (what mk returns).
func TestMsgpackKeyConstants(t *testing.T) {
	for name, v := range keyConsts(t) {
		if len(v) < 2 || mk(v[1:]) != v {
			t.Errorf("%s = %q is not the fixstr encoding of %q", name, v, v[1:])
		}
	}
}

// TestMsgpackKeyCallLengths: the inlined fast paths dec.key,
// dec.keyShort and dec.keyLong are only called with constant keys of 8 to
// 16, 4 to 7 and 17 to 24 bytes (they reject any other); the rest use
// keyAny.
func TestMsgpackKeyCallLengths(t *testing.T) {
	keys := keyConsts(t)
	f, err := goparser.ParseFile(token.NewFileSet(), "msgpack_decode.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	ast.Inspect(f, func(n ast.Node) bool {
		c, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := c.Fun.(*ast.SelectorExpr)
		lo, hi := 8, 16
		switch {
		case !ok || len(c.Args) != 1:
			return true
		case sel.Sel.Name == "keyShort":
			lo, hi = 4, 7
		case sel.Sel.Name == "keyLong":
			lo, hi = 17, 24
		case sel.Sel.Name != "key":
			return true
		}
		calls++
		id, ok := c.Args[0].(*ast.Ident)
		if !ok {
			t.Errorf("%s called with a non-constant argument", sel.Sel.Name)
			return true
		}
		v, ok := keys[id.Name]
		if !ok {
			t.Errorf("%s(%s): not a key constant", sel.Sel.Name, id.Name)
		} else if len(v) < lo || len(v) > hi {
			t.Errorf("%s(%s): %d bytes; use keyAny", sel.Sel.Name, id.Name, len(v))
		}
		return true
	})
	if calls < 150 {
		t.Fatalf("found only %d calls of key, keyShort and keyLong", calls)
	}
}

// TestMsgpackKeyMismatchIsAnError: a wrong key met by the inlined fast
// path gives the error of the general path, at the key's offset, in the
// full and the header decoder, and in the middle of an event body.
func TestMsgpackKeyMismatchIsAnError(t *testing.T) {
	head := "\x85" + kEventID + "\xa1x"
	for _, tc := range []struct {
		name string
		b    string
		off  int
		want string
	}{
		{"envelope key", head + "\xabOccurred_at", len(head), "expected key occurred_at"},
		{"truncated key", head + "\xaboccurred", len(head), "expected key occurred_at"},
		{"short key", head + kOccurredAt + "\xa1y" + kTenantID + "\xc0" + kCorrelationID + "\xc0\xa5evenT",
			len(head) + len(kOccurredAt) + 2 + len(kTenantID) + 1 + len(kCorrelationID) + 1, "expected key event"},
	} {
		for name, decode := range map[string]func([]byte) error{
			"UnmarshalCanonical": func(b []byte) error { _, err := UnmarshalCanonical(b); return err },
			"DecodeHeader":       func(b []byte) error { _, err := DecodeHeader(b); return err },
			"shared decoder":     func(b []byte) error { _, err := newEnvelopeDecoder().decode(b); return err },
		} {
			err := decode([]byte(tc.b))
			de, ok := err.(*DecodeError)
			if !ok {
				t.Fatalf("%s, %s: got %v, want a *DecodeError", tc.name, name, err)
			}
			if de.Offset != tc.off || de.Reason != tc.want {
				t.Errorf("%s, %s: got %v at %d, want %q at %d", tc.name, name, de.Reason, de.Offset, tc.want, tc.off)
			}
		}
	}
}
