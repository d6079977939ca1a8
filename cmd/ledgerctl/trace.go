package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

func newTraceCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "trace DIR TRACE_LINK_ID",
		Short: "Print the replay trace registered under a trace link id",
		Long: `trace prints the ReplayTrace of the most recent ReplayTraceRecorded event
with this trace_link_id, as Converge JSON (indented with -o text, one line
with -o json). A trace link that was never recorded exits 1.`,
		Args: exactArgs(2, "DIR and TRACE_LINK_ID"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			l, err := openRead(args[0])
			if err != nil {
				return err
			}
			defer l.Close()
			tr, err := l.GetTraceLink(cmd.Context(), ledger.TraceLinkID(args[1]))
			if err != nil {
				return err
			}
			if tr == nil {
				return fmt.Errorf("trace link %q not found in %s", args[1], args[0])
			}
			b, err := ledger.MarshalReplayTraceJSON(*tr)
			if err != nil {
				return err
			}
			return a.printConverge(b)
		}),
	}
}
