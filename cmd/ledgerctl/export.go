package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
)

func newExportCmd(a *app) *cobra.Command {
	var qf queryFlags
	var out, file, format, partitionBy, compression string
	var vectors bool
	cmd := &cobra.Command{
		Use:   "export DIR [--format jsonl|parquet] [--file FILE] [--vectors] [query flags]",
		Short: "Stream the (matching) events as Converge JSON lines or as a Parquet file",
		Long: `export streams every event (or those matching the query flags) in log order
as Converge JSON, one per line, to stdout or to --file FILE (--out is the
same flag). It holds one event at a time, so it works on ledgers of any size.
'ledgerctl import' reads the result back. With --vectors, an event stored
with a vector carries it in a "vector" key beside the envelope's keys
(import reads it back; readers that do not know the key ignore it).

With --format parquet it writes one Apache Parquet file for analytics (DuckDB,
Polars, pandas, Spark; schema in docs/analytics.md), buffering at most two
row groups. --file is written to a temporary name and renamed into place
when complete. With --partition-by tenant|date, --file names a new directory
of files tenant_id=<tenant>/part-N.parquet or date=YYYY-MM-DD/part-N.parquet
(events without a tenant or a parsable occurred_at under
__HIVE_DEFAULT_PARTITION__), written under a temporary name and renamed into
place when complete. --compression picks the Parquet codec: zstd (the
default, smallest files), snappy (less CPU, larger files) or none.`,
		Args: exactArgs(1, "DIR"),
		RunE: wrap(func(cmd *cobra.Command, args []string) error {
			q, _, err := qf.build(cmd)
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("file") {
				if cmd.Flags().Changed("out") && out != file {
					return usagef("--file and --out name the same output; give one")
				}
				out = file
			}
			switch format {
			case "jsonl", "parquet":
			default:
				return usagef("--format must be jsonl or parquet, not %q", format)
			}
			if err := checkPartitionBy(partitionBy, format, out); err != nil {
				return err
			}
			codec, err := parquetCodec(cmd, compression, format)
			if err != nil {
				return err
			}
			l, err := openRead(args[0])
			if err != nil {
				return err
			}
			defer l.Close()
			if format == "parquet" {
				if vectors {
					return usagef("--vectors is for --format jsonl")
				}
				if partitionBy != "" {
					return a.exportParquetPartitioned(cmd, l, q, out, partitionBy, codec)
				}
				return a.exportParquet(cmd, l, q, out, codec)
			}
			var w io.Writer = a.stdout
			var f *os.File
			if out != "" && out != "-" {
				f, err = os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			total := int64(-1)
			if !filtered(q) {
				if st, err := l.Stat(cmd.Context(), false); err == nil {
					total = int64(st.Events)
				}
			}
			bar := a.newProgress(total, "exporting", false)
			if bar.bar != nil {
				w = &countingWriter{w: w, onLine: bar.add}
			}
			export := ledger.ExportJSONL
			if vectors {
				export = ledger.ExportVectorJSONL
			}
			n, err := export(cmd.Context(), l, q, w)
			bar.done()
			if err != nil {
				return fmt.Errorf("export after %d events: %w", n, err)
			}
			if f != nil {
				if err := f.Sync(); err != nil {
					return err
				}
				if err := f.Close(); err != nil {
					return err
				}
				if a.json() {
					return a.printJSON(map[string]any{"events": n, "file": out})
				}
				fmt.Fprintf(a.stdout, "exported %s events to %s\n", count(n), out)
			}
			return nil
		}),
	}
	qf.register(cmd.Flags(), false)
	cmd.Flags().StringVar(&out, "out", "", "write to FILE instead of stdout (same as --file)")
	cmd.Flags().StringVar(&file, "file", "", "write to FILE instead of stdout")
	cmd.Flags().StringVar(&format, "format", "jsonl", "output format: jsonl (Converge JSON lines) or parquet")
	cmd.Flags().BoolVar(&vectors, "vectors", false, `add each event's vector in a "vector" key (jsonl)`)
	cmd.Flags().StringVar(&compression, "compression", "zstd", "parquet: codec of the columns: zstd, snappy or none")
	cmd.Flags().StringVar(&partitionBy, "partition-by", "", "parquet: write a Hive-style directory --file DIR partitioned by tenant or date")
	return cmd
}

// countingWriter reports the number of lines written through it.
type countingWriter struct {
	w      io.Writer
	onLine func(int)
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	lines := 0
	for _, b := range p[:n] {
		if b == '\n' {
			lines++
		}
	}
	if lines > 0 {
		c.onLine(lines)
	}
	return n, err
}
