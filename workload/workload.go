package workload

import (
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/exledger/exledger/ledger"
)

// Config parameterises a Generator. Every zero value means the documented
// default.
type Config struct {
	Seed         int64     // rng seed; the sequence is a pure function of the Config
	Tenants      int       // tenant pool size; 0 = 8
	Correlations int       // correlation id pool size; 0 = 200
	Chains       int       // chain id pool size; 0 = 300
	TraceLinks   int       // trace link id pool size; 0 = 100000 (ids are built lazily)
	Start        time.Time // first occurred_at; zero = 2026-01-01T00:00:00Z
	OutlierRate  float64   // probability of a ~64 KB payload outlier; 0 = 1e-4, negative = none
}

// Defaults applied to zero Config fields.
const (
	DefaultTenants      = 8
	DefaultCorrelations = 200
	DefaultChains       = 300
	DefaultTraceLinks   = 100_000
	DefaultOutlierRate  = 1e-4
	// OutlierSize is the approximate payload size of an outlier event.
	OutlierSize = 64 << 10
)

// DefaultStart is the default first occurred_at.
var DefaultStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// KindWeights gives the relative frequency (per 1000 events) of each kind,
// in ledger.AllKinds order. The weights sum to 1000.
var KindWeights = [14]int{
	200, // ProposalCreated
	170, // ProposalValidated
	70,  // FactPromoted
	150, // RecallExecuted
	60,  // ReplayTraceRecorded
	20,  // ReplayabilityDowngraded
	15,  // ArtifactStateTransitioned
	7,   // ArtifactRollbackRecorded
	90,  // BackendInvoked
	150, // OutcomeRecorded
	20,  // BudgetExceeded
	10,  // PolicySnapshotCaptured
	30,  // HypothesisResolved
	8,   // GateDecisionRecorded
}

// Generator produces envelopes. Create it with New.
type Generator struct {
	cfg  Config
	rng  *rand.Rand
	n    uint64 // envelopes generated so far
	seed string // strconv of cfg.Seed

	tenants      []ledger.TenantID
	correlations []ledger.CorrelationID
	chains       []ledger.ChainID
	traceLinks   []ledger.TraceLinkID // built lazily, up to cfg.TraceLinks
	tenantZ      *rand.Zipf
	corrZ        *rand.Zipf
	chainZ       *rand.Zipf
	recorded     []int // indices into traceLinks that have been recorded
	nextTrace    int   // next never-recorded index into traceLinks
	kindCum      [14]int

	// time state
	nowMs  int64
	lastTS ledger.Timestamp

	// recent proposal ids (ring), for validations and promotions
	recent  [128]string
	nRecent int

	buf []byte // scratch for building ids

	content
}

// New returns a Generator for cfg.
func New(cfg Config) *Generator {
	if cfg.Tenants <= 0 {
		cfg.Tenants = DefaultTenants
	}
	if cfg.Correlations <= 0 {
		cfg.Correlations = DefaultCorrelations
	}
	if cfg.Chains <= 0 {
		cfg.Chains = DefaultChains
	}
	if cfg.TraceLinks <= 0 {
		cfg.TraceLinks = DefaultTraceLinks
	}
	if cfg.Start.IsZero() {
		cfg.Start = DefaultStart
	}
	if cfg.OutlierRate == 0 {
		cfg.OutlierRate = DefaultOutlierRate
	}
	s := uint64(cfg.Seed)
	g := &Generator{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(s, s^0x9e3779b97f4a7c15)),
		seed:  strconv.FormatInt(cfg.Seed, 10),
		nowMs: cfg.Start.UnixMilli(),
		buf:   make([]byte, 0, 64),
	}
	sum := 0
	for i, w := range KindWeights {
		sum += w
		g.kindCum[i] = sum
	}
	g.buildPools()
	g.buildContent()
	return g
}

var tenantNames = []string{"acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka",
	"tyrell", "cyberdyne", "soylent", "aperture", "massive", "oscorp", "vandelay", "pied-piper"}

