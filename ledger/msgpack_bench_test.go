package ledger_test

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// benchEvents returns a fixed mix of generator events (no outliers, so the
// per-event numbers are not dominated by one 64 KB payload) and their
// canonical encodings.
func mpBenchEvents(b *testing.B) ([]ledger.ExperienceEventEnvelope, [][]byte, int) {
	b.Helper()
	envs := workload.New(workload.Config{Seed: 42, OutlierRate: -1}).Batch(4096)
	enc := make([][]byte, len(envs))
	total := 0
	for i := range envs {
		enc[i] = mpMarshal(b, &envs[i])
		total += len(enc[i])
	}
	return envs, enc, total / len(envs)
}

func mpReportPerEvent(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

func BenchmarkAppendCanonical(b *testing.B) {
	envs, _, avg := mpBenchEvents(b)
	buf := make([]byte, 0, 1<<16)
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		buf, err = ledger.AppendCanonical(buf[:0], &envs[i%len(envs)])
		if err != nil {
			b.Fatal(err)
		}
	}
	mpReportPerEvent(b)
	b.ReportMetric(float64(avg), "B/event")
}

func BenchmarkMarshalCanonical(b *testing.B) {
	envs, _, avg := mpBenchEvents(b)
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ledger.MarshalCanonical(&envs[i%len(envs)]); err != nil {
			b.Fatal(err)
		}
	}
	mpReportPerEvent(b)
}

func BenchmarkUnmarshalCanonical(b *testing.B) {
	_, enc, avg := mpBenchEvents(b)
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ledger.UnmarshalCanonical(enc[i%len(enc)]); err != nil {
			b.Fatal(err)
		}
	}
	mpReportPerEvent(b)
}

func BenchmarkDecodeHeader(b *testing.B) {
	_, enc, avg := mpBenchEvents(b)
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ledger.DecodeHeader(enc[i%len(enc)]); err != nil {
			b.Fatal(err)
		}
	}
	mpReportPerEvent(b)
}

// BenchmarkLibraryMarshal is the baseline: vmihailenco/msgpack's reflective
// Marshal of the same envelopes (Go field names as keys, interface event
// encoded as its concrete struct; not canonical, and the library cannot
// decode it back into the interface field).
func BenchmarkLibraryMarshal(b *testing.B) {
	envs, _, _ := mpBenchEvents(b)
	total := 0
	for i := range envs {
		out, err := msgpack.Marshal(&envs[i])
		if err != nil {
			b.Fatal(err)
		}
		total += len(out)
	}
	b.SetBytes(int64(total / len(envs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := msgpack.Marshal(&envs[i%len(envs)]); err != nil {
			b.Fatal(err)
		}
	}
	mpReportPerEvent(b)
	b.ReportMetric(float64(total/len(envs)), "B/event")
}

// BenchmarkLibraryUnmarshalGeneric is the decode baseline: the library
// reading our canonical bytes into map[string]any.
func BenchmarkLibraryUnmarshalGeneric(b *testing.B) {
	_, enc, avg := mpBenchEvents(b)
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var m map[string]any
		if err := msgpack.Unmarshal(enc[i%len(enc)], &m); err != nil {
			b.Fatal(err)
		}
	}
	mpReportPerEvent(b)
}

// BenchmarkJSONMarshal is the JSON encoder on the same events, for scale.
func BenchmarkJSONAppend(b *testing.B) {
	envs, _, _ := mpBenchEvents(b)
	buf := make([]byte, 0, 1<<16)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		buf, err = ledger.AppendEnvelopeJSON(buf[:0], &envs[i%len(envs)])
		if err != nil {
			b.Fatal(err)
		}
	}
	mpReportPerEvent(b)
}

// BenchmarkDecodeChunked decodes the benchmark events as a scan does: a
// decoder sharing its strings' arrays across the envelopes of a chunk of
// 256 (the scan's fetch chunk), a new one per chunk.
func BenchmarkDecodeChunked(b *testing.B) {
	_, enc, avg := mpBenchEvents(b)
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	b.ResetTimer()
	var d ledger.SharedDecoder
	for i := 0; i < b.N; i++ {
		if i%256 == 0 {
			d = ledger.NewSharedDecoder()
		}
		if _, err := d.Decode(enc[i%len(enc)]); err != nil {
			b.Fatal(err)
		}
	}
	mpReportPerEvent(b)
	b.ReportMetric(float64(avg), "B/event")
}

// BenchmarkDecodeShared decodes the benchmark events as a scan's decoding
// goroutine does since its arena is kept from chunk to chunk: one decoder
// for all of them, sharing strings' arrays and structs' blocks.
func BenchmarkDecodeShared(b *testing.B) {
	_, enc, avg := mpBenchEvents(b)
	b.SetBytes(int64(avg))
	b.ReportAllocs()
	b.ResetTimer()
	d := ledger.NewSharedDecoder()
	for i := 0; i < b.N; i++ {
		if _, err := d.Decode(enc[i%len(enc)]); err != nil {
			b.Fatal(err)
		}
	}
	mpReportPerEvent(b)
	b.ReportMetric(float64(avg), "B/event")
}
