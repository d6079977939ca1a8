package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
	"github.com/nats-io/nats.go"
)

var update = flag.Bool("update", false, "rewrite testdata goldens")

func TestEscapeToken(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"acme", "acme"},
		{"Tenant-01", "Tenant-01"},
		{"a.b", "a%2Eb"},
		{"a_b", "a%5Fb"},
		{"_none", "%5Fnone"},
		{"_mixed", "%5Fmixed"},
		{"*", "%2A"},
		{">", "%3E"},
		{"a b\tc", "a%20b%09c"},
		{"50%", "50%25"},
		{"é", "%C3%A9"},
		{"", "%"},
	} {
		got := EscapeToken(tc.in)
		if got != tc.want {
			t.Errorf("EscapeToken(%q) = %q, want %q", tc.in, got, tc.want)
		}
		back, err := UnescapeToken(got)
		if err != nil || back != tc.in {
			t.Errorf("UnescapeToken(%q) = %q, %v; want %q", got, back, err, tc.in)
		}
		if strings.ContainsAny(got, ".*> \t") {
			t.Errorf("escaped token %q is not a single literal subject token", got)
		}
	}
	for _, bad := range []string{"%", "%4", "%G1", "a%2"} {
		if bad == "%" {
			continue
		}
		if _, err := UnescapeToken(bad); err == nil {
			t.Errorf("UnescapeToken(%q) accepted", bad)
		}
	}
}

func TestBatchSubject(t *testing.T) {
	g := workload.New(workload.Config{Seed: 3})
	ta, tb := ledger.TenantID("acme.eu"), ledger.TenantID("beta")
	mk := func(tenant *ledger.TenantID) ledger.ExperienceEventEnvelope {
		for {
			e := g.Next()
			if e.Kind() == ledger.KindOutcomeRecorded {
				e.TenantID = tenant
				return e
			}
		}
	}
	other := func() ledger.ExperienceEventEnvelope {
		for {
			e := g.Next()
			if e.Kind() != ledger.KindOutcomeRecorded {
				e.TenantID = &ta
				return e
			}
		}
	}
	for _, tc := range []struct {
		name string
		es   []ledger.ExperienceEventEnvelope
		want string
	}{
		{"one tenant one kind", []ledger.ExperienceEventEnvelope{mk(&ta), mk(&ta)}, "exledger.S.acme%2Eeu.OutcomeRecorded"},
		{"no tenant", []ledger.ExperienceEventEnvelope{mk(nil)}, "exledger.S._none.OutcomeRecorded"},
		{"two tenants", []ledger.ExperienceEventEnvelope{mk(&ta), mk(&tb)}, "exledger.S._mixed.OutcomeRecorded"},
		{"tenant and none", []ledger.ExperienceEventEnvelope{mk(&ta), mk(nil)}, "exledger.S._mixed.OutcomeRecorded"},
		{"two kinds", []ledger.ExperienceEventEnvelope{mk(&ta), other()}, "exledger.S.acme%2Eeu._mixed"},
	} {
		if got := BatchSubject("S", tc.es); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := TenantSubject("S", ta); got != "exledger.S.acme%2Eeu.>" {
		t.Errorf("TenantSubject = %q", got)
	}
}

// sampleMsg is a fixed two-event batch message.
func sampleMsg(t testing.TB) *nats.Msg {
	g := workload.New(workload.Config{Seed: 42})
	es := g.Batch(2)
	var recs [][]byte
	for i := range es {
		b, err := ledger.MarshalCanonical(&es[i])
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, b)
	}
	body := Frame(recs)
	m := nats.NewMsg(BatchSubject("EXLEDGER", es))
	m.Header.Set(HeaderMsgID, SHA256Hex(body))
	m.Header.Set(HeaderSHA256, SHA256Hex(body))
	m.Header.Set(HeaderFormat, FormatV1)
	m.Header.Set(HeaderEvents, fmt.Sprint(len(recs)))
	m.Data = body
	return m
}

