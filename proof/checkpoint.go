package proof

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrInvalid is matched (errors.Is) by every error reporting that a
// checkpoint or proof does not verify or is malformed.
var ErrInvalid = errors.New("proof: invalid")

func invalidf(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Checkpoint is a tree head: the log's origin, its size (number of
// leaves) and the root hash of the tree over those leaves.
type Checkpoint struct {
	Origin string
	Size   int64
	Root   tlog.Hash
	// Extensions are optional further lines, each non-empty, signed with
	// the rest.
	Extensions []string
}

// Text returns the checkpoint body (each line ends in a newline).
func (c Checkpoint) Text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Root[:]))
	for _, e := range c.Extensions {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// maxCheckpointLines bounds the extension lines a parser accepts.
const maxCheckpointLines = 64

// ParseCheckpoint parses a checkpoint body (the text of the signed note,
// without signatures). It accepts exactly the bytes Text writes.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	var c Checkpoint
	if len(text) == 0 || text[len(text)-1] != '\n' {
		return c, invalidf("checkpoint does not end in a newline")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return c, invalidf("checkpoint has %d lines, want at least 3", len(lines))
	}
	if len(lines) > 3+maxCheckpointLines {
		return c, invalidf("checkpoint has more than %d extension lines", maxCheckpointLines)
	}
	c.Origin = lines[0]
	if c.Origin == "" || strings.ContainsAny(c.Origin, " \t\r") {
		return c, invalidf("checkpoint origin %q is empty or holds white space", c.Origin)
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != lines[1] {
		return c, invalidf("checkpoint size %q is not a canonical decimal", lines[1])
	}
	c.Size = n
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2])
	if err != nil || len(h) != tlog.HashSize || base64.StdEncoding.EncodeToString(h) != lines[2] {
		return c, invalidf("checkpoint root %q is not a base64 SHA-256 hash", lines[2])
	}
	copy(c.Root[:], h)
	for _, e := range lines[3:] {
		if e == "" {
			return c, invalidf("checkpoint has an empty extension line")
		}
		c.Extensions = append(c.Extensions, e)
	}
	return c, nil
}

// SignCheckpoint returns c as a note signed by s. c.Origin must be s's
// name.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	if c.Origin != s.Name() {
		return nil, fmt.Errorf("proof: checkpoint origin %q is not the key name %q", c.Origin, s.Name())
	}
	if _, err := ParseCheckpoint(c.Text()); err != nil {
		return nil, err
	}
	return note.Sign(&note.Note{Text: string(c.Text())}, s)
}

// OpenCheckpoint verifies a signed checkpoint with v and parses it. The
// note must carry a valid signature by v, and the checkpoint's origin
// must be v's name. Signatures by other keys are ignored (witnesses may
// cosign); a signature line claiming v's name and key hash that does not
// verify is an error.
func OpenCheckpoint(signed []byte, v note.Verifier) (Checkpoint, error) {
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, invalidf("checkpoint signature: %v", err)
	}
	if err := canonicalSignatures(signed[len(n.Text):]); err != nil {
		return Checkpoint{}, err
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	if c.Origin != v.Name() {
		return Checkpoint{}, invalidf("checkpoint origin %q is not the key name %q", c.Origin, v.Name())
	}
	return c, nil
}

// NewVerifier parses a verifier (public) key as written by
// note.GenerateKey ("name+hash+base64"); NewSigner a signer (private) key.
func NewVerifier(vkey string) (note.Verifier, error) {
	return note.NewVerifier(strings.TrimSpace(vkey))
}

// NewSigner parses a signer key ("PRIVATE+KEY+name+hash+base64").
func NewSigner(skey string) (note.Signer, error) {
	return note.NewSigner(strings.TrimSpace(skey))
}

// canonicalSignatures requires every signature line's base64 to be in
// its canonical form (note.Open ignores the unused low bits of the last
// base64 digit, so a changed bit there would otherwise go unnoticed).
func canonicalSignatures(sigs []byte) error {
	for _, line := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(string(sigs), "\n"), "\n"), "\n") {
		i := strings.LastIndexByte(line, ' ')
		b64 := line[i+1:]
		raw, err := base64.StdEncoding.Strict().DecodeString(b64)
		if err != nil || base64.StdEncoding.EncodeToString(raw) != b64 {
			return invalidf("checkpoint signature %q is not canonical base64", b64)
		}
	}
	return nil
}
