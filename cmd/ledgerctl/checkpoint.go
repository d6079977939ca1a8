package main

import (
	"context"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/mod/sumdb/note"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/proof"
)

type checkpointJSON struct {
	Origin     string `json:"origin"`
	TreeSize   int64  `json:"tree_size"`
	TreeRoot   string `json:"tree_root"`
	Checkpoint string `json:"checkpoint"`
}

func newCheckpointCmd(a *app) *cobra.Command {
	var keyFile, out string
	cmd := &cobra.Command{
		Use:   "checkpoint DIR --key KEY [--out FILE]",
		Short: "Print a signed checkpoint of the ledger's Merkle tree",
		Long: `checkpoint prints a signed checkpoint: the C2SP tlog-checkpoint text
(origin = the key's name, tree size = the number of events, base64 root hash of
the RFC 6962 Merkle tree over the events in log order) signed as a note with
the key made by 'ledgerctl keygen'. Publish it, or hand it to auditors: later
'ledgerctl prove' shows that an event is in it, or that a newer checkpoint
extends it, and 'ledgerctl verify-proof' checks either with the public key
alone.`,
		Args: exactArgs(1, "DIR"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			if keyFile == "" {
				return usagef("--key is required")
			}
			s, err := readSigner(keyFile)
			if err != nil {
				return err
			}
			l, err := openRead(args[0])
			if err != nil {
				return err
			}
			defer l.Close()
			cp, err := l.Checkpoint(cmd.Context(), s)
			if err != nil {
				return err
			}
			if out != "" {
				if err := writeNew(out, string(cp), 0o644); err != nil {
					return err
				}
			}
			if a.json() {
				c, _ := checkpointOf(cp)
				return a.printJSON(checkpointJSON{Origin: c.Origin, TreeSize: c.Size, TreeRoot: c.Root.String(), Checkpoint: string(cp)})
			}
			if out != "" {
				fmt.Fprintf(a.stdout, "wrote %s\n", out)
				return nil
			}
			_, err = a.stdout.Write(cp)
			return err
		}),
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "signer key file written by 'ledgerctl keygen' (PREFIX.key)")
	cmd.Flags().StringVar(&out, "out", "", "also write the checkpoint to this new file")
	return cmd
}

// readSigner reads a signer key file.
func readSigner(file string) (note.Signer, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	s, err := proof.NewSigner(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: not a signer key written by 'ledgerctl keygen': %v", file, err)
	}
	return s, nil
}

// readVerifier reads a verifier (public) key file.
func readVerifier(file string) (note.Verifier, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	v, err := proof.NewVerifier(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: not a verifier key written by 'ledgerctl keygen': %v", file, err)
	}
	return v, nil
}

// checkpointOf parses the body of a signed checkpoint without checking
// its signature.
func checkpointOf(signed []byte) (proof.Checkpoint, error) {
	for i := len(signed) - 2; i >= 0; i-- {
		if signed[i] == '\n' && signed[i+1] == '\n' {
			return proof.ParseCheckpoint(signed[:i+1])
		}
	}
	return proof.Checkpoint{}, fmt.Errorf("not a signed checkpoint")
}

// checkpointFor returns the checkpoint to prove against: the file given,
// or a new one signed with the key given.
func checkpointFor(ctx context.Context, l *ledger.Ledger, cpFile, keyFile string) ([]byte, error) {
	switch {
	case cpFile != "" && keyFile != "":
		return nil, usagef("give --checkpoint or --key, not both")
	case cpFile != "":
		return os.ReadFile(cpFile)
	case keyFile != "":
		s, err := readSigner(keyFile)
		if err != nil {
			return nil, err
		}
		return l.Checkpoint(ctx, s)
	}
	return nil, usagef("give --checkpoint FILE (a saved checkpoint) or --key KEY (sign a new one)")
}