// TestMessageGolden pins the message format of docs/jetstream.md §4: the
// subject, headers and body of a sample batch.
func TestMessageGolden(t *testing.T) {
	m := sampleMsg(t)
	var sb strings.Builder
	fmt.Fprintf(&sb, "subject: %s\n", m.Subject)
	var keys []string
	for k := range m.Header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&sb, "header %s: %s\n", k, m.Header.Get(k))
	}
	fmt.Fprintf(&sb, "body (%d bytes):\n%s", len(m.Data), hex.Dump(m.Data))
	path := filepath.Join("testdata", "message-v1.golden")
	if *update {
		if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if sb.String() != string(want) {
		t.Errorf("message format changed (run with -update if intended):\n%s", sb.String())
	}
	recs, err := DecodeBatch(m.Header, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if _, err := ledger.UnmarshalCanonical(r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDecodeBatchRejects(t *testing.T) {
	good := sampleMsg(t)
	type mut func(h nats.Header, body []byte) (nats.Header, []byte)
	clone := func(h nats.Header) nats.Header {
		c := nats.Header{}
		for k, v := range h {
			c[k] = slices.Clone(v)
		}
		return c
	}
	rehash := func(h nats.Header, body []byte) nats.Header {
		h.Set(HeaderSHA256, SHA256Hex(body))
		return h
	}
	for _, tc := range []struct {
		name    string
		m       mut
		foreign bool
		want    string
	}{
		{"no format", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Del(HeaderFormat); return h, b }, true, "Exledger-Format"},
		{"format 2", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Set(HeaderFormat, "2"); return h, b }, true, "Exledger-Format"},
		{"no count", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Del(HeaderEvents); return h, b }, true, "Exledger-Events"},
		{"count 0", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Set(HeaderEvents, "0"); return h, b }, true, "Exledger-Events"},
		{"flipped body bit", func(h nats.Header, b []byte) (nats.Header, []byte) { b[10] ^= 1; return h, b }, false, "damaged"},
		{"no checksum", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Del(HeaderSHA256); return h, b }, false, "damaged"},
		{"count too high", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Set(HeaderEvents, "3"); return h, b }, false, "holds 2 events"},
		{"count too low", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Set(HeaderEvents, "1"); return h, b }, false, "more than the 1"},
		{"count huge", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Set(HeaderEvents, "1000000"); return h, b }, false, "cannot hold"},
		{"truncated", func(h nats.Header, b []byte) (nats.Header, []byte) { b = b[:len(b)-1]; return rehash(h, b), b }, false, "exceeds the body"},
		{"trailing bytes", func(h nats.Header, b []byte) (nats.Header, []byte) { b = append(b, 0, 0); return rehash(h, b), b }, false, "truncated record header"},
		{"zero length", func(h nats.Header, b []byte) (nats.Header, []byte) {
			b = append([]byte{0, 0, 0, 0}, b...)
			return rehash(h, b), b
		}, false, "record length 0"},
	} {
		h, body := tc.m(clone(good.Header), bytes.Clone(good.Data))
		_, err := DecodeBatch(h, body)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if errors.Is(err, ErrForeign) != tc.foreign || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (foreign %v), want %q foreign=%v", tc.name, err, errors.Is(err, ErrForeign), tc.want, tc.foreign)
		}
	}
}

// FuzzDecodeBatch: DecodeBatch never panics, and what it accepts re-frames
// to the same body; an input that is a zstd frame or a Snappy block is
// also decoded as a compressed payload.
func FuzzDecodeBatch(f *testing.F) {
	m := sampleMsg(f)
	f.Add(m.Data, 2)
	f.Add([]byte{0, 0, 0, 1, 0x80}, 1)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, 1)
	f.Add(Compress(m.Data), 2)
	f.Add(CompressSnappy(m.Data), 2)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		h := nats.Header{}
		h.Set(HeaderFormat, FormatV1)
		h.Set(HeaderEvents, fmt.Sprint(n))
		h.Set(HeaderSHA256, SHA256Hex(body))
		if d, err := decompress(body); err == nil {
			// A zstd payload: check its content instead.
			h.Set(HeaderEncoding, EncodingZstd)
			h.Set(HeaderSHA256, SHA256Hex(d))
			body = d
			recs, err := DecodeBatch(h, Compress(d))
			if err == nil && !bytes.Equal(Frame(recs), d) {
				t.Fatal("compressed round trip differs")
			}
			h.Del(HeaderEncoding)
		} else if d, err := decompressSnappy(body); err == nil {
			// A Snappy payload: likewise.
			h.Set(HeaderEncoding, EncodingSnappy)
			h.Set(HeaderSHA256, SHA256Hex(d))
			if recs, err := DecodeBatch(h, body); err == nil && !bytes.Equal(Frame(recs), d) {
				t.Fatal("snappy payload decoded to another body")
			}
			body = d
			recs, err := DecodeBatch(h, CompressSnappy(d))
			if err == nil && !bytes.Equal(Frame(recs), d) {
				t.Fatal("compressed round trip differs")
			}
			h.Del(HeaderEncoding)
		}
		recs, err := DecodeBatch(h, body)
		if err != nil {
			return
		}
		if len(recs) != n || !bytes.Equal(Frame(recs), body) {
			t.Fatalf("accepted %d records that do not re-frame to the body", len(recs))
		}
	})
}

