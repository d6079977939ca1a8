package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

type repairJSON struct {
	Clean           bool              `json:"clean"`
	Aside           string            `json:"aside,omitempty"`
	Damaged         []string          `json:"damaged"`
	Copied          []string          `json:"copied"`
	RebuiltIndexes  []string          `json:"rebuilt_indexes"`
	Lost            []ledger.SeqRange `json:"lost"`
	Gaps            []gapJSON         `json:"gaps"`
	UnprovenEvents  uint64            `json:"unproven_events"`
	SegmentsWritten []string          `json:"segments_written"`
	LostFrom        uint64            `json:"lost_from"`
	LostTo          uint64            `json:"lost_to"`
	LostEvents      uint64            `json:"lost_events"`
	WALDroppedBytes int64             `json:"wal_dropped_bytes"`
	LastSeq         uint64            `json:"last_seq"`
}

func newRepairCmd(a *app) *cobra.Command {
	var aside string
	cmd := &cobra.Command{
		Use:   "repair DIR [--aside DIR2]",
		Short: "Salvage a damaged ledger: lose only the damaged blocks, say exactly what was lost",
		Long: `repair salvages a damaged ledger in place. It first copies every file it
will change or remove into --aside (default DIR/quarantine/<UTC time>). A
damaged segment is salvaged block by block: the events of every block whose
checksum verifies are kept (rewritten into new segments), only the events of
damaged blocks are lost. Lost sequence numbers are never reused: they are
recorded in the manifest as gaps, with the hash-chain values that let
'verify' check the chain on both sides of each gap. Sound segments are kept
as they are. A damaged WAL is salvaged frame by frame: every frame whose
checksum verifies is kept (sealed into segments), only damaged frames are
lost. Missing or damaged indexes are rebuilt.

It prints exactly what was lost (sequence ranges and event count) and the
gaps it recorded. It needs the ledger's lock: exits 4 if another process has
the ledger open.`,
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
				Lost: rep.Lost, Gaps: toGapsJSON(rep.Gaps), UnprovenEvents: rep.UnprovenEvents,
				SegmentsWritten: nonNil(rep.SegmentsWritten),
			}
			if out.Lost == nil {
				out.Lost = []ledger.SeqRange{}
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
			if n := len(rep.SegmentsWritten); n > 0 {
				fmt.Fprintf(w, "%s written from the salvaged events (split at every lost seq)\n", plural(n, "segment"))
			}
			if rep.LostEvents > 0 {
				fmt.Fprintf(w, "LOST: %s in %s, seq %s (they could not be recovered; their seqs are never reused)\n",
					plural(rep.LostEvents, "event"), plural(len(rep.Lost), "range"), rangesText(rep.Lost, 20))
			} else {
				fmt.Fprintf(w, "no event was lost\n")
			}
			if len(rep.Gaps) > 0 {
				fmt.Fprintf(w, "recorded in the manifest:\n")
				printGaps(w, "  ", rep.Gaps)
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
