package ledger

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const goldenDir = "testdata/golden"

type goldenEntry struct {
	Name              string   `json:"name"`
	File              string   `json:"file"`
	Type              string   `json:"type"`
	EventType         *string  `json:"event_type"`
	UnorderedMapPaths []string `json:"unordered_map_paths"`
	ByteExact         bool     `json:"byte_exact"`
	// invalid/ and accepted/
	ErrFile       string `json:"err_file"`
	Stage         string `json:"stage"`
	Error         string `json:"error"`
	ErrorMessage  string `json:"error_message"`
	CanonicalFile string `json:"canonical_file"`
}

func loadManifest(t *testing.T, dir string) []goldenEntry {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m []goldenEntry
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		t.Fatalf("%s: empty manifest", dir)
	}
	return m
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// roundTrip decodes data as typ and re-encodes it.
func roundTrip(typ string, data []byte) ([]byte, error) {
	switch typ {
	case "ExperienceEventEnvelope":
		e, err := UnmarshalEnvelopeJSON(data)
		if err != nil {
			return nil, err
		}
		return MarshalEnvelopeJSON(e)
	case "EventQuery":
		q, err := UnmarshalEventQueryJSON(data)
		if err != nil {
			return nil, err
		}
		return MarshalEventQueryJSON(q)
	case "ReplayTrace":
		tr, err := UnmarshalReplayTraceJSON(data)
		if err != nil {
			return nil, err
		}
		return MarshalReplayTraceJSON(tr)
	}
	return nil, errors.New("unsupported type " + typ)
}

// sameJSON compares two parsed values: numbers by their exact text,
// objects in order except at the JSON pointers in unordered.
func sameJSON(a, b *jval, path string, unordered map[string]bool) string {
	if a.kind != b.kind {
		return path + ": kind differs"
	}
	switch a.kind {
	case jBool:
		if a.b != b.b {
			return path + ": bool differs"
		}
	case jNumber, jString:
		if a.s != b.s {
			return path + ": " + a.s + " != " + b.s
		}
	case jArray:
		if len(a.elems) != len(b.elems) {
			return path + ": array length differs"
		}
		for i := range a.elems {
			if d := sameJSON(&a.elems[i], &b.elems[i], path+"/"+strconv.Itoa(i), unordered); d != "" {
				return d
			}
		}
	case jObject:
		if len(a.mems) != len(b.mems) {
			return path + ": object size differs"
		}
		for i := range a.mems {
			ma := &a.mems[i]
			var mb *jmem
			if unordered[path] {
				for j := range b.mems {
					if b.mems[j].key == ma.key {
						mb = &b.mems[j]
					}
				}
				if mb == nil {
					return path + ": missing key " + ma.key
				}
			} else {
				mb = &b.mems[i]
				if mb.key != ma.key {
					return path + ": key order " + ma.key + " vs " + mb.key
				}
			}
			if d := sameJSON(&ma.val, &mb.val, path+"/"+ma.key, unordered); d != "" {
				return d
			}
		}
	}
	return ""
}

func TestGoldenRoundTrip(t *testing.T) {
	n := 0
	for _, g := range loadManifest(t, goldenDir) {
		if g.Type == "ExperienceEventSummary" {
			continue // summaries belong to MemStore's tests
		}
		n++
		t.Run(g.Name, func(t *testing.T) {
			in := readFile(t, filepath.Join(goldenDir, g.File))
			out, err := roundTrip(g.Type, in)
			if err != nil {
				t.Fatalf("round trip: %v", err)
			}
			if g.ByteExact && len(g.UnorderedMapPaths) == 0 {
				if !bytes.Equal(in, out) {
					t.Fatalf("bytes differ\n in: %s\nout: %s", in, out)
				}
				return
			}
			a, err := parseJSON(in)
			if err != nil {
				t.Fatal(err)
			}
			b, err := parseJSON(out)
			if err != nil {
				t.Fatalf("our output does not parse: %v", err)
			}
			un := map[string]bool{}
			for _, p := range g.UnorderedMapPaths {
				un[p] = true
			}
			if d := sameJSON(&a, &b, "", un); d != "" {
				t.Fatalf("%s\n in: %s\nout: %s", d, in, out)
			}
			// Decoding our output again must give the same bytes.
			out2, err := roundTrip(g.Type, out)
			if err != nil || !bytes.Equal(out, out2) {
				t.Fatalf("re-encode not stable: %v\n%s\n%s", err, out, out2)
			}
		})
	}
	if n < 80 {
		t.Fatalf("only %d goldens", n)
	}
}

