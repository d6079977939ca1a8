package ledger_test

import (
	"context"
	"testing"

	"github.com/exledger/exledger/ledger"
)

// nopTracer is a Tracer whose spans do nothing: the cost of the hook
// itself when one is set.
type nopTracer struct{}

type nopSpan struct{}

func (nopTracer) Start(ctx context.Context, op string) (context.Context, ledger.Span) {
	return ctx, nopSpan{}
}
func (nopSpan) SetInt(string, int64)     {}
func (nopSpan) SetString(string, string) {}
func (nopSpan) End(error)                {}

// BenchmarkAppendTracer compares appends without a Tracer (the default)
// and with a Tracer that records nothing, at SyncNever (see
// BenchmarkAppendNoSync; ledger/ledgerotel has the cost of a real
// OpenTelemetry SDK).
func BenchmarkAppendTracer(b *testing.B) {
	for _, tr := range []string{"unset", "noop"} {
		for _, size := range []int{1, 100} {
			b.Run(tr+"/"+itoa(size), func(b *testing.B) {
				o := ledger.Options{Sync: ledger.SyncNever}
				if tr == "noop" {
					o.Tracer = nopTracer{}
				}
				benchAppendNoSync(b, size, &o)
			})
		}
	}
}
