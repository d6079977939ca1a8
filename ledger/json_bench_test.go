package ledger

import (
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

func benchEnvelopes(b *testing.B) ([]ExperienceEventEnvelope, [][]byte, int) {
	b.Helper()
	g := gen{rand.New(rand.NewSource(7))}
	var envs []ExperienceEventEnvelope
	var docs [][]byte
	total := 0
	for i := 0; i < 4; i++ {
		for _, k := range AllKinds {
			e := g.envelope(k)
			d, err := MarshalEnvelopeJSON(e)
			if err != nil {
				b.Fatal(err)
			}
			envs = append(envs, e)
			docs = append(docs, d)
			total += len(d)
		}
	}
	return envs, docs, total
}

func BenchmarkMarshalEnvelopeJSON(b *testing.B) {
	envs, _, total := benchEnvelopes(b)
	buf := make([]byte, 0, 64<<10)
	b.SetBytes(int64(total / len(envs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		buf, err = AppendEnvelopeJSON(buf[:0], &envs[i%len(envs)])
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/envelope")
}

func BenchmarkUnmarshalEnvelopeJSON(b *testing.B) {
	envs, docs, total := benchEnvelopes(b)
	b.SetBytes(int64(total / len(envs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := UnmarshalEnvelopeJSON(docs[i%len(docs)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/envelope")
}

// A real golden with a structured payload and a full local trace.
func BenchmarkUnmarshalGoldenProposal(b *testing.B) {
	doc, err := os.ReadFile(filepath.Join(goldenDir, "proposal_created__local_full.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := UnmarshalEnvelopeJSON(doc); err != nil {
			b.Fatal(err)
		}
	}
}
