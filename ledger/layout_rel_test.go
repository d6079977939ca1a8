package ledger_test

import (
	"os"
	"testing"

	"github.com/exledger/exledger/ledger"
)

// sealLayoutEnv selects the seal layout of the reliability suites' ledgers
// (crash, fault, kill, sweep, repair sweep): EXLEDGER_SEAL_LAYOUT=clustered
// runs every one of them, at its usual size, with clustered seals. The
// kill test's helper process inherits it.
const sealLayoutEnv = "EXLEDGER_SEAL_LAYOUT"

// relLayout is the seal layout the reliability suites' options use.
var relLayout = sealLayoutFromEnv()

// relSmall shrinks a reliability test to a size fit for running it once
// more in the default tier (see relClustered).
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

// relClustered runs a reliability test with clustered seals (every
// segment the sealer writes is clustered, so crashes, faults, kills and
// damage hit clustered seals and their files): at a small size in the
// default tier, at the test's full size under EXLEDGER_LONG=1.
func relClustered(t *testing.T, test func(*testing.T)) {
	oldLayout, oldSmall := relLayout, relSmall
	relLayout, relSmall = ledger.SealLayoutClustered, !relLong()
	t.Setenv(sealLayoutEnv, "clustered")
	defer func() { relLayout, relSmall = oldLayout, oldSmall }()
	test(t)
}

func TestCrashEveryOperationClustered(t *testing.T)     { relClustered(t, TestCrashEveryOperation) }
func TestCrashAtFailingOperationClustered(t *testing.T) { relClustered(t, TestCrashAtFailingOperation) }
func TestFaultAtEveryStepClustered(t *testing.T)        { relClustered(t, TestFaultAtEveryStep) }
func TestKill9Clustered(t *testing.T)                   { relClustered(t, TestKill9) }
func TestSweepFlipEveryBitClustered(t *testing.T)       { relClustered(t, TestSweepFlipEveryBit) }
func TestRepairCrashEveryStepClustered(t *testing.T)    { relClustered(t, TestRepairCrashEveryStep) }

// TestRepairSweepClustered runs only under EXLEDGER_LONG=1 (it has no
// small size); TestRepairCrashEveryStepClustered repairs clustered seals
// in the default tier.
func TestRepairSweepClustered(t *testing.T) {
	if !relLong() {
		t.Skip("EXLEDGER_LONG=1 runs the repair sweep with clustered seals")
	}
	relClustered(t, TestRepairSweep)
}
