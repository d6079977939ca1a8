package main

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/exledger/exledger/ledger"
)

func newDigestCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "digest DIR",
		Short: "Print the ledger's head (sequence number and chain hash) to save elsewhere",
		Long: `digest prints the ledger's head: its id, last sequence number and the
SHA-256 hash-chain value after it. Save it somewhere the ledger's writer
cannot change; later 'ledgerctl verify DIR --digest FILE' proves the ledger
still extends it (nothing at or before that sequence number was altered,
removed, inserted or reordered). It also prints the size and root hash of
the ledger's Merkle tree (tree_size equals seq), which verify --digest then
checks too. Both the text and the -o json forms are accepted by verify
--digest.`,
		Args: exactArgs(1, "DIR"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			l, err := openRead(args[0])
			if err != nil {
				return err
			}
			defer l.Close()
			d, err := l.Head()
			if err != nil {
				return err
			}
			out := digestJSON{Digest: d}
			th, err := l.TreeHead(cmd.Context())
			switch {
			case err == nil && th.Size == int64(d.Seq):
				d.TreeRoot = th.Root.String()
				out = digestJSON{Digest: d, TreeSize: &th.Size}
			case err == nil:
				// A commit between the two snapshots: the tree is of
				// another size; print the chain digest alone.
			case !errors.Is(err, ledger.ErrNoTree):
				return err
			}
			if a.json() {
				return a.printJSON(out)
			}
			_, err = fmt.Fprintf(a.stdout, "ledger_id %s\nseq %d\nhash %s\n", d.LedgerID, d.Seq, d.HashHex)
			if err == nil && out.TreeSize != nil {
				_, err = fmt.Fprintf(a.stdout, "tree_size %d\ntree_root %s\n", *out.TreeSize, d.TreeRoot)
			}
			return err
		}),
	}
}

// digestJSON is the -o json form of digest.
type digestJSON struct {
	ledger.Digest
	TreeSize *int64 `json:"tree_size,omitempty"`
}

// parseDigest reads a digest saved by 'ledgerctl digest', in its JSON or
// text form.
func parseDigest(data []byte) (ledger.Digest, error) {
	var d ledger.Digest
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return d, fmt.Errorf("empty digest file")
	}
	if data[0] == '{' {
		var raw struct {
			LedgerID *string `json:"ledger_id"`
			Seq      *uint64 `json:"seq"`
			Hash     *string `json:"hash"`
			TreeSize *uint64 `json:"tree_size"`
			TreeRoot *string `json:"tree_root"`
		}
		if err := json.Unmarshal(data, &raw); err != nil {
			return d, fmt.Errorf("digest JSON: %w", err)
		}
		if raw.Seq == nil || raw.Hash == nil {
			return d, fmt.Errorf("digest JSON needs seq and hash")
		}
		d.Seq, d.HashHex = *raw.Seq, *raw.Hash
		if raw.LedgerID != nil {
			d.LedgerID = *raw.LedgerID
		}
		if raw.TreeRoot != nil {
			d.TreeRoot = *raw.TreeRoot
		}
		if raw.TreeSize != nil && *raw.TreeSize != d.Seq {
			return d, fmt.Errorf("digest tree_size %d is not its seq %d", *raw.TreeSize, d.Seq)
		}
	} else {
		seen := map[string]bool{}
		treeSize := ""
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			k, v, ok := strings.Cut(line, " ")
			v = strings.TrimSpace(v)
			if !ok || seen[k] {
				return d, fmt.Errorf("digest line %q: want 'ledger_id ID', 'seq N' and 'hash HEX', once each", line)
			}
			seen[k] = true
			switch k {
			case "ledger_id":
				d.LedgerID = v
			case "seq":
				n, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return d, fmt.Errorf("digest seq %q: %w", v, err)
				}
				d.Seq = n
			case "hash":
				d.HashHex = v
			case "tree_size":
				treeSize = v
			case "tree_root":
				d.TreeRoot = v
			default:
				return d, fmt.Errorf("digest: unknown field %q", k)
			}
		}
		if !seen["seq"] || !seen["hash"] {
			return d, fmt.Errorf("digest needs seq and hash")
		}
		if treeSize != "" && treeSize != strconv.FormatUint(d.Seq, 10) {
			return d, fmt.Errorf("digest tree_size %s is not its seq %d", treeSize, d.Seq)
		}
	}
	if d.TreeRoot != "" {
		if _, err := tlog.ParseHash(d.TreeRoot); err != nil {
			return d, fmt.Errorf("digest tree_root %q is not a base64 SHA-256 hash", d.TreeRoot)
		}
	}
	h, err := hex.DecodeString(d.HashHex)
	if err != nil || len(h) != len(d.Hash) {
		return d, fmt.Errorf("digest hash %q is not 64 hex digits", d.HashHex)
	}
	copy(d.Hash[:], h)
	return d, nil
}
