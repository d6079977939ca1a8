package proof

import (
	"bytes"
	"encoding/json"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Proof file formats.
const (
	FormatInclusion   = "exledger-inclusion-proof/v1"
	FormatConsistency = "exledger-consistency-proof/v1"
)

// MaxProofBytes bounds a proof file a parser accepts (an event is at most
// a few MiB; a path has at most 63 hashes).
const MaxProofBytes = 64 << 20

// maxPath is the longest path a tree of 2^63 leaves can need.
const maxPath = 2 * 64

// Inclusion proves that one event is leaf Index of the tree a signed
// checkpoint commits to.
type Inclusion struct {
	Format string `json:"format"`
	// Index is the 0-based leaf index: the event's sequence number − 1.
	Index int64 `json:"index"`
	// Event is the event's Converge JSON form. It is informational for
	// this package: the leaf is the canonical bytes below, and a verifier
	// that can decode them (ledgerctl verify-proof) checks the JSON is
	// their Converge form.
	Event json.RawMessage `json:"event"`
	// Canonical is the event's canonical msgpack bytes, whose leaf hash
	// the path proves.
	Canonical []byte `json:"canonical"`
	// Checkpoint is the signed checkpoint note.
	Checkpoint string `json:"checkpoint"`
	// Path is the RFC 6962 audit path (tlog.RecordProof), leaf upwards.
	Path []tlog.Hash `json:"path"`
}

// Consistency proves that the tree of New extends the tree of Old.
type Consistency struct {
	Format string `json:"format"`
	// Old and New are signed checkpoint notes, Old's size ≤ New's.
	Old string `json:"old_checkpoint"`
	New string `json:"new_checkpoint"`
	// Path is the RFC 6962 consistency proof (tlog.TreeProof).
	Path []tlog.Hash `json:"path"`
}

// Marshal encodes an inclusion proof as its file form.
func (p *Inclusion) Marshal() ([]byte, error) { return marshal(p) }

// Marshal encodes a consistency proof as its file form.
func (p *Consistency) Marshal() ([]byte, error) { return marshal(p) }

func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Kind returns the format of a proof file without verifying it.
func Kind(data []byte) (string, error) {
	if len(data) > MaxProofBytes {
		return "", invalidf("proof is %d bytes, more than %d", len(data), MaxProofBytes)
	}
	var f struct {
		Format string `json:"format"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return "", invalidf("proof is not JSON: %v", err)
	}
	switch f.Format {
	case FormatInclusion, FormatConsistency:
		return f.Format, nil
	}
	return "", invalidf("unknown proof format %q", f.Format)
}

// strictDecode parses data into v and requires data to be exactly v's
// file form.
func strictDecode(data []byte, v any) error {
	if len(data) > MaxProofBytes {
		return invalidf("proof is %d bytes, more than %d", len(data), MaxProofBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidf("proof JSON: %v", err)
	}
	again, err := marshal(v)
	if err != nil {
		return invalidf("proof JSON: %v", err)
	}
	if !bytes.Equal(again, data) {
		return invalidf("proof file is not in its canonical form (altered, or re-formatted)")
	}
	return nil
}

// ParseInclusion parses an inclusion proof file without verifying it.
func ParseInclusion(data []byte) (*Inclusion, error) {
	var p Inclusion
	if err := strictDecode(data, &p); err != nil {
		return nil, err
	}
	if p.Format != FormatInclusion {
		return nil, invalidf("format %q, want %q", p.Format, FormatInclusion)
	}
	if len(p.Path) > maxPath {
		return nil, invalidf("path of %d hashes", len(p.Path))
	}
	return &p, nil
}

// ParseConsistency parses a consistency proof file without verifying it.
func ParseConsistency(data []byte) (*Consistency, error) {
	var p Consistency
	if err := strictDecode(data, &p); err != nil {
		return nil, err
	}
	if p.Format != FormatConsistency {
		return nil, invalidf("format %q, want %q", p.Format, FormatConsistency)
	}
	if len(p.Path) > maxPath {
		return nil, invalidf("path of %d hashes", len(p.Path))
	}
	return &p, nil
}

// Verify checks the checkpoint's signature with v, then that the leaf
// hash of Canonical at Index, with Path, yields the checkpoint's root. It
// returns the verified checkpoint.
func (p *Inclusion) Verify(v note.Verifier) (Checkpoint, error) {
	c, err := OpenCheckpoint([]byte(p.Checkpoint), v)
	if err != nil {
		return c, err
	}
	if p.Index < 0 || p.Index >= c.Size {
		return c, invalidf("leaf index %d outside the checkpoint's tree of size %d", p.Index, c.Size)
	}
	if len(p.Canonical) == 0 {
		return c, invalidf("no event bytes")
	}
	if err := tlog.CheckRecord(tlog.RecordProof(p.Path), c.Size, c.Root, p.Index, tlog.RecordHash(p.Canonical)); err != nil {
		return c, invalidf("inclusion of leaf %d in the tree of size %d: %v", p.Index, c.Size, err)
	}
	return c, nil
}

// Verify checks both checkpoints' signatures with v, that they name the
// same origin, and that the new tree extends the old one. It returns the
// two verified checkpoints.
func (p *Consistency) Verify(v note.Verifier) (old, cur Checkpoint, err error) {
	if old, err = OpenCheckpoint([]byte(p.Old), v); err != nil {
		return old, cur, fmt.Errorf("old checkpoint: %w", err)
	}
	if cur, err = OpenCheckpoint([]byte(p.New), v); err != nil {
		return old, cur, fmt.Errorf("new checkpoint: %w", err)
	}
	if old.Size > cur.Size {
		return old, cur, invalidf("old tree size %d is larger than the new %d", old.Size, cur.Size)
	}
	if old.Size == 0 {
		// Every tree extends the empty one.
		if empty, _ := tlog.TreeHash(0, nil); old.Root != empty || len(p.Path) != 0 {
			return old, cur, invalidf("an empty old tree needs the empty root and no path")
		}
		return old, cur, nil
	}
	if err := tlog.CheckTree(tlog.TreeProof(p.Path), cur.Size, cur.Root, old.Size, old.Root); err != nil {
		return old, cur, invalidf("tree of size %d does not extend the tree of size %d: %v", cur.Size, old.Size, err)
	}
	return old, cur, nil
}
