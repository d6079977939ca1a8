package ledger

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/cespare/xxhash/v2"

	"github.com/exledger/exledger/internal/corrupt"
	"github.com/exledger/exledger/vfs"
)

// FormatVersion is the highest on-disk format version this code reads and
// writes. A ledger whose manifest carries a higher version is refused with
// ErrNewerFormat.
//
// Version 1 is the base format. Version 2 is version 1 plus a manifest
// "features" list: every format extension (recorded repair gaps, vectors, a
// Merkle tree, ...) is a named feature, added to the list (and the version
// raised to 2) the first time the ledger uses it. A version-1 binary refuses
// a version-2 ledger; a version-2 binary refuses a ledger that names a
// feature it does not know. A ledger that never uses an extension stays at
// version 1 and readable by older binaries.
const FormatVersion = 2

// formatVersionBase is the version a new ledger is created with.
const formatVersionBase = 1

// knownFeatures is the set of manifest features this code implements. A
// package-level map written only by init functions (one per feature), so a
// feature's code and its registration live side by side.
var knownFeatures = map[string]bool{}

// registerFeature declares a manifest feature this code implements. Call it
// from an init function.
func registerFeature(name string) { knownFeatures[name] = true }

// ErrNewerFormat is returned by Open for a ledger written by a newer format
// version of exledger.
var ErrNewerFormat = errors.New("ledger: written by a newer format version")

// ErrNotLedger is returned by Open for a non-empty directory that holds no
// ledger manifest.
var ErrNotLedger = errors.New("ledger: directory is not an exledger ledger")

const (
	manifestName  = "MANIFEST"
	lockName      = "LOCK"
	walDirName    = "wal"
	segDirName    = "seg"
	manifestMagic = "EXLMANI1"
	maxManifest   = 64 << 20
)

// manifest is the durable list of sealed segments. It is replaced atomically
// (temp file, fsync, rename, fsync dir) whenever the set of segments changes.
type ledgerManifest struct {
	Version int `json:"version"`
	// Features names the format extensions this ledger uses (version 2 and
	// later); see FormatVersion.
	Features []string      `json:"features,omitempty"`
	LedgerID string        `json:"ledger_id"`
	Salt     uint64        `json:"salt"`
	Gen      uint64        `json:"gen"`
	Segments []manifestSeg `json:"segments"`
	// Retention records the segments dropped by compaction --retain-after.
	Retention []retentionRecord `json:"retention,omitempty"`
	// EmbeddingDim is the dimension of the ledger's vectors (feature
	// "vectors"; 0 = none).
	EmbeddingDim int `json:"embedding_dim,omitempty"`
	// Gaps records the holes Repair left in the log (feature "gaps").
	Gaps []gapRecord `json:"gaps,omitempty"`
	// WALObsolete names WAL files (under wal/) whose every event from the
	// manifest's next seq on Repair has sealed (feature "gaps"): Open
	// removes them (read-only: ignores them) before opening the WAL, then
	// drops the list. It makes the manifest switch of a WAL repair its
	// commit point even though the damaged files are removed after it.
	WALObsolete []string `json:"wal_obsolete,omitempty"`
}

type manifestSeg struct {
	Name       string `json:"name"` // base name without extension, under seg/
	FirstSeq   uint64 `json:"first_seq"`
	LastSeq    uint64 `json:"last_seq"`
	Count      uint64 `json:"count"`
	ChainStart string `json:"chain_start"`
	ChainEnd   string `json:"chain_end"`
	// Vectors is how many of the segment's events carry a vector, stored
	// in seg/<name>.vec (feature "vectors"); 0 = no vector file.
	Vectors uint64 `json:"vectors,omitempty"`
}

type retentionRecord struct {
	DroppedThroughSeq uint64 `json:"dropped_through_seq"`
	ChainAt           string `json:"chain_at"` // chain value after DroppedThroughSeq
	RetainAfter       string `json:"retain_after"`
	Events            uint64 `json:"events"`
	Segments          int    `json:"segments"`
	At                string `json:"at"`
}