func (g *Generator) buildPools() {
	cfg := &g.cfg
	g.tenants = make([]ledger.TenantID, cfg.Tenants)
	for i := range g.tenants {
		if i < len(tenantNames) {
			g.tenants[i] = ledger.TenantID("tenant-" + tenantNames[i])
		} else {
			g.tenants[i] = ledger.TenantID("tenant-" + pad(i, 4))
		}
	}
	g.correlations = make([]ledger.CorrelationID, cfg.Correlations)
	day := cfg.Start.UTC().Format("2006-01-02")
	for i := range g.correlations {
		switch i % 3 {
		case 0:
			g.correlations[i] = ledger.CorrelationID("run-" + day + "-" + pad(i, 4))
		case 1:
			g.correlations[i] = ledger.CorrelationID("corr_" + hexWord(g.rng.Uint64()))
		default:
			g.correlations[i] = ledger.CorrelationID("session." + pad(i, 5) + ".agent-" + strconv.Itoa(i%7))
		}
	}
	g.chains = make([]ledger.ChainID, cfg.Chains)
	for i := range g.chains {
		switch {
		case i%50 == 17:
			g.chains[i] = ledger.ChainID("chain with spaces " + strconv.Itoa(i))
		case i%50 == 33:
			g.chains[i] = ledger.ChainID("chaîne-東京-" + strconv.Itoa(i))
		default:
			g.chains[i] = ledger.ChainID("chain-" + pad(i, 6))
		}
	}
	// Zipf needs imax >= 1 to be meaningful; a pool of one always yields 0.
	g.tenantZ = rand.NewZipf(g.rng, 1.3, 1, uint64(max(cfg.Tenants-1, 1)))
	g.corrZ = rand.NewZipf(g.rng, 1.1, 2, uint64(max(cfg.Correlations-1, 1)))
	g.chainZ = rand.NewZipf(g.rng, 1.1, 2, uint64(max(cfg.Chains-1, 1)))
}

// Tenants returns the tenant pool, most popular first.
func (g *Generator) Tenants() []ledger.TenantID { return append([]ledger.TenantID(nil), g.tenants...) }

// Chains returns the chain id pool, most popular first.
func (g *Generator) Chains() []ledger.ChainID { return append([]ledger.ChainID(nil), g.chains...) }

// Correlations returns the correlation id pool, most popular first.
func (g *Generator) Correlations() []ledger.CorrelationID {
	return append([]ledger.CorrelationID(nil), g.correlations...)
}

// TraceLinks returns the trace link id pool. ReplayTraceRecorded registers
// them in pool order; once all are registered, every further
// ReplayTraceRecorded re-records one.
func (g *Generator) TraceLinks() []ledger.TraceLinkID {
	g.traceLink(g.cfg.TraceLinks - 1)
	return append([]ledger.TraceLinkID(nil), g.traceLinks...)
}

// traceLink returns pool entry i (0 <= i < cfg.TraceLinks), building the
// pool up to i on first use.
func (g *Generator) traceLink(i int) ledger.TraceLinkID {
	for len(g.traceLinks) <= i {
		g.traceLinks = append(g.traceLinks, ledger.TraceLinkID("tl-"+pad(len(g.traceLinks), 6)))
	}
	return g.traceLinks[i]
}

// Count returns how many envelopes have been generated.
func (g *Generator) Count() uint64 { return g.n }

// Batch returns the next n envelopes.
func (g *Generator) Batch(n int) []ledger.ExperienceEventEnvelope {
	out := make([]ledger.ExperienceEventEnvelope, n)
	for i := range out {
		out[i] = g.Next()
	}
	return out
}

// Next returns the next envelope.
func (g *Generator) Next() ledger.ExperienceEventEnvelope {
	g.n++
	var env ledger.ExperienceEventEnvelope
	env.EventID = g.eventID()
	env.OccurredAt = g.timestamp()
	if g.rng.IntN(100) >= 15 {
		t := zipfPick(g.tenants, g.tenantZ)
		env.TenantID = &t
	}
	if g.rng.IntN(100) >= 10 {
		c := zipfPick(g.correlations, g.corrZ)
		env.CorrelationID = &c
	}
	if g.cfg.OutlierRate > 0 && g.rng.Float64() < g.cfg.OutlierRate {
		env.Event = g.outlier()
		return env
	}
	r := g.rng.IntN(g.kindCum[13])
	k := 0
	for g.kindCum[k] <= r {
		k++
	}
	switch ledger.AllKinds[k] {
	case ledger.KindProposalCreated:
		env.Event = g.proposalCreated()
	case ledger.KindProposalValidated:
		env.Event = g.proposalValidated()
	case ledger.KindFactPromoted:
		env.Event = g.factPromoted()
	case ledger.KindRecallExecuted:
		env.Event = g.recallExecuted()
	case ledger.KindReplayTraceRecorded:
		env.Event = g.replayTraceRecorded()
	case ledger.KindReplayabilityDowngraded:
		env.Event = g.downgraded()
	case ledger.KindArtifactStateTransitioned:
		env.Event = g.artifactTransition()
	case ledger.KindArtifactRollbackRecorded:
		env.Event = g.artifactRollback()
	case ledger.KindBackendInvoked:
		env.Event = g.backendInvoked()
	case ledger.KindOutcomeRecorded:
		env.Event = g.outcomeRecorded()
	case ledger.KindBudgetExceeded:
		env.Event = g.budgetExceeded()
	case ledger.KindPolicySnapshotCaptured:
		env.Event = g.policySnapshot()
	case ledger.KindHypothesisResolved:
		env.Event = g.hypothesisResolved()
	default:
		env.Event = g.gateDecision()
	}
	return env
}

