// Package ledgerotel adapts an OpenTelemetry TracerProvider to
// ledger.Tracer, so a Ledger's appends, queries, seals and compactions
// become spans:
//
//	l, err := ledger.Open(dir, &ledger.Options{Tracer: ledgerotel.New(tp)})
//
// The provider is passed in, never taken from otel's global, and package
// ledger itself does not import OpenTelemetry. Span names and attribute
// keys are the ledger.Span* and ledger.Attr* constants; a failed operation
// records its error and sets the span status to Error.
package ledgerotel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/exledger/exledger/ledger"
)

// ScopeName is the instrumentation scope of the ledger's spans.
const ScopeName = "github.com/exledger/exledger/ledger"

// New returns a ledger.Tracer that starts spans with tp's tracer for
// ScopeName.
func New(tp trace.TracerProvider) ledger.Tracer {
	return tracer{t: tp.Tracer(ScopeName)}
}

type tracer struct{ t trace.Tracer }

func (t tracer) Start(ctx context.Context, op string) (context.Context, ledger.Span) {
	ctx, s := t.t.Start(ctx, op, trace.WithSpanKind(trace.SpanKindInternal))
	return ctx, span{s}
}

type span struct{ s trace.Span }

func (s span) SetInt(key string, v int64) { s.s.SetAttributes(attribute.Int64(key, v)) }

func (s span) SetString(key string, v string) { s.s.SetAttributes(attribute.String(key, v)) }

func (s span) End(err error) {
	if err != nil {
		s.s.RecordError(err)
		s.s.SetStatus(codes.Error, err.Error())
	}
	s.s.End()
}