func (m *ledgerManifest) clone() *ledgerManifest {
	c := *m
	c.Segments = append([]manifestSeg(nil), m.Segments...)
	c.Retention = append([]retentionRecord(nil), m.Retention...)
	c.Features = append([]string(nil), m.Features...)
	c.Gaps = append([]gapRecord(nil), m.Gaps...)
	c.WALObsolete = append([]string(nil), m.WALObsolete...)
	return &c
}

// hasFeature reports whether the manifest names feature f.
func (m *ledgerManifest) hasFeature(f string) bool {
	for _, x := range m.Features {
		if x == f {
			return true
		}
	}
	return false
}

// addFeature names feature f in the manifest (raising the version to 2).
// The caller stores the manifest; f must be registered.
func (m *ledgerManifest) addFeature(f string) {
	if !knownFeatures[f] {
		panic("ledger: unregistered manifest feature " + f)
	}
	if m.hasFeature(f) {
		return
	}
	m.Features = append(m.Features, f)
	if m.Version < 2 {
		m.Version = 2
	}
}

// encodeManifest: magic(8) | u32 length | JSON body | u64 xxhash64 of all
// preceding bytes.
func encodeManifest(m *ledgerManifest) ([]byte, error) {
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 0, 8+4+len(body)+8)
	buf = append(buf, manifestMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(body)))
	buf = append(buf, body...)
	buf = binary.LittleEndian.AppendUint64(buf, xxhash.Sum64(buf))
	return buf, nil
}

func decodeManifest(path string, b []byte) (*ledgerManifest, error) {
	if len(b) < 20 {
		return nil, corrupt.New(path, 0, "manifest too short (%d bytes)", len(b))
	}
	if string(b[:8]) != manifestMagic {
		return nil, corrupt.New(path, 0, "bad manifest magic")
	}
	n := binary.LittleEndian.Uint32(b[8:12])
	if uint64(n) != uint64(len(b)-20) {
		return nil, corrupt.New(path, 8, "manifest length %d does not match file size %d", n, len(b))
	}
	want := binary.LittleEndian.Uint64(b[len(b)-8:])
	if got := xxhash.Sum64(b[:len(b)-8]); got != want {
		return nil, corrupt.New(path, int64(len(b)-8), "manifest checksum mismatch")
	}
	var m ledgerManifest
	if err := json.Unmarshal(b[12:len(b)-8], &m); err != nil {
		return nil, corrupt.New(path, 12, "manifest body: %v", err)
	}
	if m.Version > FormatVersion {
		return nil, fmt.Errorf("%s: format version %d > %d: %w", path, m.Version, FormatVersion, ErrNewerFormat)
	}
	if m.Version < 1 {
		return nil, corrupt.New(path, 12, "manifest version %d", m.Version)
	}
	if m.Version < 2 && len(m.Features) > 0 {
		return nil, corrupt.New(path, 12, "manifest version %d names features %q", m.Version, m.Features)
	}
	for _, f := range m.Features {
		if !knownFeatures[f] {
			return nil, fmt.Errorf("%s: format feature %q is not known to this version: %w", path, f, ErrNewerFormat)
		}
	}
	for i, s := range m.Segments {
		if s.FirstSeq > s.LastSeq || s.Count != s.LastSeq-s.FirstSeq+1 {
			return nil, corrupt.New(path, 12, "segment %d (%s) has an inconsistent sequence range", i, s.Name)
		}
		if _, err := parseHash(s.ChainStart); err != nil {
			return nil, corrupt.New(path, 12, "segment %s: chain_start: %v", s.Name, err)
		}
		if _, err := parseHash(s.ChainEnd); err != nil {
			return nil, corrupt.New(path, 12, "segment %s: chain_end: %v", s.Name, err)
		}
		if filepath.Base(s.Name) != s.Name || s.Name == "" || s.Name == "." || s.Name == ".." {
			return nil, corrupt.New(path, 12, "segment name %q is not a plain file name", s.Name)
		}
		if s.Vectors > s.Count || (s.Vectors > 0 && m.EmbeddingDim == 0) {
			return nil, corrupt.New(path, 12, "segment %s: %d vectors for %d events (embedding dimension %d)", s.Name, s.Vectors, s.Count, m.EmbeddingDim)
		}
	}
	for _, r := range m.Retention {
		if _, err := parseHash(r.ChainAt); err != nil {
			return nil, corrupt.New(path, 12, "retention record: chain_at: %v", err)
		}
	}
	if len(m.Gaps) > 0 && !m.hasFeature(featureGaps) {
		return nil, corrupt.New(path, 12, "manifest records gaps without the %q feature", featureGaps)
	}
	if len(m.WALObsolete) > 0 && !m.hasFeature(featureGaps) {
		return nil, corrupt.New(path, 12, "manifest lists obsolete WAL files without the %q feature", featureGaps)
	}
	for _, n := range m.WALObsolete {
		if filepath.Base(n) != n || !strings.HasSuffix(n, ".wal") {
			return nil, corrupt.New(path, 12, "obsolete WAL file name %q is not a plain WAL file name", n)
		}
	}
	if err := checkGapRecords(m.Gaps); err != nil {
		return nil, corrupt.New(path, 12, "%v", err)
	}
	// Segments and gap records must tile the log: each segment continues
	// the sequence and hash chain of the one before (or of the retention
	// record), except across a recorded gap.
	bs, bh := m.base()
	if _, _, err := walkChain(bs, bh, manifestSpans(m.Segments), m.Gaps); err != nil {
		var we *errChainWalk
		if errors.As(err, &we) && we.seg >= 0 {
			return nil, corrupt.New(path, 12, "segment %s: %v", m.Segments[we.seg].Name, err)
		}
		return nil, corrupt.New(path, 12, "%v", err)
	}
	if m.EmbeddingDim < 0 || m.EmbeddingDim > maxEmbeddingDim || (m.EmbeddingDim > 0 && !m.hasFeature(featureVectors)) {
		return nil, corrupt.New(path, 12, "embedding dimension %d (features %q)", m.EmbeddingDim, m.Features)
	}
	return &m, nil
}

