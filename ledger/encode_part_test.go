package ledger_test

import (
	"bytes"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

// TestEncodeBatchSpill checks the append path's encoding when the buffer
// estimate is wrong in either direction: events that overflow the buffer
// start a new one, and every record still holds exactly its event's
// canonical bytes, with no capacity past its end (so no record can be
// overwritten through another).
func TestEncodeBatchSpill(t *testing.T) {
	es := workload.New(workload.Config{Seed: 3, OutlierRate: 0.01}).Batch(1200)
	for _, avg := range []int64{0, 1, 100, 600, 1 << 20} {
		recs, err := ledger.EncodeBatchWithEstimate(es, avg)
		if err != nil {
			t.Fatalf("avg %d: %v", avg, err)
		}
		if len(recs) != len(es) {
			t.Fatalf("avg %d: %d records for %d events", avg, len(recs), len(es))
		}
		for i := range es {
			want, err := ledger.MarshalCanonical(&es[i])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(recs[i], want) {
				t.Fatalf("avg %d: record %d differs from its event's canonical bytes", avg, i)
			}
			if cap(recs[i]) != len(recs[i]) {
				t.Fatalf("avg %d: record %d has cap %d > len %d", avg, i, cap(recs[i]), len(recs[i]))
			}
		}
	}
}
