package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

func newSimilarCmd(a *app) *cobra.Command {
	var qf queryFlags
	var vector, vectorFile string
	var limit int
	cmd := &cobra.Command{
		Use:   "similar DIR --vector '[x,y,...]' [--tenant T] [--kind K]... [--from TS] [--to TS] [--correlation C] [--chain C] [--limit N]",
		Short: "Print the events nearest to a vector (cosine distance), after the filters, as JSON lines",
		Long: `similar runs a vector search: among the events that match every given
filter (applied before ranking, so --tenant never returns another tenant's
event) and carry a vector, it prints the --limit (default 10) nearest to
--vector by cosine distance (1 - cos; lower is nearer), nearest first, ties
in log order. Each line is the event's Converge JSON with a "distance" key
added. The vector is a JSON array of numbers, given inline (--vector) or in
a file (--vector-file FILE, - for stdin). The output is JSON lines whatever
-o says. The ledger must have an embedding dimension.`,
		Args: exactArgs(1, "DIR"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			q, _, err := qf.build(cmd)
			if err != nil {
				return err
			}
			if limit < 0 {
				return usagef("--limit must not be negative")
			}
			src := vector
			switch {
			case vector != "" && vectorFile != "":
				return usagef("give --vector or --vector-file, not both")
			case vectorFile == "-":
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return err
				}
				src = string(b)
			case vectorFile != "":
				b, err := os.ReadFile(vectorFile)
				if err != nil {
					return err
				}
				src = string(b)
			case vector == "":
				return usagef("--vector (or --vector-file) is required")
			}
			var v []float32
			if err := json.Unmarshal([]byte(strings.TrimSpace(src)), &v); err != nil {
				return usagef("--vector must be a JSON array of numbers: %v", err)
			}
			l, err := openRead(args[0])
			if err != nil {
				return err
			}
			defer l.Close()
			res, err := l.SearchSimilar(cmd.Context(), ledger.SimilarQuery{Vector: v, Limit: limit, Filter: q})
			if err != nil {
				return err
			}
			w := bufio.NewWriter(a.stdout)
			var buf []byte
			for i := range res {
				buf, err = ledger.AppendEnvelopeJSON(buf[:0], &res[i].Envelope)
				if err != nil {
					return err
				}
				buf = buf[:len(buf)-1]
				buf = append(buf, `,"distance":`...)
				buf = strconv.AppendFloat(buf, float64(res[i].Distance), 'g', -1, 32)
				buf = append(buf, "}\n"...)
				if _, err := w.Write(buf); err != nil {
					return err
				}
			}
			return w.Flush()
		}),
	}
	qf.register(cmd.Flags(), false)
	cmd.Flags().StringVar(&vector, "vector", "", "the query vector, a JSON array: '[0.1,0.2,...]'")
	cmd.Flags().StringVar(&vectorFile, "vector-file", "", "read the query vector (a JSON array) from FILE (- = stdin)")
	cmd.Flags().IntVar(&limit, "limit", 0, "results wanted (0 = 10)")
	return cmd
}
