package jetstream_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/exledger/exledger/jetstream/jstest"
	"github.com/exledger/exledger/jetstream/wire"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// BenchmarkPublishMode measures the two ways of making one 1000-event
// AppendEvents batch atomic in a three-server R3 stream (the choice of
// docs/jetstream.md §2): one message holding the whole batch (as the
// Store sends it: framed, and Snappy-, zstd- or not compressed), or JetStream's
// atomic batch publish of 1000 messages of one event each (each but the
// last published without waiting, the commit message waits for the ack).
// 8 publishers run concurrently; events/s is the metric.
//
//	go test -run '^$' -bench PublishMode -benchtime 20x ./jetstream/
func BenchmarkPublishMode(b *testing.B) {
	c := jstest.StartCluster(b, 3)
	ncs := []*nats.Conn{c.Connect(0), c.Connect(1), c.Connect(2)}
	js, err := natsjs.New(ncs[0])
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: "MODE", Subjects: []string{"mode.>"}, Replicas: 3, AllowAtomicPublish: true}); err != nil {
		b.Fatal(err)
	}
	c.WaitStreamLeader("MODE")
	g := workload.New(workload.Config{Seed: 3})
	es := g.Batch(1000)
	var recs [][]byte
	for i := range es {
		r, err := ledger.MarshalCanonical(&es[i])
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, r)
	}
	body := wire.Frame(recs)
	z := wire.Compress(body)
	zs := wire.CompressSnappy(body)
	const writers = 8
	run := func(b *testing.B, one func(js natsjs.JetStream, nc *nats.Conn) error) {
		var wg sync.WaitGroup
		per := max(1, b.N/writers)
		t0 := time.Now()
		for w := range writers {
			nc := ncs[w%3]
			js, _ := natsjs.New(nc)
			wg.Go(func() {
				for range per {
					if err := one(js, nc); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(per*writers*len(recs))/time.Since(t0).Seconds(), "events/s")
	}
	b.Run("OneMessage", func(b *testing.B) {
		run(b, func(js natsjs.JetStream, _ *nats.Conn) error {
			_, err := js.Publish(ctx, "mode.one", body)
			return err
		})
	})
	b.Run("OneMessageZstd", func(b *testing.B) {
		run(b, func(js natsjs.JetStream, _ *nats.Conn) error {
			_, err := js.Publish(ctx, "mode.zstd", z)
			return err
		})
	})
	b.Run("OneMessageSnappy", func(b *testing.B) {
		run(b, func(js natsjs.JetStream, _ *nats.Conn) error {
			_, err := js.Publish(ctx, "mode.snappy", zs)
			return err
		})
	})
	b.Run("AtomicBatch", func(b *testing.B) {
		run(b, func(js natsjs.JetStream, nc *nats.Conn) error {
			id := nuid.Next()
			for i, r := range recs {
				m := nats.NewMsg("mode.atomic")
				m.Header.Set("Nats-Batch-Id", id)
				m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
				m.Data = r
				if i < len(recs)-1 {
					if err := nc.PublishMsg(m); err != nil {
						return err
					}
					continue
				}
				m.Header.Set("Nats-Batch-Commit", "1")
				if _, err := js.PublishMsg(ctx, m); err != nil {
					return err
				}
			}
			return nil
		})
	})
}
