package jetstream

import (
	"strconv"

	"github.com/exledger/exledger/jetstream/wire"
	"github.com/nats-io/nats.go"
)

// headerRoom is what the headers of one message may take at most, kept
// free below the server's max_payload.
const headerRoom = 512

// batch is one stream message in the making.
type batch struct {
	body    []byte // count × (u32 BE length ‖ canonical event), then the vector section if dim > 0
	payload []byte // what is sent: body, or its compression
	enc     string // wire.HeaderEncoding: "" (payload = body), snappy or zstd
	count   int
	sha     string // hex SHA-256 of body
	msgID   string // Nats-Msg-Id
	subject string
	dim     int // the vector section's dimension; 0: none
}

// newBatch names a framed body of count events; its message id is the
// body's SHA-256.
func newBatch(subject string, body []byte, count int) batch {
	h := wire.SHA256Hex(body)
	return batch{body: body, payload: body, count: count, sha: h, msgID: h, subject: subject}
}

// compress makes the payload the compression of the body (c is
// Options.Compression) when that is smaller.
func (b *batch) compress(c string) {
	var z []byte
	switch c {
	case CompressionNone:
		return
	case CompressionZstd:
		z = wire.Compress(b.body)
	default:
		z, c = wire.CompressSnappy(b.body), CompressionSnappy
	}
	if z != nil {
		b.payload, b.enc = z, c
	}
}

// newMsg builds the NATS message of b.
func (b *batch) newMsg() *nats.Msg {
	m := nats.NewMsg(b.subject)
	m.Header.Set(wire.HeaderMsgID, b.msgID)
	m.Header.Set(wire.HeaderSHA256, b.sha)
	m.Header.Set(wire.HeaderFormat, wire.FormatV1)
	m.Header.Set(wire.HeaderEvents, strconv.Itoa(b.count))
	if b.enc != "" {
		m.Header.Set(wire.HeaderEncoding, b.enc)
	}
	if b.dim > 0 {
		m.Header.Set(wire.HeaderVectorDim, strconv.Itoa(b.dim))
	}
	m.Data = b.payload
	return m
}
