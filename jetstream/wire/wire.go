package wire

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/exledger/exledger/ledger"
	"github.com/nats-io/nats.go"
)

// Message headers (docs/jetstream.md §4 is the byte-level description).
const (
	// HeaderMsgID is JetStream's deduplication header. For a Store's
	// append it equals HeaderSHA256: derived from the batch's event ids
	// and contents, so a retried publish of the same batch is deduplicated
	// and a batch with other content under the same ids is not (it is
	// stored, and rejected by every node). Ship uses
	// "<ledger id>-<HeaderLedgerSeq>" instead.
	HeaderMsgID = nats.MsgIdHdr
	// HeaderSHA256 is the lowercase hex SHA-256 of the message body,
	// checked by every reader.
	HeaderSHA256 = "Exledger-Sha256"
	// HeaderEncoding is "snappy" when the payload is the body in the
	// Snappy block format, "zstd" when it is the zstd compression (one
	// frame, content size in its header) of the body; absent when the
	// payload is the body.
	HeaderEncoding = "Exledger-Encoding"
	// EncodingSnappy is the HeaderEncoding value of a Snappy payload (a
	// Store's default).
	EncodingSnappy = "snappy"
	// EncodingZstd is the HeaderEncoding value of a zstd payload.
	EncodingZstd = "zstd"
	// HeaderFormat is the body format version, "1".
	HeaderFormat = "Exledger-Format"
	// HeaderEvents is the number of events in the body, in decimal.
	HeaderEvents = "Exledger-Events"
	// HeaderLedgerID is set by Ship only: the source ledger's id.
	HeaderLedgerID = "Exledger-Ledger-Id"
	// HeaderLedgerSeq is set by Ship only: the source ledger's sequence
	// number of the message's last event.
	HeaderLedgerSeq = "Exledger-Ledger-Seq"
	// HeaderVectorDim is set on a batch whose body ends with a vector
	// section (Store.AppendVectorEvents): the embedding dimension, in
	// decimal, 1 .. MaxVectorDim.
	HeaderVectorDim = "Exledger-Vector-Dim"

	FormatV1 = "1"
	// SubjectRoot is the first token of every subject.
	SubjectRoot = "exledger"
	// RecordHeader is the per-event length prefix: u32 big-endian.
	RecordHeader = 4
	// MaxBodyBytes bounds a decompressed body.
	MaxBodyBytes = 128 << 20
	// MaxVectorDim bounds HeaderVectorDim (the ledger's own bound).
	MaxVectorDim = 1 << 16
)

// Subject tokens for an untenanted batch and for a batch whose events do
// not share one tenant (or one kind). They cannot collide with an escaped
// id: EscapeToken turns '_' into "%5F".
const (
	TokenNoTenant = "_none"
	TokenMixed    = "_mixed"
)

// ErrForeign is matched (errors.Is) by DecodeBatch's error for a stream
// message that is not an exledger batch (or not of a format this version
// knows). Every node skips such a message the same way.
var ErrForeign = errors.New("jetstream: not an exledger batch message")

// Frame builds a message body from canonical events.
func Frame(recs [][]byte) []byte {
	n := 0
	for _, r := range recs {
		n += RecordHeader + len(r)
	}
	body := make([]byte, 0, n)
	for _, r := range recs {
		body = binary.BigEndian.AppendUint32(body, uint32(len(r)))
		body = append(body, r...)
	}
	return body
}

// AppendVectors appends a batch's vector section to body (Frame's
// output): for each event, in order, one byte 0 (no vector) or 1 followed
// by its dim components as float32 little-endian. Every non-nil vector
// must have dim components.
func AppendVectors(body []byte, vecs [][]float32, dim int) []byte {
	for _, v := range vecs {
		if v == nil {
			body = append(body, 0)
			continue
		}
		if len(v) != dim {
			panic(fmt.Sprintf("wire: vector of %d components in a batch of dimension %d", len(v), dim))
		}
		body = append(body, 1)
		for _, x := range v {
			body = binary.LittleEndian.AppendUint32(body, math.Float32bits(x))
		}
	}
	return body
}

