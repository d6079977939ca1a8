package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/proof"
	"github.com/exledger/exledger/workload"
)

// TestProofsWalkthrough is the auditor walkthrough of docs/proofs.md:
// keygen, checkpoint, prove (inclusion and consistency), verify-proof,
// with altered proofs, another key and unreadable inputs.
func TestProofsWalkthrough(t *testing.T) {
	dir, evs := makeLedger(t, 1500, 31)
	tmp := t.TempDir()
	prefix := filepath.Join(tmp, "ops")
	r := runCLI(t, nil, "keygen", "ledger.example.com/payments", "--out", prefix).must(t, exitOK)
	if !strings.Contains(r.stdout, "ops.key") || !strings.Contains(r.stdout, "ops.pub") {
		t.Errorf("keygen: %s", r.stdout)
	}
	if fi, err := os.Stat(prefix + ".key"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	runCLI(t, nil, "keygen", "ledger.example.com/payments", "--out", prefix).must(t, exitError) // no overwrite
	runCLI(t, nil, "keygen", "bad name", "--out", filepath.Join(tmp, "x")).must(t, exitUsage)

	cp1 := filepath.Join(tmp, "cp1")
	runCLI(t, nil, "checkpoint", dir, "--key", prefix+".key", "--out", cp1).must(t, exitOK)
	b, _ := os.ReadFile(cp1)
	if !strings.HasPrefix(string(b), "ledger.example.com/payments\n1500\n") || !strings.Contains(string(b), "\n\n— ledger.example.com/payments ") {
		t.Fatalf("checkpoint: %q", b)
	}
	var cj checkpointJSON
	json.Unmarshal([]byte(runCLI(t, nil, "checkpoint", dir, "--key", prefix+".key", "-o", "json").must(t, exitOK).stdout), &cj)
	if cj.TreeSize != 1500 || cj.Checkpoint != string(b) {
		t.Fatalf("checkpoint json: %+v", cj)
	}

	// Inclusion of a sealed event and of one in the WAL tail.
	for _, i := range []int{0, 777, 1499} {
		pf := filepath.Join(tmp, "inc"+string(evs[i].EventID))
		runCLI(t, nil, "prove", dir, string(evs[i].EventID), "--checkpoint", cp1, "--out", pf).must(t, exitOK)
		r := runCLI(t, nil, "verify-proof", pf, "--key", prefix+".pub").must(t, exitOK)
		if !strings.Contains(r.stdout, "valid: event "+string(evs[i].EventID)) || !strings.Contains(r.stdout, "tree of size 1500") {
			t.Errorf("verify-proof: %s", r.stdout)
		}
	}
	pf := filepath.Join(tmp, "inc"+string(evs[777].EventID))
	data, _ := os.ReadFile(pf)
	var vj verifyProofJSON
	json.Unmarshal([]byte(runCLI(t, nil, "verify-proof", pf, "--key", prefix+".pub", "-o", "json").must(t, exitOK).stdout), &vj)
	if !vj.Valid || vj.Seq != 778 || vj.EventID != string(evs[777].EventID) {
		t.Fatalf("verify-proof json: %+v", vj)
	}
	// The proof holds the event's Converge JSON.
	var p proof.Inclusion
	json.Unmarshal(data, &p)
	env, err := ledger.UnmarshalEnvelopeJSON(p.Event)
	if err != nil || env.EventID != evs[777].EventID {
		t.Fatalf("event in the proof: %v %v", env.EventID, err)
	}

	// Every single-bit change to the proof file is rejected.
	v, err := readVerifier(prefix + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	for i := range len(data) * 8 {
		c := append([]byte(nil), data...)
		c[i/8] ^= 1 << (i % 8)
		if _, err := verifyProofFile(c, v); err == nil {
			t.Fatalf("bit %d of byte %d (%q) flipped: accepted", i%8, i/8, data[i/8])
		}
	}
	bad := append([]byte(nil), data...)
	bad[len(bad)/2] ^= 4
	badf := filepath.Join(tmp, "bad")
	os.WriteFile(badf, bad, 0o644)
	r = runCLI(t, nil, "verify-proof", badf, "--key", prefix+".pub").must(t, exitIntegrity)
	if !strings.Contains(r.stderr, "invalid proof") {
		t.Errorf("altered proof: %s", r.stderr)
	}
	// Another key with the same name; unreadable inputs.
	other := filepath.Join(tmp, "other")
	runCLI(t, nil, "keygen", "ledger.example.com/payments", "--out", other).must(t, exitOK)
	runCLI(t, nil, "verify-proof", pf, "--key", other+".pub").must(t, exitIntegrity)
	runCLI(t, nil, "verify-proof", pf, "--key", filepath.Join(tmp, "absent.pub")).must(t, exitError)
	runCLI(t, nil, "verify-proof", filepath.Join(tmp, "absent"), "--key", prefix+".pub").must(t, exitError)
	runCLI(t, nil, "verify-proof", pf, "--key", prefix+".key").must(t, exitError) // a signer key is not a verifier key
	runCLI(t, nil, "verify-proof", pf).must(t, exitUsage)
	runCLI(t, nil, "prove", dir, "no-such-event", "--checkpoint", cp1).must(t, exitError)
	runCLI(t, nil, "prove", dir, string(evs[1].EventID)).must(t, exitUsage)

	// The ledger grows; a consistency proof from the old checkpoint.
	appendMore(t, dir, workload.New(workload.Config{Seed: 32}).Batch(300))
	cf := filepath.Join(tmp, "cons")
	runCLI(t, nil, "prove", dir, "--from", cp1, "--key", prefix+".key", "--out", cf).must(t, exitOK)
	r = runCLI(t, nil, "verify-proof", cf, "--key", prefix+".pub").must(t, exitOK)
	if !strings.Contains(r.stdout, "tree of size 1800") || !strings.Contains(r.stdout, "extends the tree of size 1500") {
		t.Errorf("consistency: %s", r.stdout)
	}
	cdata, _ := os.ReadFile(cf)
	for i := range len(cdata) * 8 {
		c := append([]byte(nil), cdata...)
		c[i/8] ^= 1 << (i % 8)
		if _, err := verifyProofFile(c, v); err == nil {
			t.Fatalf("consistency: bit %d of byte %d flipped: accepted", i%8, i/8)
		}
	}
	// A checkpoint that does not match the ledger is a violation.
	forged := strings.Replace(string(b), "\n1500\n", "\n1499\n", 1)
	ff := filepath.Join(tmp, "forged")
	os.WriteFile(ff, []byte(forged), 0o644)
	runCLI(t, nil, "prove", dir, "--from", ff, "--key", prefix+".key").must(t, exitIntegrity)

	// verify checks the tree.
	if r := runCLI(t, nil, "verify", dir).must(t, exitOK); !strings.Contains(r.stdout, "Merkle tree: 112 chunks of 16 events rehashed") {
		t.Errorf("verify: %s", r.stdout)
	}
	// stat says from where inclusion proofs are possible.
	r = runCLI(t, nil, "stat", dir).must(t, exitOK)
	if !strings.Contains(r.stdout, "inclusion proofs from seq 1 (index 0) on") {
		t.Errorf("stat: %s", r.stdout)
	}
}

// TestProofsAcrossCopies: a checkpoint of the original proves events of
// an export/import copy (content, not identity), and digest's tree root
// is checked by verify --digest.
func TestProofsAcrossCopies(t *testing.T) {
	dir, evs := makeLedger(t, 900, 33)
	tmp := t.TempDir()
	prefix := filepath.Join(tmp, "k")
	runCLI(t, nil, "keygen", "log", "--out", prefix).must(t, exitOK)
	cp := filepath.Join(tmp, "cp")
	runCLI(t, nil, "checkpoint", dir, "--key", prefix+".key", "--out", cp).must(t, exitOK)
	x := filepath.Join(tmp, "x.jsonl")
	runCLI(t, nil, "export", dir, "--out", x).must(t, exitOK)
	b := filepath.Join(tmp, "B")
	runCLI(t, nil, "import", b, x).must(t, exitOK)
	pf := filepath.Join(tmp, "p")
	runCLI(t, nil, "prove", b, string(evs[400].EventID), "--checkpoint", cp, "--out", pf).must(t, exitOK)
	runCLI(t, nil, "verify-proof", pf, "--key", prefix+".pub").must(t, exitOK)

	d := runCLI(t, nil, "digest", dir).must(t, exitOK).stdout
	if !strings.Contains(d, "\ntree_size 900\ntree_root ") {
		t.Fatalf("digest: %q", d)
	}
	var dj digestJSON
	json.Unmarshal([]byte(runCLI(t, nil, "digest", dir, "-o", "json").must(t, exitOK).stdout), &dj)
	if dj.TreeSize == nil || *dj.TreeSize != 900 || dj.TreeRoot == "" {
		t.Fatalf("digest json: %+v", dj)
	}
	df := filepath.Join(tmp, "d")
	os.WriteFile(df, []byte(d), 0o644)
	runCLI(t, nil, "verify", b, "--digest", df).must(t, exitOK)
	// The same chain hash with another tree root: a violation.
	lines := strings.Split(d, "\n")
	for i, ln := range lines {
		if strings.HasPrefix(ln, "tree_root ") {
			lines[i] = "tree_root " + strings.Repeat("A", 43) + "="
		}
	}
	os.WriteFile(df, []byte(strings.Join(lines, "\n")), 0o644)
	runCLI(t, nil, "verify", b, "--digest", df).must(t, exitIntegrity)
}

// TestProofsAfterRetention: after compact --retain-after, stat names the
// kept leaf hashes, and a checkpoint of an old size inside the dropped
// prefix (not a multiple of 16) still gets a consistency proof that
// verify-proof accepts.
func TestProofsAfterRetention(t *testing.T) {
	dir, _ := makeLedger(t, 3000, 41)
	tmp := t.TempDir()
	prefix := filepath.Join(tmp, "ops")
	runCLI(t, nil, "keygen", "ledger.example.com/payments", "--out", prefix).must(t, exitOK)
	skey, _ := os.ReadFile(prefix + ".key")
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	var st statJSON
	json.Unmarshal([]byte(runCLI(t, nil, "stat", dir, "-o", "json", "--no-counts").must(t, exitOK).stdout), &st)
	if len(st.SegmentList) < 3 || st.TreeLeavesBytes != 0 {
		t.Fatalf("before retention: %d segments, %d leaf-hash bytes", len(st.SegmentList), st.TreeLeavesBytes)
	}
	old := int64(st.SegmentList[0].Events - 3) // inside the first segment
	if old%16 == 0 {
		old--
	}
	l, err := ledger.Open(dir, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	th, err := l.TreeHeadAt(context.Background(), old)
	l.Close()
	if err != nil {
		t.Fatal(err)
	}
	oldCP, err := proof.SignCheckpoint(proof.Checkpoint{Origin: signer.Name(), Size: th.Size, Root: th.Root}, signer)
	if err != nil {
		t.Fatal(err)
	}
	ocf := filepath.Join(tmp, "old.cp")
	os.WriteFile(ocf, oldCP, 0o600)

	bound := max(st.SegmentList[0].MaxTime, st.SegmentList[1].MaxTime) + "~"
	runCLI(t, nil, "compact", dir, "--retain-after", bound).must(t, exitOK)
	var after statJSON
	json.Unmarshal([]byte(runCLI(t, nil, "stat", dir, "-o", "json", "--no-counts").must(t, exitOK).stdout), &after)
	if after.DroppedEvents == 0 || after.TreeLeavesBytes != int64(48+520*(after.DroppedEvents/16)) {
		t.Fatalf("after retention: %d dropped, %d leaf-hash bytes", after.DroppedEvents, after.TreeLeavesBytes)
	}
	txt := runCLI(t, nil, "stat", dir, "--no-counts").must(t, exitOK).stdout
	if !strings.Contains(txt, "of dropped events' leaf hashes in TREELEAVES") || !strings.Contains(txt, fmt.Sprintf("inclusion proofs from seq %s", count(after.DroppedEvents+1))) {
		t.Fatalf("stat text:\n%s", txt)
	}
	t.Logf("stat after retention:\n%s", txt)
	pf := filepath.Join(tmp, "cons.proof")
	runCLI(t, nil, "prove", dir, "--from", ocf, "--key", prefix+".key", "--out", pf).must(t, exitOK)
	r := runCLI(t, nil, "verify-proof", pf, "--key", prefix+".pub").must(t, exitOK)
	if !strings.Contains(r.stdout, fmt.Sprintf("extends the tree of size %d", old)) {
		t.Fatalf("verify-proof: %s", r.stdout)
	}
	runCLI(t, nil, "verify", dir).must(t, exitOK)
}
