package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgerparquet"
)

// exportParquet runs 'export --format parquet': the matching events as one
// Parquet file on stdout, or in out (written under a temporary name, synced
// and renamed into place, so out is either the whole file or untouched).
func (a *app) exportParquet(cmd *cobra.Command, l *ledger.Ledger, q ledger.EventQuery, out string) (err error) {
	total := int64(-1)
	if !filtered(q) {
		if st, err := l.Stat(cmd.Context(), false); err == nil {
			total = int64(st.Events)
		}
	}
	bar := a.newProgress(total, "exporting", false)
	opts := ledgerparquet.Options{Progress: bar.set}
	if out == "" || out == "-" {
		n, err := ledgerparquet.Export(cmd.Context(), l, q, a.stdout, opts)
		bar.done()
		if err != nil {
			return fmt.Errorf("export after %d events: %w", n, err)
		}
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		bar.done()
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := ledgerparquet.Export(cmd.Context(), l, q, f, opts)
	bar.done()
	if err != nil {
		return fmt.Errorf("export after %d events: %w", n, err)
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	if err = os.Rename(tmp, out); err != nil {
		return err
	}
	if d, derr := os.Open(filepath.Dir(out)); derr == nil {
		err = d.Sync()
		d.Close()
		if err != nil {
			return err
		}
	}
	if a.json() {
		return a.printJSON(map[string]any{"events": n, "file": out, "format": "parquet"})
	}
	fmt.Fprintf(a.stdout, "exported %s events to %s (parquet)\n", count(n), out)
	return nil
}
