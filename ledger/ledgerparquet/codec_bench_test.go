package ledgerparquet_test

import (
	"context"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/uncompressed"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgerparquet"
)

func BenchmarkCodecs(b *testing.B) {
	dir := benchLedger(b, 200_000)
	l, err := ledger.Open(dir, &ledger.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	codecs := []struct {
		name string
		c    compress.Codec
	}{{"zstd-fastest", &zstd.Codec{Level: zstd.SpeedFastest}}, {"zstd-default", &zstd.Codec{Level: zstd.SpeedDefault}}, {"snappy", &snappy.Codec{}}, {"none", &uncompressed.Codec{}}}
	dur := make([]time.Duration, len(codecs)+1)
	size := make([]int64, len(codecs)+1)
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		var jw countWriter
		ledger.ExportJSONL(context.Background(), l, ledger.EventQuery{}, &jw)
		dur[0] += time.Since(t0)
		size[0] = jw.n
		for k, c := range codecs {
			var pw countWriter
			t0 := time.Now()
			if _, err := ledgerparquet.Export(context.Background(), l, ledger.EventQuery{}, &pw, ledgerparquet.Options{Compression: c.c}); err != nil {
				b.Fatal(err)
			}
			dur[k+1] += time.Since(t0)
			size[k+1] = pw.n
		}
	}
	for k, c := range codecs {
		b.Logf("%s: %.2fx jsonl speed, %.1f B/event", c.name, dur[0].Seconds()/dur[k+1].Seconds(), float64(size[k+1])/200000)
	}
}
