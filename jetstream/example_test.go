package jetstream_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/exledger/exledger/jetstream"
	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Two nodes share one ledger through a JetStream stream: node A appends,
// node B reads (after Sync, a barrier) from its own local ledger. In
// production the server is `nats-server -js` (three of them, and
// Replicas: 3) and each node is its own process with its own directory.
func Example() {
	storeDir, _ := os.MkdirTemp("", "nats")
	defer os.RemoveAll(storeDir)
	srv, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: storeDir, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go srv.Start()
	defer srv.Shutdown()
	if !srv.ReadyForConnections(10 * time.Second) {
		panic("nats server not ready")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var dirs []string
	defer func() {
		for _, d := range dirs {
			os.RemoveAll(d)
		}
	}()
	open := func() *jetstream.Store {
		nc, err := nats.Connect(srv.ClientURL())
		if err != nil {
			panic(err)
		}
		dir, _ := os.MkdirTemp("", "node")
		dirs = append(dirs, dir)
		s, err := jetstream.Open(ctx, nc, jetstream.Options{Stream: "EXAMPLE", Dir: dir})
		if err != nil {
			panic(err)
		}
		return s
	}
	a, b := open(), open()
	defer a.Close()
	defer b.Close()

	batch := workload.New(workload.Config{Seed: 1}).Batch(100)
	ack, err := a.Append(ctx, batch)
	if err != nil {
		panic(err)
	}
	fmt.Println("stream sequence:", ack.Seq)
	// Appending the same batch again (a retry) stores nothing new.
	again, _ := a.Append(ctx, batch)
	fmt.Println("retry deduplicated:", again.Duplicate)

	if err := b.Sync(ctx); err != nil {
		panic(err)
	}
	evs, _ := b.QueryEvents(ctx, ledger.EventQuery{})
	fmt.Println("events on node B:", len(evs))
	ha, _ := a.Head()
	hb, _ := b.Head()
	fmt.Println("same hash chain:", ha.Digest.Hash == hb.Digest.Hash)
	// Output:
	// stream sequence: 1
	// retry deduplicated: true
	// events on node B: 100
	// same hash chain: true
}
