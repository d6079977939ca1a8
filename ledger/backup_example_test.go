package ledger_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/exledger/exledger/ledger"
)

// Back up a live ledger, then prove with the backup's saved head that a
// restored copy holds the same events.
func ExampleLedger_Backup() {
	root, _ := os.MkdirTemp("", "exledger-backup")
	defer os.RemoveAll(root)
	ctx := context.Background()

	l, err := ledger.Open(filepath.Join(root, "live"), nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	if err := l.AppendEvents(ctx, exampleEvents()); err != nil {
		fmt.Println(err)
		return
	}
	// Appends may go on meanwhile; the backup holds events 1..N.
	rep, err := l.Backup(ctx, filepath.Join(root, "backup"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("backup up to seq", rep.Head.Seq, "verified:", rep.Verified)
	saved := rep.Head // keep it somewhere the ledger's host cannot change

	// Restore: the backup is an ordinary ledger.
	c, err := ledger.Open(filepath.Join(root, "backup"), &ledger.Options{ReadOnly: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Println("restored copy extends the saved head:", c.VerifyDigest(ctx, saved) == nil)
	// Output:
	// backup up to seq 3 verified: true
	// restored copy extends the saved head: true
}
