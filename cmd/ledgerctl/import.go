package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

type importJSON struct {
	Events   uint64           `json:"events"`
	Batches  uint64           `json:"batches"`
	LastLine int              `json:"last_line"`
	Error    *importErrorJSON `json:"error,omitempty"`
}

type importErrorJSON struct {
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func newImportCmd(a *app) *cobra.Command {
	var batch, dim int
	cmd := &cobra.Command{
		Use:   "import DIR FILE|-",
		Short: "Append Converge JSON lines (an export) to a ledger, in atomic batches",
		Long: `import reads Converge JSON envelopes, one per line (blank lines are
skipped), from FILE or stdin (-) and appends them in batches of --batch
events. Each batch is atomic and durable. A missing or empty DIR becomes a
new ledger.

Bad input is reported with its line number, and nothing from the batch that
holds it is imported; the batches before it stay in the ledger (the message
says how many). Re-importing the same lines is harmless: an identical event
with an id already in the ledger is an idempotent no-op.

A line with a "vector" key (export --vectors) is imported with its vector;
the ledger then needs an embedding dimension: a new ledger takes it from
--embedding-dim, an existing one has it already (or gets it from the flag,
the first time).`,
		Args: exactArgs(2, "DIR and FILE (or - for stdin)"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			if batch <= 0 {
				return usagef("--batch must be positive")
			}
			dir, name := args[0], args[1]
			var r io.Reader = cmd.InOrStdin()
			total := int64(-1)
			if name != "-" {
				f, err := os.Open(name)
				if err != nil {
					return err
				}
				defer f.Close()
				if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
					total = fi.Size()
				}
				r = f
			} else {
				name = "stdin"
			}
			if dim < 0 {
				return usagef("--embedding-dim must not be negative")
			}
			l, err := openWriteOpts(dir, true, &ledger.Options{EmbeddingDim: dim})
			if err != nil {
				return err
			}
			bar := a.newProgress(total, "importing", true)
			if bar.bar != nil {
				r = &countingReader{r: r, add: bar.add}
			}
			rep, ierr := ledger.ImportJSONL(cmd.Context(), l, r, ledger.ImportOptions{BatchSize: batch})
			bar.done()
			if cerr := l.Close(); ierr == nil {
				ierr = cerr
			}
			out := importJSON{Events: rep.Events, Batches: rep.Batches, LastLine: rep.LastLine}
			if ierr != nil {
				var ie *ledger.ImportError
				if errors.As(ierr, &ie) {
					out.Error = &importErrorJSON{Line: ie.Line, Message: ie.Err.Error()}
				} else {
					out.Error = &importErrorJSON{Message: ierr.Error()}
				}
			}
			if a.json() {
				if err := a.printJSON(out); err != nil {
					return err
				}
			} else if ierr == nil {
				fmt.Fprintf(a.stdout, "imported %s in %s from %s (lines 1-%d) into %s\n",
					plural(rep.Events, "event"), plural(rep.Batches, "batch"), name, rep.Lines, dir)
			}
			if ierr != nil {
				kept := "no batch was imported"
				if rep.Batches > 0 {
					verb := "were"
					if rep.Batches == 1 {
						verb = "was"
					}
					kept = fmt.Sprintf("the %s before it (%s, lines 1-%d) %s imported and stay in the ledger",
						plural(rep.Batches, "batch"), plural(rep.Events, "event"), rep.LastLine, verb)
				}
				return fmt.Errorf("import %s: %w\nnothing after line %d was imported (the failing batch is dropped whole); %s",
					name, ierr, rep.LastLine, kept)
			}
			return nil
		}),
	}
	cmd.Flags().IntVar(&batch, "batch", 1000, "events per atomic batch")
	cmd.Flags().IntVar(&dim, "embedding-dim", 0, "embedding dimension for lines with a \"vector\" (recorded in a ledger that has none)")
	return cmd
}

// countingReader reports the bytes read through it.
type countingReader struct {
	r   io.Reader
	add func(int)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.add(n)
	return n, err
}
