package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

func newGetCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "get DIR EVENT_ID",
		Short: "Print one event by its event_id",
		Long: `get prints the event with this event_id as Converge JSON: indented with
-o text, on one line with -o json. A missing id exits 1.`,
		Args: exactArgs(2, "DIR and EVENT_ID"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			l, err := openRead(args[0])
			if err != nil {
				return err
			}
			defer l.Close()
			env, err := l.Get(cmd.Context(), ledger.EventID(args[1]))
			if errors.Is(err, ledger.ErrNotFound) {
				return fmt.Errorf("event %q not found in %s", args[1], args[0])
			}
			if err != nil {
				return err
			}
			b, err := ledger.MarshalEnvelopeJSON(env)
			if err != nil {
				return err
			}
			return a.printConverge(b)
		}),
	}
}

// printConverge prints Converge JSON: as is (one line) with -o json,
// indented for reading with -o text.
func (a *app) printConverge(b []byte) error {
	if !a.json() {
		var ind bytes.Buffer
		if err := json.Indent(&ind, b, "", "  "); err == nil {
			b = ind.Bytes()
		}
	}
	b = append(b, '\n')
	_, err := a.stdout.Write(b)
	return err
}