// TestCompressedBatch: a zstd or Snappy payload decodes to the same
// events; a damaged, truncated, size-less or over-large one is refused.
func TestCompressedBatch(t *testing.T) {
	m := sampleMsg(t)
	want, _ := DecodeBatch(m.Header, m.Data)
	for _, c := range []struct {
		enc      string
		compress func([]byte) []byte
		bad      map[string][]byte
	}{
		{EncodingZstd, Compress, map[string][]byte{
			// A frame whose header declares no content size (flags 0, one
			// empty raw last block).
			"no size": {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00, 0x01, 0x00, 0x00},
		}},
		{EncodingSnappy, CompressSnappy, map[string][]byte{
			// A block declaring 1 GiB (uvarint length prefix) with no data.
			"over-large": {0x80, 0x80, 0x80, 0x80, 0x04, 0x00},
			// A block declaring 5 bytes holding a 3-byte literal.
			"short": {0x05, 0x08, 'a', 'b', 'c'},
		}},
	} {
		z := c.compress(m.Data)
		if z == nil || len(z) >= len(m.Data) {
			t.Fatalf("%s: sample body of %d bytes did not compress", c.enc, len(m.Data))
		}
		h := nats.Header{}
		for k, v := range m.Header {
			h[k] = v
		}
		h.Set(HeaderEncoding, c.enc)
		got, err := DecodeBatch(h, z)
		if err != nil || len(got) != len(want) || !bytes.Equal(Frame(got), Frame(want)) {
			t.Fatalf("%s: compressed batch: %v", c.enc, err)
		}
		if c.compress([]byte("short")) != nil {
			t.Errorf("%s: a short body was compressed", c.enc)
		}
		bad := bytes.Clone(z)
		bad[len(bad)/2] ^= 0x55
		c.bad["flipped"] = bad
		c.bad["truncated"] = z[:len(z)-3]
		c.bad["empty"] = nil
		c.bad["garbage"] = []byte("not compressed at all")
		for name, p := range c.bad {
			if _, err := DecodeBatch(h, p); err == nil {
				t.Errorf("%s: %s payload accepted", c.enc, name)
			}
		}
	}
	h := nats.Header{}
	for k, v := range m.Header {
		h[k] = v
	}
	h.Set(HeaderEncoding, "gzip")
	if _, err := DecodeBatch(h, Compress(m.Data)); !errors.Is(err, ErrForeign) {
		t.Errorf("unknown encoding: %v", err)
	}
}

// sampleVecMsg is a three-event batch with a vector section: the second
// event has no vector.
func sampleVecMsg(t testing.TB) (*nats.Msg, [][]float32) {
	g := workload.New(workload.Config{Seed: 43})
	es := g.Batch(3)
	var recs [][]byte
	for i := range es {
		b, err := ledger.MarshalCanonical(&es[i])
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, b)
	}
	vecs := [][]float32{{1, -0.5, 0.25, 3}, nil, {0, 0, 1e-30, -7}}
	body := AppendVectors(Frame(recs), vecs, 4)
	m := nats.NewMsg(BatchSubject("EXLEDGER", es))
	m.Header.Set(HeaderSHA256, SHA256Hex(body))
	m.Header.Set(HeaderFormat, FormatV1)
	m.Header.Set(HeaderEvents, fmt.Sprint(len(recs)))
	m.Header.Set(HeaderVectorDim, "4")
	m.Data = body
	return m, vecs
}

func TestDecodeVectors(t *testing.T) {
	m, vecs := sampleVecMsg(t)
	b, err := Decode(m.Header, m.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Recs) != 3 || len(b.Vectors) != 3 {
		t.Fatalf("decoded %d events, %d vectors", len(b.Recs), len(b.Vectors))
	}
	for i := range vecs {
		if !slices.Equal(b.Vectors[i], vecs[i]) || (vecs[i] == nil) != (b.Vectors[i] == nil) {
			t.Errorf("vector %d: %v, want %v", i, b.Vectors[i], vecs[i])
		}
		if _, err := ledger.UnmarshalCanonical(b.Recs[i]); err != nil {
			t.Errorf("event %d: %v", i, err)
		}
	}
	if got := AppendVectors(Frame(b.Recs), b.Vectors, 4); !bytes.Equal(got, m.Data) {
		t.Error("decoded batch does not re-encode to its body")
	}
	// Compressed, the same.
	h := nats.Header{}
	for k, v := range m.Header {
		h[k] = slices.Clone(v)
	}
	h.Set(HeaderEncoding, EncodingZstd)
	if z, err := Decode(h, Compress(m.Data)); err != nil || !slices.Equal(z.Vectors[2], vecs[2]) {
		t.Fatalf("compressed vector batch: %v", err)
	}
	// A batch without a vector section has no Vectors.
	p := sampleMsg(t)
	if b, err := Decode(p.Header, p.Data); err != nil || b.Vectors != nil {
		t.Fatalf("plain batch: vectors %v, err %v", b.Vectors, err)
	}
}

