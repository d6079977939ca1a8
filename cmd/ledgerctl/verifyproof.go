package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/proof"
)

// invalidProofError reports a proof that does not verify (exit 3).
type invalidProofError struct{ err error }

func (e *invalidProofError) Error() string        { return "invalid proof: " + e.err.Error() }
func (e *invalidProofError) Unwrap() error        { return e.err }
func (e *invalidProofError) Is(target error) bool { return target == ledger.ErrIntegrity }

type verifyProofJSON struct {
	Valid    bool   `json:"valid"`
	Kind     string `json:"kind,omitempty"`
	Origin   string `json:"origin,omitempty"`
	EventID  string `json:"event_id,omitempty"`
	Seq      int64  `json:"seq,omitempty"`
	TreeSize int64  `json:"tree_size,omitempty"`
	TreeRoot string `json:"tree_root,omitempty"`
	OldSize  *int64 `json:"old_tree_size,omitempty"`
	OldRoot  string `json:"old_tree_root,omitempty"`
	Error    string `json:"error,omitempty"`
}

func newVerifyProofCmd(a *app) *cobra.Command {
	var keyFile string
	cmd := &cobra.Command{
		Use:   "verify-proof PROOF --key PUB",
		Short: "Check an inclusion or consistency proof offline, with the public key alone",
		Long: `verify-proof checks a proof written by 'ledgerctl prove' with no ledger at
hand: the checkpoint signatures with the verifier key PUB (from 'ledgerctl
keygen'; the checkpoint's origin must be the key's name), then

  inclusion:    the event's canonical bytes, at its index, hash up the
                audit path to the checkpoint's root, and the event's Converge
                JSON in the proof is exactly those bytes' JSON form;
  consistency:  the new checkpoint's tree extends the old one's.

Exit status: 0 valid; 3 invalid (altered, truncated, signed by another key,
or of another log); 1 on any other error (unreadable file or key).`,
		Args: exactArgs(1, "PROOF"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return usagef("--key is required")
			}
			v, err := readVerifier(keyFile)
			if err != nil {
				return err
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			out, err := verifyProofFile(data, v)
			if err != nil {
				err = &invalidProofError{err}
				out.Error = err.Error()
			}
			if a.json() {
				if perr := a.printJSON(out); perr != nil && err == nil {
					return perr
				}
				return err
			}
			if err != nil {
				return err
			}
			switch out.Kind {
			case "inclusion":
				fmt.Fprintf(a.stdout, "valid: event %s (seq %d) is in the tree of size %d, root %s, signed by %s\n",
					out.EventID, out.Seq, out.TreeSize, out.TreeRoot, out.Origin)
			default:
				fmt.Fprintf(a.stdout, "valid: the tree of size %d (root %s) extends the tree of size %d (root %s), both signed by %s\n",
					out.TreeSize, out.TreeRoot, *out.OldSize, out.OldRoot, out.Origin)
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "verifier key file written by 'ledgerctl keygen' (PREFIX.pub)")
	return cmd
}

// verifyProofFile checks a proof file; every failure wraps proof.ErrInvalid.
func verifyProofFile(data []byte, v note.Verifier) (verifyProofJSON, error) {
	out := verifyProofJSON{}
	kind, err := proof.Kind(data)
	if err != nil {
		return out, err
	}
	if kind == proof.FormatConsistency {
		out.Kind = "consistency"
		p, err := proof.ParseConsistency(data)
		if err != nil {
			return out, err
		}
		old, cur, err := p.Verify(v)
		if err != nil {
			return out, err
		}
		out.Valid, out.Origin, out.TreeSize, out.TreeRoot = true, cur.Origin, cur.Size, cur.Root.String()
		out.OldSize, out.OldRoot = &old.Size, old.Root.String()
		return out, nil
	}
	out.Kind = "inclusion"
	p, err := proof.ParseInclusion(data)
	if err != nil {
		return out, err
	}
	c, err := p.Verify(v)
	if err != nil {
		return out, err
	}
	// The Converge JSON in the proof must be the canonical bytes' JSON.
	env, err := ledger.UnmarshalCanonical(p.Canonical)
	if err != nil {
		return out, fmt.Errorf("%w: the proven bytes are not a canonical event: %v", proof.ErrInvalid, err)
	}
	js, err := ledger.MarshalEnvelopeJSON(env)
	if err != nil {
		return out, fmt.Errorf("%w: %v", proof.ErrInvalid, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, p.Event); err != nil || !bytes.Equal(compact.Bytes(), js) {
		return out, fmt.Errorf("%w: the event JSON in the proof is not the proven event", proof.ErrInvalid)
	}
	out.Valid, out.Kind, out.Origin, out.EventID, out.Seq = true, "inclusion", c.Origin, string(env.EventID), p.Index+1
	out.TreeSize, out.TreeRoot = c.Size, c.Root.String()
	return out, nil
}
