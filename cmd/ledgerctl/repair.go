package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

type repairJSON struct {
	Clean           bool     `json:"clean"`
	Aside           string   `json:"aside,omitempty"`
	Damaged         []string `json:"damaged"`
	Copied          []string `json:"copied"`
	RebuiltIndexes  []string `json:"rebuilt_indexes"`
	LostFrom        uint64   `json:"lost_from"`
	LostTo          uint64   `json:"lost_to"`
	LostEvents      uint64   `json:"lost_events"`
	WALDroppedBytes int64    `json:"wal_dropped_bytes"`
	LastSeq         uint64   `json:"last_seq"`
}

func newRepairCmd(a *app) *cobra.Command {
	var aside string
	cmd := &cobra.Command{
		Use:   "repair DIR [--aside DIR2]",
		Short: "Salvage a damaged ledger: keep its longest valid prefix, say exactly what was lost",
		Long: `repair salvages a damaged ledger in place. It first copies every file it
will change or remove into --aside (default DIR/quarantine/<UTC time>), then
cuts the ledger back to its longest valid prefix: the valid events of the
first damaged segment are kept, later segments and the WAL are dropped (the
ledger is a dense hash-chained log); with sound segments the WAL is cut at
its first bad frame. Missing or damaged indexes are rebuilt.

It prints exactly what was lost (sequence range and event count). It needs
the ledger's lock: exits 4 if another process has the ledger open.`,
		Args: exactArgs(1, "DIR"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if err := checkLedgerDir(dir); err != nil {
				return err
			}
			rep, err := ledger.Repair(dir, nil, aside)
			if err != nil {
				if isLocked(err) {
					return lockedError(dir)
				}
				return err
			}
			out := repairJSON{
				Clean: rep.Clean, Aside: rep.Aside, Damaged: nonNil(rep.Damaged), Copied: nonNil(rep.Copied),
				RebuiltIndexes: nonNil(rep.RebuiltIndexes), LostFrom: rep.LostFrom, LostTo: rep.LostTo,
				LostEvents: rep.LostEvents, WALDroppedBytes: rep.WALDroppedBytes, LastSeq: rep.LastSeq,
			}
			if rep.Clean {
				out.Aside = ""
			}
			if a.json() {
				return a.printJSON(out)
			}
			w := a.stdout
			if rep.Clean {
				fmt.Fprintf(w, "%s is sound: nothing was damaged, nothing changed (last seq %d)\n", dir, rep.LastSeq)
				return nil
			}
			list := func(title string, xs []string) {
				if len(xs) > 0 {
					fmt.Fprintf(w, "%s:\n  %s\n", title, strings.Join(xs, "\n  "))
				}
			}
			list("damaged files", rep.Damaged)
			list("rebuilt indexes", rep.RebuiltIndexes)
			if len(rep.Copied) > 0 {
				fmt.Fprintf(w, "copies of the %d changed or removed files are in %s\n", len(rep.Copied), rep.Aside)
			}
			if rep.LostEvents > 0 {
				fmt.Fprintf(w, "LOST: %s events, seq %d-%d (they could not be recovered)\n", count(rep.LostEvents), rep.LostFrom, rep.LostTo)
			} else {
				fmt.Fprintf(w, "no event was lost\n")
			}
			if rep.WALDroppedBytes > 0 {
				fmt.Fprintf(w, "WAL: %s of unreadable bytes dropped\n", size(rep.WALDroppedBytes))
			}
			fmt.Fprintf(w, "the ledger now ends at seq %d; run 'ledgerctl verify %s' to check it\n", rep.LastSeq, dir)
			return nil
		}),
	}
	cmd.Flags().StringVar(&aside, "aside", "", "directory for copies of the files repair changes (default DIR/quarantine/<UTC time>)")
	return cmd
}

func nonNil(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}
