package jetstream

import (
	"bytes"
	"testing"
)

func TestPositionFile(t *testing.T) {
	p := position{Version: 1, Stream: "S", FirstMsgID: "abc", LedgerID: "0123", AppliedSeq: 77, LedgerSeq: 900}
	b := encodePosition(p)
	got, err := decodePosition(b)
	if err != nil || got != p {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	for i := range b {
		c := bytes.Clone(b)
		c[i] ^= 0x04
		if q, err := decodePosition(c); err == nil && q != p {
			t.Errorf("flipping byte %d went unnoticed: %+v", i, q)
		}
	}
	for n := range len(b) {
		if _, err := decodePosition(b[:n]); err == nil {
			t.Errorf("truncation to %d bytes accepted", n)
		}
	}
}
