package jetstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cespare/xxhash/v2"
	"github.com/exledger/exledger/vfs"
)

// stateName is the position file beside the ledger's own files in Dir.
const stateName = "jetstream.state"

// position is the content of the position file: how far this node's
// ledger has materialized which stream. It is a lower bound: it is written
// after the ledger is synced, so the ledger holds at least everything up
// to AppliedSeq; messages after it may be in the ledger too, and applying
// them again is a no-op (the ledger's idempotent append).
type position struct {
	Version int    `json:"version"`
	Stream  string `json:"stream"`
	// FirstMsgID is the Nats-Msg-Id of the stream's first exledger
	// message: it tells a re-created stream of the same name from the
	// one this ledger materialized.
	FirstMsgID string `json:"first_msg_id,omitempty"`
	LedgerID   string `json:"ledger_id"`
	// AppliedSeq is the last stream sequence applied (0 = none).
	AppliedSeq uint64 `json:"applied_seq"`
	// LedgerSeq is the ledger's last sequence number right after
	// AppliedSeq was applied.
	LedgerSeq uint64 `json:"ledger_seq"`
}

// encodePosition returns the file bytes: the JSON body, a newline, and the
// xxhash64 of the body as 16 lowercase hex digits and a newline.
func encodePosition(p position) []byte {
	body, _ := json.Marshal(p)
	return fmt.Appendf(append(body, '\n'), "%016x\n", xxhash.Sum64(body))
}

// decodePosition parses and checks the file bytes.
func decodePosition(b []byte) (position, error) {
	var p position
	i := strings.LastIndexByte(strings.TrimSuffix(string(b), "\n"), '\n')
	if i < 0 || len(b) != i+1+16+1 || b[len(b)-1] != '\n' {
		return p, errors.New("bad layout")
	}
	body, sum := b[:i], string(b[i+1:len(b)-1])
	want, err := strconv.ParseUint(sum, 16, 64)
	if err != nil || xxhash.Sum64(body) != want {
		return p, errors.New("checksum mismatch")
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return p, err
	}
	if p.Version != 1 {
		return p, fmt.Errorf("unsupported version %d", p.Version)
	}
	return p, nil
}

// readPosition reads dir's position file. A missing file gives
// (zero, false, nil); a damaged one an error.
func readPosition(fsys vfs.FS, dir string) (position, bool, error) {
	name := filepath.Join(dir, stateName)
	f, err := fsys.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return position{}, false, nil
		}
		return position{}, false, err
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return position{}, false, err
	}
	if size > 64<<10 {
		return position{}, false, fmt.Errorf("%s: %d bytes, too large", name, size)
	}
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil {
		return position{}, false, err
	}
	p, err := decodePosition(b)
	if err != nil {
		return position{}, false, fmt.Errorf("%s: %w", name, err)
	}
	return p, true, nil
}

// writePosition replaces dir's position file atomically: write a
// temporary file, fsync it, rename it over the old one, fsync the
// directory.
func writePosition(fsys vfs.FS, dir string, p position) error {
	name := filepath.Join(dir, stateName)
	tmp := name + ".tmp"
	f, err := fsys.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := f.Write(encodePosition(p)); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return err
	}
	return fsys.SyncDir(dir)
}