// zipfPick returns a Zipf-skewed element of pool (index 0 most likely).
func zipfPick[T any](pool []T, z *rand.Zipf) T {
	if len(pool) == 1 {
		return pool[0]
	}
	i := z.Uint64()
	if i >= uint64(len(pool)) {
		i = uint64(len(pool) - 1)
	}
	return pool[i]
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// eventID returns a unique id: "evt-<seed>-<n>" or a ULID-like string
// whose random part embeds n (so it is unique too).
func (g *Generator) eventID() ledger.EventID {
	b := g.buf[:0]
	if g.rng.IntN(100) < 60 {
		b = append(b, "evt-"...)
		b = append(b, g.seed...)
		b = append(b, '-')
		b = strconv.AppendUint(b, g.n, 10)
	} else {
		ts := uint64(g.nowMs) & (1<<48 - 1)
		// 128 bits: 48 time | 40 random | 40 counter; 26 chars of 5 bits
		// cover 130 bits, the top 2 are zero.
		hi := ts<<16 | g.rng.Uint64()>>48                    // 64 bits: time + 16 random
		lo := (g.rng.Uint64()>>40)<<40 | (g.n & (1<<40 - 1)) // 24 random + 40 counter
		var x [26]byte
		for i := 25; i >= 0; i-- {
			x[i] = crockford[lo&31]
			lo = lo>>5 | hi<<59
			hi >>= 5
		}
		b = append(b, x[:]...)
	}
	g.buf = b
	return ledger.EventID(b)
}

// timestamp advances the clock and returns occurred_at.
func (g *Generator) timestamp() ledger.Timestamp {
	g.nowMs += int64(g.rng.ExpFloat64() * 60) // ~60 ms apart on average
	r := g.rng.IntN(100)
	if r < 2 && g.lastTS != "" {
		return g.lastTS
	}
	ms := g.nowMs
	if r < 7 { // out of order: up to 2 minutes in the past
		ms -= 1000 + g.rng.Int64N(120_000)
	}
	millis := g.rng.IntN(100) < 20
	g.buf = appendRFC3339(g.buf[:0], ms, millis)
	g.lastTS = ledger.Timestamp(g.buf)
	return g.lastTS
}

// appendRFC3339 appends ms (Unix milliseconds, >= 0) as
// YYYY-MM-DDTHH:MM:SS[.mmm]Z.
func appendRFC3339(b []byte, ms int64, millis bool) []byte {
	if ms < 0 {
		ms = 0
	}
	secs := ms / 1000
	days := secs / 86400
	rem := secs % 86400
	// civil_from_days (H. Hinnant), valid for days >= 0.
	z := days + 719468
	era := z / 146097
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	b = appendPad(b, y, 4)
	b = append(b, '-')
	b = appendPad(b, m, 2)
	b = append(b, '-')
	b = appendPad(b, d, 2)
	b = append(b, 'T')
	b = appendPad(b, rem/3600, 2)
	b = append(b, ':')
	b = appendPad(b, rem/60%60, 2)
	b = append(b, ':')
	b = appendPad(b, rem%60, 2)
	if millis {
		b = append(b, '.')
		b = appendPad(b, ms%1000, 3)
	}
	return append(b, 'Z')
}

func appendPad(b []byte, v int64, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for v > 0 || i > len(tmp)-width {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, tmp[i:]...)
}

func pad(v, width int) string { return string(appendPad(nil, int64(v), width)) }

func hexWord(v uint64) string {
	const hx = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = hx[v&15]
		v >>= 4
	}
	return string(b[:])
}
