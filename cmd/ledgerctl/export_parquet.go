package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/parquet-go/parquet-go/compress"
	"github.com/spf13/cobra"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgerparquet"
	"github.com/exledger/exledger/vfs"
)

// exportParquet runs 'export --format parquet': the matching events as one
// Parquet file on stdout, or in out (written under a temporary name, synced
// and renamed into place, so out is either the whole file or untouched).
func (a *app) exportParquet(cmd *cobra.Command, l *ledger.Ledger, q ledger.EventQuery, out string, codec compress.Codec) (err error) {
	total := int64(-1)
	if !filtered(q) {
		if st, err := l.Stat(cmd.Context(), false); err == nil {
			total = int64(st.Events)
		}
	}
	bar := a.newProgress(total, "exporting", false)
	opts := ledgerparquet.Options{Progress: bar.set, Compression: codec}
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

// parquetCodec validates --compression against --format and returns its
// codec (nil for jsonl).
func parquetCodec(cmd *cobra.Command, name, format string) (compress.Codec, error) {
	if format != "parquet" {
		if cmd.Flags().Changed("compression") {
			return nil, usagef("--compression is for --format parquet")
		}
		return nil, nil
	}
	c, err := ledgerparquet.ParseCompression(name)
	if err != nil {
		return nil, usagef("--compression must be zstd, snappy or none, not %q", name)
	}
	return c, nil
}

// checkPartitionBy validates --partition-by against the other flags.
func checkPartitionBy(by, format, out string) error {
	if by == "" {
		return nil
	}
	if format != "parquet" {
		return usagef("--partition-by is for --format parquet")
	}
	if _, err := ledgerparquet.ParsePartition(by); err != nil {
		return usagef("--partition-by must be tenant or date, not %q", by)
	}
	if out == "" || out == "-" {
		return usagef("--partition-by writes a directory: name it with --file DIR")
	}
	return nil
}

// exportParquetPartitioned runs 'export --format parquet --partition-by':
// a Hive-style directory of Parquet files at out, built under a temporary
// name beside it (every file and directory synced) and renamed into place,
// so out is either complete or absent. out must not exist.
func (a *app) exportParquetPartitioned(cmd *cobra.Command, l *ledger.Ledger, q ledger.EventQuery, out, partitionBy string, codec compress.Codec) (err error) {
	by, err := ledgerparquet.ParsePartition(partitionBy)
	if err != nil {
		return usagef("--partition-by must be tenant or date, not %q", partitionBy)
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s already exists; --partition-by writes a new directory", out)
	}
	total := int64(-1)
	if !filtered(q) {
		if st, err := l.Stat(cmd.Context(), false); err == nil {
			total = int64(st.Events)
		}
	}
	parent := filepath.Dir(out)
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	dirs := map[string]bool{}
	files := 0
	create := func(path string) (io.WriteCloser, error) {
		full := filepath.Join(tmp, filepath.FromSlash(path))
		if d := filepath.Dir(full); !dirs[d] {
			if err := os.Mkdir(d, 0o755); err != nil {
				return nil, err
			}
			dirs[d] = true
		}
		f, err := os.OpenFile(full, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return nil, err
		}
		files++
		return syncCloser{f}, nil
	}
	bar := a.newProgress(total, "exporting", false)
	n, err := ledgerparquet.ExportPartitioned(cmd.Context(), l, q, by, create, ledgerparquet.Options{Progress: bar.set, Compression: codec})
	bar.done()
	if err != nil {
		return fmt.Errorf("export after %d events: %w", n, err)
	}
	for d := range dirs {
		if err = vfs.OS.SyncDir(d); err != nil {
			return err
		}
	}
	if err = os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err = vfs.OS.SyncDir(tmp); err != nil {
		return err
	}
	if err = os.Rename(tmp, out); err != nil {
		return err
	}
	if err = vfs.OS.SyncDir(parent); err != nil {
		return err
	}
	if a.json() {
		return a.printJSON(map[string]any{"events": n, "dir": out, "files": files, "format": "parquet", "partition_by": partitionBy})
	}
	fmt.Fprintf(a.stdout, "exported %s events to %s (parquet, %s files partitioned by %s)\n", count(n), out, count(uint64(files)), partitionBy)
	return nil
}

// syncCloser syncs a file before closing it.
type syncCloser struct{ f *os.File }

func (s syncCloser) Write(p []byte) (int, error) { return s.f.Write(p) }

func (s syncCloser) Close() error {
	err := s.f.Sync()
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	return err
}
