package ledger_test

import (
	"os"
	"testing"

	"github.com/exledger/exledger/ledger"
)

// sealLayoutEnv selects the seal layout of the reliability suites' ledgers
// (crash, fault, kill, sweep, repair sweep): EXLEDGER_SEAL_LAYOUT=log runs
// every one of them, at its usual size, with log-order seals (the default
// is clustered; EXLEDGER_SEAL_LAYOUT=clustered names it explicitly). The
// kill test's helper process inherits it.
const sealLayoutEnv = "EXLEDGER_SEAL_LAYOUT"

// relLayout is the seal layout the reliability suites' options use.
var relLayout = sealLayoutFromEnv()

// relSmall shrinks a reliability test to a size fit for running it once
// more in the default tier (see relLogLayout).
var relSmall bool

func sealLayoutFromEnv() ledger.SealLayout {
	switch os.Getenv(sealLayoutEnv) {
	case "clustered":
		return ledger.SealLayoutClustered
	case "log":
		return ledger.SealLayoutLog
	}
	return ledger.SealLayoutDefault
}

// relShort reports whether a reliability test runs at its short size.
func relShort() bool { return testing.Short() || relSmall }

// relLogLayout runs a reliability test with log-order seals, the layout
// that is not the default (every segment the sealer writes is in seq
// order, so crashes, faults, kills and damage hit log-order seals and
// their files): at a small size in the default tier, at the test's full
// size under EXLEDGER_LONG=1. The tests themselves run with the default,
// clustered seals.
func relLogLayout(t *testing.T, test func(*testing.T)) {
	oldLayout, oldSmall := relLayout, relSmall
	relLayout, relSmall = ledger.SealLayoutLog, !relLong()
	t.Setenv(sealLayoutEnv, "log")
	defer func() { relLayout, relSmall = oldLayout, oldSmall }()
	test(t)
}

func TestCrashEveryOperationLogLayout(t *testing.T)     { relLogLayout(t, TestCrashEveryOperation) }
func TestCrashAtFailingOperationLogLayout(t *testing.T) { relLogLayout(t, TestCrashAtFailingOperation) }
func TestFaultAtEveryStepLogLayout(t *testing.T)        { relLogLayout(t, TestFaultAtEveryStep) }
func TestKill9LogLayout(t *testing.T)                   { relLogLayout(t, TestKill9) }
func TestSweepFlipEveryBitLogLayout(t *testing.T)       { relLogLayout(t, TestSweepFlipEveryBit) }
func TestRepairCrashEveryStepLogLayout(t *testing.T)    { relLogLayout(t, TestRepairCrashEveryStep) }

// TestRepairSweepLogLayout runs only under EXLEDGER_LONG=1 (it has no
// small size); TestRepairCrashEveryStepLogLayout repairs log-order seals
// in the default tier.
func TestRepairSweepLogLayout(t *testing.T) {
	if !relLong() {
		t.Skip("EXLEDGER_LONG=1 runs the repair sweep with log-order seals")
	}
	relLogLayout(t, TestRepairSweep)
}
