package ledger_test

import (
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/ledger/ledgertest"
)

func TestMemStoreConformance(t *testing.T) {
	ledgertest.Run(t, func(t *testing.T) ledger.ExperienceStore {
		return ledger.NewMemStore()
	})
}