// A vector batch is refused when its section is damaged, and a reader
// that ignores the vector header (as a node of an older version does)
// refuses it as damaged rather than applying its events without vectors.
func TestDecodeVectorsRejects(t *testing.T) {
	good, _ := sampleVecMsg(t)
	clone := func(h nats.Header) nats.Header {
		c := nats.Header{}
		for k, v := range h {
			c[k] = slices.Clone(v)
		}
		return c
	}
	secStart := len(good.Data) - (1 + 16 + 1 + 1 + 16)
	for _, tc := range []struct {
		name    string
		m       func(h nats.Header, b []byte) (nats.Header, []byte)
		foreign bool
		want    string
	}{
		{"dim 0", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Set(HeaderVectorDim, "0"); return h, b }, true, HeaderVectorDim},
		{"dim text", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Set(HeaderVectorDim, "four"); return h, b }, true, HeaderVectorDim},
		{"dim huge", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Set(HeaderVectorDim, "65537"); return h, b }, true, HeaderVectorDim},
		{"dim wrong", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Set(HeaderVectorDim, "3"); return h, b }, false, "vector"},
		{"bad flag", func(h nats.Header, b []byte) (nats.Header, []byte) {
			b[secStart] = 2
			h.Set(HeaderSHA256, SHA256Hex(b))
			return h, b
		}, false, "not 0 or 1"},
		{"truncated section", func(h nats.Header, b []byte) (nats.Header, []byte) {
			b = b[:len(b)-3]
			h.Set(HeaderSHA256, SHA256Hex(b))
			return h, b
		}, false, "truncated"},
		{"no section", func(h nats.Header, b []byte) (nats.Header, []byte) {
			b = b[:secStart]
			h.Set(HeaderSHA256, SHA256Hex(b))
			return h, b
		}, false, "ends before the vector of event 0"},
		{"trailing bytes", func(h nats.Header, b []byte) (nats.Header, []byte) {
			b = append(b, 0)
			h.Set(HeaderSHA256, SHA256Hex(b))
			return h, b
		}, false, "after the vector section"},
		{"header ignored", func(h nats.Header, b []byte) (nats.Header, []byte) { h.Del(HeaderVectorDim); return h, b }, false, "jetstream:"},
		{"flipped vector bit", func(h nats.Header, b []byte) (nats.Header, []byte) { b[len(b)-2] ^= 1; return h, b }, false, "damaged"},
	} {
		h, body := tc.m(clone(good.Header), bytes.Clone(good.Data))
		_, err := Decode(h, body)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		if errors.Is(err, ErrForeign) != tc.foreign || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (foreign %v), want %q foreign=%v", tc.name, err, errors.Is(err, ErrForeign), tc.want, tc.foreign)
		}
	}
}

// FuzzDecodeVectorBatch: Decode of a batch with a vector section never
// panics, and what it accepts re-encodes to the same body.
func FuzzDecodeVectorBatch(f *testing.F) {
	m, _ := sampleVecMsg(f)
	f.Add(m.Data, 3, 4)
	f.Add([]byte{0, 0, 0, 1, 0x80, 0}, 1, 1)
	f.Add([]byte{0, 0, 0, 1, 0x80, 1, 0, 0, 0x80, 0x3f}, 1, 1)
	f.Add([]byte{0, 0, 0, 1, 0x80, 1, 0, 0}, 1, 65536)
	f.Fuzz(func(t *testing.T, body []byte, n, dim int) {
		h := nats.Header{}
		h.Set(HeaderFormat, FormatV1)
		h.Set(HeaderEvents, fmt.Sprint(n))
		h.Set(HeaderVectorDim, fmt.Sprint(dim))
		h.Set(HeaderSHA256, SHA256Hex(body))
		b, err := Decode(h, body)
		if err != nil {
			return
		}
		if len(b.Recs) != n || len(b.Vectors) != n || !bytes.Equal(AppendVectors(Frame(b.Recs), b.Vectors, dim), body) {
			t.Fatalf("accepted %d records, %d vectors that do not re-encode to the body", len(b.Recs), len(b.Vectors))
		}
	})
}
