package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgertail"
)

func newTailCmd(a *app) *cobra.Command {
	var (
		qf     queryFlags
		follow bool
		last   int
	)
	cmd := &cobra.Command{
		Use:   "tail DIR [-f] [-n N] [query flags]",
		Short: "Print the last matching events; with -f, follow new ones live",
		Long: `tail prints the last -n matching events (default 10) as Converge JSON lines.
With -f it then prints every new matching event as it is committed, until
interrupted. It opens the ledger read-only (no lock, no write), so it runs
beside the process that writes the ledger. -f does not poll: it is woken
by file-change notifications (inotify) and reads only the new frames of
the write-ahead log, so an event is printed within a millisecond or so of
its commit (events sealed meanwhile are read from their segments).`,
		Args: exactArgs(1, "DIR"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			if last < 0 {
				return usagef("-n must not be negative")
			}
			q, _, err := qf.build(cmd)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			dir := args[0]
			ew := newEventWriter(a.stdout)
			l, err := openRead(dir)
			if err != nil {
				return err
			}
			cursor, err := tailLast(ctx, l, q, last, ew)
			l.Close()
			if err != nil {
				return err
			}
			if err := ew.flush(); err != nil || !follow {
				return err
			}
			for e, err := range ledgertail.Follow(ctx, dir, q, cursor, &ledgertail.Options{OnFallback: func(err error) {
				fmt.Fprintf(a.stderr, "ledgerctl: file-change notification unavailable (%v); polling every 250 ms\n", err)
			}}) {
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				if err := ew.write(&e.Envelope); err != nil {
					return err
				}
				if err := ew.flush(); err != nil {
					return err
				}
			}
			return nil
		}),
	}
	qf.register(cmd.Flags(), false)
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new matching events as they are committed")
	cmd.Flags().IntVarP(&last, "lines", "n", 10, "print the last N matching events first (0: none)")
	return cmd
}

// tailLast writes the last n events matching q and returns the sequence
// number to follow from.
func tailLast(ctx context.Context, l *ledger.Ledger, q ledger.EventQuery, n int, ew *eventWriter) (uint64, error) {
	lastSeq := l.LastSeq()
	next := lastSeq + 1
	if n == 0 {
		return next, nil
	}
	from := uint64(1)
	if !filtered(q) && lastSeq > uint64(n) {
		from = lastSeq - uint64(n) + 1
	}
	ring := make([]ledger.ExperienceEventEnvelope, n)
	seen := 0
	for e, err := range l.ScanSeq(ctx, q, from) {
		if err != nil {
			return 0, err
		}
		if e.Seq > lastSeq {
			break
		}
		ring[seen%n] = e.Envelope
		seen++
	}
	start := 0
	if seen > n {
		start = seen - n
	}
	for i := start; i < seen; i++ {
		if err := ew.write(&ring[i%n]); err != nil {
			return 0, err
		}
	}
	return next, nil
}