func parseHash(s string) ([32]byte, error) {
	var h [32]byte
	if len(s) != 64 {
		return h, fmt.Errorf("hash %q: want 64 hex characters", s)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("hash %q: %w", s, err)
	}
	return h, nil
}

func hashHex(h [32]byte) string { return hex.EncodeToString(h[:]) }

func readAll(fsys vfs.FS, path string) ([]byte, error) {
	f, err := fsys.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return nil, err
	}
	if size > maxManifest {
		return nil, corrupt.New(path, 0, "file size %d exceeds the %d-byte bound", size, maxManifest)
	}
	buf := make([]byte, size)
	if size == 0 {
		return buf, nil
	}
	if n, err := f.ReadAt(buf, 0); err != nil && !(err == io.EOF && n == len(buf)) {
		return nil, err
	}
	return buf, nil
}

func readManifestFile(fsys vfs.FS, dir string) (*ledgerManifest, error) {
	path := filepath.Join(dir, manifestName)
	b, err := readAll(fsys, path)
	if err != nil {
		return nil, err
	}
	return decodeManifest(path, b)
}

// writeFileAtomic writes data to dir/name via a temp file, fsync, rename and
// a directory fsync.
func writeFileAtomic(fsys vfs.FS, dir, name string, data []byte) error {
	tmp := filepath.Join(dir, name+".tmp")
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		fsys.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		fsys.Remove(tmp)
		return err
	}
	if err := fsys.Rename(tmp, filepath.Join(dir, name)); err != nil {
		fsys.Remove(tmp)
		return err
	}
	return fsys.SyncDir(dir)
}

func storeManifest(fsys vfs.FS, dir string, m *ledgerManifest) error {
	b, err := encodeManifest(m)
	if err != nil {
		return err
	}
	return writeFileAtomic(fsys, dir, manifestName, b)
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
