package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

type violationJSON struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Seq    uint64 `json:"seq"`
	Reason string `json:"reason"`
}

type verifyJSON struct {
	OK             bool           `json:"ok"`
	Segments       int            `json:"segments"`
	Events         uint64         `json:"events"`
	Head           *ledger.Digest `json:"head,omitempty"`
	DigestVerified *ledger.Digest `json:"digest_verified,omitempty"`
	Note           string         `json:"note,omitempty"`
	Violation      *violationJSON `json:"violation,omitempty"`
	Error          string         `json:"error,omitempty"`
	TookMs         int64          `json:"took_ms"`
}

func newVerifyCmd(a *app) *cobra.Command {
	var digestFile string
	cmd := &cobra.Command{
		Use:   "verify DIR [--digest FILE]",
		Short: "Check every checksum, every index and the hash chain (and a saved digest)",
		Long: `verify reads the whole ledger and checks every block checksum, every
segment's hash chain and its continuity across segments, every index
against the data it indexes, and the WAL-backed tail. With --digest FILE (saved
by 'ledgerctl digest') it also proves that the ledger still extends that
head. It compares content (sequence number and chain hash), not identity: a
digest saved from another ledger holding the same events (an export/import
copy, a restored backup, a replica) verifies, and the differing ledger id is
printed as a note.

Exit status: 0 when everything checks out; 3 on an integrity violation (the
message names the file, the offset and the sequence number); 1 on any other
error.`,
		Args: exactArgs(1, "DIR"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			var want *ledger.Digest
			if digestFile != "" {
				data, err := os.ReadFile(digestFile)
				if err != nil {
					return err
				}
				d, err := parseDigest(data)
				if err != nil {
					return fmt.Errorf("%s: %w", digestFile, err)
				}
				want = &d
			}
			l, err := openRead(args[0])
			if err != nil {
				return err
			}
			defer l.Close()
			start := time.Now()
			var total int64 = -1
			if st, err := l.Stat(cmd.Context(), false); err == nil {
				total = int64(st.Events)
			}
			bar := a.newProgress(total, "verifying", false)
			rep, err := l.Verify(cmd.Context(), bar.set)
			bar.done()
			if err == nil && want != nil {
				err = l.VerifyDigest(cmd.Context(), *want)
			}
			out := verifyJSON{OK: err == nil, Segments: rep.Segments, Events: rep.Events, TookMs: time.Since(start).Milliseconds()}
			note := ""
			if want != nil && want.LedgerID != "" && want.LedgerID != l.ID() {
				note = fmt.Sprintf("the digest was saved from ledger %s, this is %s: the content matches, the identity does not (a copy, restore or replica)", want.LedgerID, l.ID())
			}
			if err == nil {
				out.Head = &rep.Head
				out.DigestVerified = want
				out.Note = note
			} else {
				out.Error = err.Error()
				var ie *ledger.IntegrityError
				if errors.As(err, &ie) {
					out.Violation = &violationJSON{File: ie.File, Offset: ie.Offset, Seq: ie.Seq, Reason: ie.Reason}
				}
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
			fmt.Fprintf(a.stdout, "ok: %s in %s and the WAL tail verified in %s\n",
				plural(rep.Events, "event"), plural(rep.Segments, "segment"), dur(time.Since(start)))
			fmt.Fprintf(a.stdout, "    block checksums, indexes against their data, hash chain across segments\n")
			fmt.Fprintf(a.stdout, "head: seq %d hash %s\n", rep.Head.Seq, rep.Head.HashHex)
			if want != nil {
				fmt.Fprintf(a.stdout, "digest: the ledger still extends seq %d hash %s (from %s)\n", want.Seq, want.HashHex, digestFile)
				if note != "" {
					fmt.Fprintf(a.stdout, "note: %s\n", note)
				}
			}
			return nil
		}),
	}
	cmd.Flags().StringVar(&digestFile, "digest", "", "a digest saved by 'ledgerctl digest' that the ledger must still extend")
	return cmd
}
