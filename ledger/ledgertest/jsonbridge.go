package ledgertest

import "github.com/exledger/exledger/ledger"

// The suite talks to the ledger package's serde-compatible JSON codec only
// through these four functions.

func marshalEnvelope(e env) ([]byte, error)             { return ledger.MarshalEnvelopeJSON(e) }
func unmarshalEnvelope(b []byte) (env, error)           { return ledger.UnmarshalEnvelopeJSON(b) }
func marshalTrace(t ledger.ReplayTrace) ([]byte, error) { return ledger.MarshalReplayTraceJSON(t) }
func unmarshalTrace(b []byte) (ledger.ReplayTrace, error) {
	return ledger.UnmarshalReplayTraceJSON(b)
}
func unmarshalQuery(b []byte) (ledger.EventQuery, error) { return ledger.UnmarshalEventQueryJSON(b) }
