package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

func newProveCmd(a *app) *cobra.Command {
	var cpFile, keyFile, from, out string
	cmd := &cobra.Command{
		Use:   "prove DIR (EVENT_ID | --from OLD_CHECKPOINT) (--checkpoint C | --key K) [--out FILE]",
		Short: "Write an inclusion or consistency proof that 'verify-proof' checks offline",
		Long: `prove writes one self-contained JSON proof.

With EVENT_ID it is an inclusion proof: the event (Converge JSON and its
canonical bytes), its index (sequence number - 1), the checkpoint and the
RFC 6962 audit path from the event to the checkpoint's root.

With --from OLD_CHECKPOINT it is a consistency proof: the old checkpoint, the
new one and the path showing the new tree extends the old one unchanged.

The checkpoint proven against is --checkpoint C (one saved earlier by
'ledgerctl checkpoint'), or a new one signed with --key K. A checkpoint that
does not match the ledger (another root at its size) is an integrity
violation (exit 3). Events dropped by retention cannot be proven included
('ledgerctl stat' says from which sequence number inclusion proofs are
possible).`,
		Args: cobra.RangeArgs(1, 2),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			if (len(args) == 2) == (from != "") {
				return usagef("give either EVENT_ID or --from OLD_CHECKPOINT")
			}
			var old []byte
			if from != "" {
				var err error
				if old, err = os.ReadFile(from); err != nil {
					return err
				}
			}
			l, err := openRead(args[0])
			if err != nil {
				return err
			}
			defer l.Close()
			cp, err := checkpointFor(cmd.Context(), l, cpFile, keyFile)
			if err != nil {
				return err
			}
			var b []byte
			if from != "" {
				p, err := l.ProveConsistency(cmd.Context(), old, cp)
				if err != nil {
					return err
				}
				b, err = p.Marshal()
				if err != nil {
					return err
				}
			} else {
				p, err := l.ProveInclusion(cmd.Context(), ledger.EventID(args[1]), cp)
				if err != nil {
					return err
				}
				b, err = p.Marshal()
				if err != nil {
					return err
				}
			}
			if out != "" {
				if err := writeNew(out, string(b), 0o644); err != nil {
					return err
				}
				if !a.json() {
					fmt.Fprintf(a.stdout, "wrote %s\n", out)
				}
				return nil
			}
			_, err = a.stdout.Write(b)
			return err
		}),
	}
	cmd.Flags().StringVar(&cpFile, "checkpoint", "", "prove against this saved checkpoint")
	cmd.Flags().StringVar(&keyFile, "key", "", "prove against a new checkpoint signed with this signer key")
	cmd.Flags().StringVar(&from, "from", "", "write a consistency proof from this older checkpoint")
	cmd.Flags().StringVar(&out, "out", "", "write the proof to this new file instead of standard output")
	return cmd
}
