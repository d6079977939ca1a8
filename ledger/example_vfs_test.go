package ledger_test

import (
	"context"
	"fmt"
	"math/rand"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/vfs"
)

// Test your own crash handling: run the ledger on vfs.MemFS, stop every
// write after a chosen number of file-system operations, then reopen what a
// power loss at that instant leaves behind. Every acknowledged batch
// survives; the one cut short is either whole or absent.
func ExampleOpen_crashTesting() {
	ctx := context.Background()
	mem := vfs.NewMem()
	opts := &ledger.Options{FS: mem}

	l, err := ledger.Open("/ledger", opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	evs := exampleEvents()
	if err := l.AppendEvents(ctx, evs[:2]); err != nil { // acknowledged: durable
		fmt.Println(err)
		return
	}
	mem.SetCrashAfter(mem.Ops() + 1)   // the power fails during the next write
	err = l.AppendEvents(ctx, evs[2:]) // not acknowledged
	fmt.Println("append during the crash failed:", err != nil)
	_ = l.Close()

	// What survived a power loss that dropped every unsynced byte.
	after := mem.Crash(vfs.CrashDropUnsynced, rand.New(rand.NewSource(1)))
	l2, err := ledger.Open("/ledger", &ledger.Options{FS: after})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l2.Close()
	got, err := l2.QueryEvents(ctx, ledger.EventQuery{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("events after reopen:", len(got))
	// Output:
	// append during the crash failed: true
	// events after reopen: 2
}
