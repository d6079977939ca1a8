package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
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
	Gaps           []gapJSON      `json:"gaps"`
	LostEvents     uint64         `json:"lost_events"`
	UnprovenEvents uint64         `json:"unproven_events"`
	DigestProof    string         `json:"digest_proof,omitempty"`
	TreeChunks     int64          `json:"tree_chunks_checked"`
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
			out := verifyJSON{OK: err == nil, Segments: rep.Segments, Events: rep.Events, TookMs: time.Since(start).Milliseconds(),
				Gaps: toGapsJSON(rep.Gaps), LostEvents: rep.LostEvents, UnprovenEvents: rep.UnprovenEvents, TreeChunks: rep.TreeChunks}
			if want != nil {
				out.DigestProof = digestProof(*want, rep.Gaps, err)
			}
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
				if errors.Is(err, ledger.ErrUnproven) {
					fmt.Fprintf(a.stderr, "digest: %s\n", out.DigestProof)
				}
				return err
			}
			fmt.Fprintf(a.stdout, "ok: %s in %s and the WAL tail verified in %s\n",
				plural(rep.Events, "event"), plural(rep.Segments, "segment"), dur(time.Since(start)))
			fmt.Fprintf(a.stdout, "    block checksums, indexes against their data, hash chain across segments\n")
			if rep.TreeChunks > 0 {
				fmt.Fprintf(a.stdout, "    Merkle tree: %s of 16 events rehashed, every stored node against a rebuild\n", plural(rep.TreeChunks, "chunk"))
			}
			if len(rep.Gaps) > 0 {
				fmt.Fprintf(a.stdout, "    the hash chain is verified on both sides of each gap repair recorded, not across it:\n")
				printGaps(a.stdout, "    ", rep.Gaps)
			}
			fmt.Fprintf(a.stdout, "head: seq %d hash %s\n", rep.Head.Seq, rep.Head.HashHex)
			if want != nil {
				fmt.Fprintf(a.stdout, "digest: the ledger still extends seq %d hash %s (from %s)\n", want.Seq, want.HashHex, digestFile)
				if out.DigestProof != "" {
					fmt.Fprintf(a.stdout, "digest: %s\n", out.DigestProof)
				}
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

// digestProof says how a digest was (or could not be) proven across the
// recorded gaps before its seq; "" when no gap precedes it.
func digestProof(d ledger.Digest, gaps []ledger.Gap, err error) string {
	var ue *ledger.UnprovenError
	if errors.As(err, &ue) {
		s := fmt.Sprintf("NOT PROVEN: %s; the chain is proven up to seq %d", ue.Reason, ue.ProvenTo)
		if ue.ProvenFrom > 0 {
			s += fmt.Sprintf(" and from seq %d on", ue.ProvenFrom)
		}
		return s
	}
	if err != nil {
		return ""
	}
	var parts []string
	n := 0
	for _, g := range gaps {
		if g.From > d.Seq {
			break
		}
		if n < 8 {
			parts = append(parts, fmt.Sprintf("gap %d-%d (%s lost)", g.From, g.To, plural(g.LostEvents, "event")))
		}
		n++
	}
	if n == 0 {
		return ""
	}
	if n > len(parts) {
		parts = append(parts, fmt.Sprintf("… %d more gaps", n-len(parts)))
	}
	first, last := gaps[0], gaps[n-1]
	from := "the chain value stored after seq %d before the damage"
	if !last.Anchored {
		from = "the chain value repair recorded after seq %d (the chain restarted there)"
	}
	from = fmt.Sprintf(from, last.To)
	if d.Seq == last.To {
		return fmt.Sprintf("proven up to seq %d, %s; the digest's value is %s", first.From-1, strings.Join(parts, ", "), from)
	}
	return fmt.Sprintf("proven up to seq %d, %s, proven from seq %d to seq %d starting from %s",
		first.From-1, strings.Join(parts, ", "), last.To+1, d.Seq, from)
}
