package jetstream

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestRetryUnanswered: requests nobody answered are retried until they
// succeed or ctx ends; any other error ends the retries at once.
func TestRetryUnanswered(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []struct {
		name    string
		errs    []error // what op returns, call by call; nil after the last
		timeout time.Duration
		calls   int
		want    error // errors.Is target of the result; nil = success
	}{
		{"succeeds at once", nil, time.Second, 1, nil},
		{"no responders twice, then succeeds", []error{nats.ErrNoResponders, nats.ErrNoResponders}, time.Second, 3, nil},
		{"timeout, then succeeds", []error{nats.ErrTimeout}, time.Second, 2, nil},
		{"missing message is not retried", []error{jetstream.ErrMsgNotFound}, time.Second, 1, jetstream.ErrMsgNotFound},
		{"missing stream is not retried", []error{nats.ErrNoResponders, jetstream.ErrStreamNotFound}, time.Second, 2, jetstream.ErrStreamNotFound},
		{"unanswered until ctx ends", repeat(nats.ErrNoResponders, 1000), 150 * time.Millisecond, -1, context.DeadlineExceeded},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
			defer cancel()
			calls := 0
			err := retryUnanswered(ctx, quiet, func() error {
				calls++
				if calls <= len(c.errs) {
					return c.errs[calls-1]
				}
				return nil
			})
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("err %v, want %v", err, c.want)
			}
			if c.calls >= 0 && calls != c.calls {
				t.Fatalf("%d calls, want %d", calls, c.calls)
			}
			if c.calls < 0 && (calls < 2 || !errors.Is(err, nats.ErrNoResponders)) {
				t.Fatalf("%d calls, err %v: want several retries and the last request error", calls, err)
			}
		})
	}
}

func repeat(err error, n int) []error {
	out := make([]error, n)
	for i := range out {
		out[i] = err
	}
	return out
}
