package main

import (
	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

func newQueryCmd(a *app) *cobra.Command {
	var qf queryFlags
	cmd := &cobra.Command{
		Use:   "query DIR [--tenant T] [--kind K]... [--from TS] [--to TS] [--correlation C] [--chain C] [--limit N] [--order log|time]",
		Short: "Print the events matching a query as Converge JSON, one per line",
		Long: `query prints the events matching every given filter (AND; --kind is an
any-of set) as Converge JSON, one event per line, on stdout. Results come in
log order, or by occurred_at with --order time (which sorts in memory).
The output is JSON lines whatever -o says.`,
		Args: exactArgs(1, "DIR"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			q, order, err := qf.build(cmd)
			if err != nil {
				return err
			}
			l, err := openRead(args[0])
			if err != nil {
				return err
			}
			defer l.Close()
			ew := newEventWriter(a.stdout)
			if order == ledger.OrderTime {
				evs, err := l.QueryEventsOrdered(cmd.Context(), q, ledger.OrderTime)
				if err != nil {
					return err
				}
				for i := range evs {
					if err := ew.write(&evs[i]); err != nil {
						return err
					}
				}
				return ew.flush()
			}
			for env, err := range l.Scan(cmd.Context(), q) {
				if err != nil {
					ew.flush()
					return err
				}
				if err := ew.write(&env); err != nil {
					return err
				}
			}
			return ew.flush()
		}),
	}
	qf.register(cmd.Flags(), true)
	return cmd
}
