package fuzz

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"testing"

	"github.com/exledger/exledger/ledger"
	"github.com/exledger/exledger/workload"
)

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz seed corpora")

// sampleEnvelopes returns one generated envelope of every kind.
func sampleEnvelopes() []ledger.ExperienceEventEnvelope {
	g := workload.New(workload.Config{Seed: 2026, OutlierRate: -1})
	seen := map[ledger.ExperienceEventKind]bool{}
	var out []ledger.ExperienceEventEnvelope
	for len(seen) < len(ledger.AllKinds) {
		e := g.Next()
		if !seen[e.Kind()] {
			seen[e.Kind()] = true
			out = append(out, e)
		}
	}
	return out
}

// hostileMsgpack are inputs that once broke msgpack decoders (allocation
// bombs) plus truncated and oversized headers inside a real envelope.
func hostileMsgpack(valid []byte) [][]byte {
	out := [][]byte{
		{0xdd, 0xff, 0xff, 0xff, 0xff},
		{0xdf, 0xff, 0xff, 0xff, 0xff},
		{0xdb, 0xff, 0xff, 0xff, 0xff},
		{0xc6, 0xff, 0xff, 0xff, 0xff},
		bytes.Repeat([]byte{0x91}, 512),
		{0x85},
		{},
	}
	if len(valid) > 20 {
		out = append(out, valid[:len(valid)/2])
		huge := append([]byte{}, valid[:10]...)
		out = append(out, append(huge, 0xdb, 0xff, 0xff, 0xff, 0xff))
	}
	return out
}

func msgpackSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, e := range sampleEnvelopes() {
		b, err := ledger.MarshalCanonical(&e)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return append(seeds, hostileMsgpack(seeds[0])...)
}

func jsonSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	for _, e := range sampleEnvelopes() {
		j, err := ledger.MarshalEnvelopeJSON(e)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, j)
	}
	return append(seeds,
		[]byte(`{"event_id":"e","occurred_at":"t","event":{"type":"FactPromoted","data":{}}}`),
		bytes.Repeat([]byte("["), 10000),
		[]byte(`{"event_id":"e","occurred_at":"t","tenant_id":null,"correlation_id":null,"event":{"type":"HypothesisResolved","data":{"chain_id":"c","fact_id":"f","domain":"d","claim":"","confidence":1e400,"outcome":"Confirmed","formed_cycle":4294967296,"resolved_cycle":0}}}`),
		[]byte(`{"event_id":"\ud800","occurred_at":"t"}`),
	)
}

func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

func FuzzEnvelopeMsgpack(f *testing.F) {
	for _, s := range msgpackSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		bound := uint64(ledger.MaxDecodeAllocFactor*len(data) + 64<<10)
		var env ledger.ExperienceEventEnvelope
		var err error
		if n := allocated(func() { env, err = ledger.UnmarshalCanonical(data) }); n > bound {
			t.Fatalf("UnmarshalCanonical allocated %d bytes for %d input bytes (bound %d)", n, len(data), bound)
		}
		var h ledger.EnvelopeHeader
		var herr error
		if n := allocated(func() { h, herr = ledger.DecodeHeader(data) }); n > bound {
			t.Fatalf("DecodeHeader allocated %d bytes for %d input bytes", n, len(data))
		}
		if err != nil {
			return
		}
		out, err := ledger.MarshalCanonical(&env)
		if err != nil {
			t.Fatalf("decoded envelope does not re-encode: %v", err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("decoder accepted non-canonical input\n in  %x\n out %x", data, out)
		}
		env2, err := ledger.UnmarshalCanonical(out)
		if err != nil || !reflect.DeepEqual(env2, env) {
			t.Fatalf("decode(encode(decode(x))) != decode(x): %v", err)
		}
		if herr != nil || h != ledger.HeaderOf(&env) {
			t.Fatalf("DecodeHeader = %+v, %v; full decode gives %+v", h, herr, ledger.HeaderOf(&env))
		}
	})
}

func FuzzEnvelopeJSON(f *testing.F) {
	for _, s := range jsonSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := ledger.UnmarshalEnvelopeJSON(data)
		if err != nil {
			return
		}
		j, err := ledger.MarshalEnvelopeJSON(env)
		if err != nil {
			t.Fatalf("decoded envelope does not re-encode as JSON: %v", err)
		}
		env2, err := ledger.UnmarshalEnvelopeJSON(j)
		if err != nil {
			t.Fatalf("re-encoded JSON does not decode: %v\n%s", err, j)
		}
		if !ledger.EnvelopesEqual(env, env2) {
			t.Fatalf("JSON round trip changed the envelope\n%s", j)
		}
		if j2, err := ledger.MarshalEnvelopeJSON(env2); err != nil || !bytes.Equal(j, j2) {
			t.Fatalf("JSON encoding not stable: %v", err)
		}
		m, err := ledger.MarshalCanonical(&env)
		if err != nil {
			t.Fatalf("JSON-decoded envelope has no msgpack encoding: %v", err)
		}
		env3, err := ledger.UnmarshalCanonical(m)
		if err != nil {
			t.Fatalf("msgpack decode: %v", err)
		}
		if !ledger.EnvelopesEqual(env, env3) {
			t.Fatal("msgpack round trip changed a JSON-decoded envelope")
		}
	})
}

// TestWriteSeedCorpus rewrites testdata/fuzz/<Target>/ from the seeds above
// when run with -write-seeds; otherwise it checks that the files exist.
func TestWriteSeedCorpus(t *testing.T) {
	for target, seeds := range map[string][][]byte{
		"FuzzEnvelopeMsgpack": msgpackSeeds(t),
		"FuzzEnvelopeJSON":    jsonSeeds(t),
	} {
		dir := filepath.Join("testdata", "fuzz", target)
		if !*writeSeeds {
			ents, err := os.ReadDir(dir)
			if err != nil || len(ents) < len(seeds)/2 {
				t.Fatalf("%s: seed corpus missing or small (%d files, %v); run with -write-seeds", dir, len(ents), err)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range seeds {
			body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(s)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, "seed-"+strconv.Itoa(i)), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
