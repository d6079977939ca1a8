package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

type backupJSON struct {
	Dir         string        `json:"dir"`
	Head        ledger.Digest `json:"head"`
	Events      uint64        `json:"events"`
	Segments    int           `json:"segments"`
	Linked      int           `json:"linked_files"`
	LinkedBytes int64         `json:"linked_bytes"`
	Copied      int           `json:"copied_files"`
	CopiedBytes int64         `json:"copied_bytes"`
	FromSince   int           `json:"files_from_since"`
	TailEvents  uint64        `json:"tail_events"`
	TailBytes   int64         `json:"tail_bytes"`
	Verified    bool          `json:"verified"`
	TookSeconds float64       `json:"took_seconds"`
}

func newBackupCmd(a *app) *cobra.Command {
	var (
		since     string
		noVerify  bool
		digestOut string
	)
	cmd := &cobra.Command{
		Use:   "backup SRC DST [--since PREV] [--no-verify] [--digest-out FILE]",
		Short: "Copy a live ledger consistently into a new directory",
		Long: `backup writes into DST (which must not exist or be empty) a complete,
durable copy of the ledger in SRC holding exactly the events committed up to
one sequence number N, at least every event acknowledged before the backup
started. It opens SRC read-only and takes no lock, so it runs beside the
ledger's writer in another process (from cron, for example).

Sealed segments are hard-linked when DST is on SRC's file system and copied
otherwise; the unsealed tail is read from the WAL and written into DST as a
new sealed segment. The copy is fsynced and then verified (every block
checksum, index and hash-chain link; --no-verify skips this). Until it is
complete DST holds a BACKUP-INCOMPLETE marker and no ledger opens there; a
failed backup removes what it wrote.

--since PREV links (or copies) the segments an earlier backup of the same
ledger already holds from PREV instead of SRC: with PREV on DST's file
system, an incremental backup reads only the new segments from SRC.

The copy is an ordinary ledger with SRC's ledger id: open it, or restore it
with 'ledgerctl export DST | ledgerctl import NEW'. --digest-out FILE saves
its head as 'ledgerctl digest' does; 'ledgerctl verify RESTORED --digest
FILE' later proves a restored copy holds the same events.`,
		Args: exactArgs(2, "SRC DST"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			src, dst := args[0], args[1]
			if err := checkLedgerDir(src); err != nil {
				return err
			}
			rep, err := ledger.BackupDir(cmd.Context(), src, dst, nil, ledger.BackupOptions{Since: since, NoVerify: noVerify})
			if err != nil {
				return err
			}
			if digestOut != "" {
				d := rep.Head
				text := fmt.Sprintf("ledger_id %s\nseq %d\nhash %s\n", d.LedgerID, d.Seq, d.HashHex)
				if err := os.WriteFile(digestOut, []byte(text), 0o644); err != nil {
					return fmt.Errorf("the backup is complete, but its digest was not saved: %w", err)
				}
			}
			if a.json() {
				return a.printJSON(backupJSON{
					Dir: rep.Dir, Head: rep.Head, Events: rep.Events, Segments: rep.Segments,
					Linked: rep.Linked, LinkedBytes: rep.LinkedBytes, Copied: rep.Copied, CopiedBytes: rep.CopiedBytes,
					FromSince: rep.FromSince, TailEvents: rep.TailEvents, TailBytes: rep.TailBytes,
					Verified: rep.Verified, TookSeconds: rep.Took.Seconds(),
				})
			}
			fmt.Fprintf(a.stdout, "backed up %s to %s in %s: %s up to seq %d in %s\n",
				src, dst, dur(rep.Took), plural(rep.Events, "event"), rep.Head.Seq, plural(rep.Segments, "segment"))
			fmt.Fprintf(a.stdout, "files: %d linked (%s), %d copied (%s)", rep.Linked, size(rep.LinkedBytes), rep.Copied, size(rep.CopiedBytes))
			if since != "" {
				fmt.Fprintf(a.stdout, ", %d from %s", rep.FromSince, since)
			}
			if rep.TailEvents > 0 {
				fmt.Fprintf(a.stdout, "; unsealed tail: %s written as a new segment (%s)\n", plural(rep.TailEvents, "event"), size(rep.TailBytes))
			} else {
				fmt.Fprintln(a.stdout, "; no unsealed tail")
			}
			if rep.Verified {
				fmt.Fprintln(a.stdout, "verified: block checksums, indexes against their data, hash chain, head")
			} else {
				fmt.Fprintln(a.stdout, "not verified (--no-verify): run 'ledgerctl verify "+dst+"'")
			}
			fmt.Fprintf(a.stdout, "head: seq %d hash %s\n", rep.Head.Seq, rep.Head.HashHex)
			if digestOut != "" {
				fmt.Fprintf(a.stdout, "digest saved to %s\n", digestOut)
			}
			return nil
		}),
	}
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "an earlier backup of the same ledger to link unchanged segments from")
	f.BoolVar(&noVerify, "no-verify", false, "do not read the finished copy back to verify it")
	f.StringVar(&digestOut, "digest-out", "", "write the backup's head digest (as 'ledgerctl digest' prints it) to FILE")
	return cmd
}
