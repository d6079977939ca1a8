package ledger

import (
	"testing"
	"time"
)

// BenchmarkOpsHooks measures, in isolation, what the operational
// instrumentation adds to one AppendEvents call with no Tracer set: two
// clock reads, the nil Tracer check and two histogram observations. On a
// machine too busy for a before/after comparison of whole appends to
// resolve a few percent, this cost divided by an append's CPU time
// (BenchmarkAppendNoSync's cpu-ns/op) bounds the overhead.
func BenchmarkOpsHooks(b *testing.B) {
	l, err := Open(b.TempDir(), &Options{Sync: SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	for b.Loop() {
		start := time.Now()
		if l.tracer != nil {
			b.Fatal("tracer set")
		}
		l.observeAppend(start, 1, nil)
	}
}

// BenchmarkOpsQueryHooks is the same for one query (scanFrom): the
// observation record, the clock reads and one histogram observation.
func BenchmarkOpsQueryHooks(b *testing.B) {
	l, err := Open(b.TempDir(), &Options{Sync: SyncNever})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var v view
	q := EventQuery{}
	iq, ok := plan(&q)
	ctx := b.Context()
	for b.Loop() {
		_, o := l.startQuery(ctx, &iq, ok)
		l.doneQuery(o, &v, nil)
	}
}