// SHA256Hex is the HeaderSHA256 value of body.
func SHA256Hex(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// BatchSubject is exledger.<stream>.<tenant>.<kind>, with TokenNoTenant
// for events without a tenant and TokenMixed where the batch's events
// differ in tenant (or kind).
func BatchSubject(stream string, es []ledger.ExperienceEventEnvelope) string {
	var sb SubjectBuilder
	for i := range es {
		sb.Add(es[i].TenantID, es[i].Kind())
	}
	return sb.Subject(stream)
}

// SubjectBuilder collects the tenant and kind tokens of a batch's events.
type SubjectBuilder struct {
	tenant, kind string
	n            int
}

func (b *SubjectBuilder) Add(tenant *ledger.TenantID, kind ledger.ExperienceEventKind) {
	t, k := tenantToken(tenant), EscapeToken(string(kind))
	if b.n == 0 {
		b.tenant, b.kind = t, k
	}
	b.n++
	if b.tenant != t {
		b.tenant = TokenMixed
	}
	if b.kind != k {
		b.kind = TokenMixed
	}
}

func (b *SubjectBuilder) Subject(stream string) string {
	return Subject(stream, b.tenant, b.kind)
}

// Subject returns exledger.<stream>.<tenant>.<kind> from already escaped
// tokens (a token may also be "*" or, as the last one, ">" to subscribe).
func Subject(stream, tenant, kind string) string {
	return SubjectRoot + "." + stream + "." + tenant + "." + kind
}

// TenantSubject is the subject filter of one tenant's single-tenant
// batches in stream: exledger.<stream>.<escaped tenant>.>. Batches with
// several tenants are published under TokenMixed.
func TenantSubject(stream string, tenant ledger.TenantID) string {
	return SubjectRoot + "." + stream + "." + EscapeToken(string(tenant)) + ".>"
}

func tenantToken(t *ledger.TenantID) string {
	if t == nil {
		return TokenNoTenant
	}
	return EscapeToken(string(*t))
}

// EscapeToken makes s one NATS subject token: ASCII letters, digits and
// '-' stay, every other byte (including '.', '_', '*', '>', '%') becomes
// %XX with uppercase hex. An empty s becomes "%".
func EscapeToken(s string) string {
	if s == "" {
		return "%"
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if !tokenSafe(s[i]) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if tokenSafe(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// UnescapeToken reverses the escaping of a subject token (not the special
// tokens TokenNoTenant and TokenMixed).
func UnescapeToken(tok string) (string, error) {
	if tok == "%" {
		return "", nil
	}
	if !strings.Contains(tok, "%") {
		return tok, nil
	}
	var b strings.Builder
	for i := 0; i < len(tok); i++ {
		if tok[i] != '%' {
			b.WriteByte(tok[i])
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("jetstream: bad escape in subject token %q", tok)
		}
		v, err := strconv.ParseUint(tok[i+1:i+3], 16, 8)
		if err != nil {
			return "", fmt.Errorf("jetstream: bad escape in subject token %q", tok)
		}
		b.WriteByte(byte(v))
		i += 2
	}
	return b.String(), nil
}

func tokenSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-'
}

// Batch is a decoded batch message.
type Batch struct {
	// Recs is the canonical encoding of each event, in order (sub-slices
	// of the body).
	Recs [][]byte
	// Vectors is nil for a batch without a vector section; otherwise
	// Vectors[i] is the vector of Recs[i], nil where that event has none.
	Vectors [][]float32
	// Dim is the vector section's dimension (HeaderVectorDim); 0: none.
	Dim int
}

// DecodeBatch is Decode without the vectors: the canonical encoding of
// each event. A consumer that stores vectors uses Decode.
func DecodeBatch(h nats.Header, payload []byte) ([][]byte, error) {
	b, err := Decode(h, payload)
	return b.Recs, err
}

// Decode checks a stream message's headers and payload and returns its
// events (sub-slices of the body, which is the payload itself or, with
// Exledger-Encoding zstd, its decompression) and, with Exledger-Vector-Dim,
// their vectors. A message that is not an exledger batch gives an error
// matching errors.Is(err, ErrForeign); a damaged one (decompression,
// count, lengths, vector section or SHA-256 disagree) an error saying what
// is wrong. It never panics; it allocates at most one slice header per 5
// body bytes, one vector per 1+4*dim body bytes, and a body of at most
// MaxBodyBytes, no more than the zstd frame header declares.
func Decode(h nats.Header, payload []byte) (Batch, error) {
	if h.Get(HeaderFormat) != FormatV1 {
		return Batch{}, fmt.Errorf("%w: %s header is %q, want %q", ErrForeign, HeaderFormat, h.Get(HeaderFormat), FormatV1)
	}
	n, err := strconv.Atoi(h.Get(HeaderEvents))
	if err != nil || n < 1 {
		return Batch{}, fmt.Errorf("%w: bad %s header %q", ErrForeign, HeaderEvents, h.Get(HeaderEvents))
	}
	dim := 0
	if d := h.Get(HeaderVectorDim); d != "" {
		if dim, err = strconv.Atoi(d); err != nil || dim < 1 || dim > MaxVectorDim {
			return Batch{}, fmt.Errorf("%w: bad %s header %q", ErrForeign, HeaderVectorDim, d)
		}
	}
	body := payload
	switch enc := h.Get(HeaderEncoding); enc {
	case "":
	case EncodingSnappy:
		if body, err = decompressSnappy(payload); err != nil {
			return Batch{}, fmt.Errorf("jetstream: batch body does not decompress (damaged message): %w", err)
		}
	case EncodingZstd:
		if body, err = decompress(payload); err != nil {
			return Batch{}, fmt.Errorf("jetstream: batch body does not decompress (damaged message): %w", err)
		}
	default:
		return Batch{}, fmt.Errorf("%w: unknown %s %q", ErrForeign, HeaderEncoding, enc)
	}
	want := h.Get(HeaderSHA256)
	if want != SHA256Hex(body) {
		return Batch{}, fmt.Errorf("jetstream: batch body does not match its %s %q (damaged message)", HeaderSHA256, want)
	}
	if dim == 0 {
		recs, _, err := splitBody(body, n, false)
		return Batch{Recs: recs}, err
	}
	recs, rest, err := splitBody(body, n, true)
	if err != nil {
		return Batch{}, err
	}
	vecs, err := splitVectors(rest, n, dim, len(body)-len(rest))
	if err != nil {
		return Batch{}, err
	}
	return Batch{Recs: recs, Vectors: vecs, Dim: dim}, nil
}

// splitVectors decodes a vector section of n entries of dimension dim
// that starts at body offset off.
func splitVectors(sec []byte, n, dim, off int) ([][]float32, error) {
	vecs := make([][]float32, n)
	rest := sec
	for i := range vecs {
		if len(rest) == 0 {
			return nil, fmt.Errorf("jetstream: vector section ends before the vector of event %d (body offset %d)", i, off+len(sec))
		}
		switch rest[0] {
		case 0:
			rest = rest[1:]
			continue
		case 1:
		default:
			return nil, fmt.Errorf("jetstream: vector flag %d of event %d at body offset %d is not 0 or 1", rest[0], i, off+len(sec)-len(rest))
		}
		if len(rest)-1 < 4*dim {
			return nil, fmt.Errorf("jetstream: vector of event %d at body offset %d is truncated", i, off+len(sec)-len(rest))
		}
		v := make([]float32, dim)
		for j := range v {
			v[j] = math.Float32frombits(binary.LittleEndian.Uint32(rest[1+4*j:]))
		}
		vecs[i] = v
		rest = rest[1+4*dim:]
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("jetstream: %d bytes after the vector section", len(rest))
	}
	return vecs, nil
}

// splitBody cuts n length-prefixed records from body; with more, it stops
// after the n-th and returns what follows (the vector section), else the
// records must fill the body exactly.
func splitBody(body []byte, n int, more bool) ([][]byte, []byte, error) {
	if n > len(body)/(RecordHeader+1) {
		return nil, nil, fmt.Errorf("jetstream: batch of %d bytes cannot hold %d events", len(body), n)
	}
	recs := make([][]byte, 0, n)
	rest := body
	for len(rest) > 0 && !(more && len(recs) == n) {
		if len(rest) < RecordHeader {
			return nil, nil, fmt.Errorf("jetstream: truncated record header at body offset %d", len(body)-len(rest))
		}
		l := binary.BigEndian.Uint32(rest)
		if l == 0 || uint64(l) > uint64(len(rest)-RecordHeader) {
			return nil, nil, fmt.Errorf("jetstream: record length %d at body offset %d exceeds the body", l, len(body)-len(rest))
		}
		if len(recs) == n {
			return nil, nil, fmt.Errorf("jetstream: body holds more than the %d events of its header", n)
		}
		recs = append(recs, rest[RecordHeader:RecordHeader+l:RecordHeader+l])
		rest = rest[RecordHeader+l:]
	}
	if len(recs) != n {
		return nil, nil, fmt.Errorf("jetstream: body holds %d events, header says %d", len(recs), n)
	}
	return recs, rest, nil
}
