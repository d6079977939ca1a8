package ledgerparquet_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	kzstd "github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgerparquet"
)

// framedZstd is an experiment of docs/benchmarks.md §12 (fifth round), not
// used by the exporter: zstd at its fastest level, like parquet-go's
// zstd.Codec, except that a page larger than frameBytes is compressed as
// several independent zstd frames of about equal size, concatenated, and
// those frames are compressed concurrently. A zstd decoder decodes
// concatenated frames as the concatenation of their contents (RFC 8878
// §3.1), so the page reads back as one. It moves page compression off the
// one goroutine that encodes a row group (BenchmarkExport with
// $EXLEDGER_PARQUET_BENCH_COMPRESSION=zstd-frames-1m or zstd-frames-512k)
// at the price of larger files (each frame starts without history).
type framedZstd struct {
	frameBytes int
	encoders   sync.Pool // *kzstd.Encoder
	buffers    sync.Pool // *[]byte, a frame's output
	decoder    zstd.Codec
}

func (c *framedZstd) String() string                            { return "ZSTD" }
func (c *framedZstd) CompressionCodec() format.CompressionCodec { return format.Zstd }
func (c *framedZstd) Decode(dst, src []byte) ([]byte, error)    { return c.decoder.Decode(dst, src) }

func (c *framedZstd) Encode(dst, src []byte) ([]byte, error) {
	n := (len(src) + c.frameBytes - 1) / c.frameBytes
	if n <= 1 {
		e := c.encoder()
		dst = e.EncodeAll(src, dst[:0])
		c.encoders.Put(e)
		return dst, nil
	}
	size := (len(src) + n - 1) / n
	outs := make([]*[]byte, 0, n-1)
	var wg sync.WaitGroup
	for i := 1; i < n; i++ {
		part := src[min(i*size, len(src)):min((i+1)*size, len(src))]
		out, _ := c.buffers.Get().(*[]byte)
		if out == nil {
			out = new([]byte)
		}
		outs = append(outs, out)
		wg.Go(func() {
			e := c.encoder()
			*out = e.EncodeAll(part, (*out)[:0])
			c.encoders.Put(e)
		})
	}
	e := c.encoder()
	dst = e.EncodeAll(src[:size], dst[:0])
	c.encoders.Put(e)
	wg.Wait()
	for _, out := range outs {
		dst = append(dst, *out...)
		c.buffers.Put(out)
	}
	return dst, nil
}

// encoder returns a pooled encoder with parquet-go's zstd settings at
// level SpeedFastest.
func (c *framedZstd) encoder() *kzstd.Encoder {
	if e, ok := c.encoders.Get().(*kzstd.Encoder); ok {
		return e
	}
	e, err := kzstd.NewWriter(nil,
		kzstd.WithEncoderConcurrency(1),
		kzstd.WithEncoderLevel(kzstd.SpeedFastest),
		kzstd.WithZeroFrames(true),
		kzstd.WithEncoderCRC(false),
	)
	if err != nil {
		panic(err) // constant options
	}
	return e
}

// The framed codecs BenchmarkExport accepts by name, shared across
// iterations so their encoders are pooled as the default codec's are.
var framedCodecs = map[string]*framedZstd{
	"zstd-frames-1m":   {frameBytes: 1 << 20},
	"zstd-frames-512k": {frameBytes: 512 << 10},
}

// TestFramedZstdReadBack: pages compressed as many concatenated zstd
// frames read back, through parquet-go's own zstd decoder, as exactly the
// default export's rows, and the file differs from the default one (the
// pages were split).
func TestFramedZstdReadBack(t *testing.T) {
	l, envs := newLedger(t, 2000)
	want := export(t, l, ledger.EventQuery{}, ledgerparquet.Options{RowGroupRows: 700})
	got := export(t, l, ledger.EventQuery{}, ledgerparquet.Options{RowGroupRows: 700, Compression: &framedZstd{frameBytes: 4 << 10}})
	if bytes.Equal(got, want) {
		t.Fatal("framed export is byte-identical to the default one: no page was split")
	}
	f, err := parquet.OpenFile(bytes.NewReader(got), int64(len(got)))
	if err != nil {
		t.Fatal(err)
	}
	for _, rg := range f.Metadata().RowGroups {
		for _, col := range rg.Columns {
			if col.MetaData.Codec != format.Zstd {
				t.Fatalf("column %v codec %v", col.MetaData.PathInSchema, col.MetaData.Codec)
			}
		}
	}
	gotRows, wantRows := readRows(t, got), readRows(t, want)
	if len(gotRows) != len(envs) || len(wantRows) != len(envs) {
		t.Fatalf("%d and %d rows, want %d", len(gotRows), len(wantRows), len(envs))
	}
	for i := range gotRows {
		if !rowsEqual(gotRows[i], wantRows[i]) {
			t.Fatalf("row %d:\n got %s\nwant %s", i, dump(gotRows[i]), dump(wantRows[i]))
		}
	}
}

// TestDuckDBReadsFramedZstd: DuckDB reads a file whose zstd pages are
// many concatenated frames (framedZstd) and its per-kind aggregates equal
// those of the JSON lines export, as TestDuckDBInterop checks for the
// exporter's own codecs. Skipped as TestDuckDBInterop is.
func TestDuckDBReadsFramedZstd(t *testing.T) {
	if testing.Short() {
		t.Skip("DuckDB interop check skipped in -short mode")
	}
	modDir := duckDBModules(t)
	l, _ := newLedger(t, 3000)
	p := filepath.Join(t.TempDir(), "events-framed.parquet")
	b := export(t, l, ledger.EventQuery{}, ledgerparquet.Options{RowGroupRows: 1000, Compression: &framedZstd{frameBytes: 4 << 10}})
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var jl bytes.Buffer
	if _, err := ledger.ExportJSONL(context.Background(), l, ledger.EventQuery{}, &jl); err != nil {
		t.Fatal(err)
	}
	duckDBCompare(t, modDir, p, "", aggregatesFromJSONL(t, jl.Bytes()))
}