func TestGoldenAccepted(t *testing.T) {
	dir := filepath.Join(goldenDir, "accepted")
	m := loadManifest(t, dir)
	for _, g := range m {
		t.Run(g.Name, func(t *testing.T) {
			in := readFile(t, filepath.Join(dir, g.File))
			want := readFile(t, filepath.Join(dir, g.CanonicalFile))
			out, err := roundTrip(g.Type, in)
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !bytes.Equal(out, want) {
				t.Fatalf("canonical form differs\nwant: %s\n got: %s", want, out)
			}
		})
	}
	if len(m) < 19 {
		t.Fatalf("only %d accepted cases", len(m))
	}
}

// errClass maps serde_json's Display text to our error classes.
func errClass(msg string) JSONErrorClass {
	switch {
	case strings.HasPrefix(msg, "missing field"):
		return JSONMissingField
	case strings.HasPrefix(msg, "duplicate field"):
		return JSONDuplicateField
	case strings.HasPrefix(msg, "unknown variant"):
		return JSONUnknownVariant
	case strings.HasPrefix(msg, "invalid type"):
		return JSONInvalidType
	case strings.HasPrefix(msg, "invalid value"), strings.HasPrefix(msg, "invalid length"),
		strings.HasPrefix(msg, "Invalid character"), strings.HasPrefix(msg, "Odd number of digits"),
		strings.HasPrefix(msg, "Invalid string length"), strings.HasPrefix(msg, "number out of range"):
		return JSONInvalidValue
	case strings.HasPrefix(msg, "EOF while parsing"):
		return JSONEOF
	}
	return JSONSyntax
}

func TestGoldenInvalid(t *testing.T) {
	dir := filepath.Join(goldenDir, "invalid")
	m := loadManifest(t, dir)
	var nDeser, nValidate int
	for _, g := range m {
		t.Run(g.Name, func(t *testing.T) {
			in := readFile(t, filepath.Join(dir, g.File))
			errText := string(readFile(t, filepath.Join(dir, g.ErrFile)))
			switch g.Stage {
			case "deserialize":
				nDeser++
				_, err := roundTrip(g.Type, in)
				if err == nil {
					t.Fatalf("accepted; serde says: %s", errText)
				}
				var je *JSONError
				if !errors.As(err, &je) {
					t.Fatalf("error %T %v is not a *JSONError", err, err)
				}
				if want := errClass(errText); je.Class != want {
					t.Fatalf("class %v (%v), serde: %v (%s)", je.Class, err, want, errText)
				}
				// Where the messages are of the same form, the variant
				// lists, field names and type names must agree too.
				serdeMsg := errText[:strings.LastIndex(errText, " at line ")]
				if je.Class == JSONMissingField || je.Class == JSONUnknownVariant || je.Class == JSONDuplicateField {
					if je.Msg != serdeMsg {
						t.Fatalf("message %q, serde %q", je.Msg, serdeMsg)
					}
				}
			case "validate":
				nValidate++
				if g.Type != "ExperienceEventEnvelope" {
					t.Fatalf("unexpected type %s", g.Type)
				}
				e, err := UnmarshalEnvelopeJSON(in)
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				err = Validate(e)
				if err == nil {
					t.Fatalf("Validate accepted; want %s", errText)
				}
				if err.Error() != errText || err.Error() != "Invalid query: "+g.ErrorMessage {
					t.Fatalf("got %q want %q", err.Error(), errText)
				}
				if !errors.Is(err, ErrInvalidQuery) || errors.Is(err, ErrStorage) || errors.Is(err, ErrNotFound) {
					t.Fatalf("errors.Is mismatch for %v", err)
				}
			default:
				t.Fatalf("unknown stage %q", g.Stage)
			}
		})
	}
	if nDeser < 74 || nValidate < 18 {
		t.Fatalf("coverage: %d deserialize, %d validate cases", nDeser, nValidate)
	}
}
