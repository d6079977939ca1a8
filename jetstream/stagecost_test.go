package jetstream_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/exledger/exledger/jetstream/wire"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
	"github.com/nats-io/nats.go"
)

// BenchmarkStageCost measures the CPU of each stage a 1000-event batch
// goes through, in one goroutine, as µs per event: what the writer does
// (encode, compress, hash), what every node does (decode: decompress,
// hash check, split; then the ledger's AppendCanonicalBatch into a
// SyncNever ledger, sealing included), and the embedded ledger's
// AppendEvents of the same batch for comparison (SyncNever, so neither
// waits for fsync). docs/benchmarks.md §11 turns these into the CPU
// budget of a three-node cluster on one machine.
//
//	go test -run '^$' -bench StageCost -benchtime 100x ./jetstream/
func BenchmarkStageCost(b *testing.B) {
	g := workload.New(workload.Config{Seed: 5})
	const batch = 1000
	fresh := func() []ledger.ExperienceEventEnvelope { return g.Batch(batch) }
	// CPU time of the process (every goroutine, GC included), not the
	// wall clock: the machine these run on is shared.
	var cpu0 time.Duration
	start := func() { cpu0 = cpuTime() }
	perEvent := func(b *testing.B) {
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/1e3/float64(b.N*batch), "cpu-µs/event")
	}
	frame := func(es []ledger.ExperienceEventEnvelope) []byte {
		var body []byte
		for i := range es {
			body = append(body, 0, 0, 0, 0)
			start := len(body)
			var err error
			if body, err = ledger.AppendCanonical(body, &es[i]); err != nil {
				b.Fatal(err)
			}
			n := len(body) - start
			body[start-4], body[start-3], body[start-2], body[start-1] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
		}
		return body
	}
	es := fresh()
	body := frame(es)
	b.Run("writer-encode", func(b *testing.B) {
		for start(); b.Loop(); {
			for i := range es {
				if err := ledger.Validate(es[i]); err != nil {
					b.Fatal(err)
				}
			}
			frame(es)
		}
		perEvent(b)
	})
	for _, c := range []struct {
		enc  string
		comp func([]byte) []byte
	}{{"snappy", wire.CompressSnappy}, {"zstd", wire.Compress}} {
		z := c.comp(body)
		b.Run("writer-compress-"+c.enc, func(b *testing.B) {
			for start(); b.Loop(); {
				c.comp(body)
			}
			perEvent(b)
			b.ReportMetric(float64(len(z))/batch, "B/event")
		})
		h := nats.Header{}
		h.Set(wire.HeaderFormat, wire.FormatV1)
		h.Set(wire.HeaderEvents, "1000")
		h.Set(wire.HeaderSHA256, wire.SHA256Hex(body))
		h.Set(wire.HeaderEncoding, c.enc)
		b.Run("node-decode-"+c.enc, func(b *testing.B) {
			for start(); b.Loop(); {
				if _, err := wire.Decode(h, z); err != nil {
					b.Fatal(err)
				}
			}
			perEvent(b)
		})
	}
	b.Run("writer-sha256", func(b *testing.B) {
		for start(); b.Loop(); {
			wire.SHA256Hex(body)
		}
		perEvent(b)
	})
	ctx := context.Background()
	// Each iteration appends a new batch; they are built before the
	// clock starts.
	ledgerRun := func(b *testing.B, app func(l *ledger.Ledger, es []ledger.ExperienceEventEnvelope, recs [][]byte) error) {
		l, err := ledger.Open(b.TempDir(), &ledger.Options{Sync: ledger.SyncNever})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		type in struct {
			es   []ledger.ExperienceEventEnvelope
			recs [][]byte
		}
		ins := make([]in, b.N)
		for i := range ins {
			ins[i].es = fresh()
			d, err := wire.DecodeBatch(nats.Header{wire.HeaderFormat: {wire.FormatV1}, wire.HeaderEvents: {"1000"},
				wire.HeaderSHA256: {wire.SHA256Hex(frame(ins[i].es))}}, frame(ins[i].es))
			if err != nil {
				b.Fatal(err)
			}
			ins[i].recs = d
		}
		b.ResetTimer()
		start()
		for i := range b.N {
			if err := app(l, ins[i].es, ins[i].recs); err != nil {
				b.Fatal(err)
			}
		}
		if err := l.Flush(); err != nil { // sealing is part of the cost
			b.Fatal(err)
		}
		b.StopTimer()
		perEvent(b)
	}
	b.Run("node-apply", func(b *testing.B) {
		ledgerRun(b, func(l *ledger.Ledger, _ []ledger.ExperienceEventEnvelope, recs [][]byte) error {
			return l.AppendCanonicalBatch(ctx, recs)
		})
	})
	b.Run("embedded-append", func(b *testing.B) {
		ledgerRun(b, func(l *ledger.Ledger, es []ledger.ExperienceEventEnvelope, _ [][]byte) error {
			return l.AppendEvents(ctx, es)
		})
	})
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
