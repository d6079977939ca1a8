package workload

import (
	"strconv"

	"github.com/exledger/exledger/ledger"
)

// content holds the pre-generated immutable pools the event builders draw
// from, so that the hot loop does no formatting beyond ids.
type content struct {
	texts       []string // free text, lengths ~20 B .. ~2.4 KB (log-uniform)
	shortTexts  []string // short phrases (reasons, summaries, claims)
	jsonDocs    []ledger.RawJSON
	hashes      []string // "sha256:<hex>"
	fingerprint []string // short hex fingerprints
	contentHash []ledger.ContentHash
	artifacts   []string
	docIDs      []string
	actors      []string
	outlierText string
	fpCache     map[fpKey][]string
}

var words = []string{"revenue", "growth", "EMEA", "APAC", "quarter", "forecast", "claim", "evidence",
	"policy", "adapter", "recall", "corpus", "model", "tenant", "budget", "latency", "tokens", "risk",
	"approval", "contract", "vendor", "invoice", "the", "a", "of", "and", "with", "for", "in", "grew",
	"declined", "stable", "projected", "confirmed", "draft", "plan", "summary", "report", "Q1", "Q2",
	"12%", "3.4M", "customer", "churn", "pipeline", "signal", "anomaly", "drift", "baseline", "delta",
	"Grüße", "東京", "naïve", "résumé", "✅", "→"}

var (
	backends   = []string{"local-candle", "openrouter", "anthropic", "kong-gateway", "converge-engine", "local-ndarray"}
	providers  = []string{"openrouter", "anthropic", "kong-gateway", "azure-openai", "bedrock"}
	models     = []string{"anthropic/claude-sonnet-4", "mistral-large", "gpt-4.1-mini", "llama-3.1-70b", "qwen2.5-32b"}
	adapters   = []string{"lora-finance-v3", "lora-legal-v1", "lora-support-v7", "lora-sales-v2"}
	prompts    = []string{"prompts/claims@2.3.1", "prompts/plan@1.0.0", "prompts/eval@0.9.4", "v1", "v2"}
	devices    = []string{"cpu", "cuda:0", "cuda:1", "metal"}
	precisions = []string{"f32", "bf16", "f16", "int8"}
	embedders  = []string{"bge-small-en@1.5", "e5-large-v2", "nomic-embed-text@1"}
	domains    = []string{"market", "finance", "legal", "ops", "support", "sales"}
	metaKeys   = []string{"x-kong-request-id", "openrouter-cost", "x-ratelimit-remaining", "note", "region", "x-request-id"}
	validators = []string{"validator-schema", "validator-policy", "agent-3", "ops@example.com"}
	checkNames = []string{"schema", "brand-safety", "pii", "toxicity", "grounding", "citation"}
	retryWhy   = []string{"429 Too Many Requests", "upstream timeout after 30s", "502 Bad Gateway"}
	truths     = []string{"truth-a", "truth-b", "truth-finance", "truth-legal"}
)

func (g *Generator) buildContent() {
	c := &g.content
	r := g.rng
	sentence := func(n int) string {
		b := make([]byte, 0, n+16)
		for len(b) < n {
			if len(b) > 0 {
				b = append(b, ' ')
			}
			b = append(b, words[r.IntN(len(words))]...)
		}
		return string(b)
	}
	c.texts = make([]string, 96)
	for i := range c.texts {
		// log-uniform 20 .. ~2000 bytes
		n := int(20 * pow2(r.Float64()*4.6))
		c.texts[i] = sentence(n)
	}
	c.shortTexts = make([]string, 64)
	for i := range c.shortTexts {
		c.shortTexts[i] = sentence(12 + r.IntN(60))
	}
	c.jsonDocs = make([]ledger.RawJSON, 48)
	for i := range c.jsonDocs {
		c.jsonDocs[i] = g.jsonDoc(1 + r.IntN(1+i/4))
	}
	c.hashes = make([]string, 64)
	c.fingerprint = make([]string, 64)
	for i := range c.hashes {
		c.hashes[i] = "sha256:" + hexWord(r.Uint64()) + hexWord(r.Uint64()) + hexWord(r.Uint64()) + hexWord(r.Uint64())
		c.fingerprint[i] = hexWord(r.Uint64())
	}
	c.contentHash = make([]ledger.ContentHash, 32)
	for i := range c.contentHash {
		for j := range c.contentHash[i] {
			c.contentHash[i][j] = byte(r.Uint32())
		}
	}
	kinds := []string{"adapter", "pack", "policy", "truthfile", "evalsuite"}
	c.artifacts = make([]string, 40)
	for i := range c.artifacts {
		c.artifacts[i] = kinds[i%len(kinds)] + "-" + domains[i%len(domains)] + "@" +
			strconv.Itoa(1+i/10) + "." + strconv.Itoa(i%10) + ".0"
	}
	c.docIDs = make([]string, 200)
	for i := range c.docIDs {
		c.docIDs[i] = "doc-" + strconv.Itoa(i)
	}
	c.actors = []string{"alice@example.com", "bob@example.com", "engine", "ops@example.com",
		"incident-commander", "cfo@example.com", "procurement-agent", "agent-3"}
	// The outlier: ~64 KB of text built from the regular texts.
	b := make([]byte, 0, OutlierSize+2600)
	for i := 0; len(b) < OutlierSize; i++ {
		b = append(b, c.texts[i%len(c.texts)]...)
		b = append(b, '\n')
	}
	c.outlierText = string(b)
}

// pow2 returns e^x for small x without importing math (keeps the
// generator's arithmetic obviously deterministic).
func pow2(x float64) float64 {
	// e^x = (e^(x/16))^16, with a 6-term series for e^(x/16)
	y := x / 16
	s := 1 + y + y*y/2 + y*y*y/6 + y*y*y*y/24 + y*y*y*y*y/120
	for i := 0; i < 4; i++ {
		s *= s
	}
	return s
}

// jsonDoc builds a compact JSON object (canonical serde_json form: no
// spaces, integers only, plain ASCII strings) with n claims.
func (g *Generator) jsonDoc(n int) ledger.RawJSON {
	r := g.rng
	b := []byte(`{"claims":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"text":"`...)
		for j, m := 0, 2+r.IntN(8); j < m; j++ {
			if j > 0 {
				b = append(b, ' ')
			}
			w := words[r.IntN(50)] // ASCII words only
			b = append(b, w...)
		}
		b = append(b, `","weight":`...)
		b = strconv.AppendInt(b, int64(r.IntN(1000)), 10)
		b = append(b, `,"supported":`...)
		b = strconv.AppendBool(b, r.IntN(2) == 0)
		b = append(b, '}')
	}
	b = append(b, `],"source":"`...)
	b = append(b, g.content.docIDsOr(r.IntN(200))...)
	b = append(b, `","version":`...)
	b = strconv.AppendInt(b, int64(r.IntN(50)), 10)
	b = append(b, `,"extra":null}`...)
	return ledger.RawJSON(b)
}

func (c *content) docIDsOr(i int) string {
	if i < len(c.docIDs) {
		return c.docIDs[i]
	}
	return "doc-" + strconv.Itoa(i)
}

type fpKey struct {
	prefix string
	n      int
}

// fp returns prefix + a random fingerprint cut to n hex digits, from a pool
// built once per (prefix, n).
func (g *Generator) fp(prefix string, n int) string {
	i := g.rng.IntN(len(g.fingerprint))
	k := fpKey{prefix, n}
	pool := g.fpCache[k]
	if pool == nil {
		pool = make([]string, len(g.fingerprint))
		for j, f := range g.fingerprint {
			pool[j] = prefix + f[:n]
		}
		if g.fpCache == nil {
			g.fpCache = map[fpKey][]string{}
		}
		g.fpCache[k] = pool
	}
	return pool[i]
}

func oneOf[T any](g *Generator, xs []T) T { return xs[g.rng.IntN(len(xs))] }

func (g *Generator) pct(p int) bool { return g.rng.IntN(100) < p }

func (g *Generator) chain() ledger.ChainID { return zipfPick(g.chains, g.chainZ) }

func (g *Generator) step() ledger.DecisionStep {
	switch g.rng.IntN(10) {
	case 0, 1, 2, 3, 4:
		return ledger.DecisionStepReasoning
	case 5, 6, 7:
		return ledger.DecisionStepEvaluation
	}
	return ledger.DecisionStepPlanning
}

// text returns a payload text; most are short, a few long.
func (g *Generator) text() string {
	// Favour the shorter half of the pool.
	i := g.rng.IntN(len(g.texts))
	if g.pct(60) {
		i = g.rng.IntN(len(g.texts) / 2)
	}
	return g.texts[i]
}

func (g *Generator) short() string { return oneOf(g, g.shortTexts) }

func (g *Generator) f32() float32 { return float32(g.rng.IntN(1001)) / 1000 }

func (g *Generator) u64p(max int64) *uint64 {
	v := uint64(g.rng.Int64N(max))
	return &v
}

func (g *Generator) strp(s string) *string { return &s }

func (g *Generator) hashp() *ledger.ContentHash {
	h := oneOf(g, g.contentHash)
	return &h
}

func (g *Generator) proposalID() string {
	b := append(g.buf[:0], "prop-"...)
	b = strconv.AppendUint(b, g.n, 10)
	g.buf = b
	id := string(b)
	g.recent[g.nRecent%len(g.recent)] = id
	g.nRecent++
	return id
}

func (g *Generator) recentProposal() string {
	if g.nRecent == 0 {
		return "prop-0"
	}
	n := min(g.nRecent, len(g.recent))
	// mostly the latest few
	back := g.rng.IntN(min(n, 8))
	if g.pct(20) {
		back = g.rng.IntN(n)
	}
	return g.recent[(g.nRecent-1-back)%len(g.recent)]
}

// recordedTrace returns a trace link id that was recorded (85%) or any id
// of the pool.
func (g *Generator) recordedTrace() ledger.TraceLinkID {
	if len(g.recorded) > 0 && g.pct(85) {
		return g.traceLink(g.recorded[g.rng.IntN(len(g.recorded))])
	}
	// any id near the recorded range: often one not recorded (yet)
	return g.traceLink(g.rng.IntN(min(g.nextTrace+64, g.cfg.TraceLinks)))
}

func (g *Generator) contractResults(n int) []ledger.ContractResult {
	out := make([]ledger.ContractResult, n)
	for i := range out {
		out[i] = ledger.ContractResult{Name: checkNames[(i+g.rng.IntN(2))%len(checkNames)], Passed: g.pct(85)}
		if !out[i].Passed && g.pct(70) {
			out[i].FailureReason = g.strp(g.short())
		}
	}
	return out
}

func (g *Generator) trace() ledger.ReplayTrace {
	if g.pct(65) {
		l := &ledger.LocalReplayTrace{
			BaseModelHash: oneOf(g, g.hashes),
			TokenizerHash: g.fp("tok-", 4),
			Seed:          g.rng.Uint64(),
			Sampler:       ledger.SamplerParams{Temperature: g.f32(), TopP: g.f32()},
			PromptVersion: oneOf(g, prompts),
			ExecutionEnv: ledger.ExecutionEnv{
				Device:    oneOf(g, devices),
				Backend:   oneOf(g, []string{"candle", "ndarray", "llama.cpp"}),
				Precision: oneOf(g, precisions),
			},
			WeightsMutated: g.pct(3),
		}
		if g.pct(50) {
			l.Adapter = &ledger.AdapterTrace{AdapterID: oneOf(g, adapters), AdapterHash: oneOf(g, g.hashes), Merged: g.pct(30)}
		}
		if g.pct(60) {
			l.Sampler.TopK = g.u64p(100)
		}
		if g.pct(30) {
			n := 1 + g.rng.IntN(6)
			rt := &ledger.RecallTrace{
				CorpusFingerprint: g.fp("corpus:", 16),
				CandidateIDs:      make([]string, n),
				CandidateScores:   make([]float32, n),
				InjectedCount:     uint64(g.rng.IntN(n + 1)),
			}
			for i := range n {
				rt.CandidateIDs[i] = oneOf(g, g.docIDs)
				rt.CandidateScores[i] = g.f32()
			}
			l.Recall = rt
		}
		return ledger.ReplayTrace{Type: ledger.ReplayTraceLocal, Local: l}
	}
	r := &ledger.RemoteReplayTrace{
		ProviderName:        oneOf(g, providers),
		ProviderModelID:     oneOf(g, models),
		RequestFingerprint:  g.fp("req:", 16),
		ResponseFingerprint: g.fp("resp:", 16),
		Temperature:         g.f32(),
		TopP:                g.f32(),
		MaxTokens:           uint64(256 << g.rng.IntN(6)),
		RetryReasons:        []string{},
		Replayability:       oneOf(g, []ledger.Replayability{ledger.ReplayabilityBestEffort, ledger.ReplayabilityBestEffort, ledger.ReplayabilityNone, ledger.ReplayabilityDeterministic}),
	}
	if n := g.rng.IntN(4); n > 0 {
		r.ProviderMetadata = make(map[string]string, n)
		for range n {
			r.ProviderMetadata[oneOf(g, metaKeys)] = g.fp("", 8)
		}
	}
	if g.pct(10) {
		r.Retried = true
		r.RetryReasons = []string{oneOf(g, retryWhy)}
		if g.pct(30) {
			r.RetryReasons = append(r.RetryReasons, oneOf(g, retryWhy))
		}
	}
	return ledger.ReplayTrace{Type: ledger.ReplayTraceRemote, Remote: r}
}

var proposalKinds = []ledger.ProposalKind{ledger.ProposalKindClaims, ledger.ProposalKindClaims, ledger.ProposalKindPlan,
	ledger.ProposalKindClassification, ledger.ProposalKindEvaluation, ledger.ProposalKindDraftDocument, ledger.ProposalKindReasoning}

func (g *Generator) proposalCreated() *ledger.ProposalCreated {
	p := &ledger.ProposalCreated{
		Proposal: ledger.KernelProposal{
			ID:              g.proposalID(),
			Kind:            oneOf(g, proposalKinds),
			Payload:         g.text(),
			TraceLink:       g.trace(),
			ContractResults: g.contractResults(g.rng.IntN(4)),
			RequiresHuman:   g.pct(10),
		},
		ChainID: g.chain(),
		Step:    g.step(),
	}
	if g.pct(60) {
		p.Proposal.StructuredPayload = oneOf(g, g.jsonDocs)
	}
	if g.pct(80) {
		f := g.f32()
		p.Proposal.Confidence = &f
	}
	if g.pct(40) {
		p.PolicySnapshotHash = g.hashp()
	}
	return p
}

func (g *Generator) outlier() *ledger.ProposalCreated {
	p := g.proposalCreated()
	p.Proposal.Payload = g.outlierText
	return p
}

func (g *Generator) proposalValidated() *ledger.ProposalValidated {
	n := 1 + g.rng.IntN(4)
	v := &ledger.ProposalValidated{
		ProposalID:      ledger.ProposalID(g.recentProposal()),
		ChainID:         g.chain(),
		Step:            g.step(),
		ContractResults: make([]ledger.ContractResultSnapshot, n),
		AllPassed:       true,
		Validator:       ledger.ActorID(oneOf(g, validators)),
	}
	for i := range v.ContractResults {
		c := &v.ContractResults[i]
		c.Name = checkNames[(i+g.rng.IntN(3))%len(checkNames)]
		c.Passed = g.pct(88)
		if !c.Passed {
			v.AllPassed = false
			if g.pct(75) {
				c.FailureReason = g.strp(g.short())
			}
		}
	}
	return v
}

func (g *Generator) factPromoted() *ledger.FactPromoted {
	b := append(g.buf[:0], "fact-"...)
	b = strconv.AppendUint(b, g.n, 10)
	g.buf = b
	return &ledger.FactPromoted{
		ProposalID:    ledger.ProposalID(g.recentProposal()),
		FactID:        ledger.FactID(b),
		PromotedBy:    ledger.ActorID(oneOf(g, g.actors)),
		Reason:        g.short(),
		RequiresHuman: g.pct(8),
	}
}

var recallStops = []ledger.RecallStopReason{ledger.RecallStopReachedTopK, ledger.RecallStopReachedTopK, ledger.RecallStopBelowThreshold,
	ledger.RecallStopBudgetExhausted, ledger.RecallStopTokenLimitReached, ledger.RecallStopLatencyExceeded,
	ledger.RecallStopEmbedderNotDeterministic, ledger.RecallStopTenantScopeMissing}

func (g *Generator) recallExecuted() *ledger.RecallExecuted {
	k := 1 + g.rng.IntN(10)
	returned := g.rng.IntN(k + 1)
	e := &ledger.RecallExecuted{
		Query: ledger.RecallQuery{QueryText: g.short(), TopK: uint64(k)},
		Provenance: ledger.RecallProvenanceEnvelope{
			QueryHash:            g.fp("qh-", 16),
			EmbeddingInputHash:   g.fp("eih-", 16),
			EmbeddingHash:        g.fp("eh-", 16),
			EmbedderID:           oneOf(g, embedders),
			EmbedderSettingsHash: g.fp("esh-", 8),
			CorpusFingerprint:    g.fp("corpus:", 16),
			PolicySnapshotHash:   g.fp("psh-", 8),
			Purpose:              ledger.RecallUseRuntimeAugmentation,
			Consumers:            []ledger.RecallConsumer{ledger.RecallConsumerKernel},
			CandidateScores:      make([]ledger.CandidateScore, returned),
			CandidatesSearched:   uint64(1000 + g.rng.IntN(1_000_000)),
			CandidatesReturned:   uint64(returned),
			LatencyMs:            uint64(2 + g.rng.IntN(200)),
			Timestamp:            string(g.lastTS),
			Signature:            "unsigned",
		},
	}
	if g.pct(10) {
		e.Provenance.Purpose = ledger.RecallUseTrainingCandidateSelection
		e.Provenance.Consumers = append(e.Provenance.Consumers, ledger.RecallConsumerTrainer)
	}
	if g.pct(20) {
		e.Provenance.Consumers = append(e.Provenance.Consumers, ledger.RecallConsumerAnalytics)
	}
	if g.pct(30) {
		e.Provenance.Signature = g.fp("ed25519:", 16)
	}
	for i := range e.Provenance.CandidateScores {
		e.Provenance.CandidateScores[i] = ledger.CandidateScore{ID: oneOf(g, g.docIDs), Score: float64(g.rng.IntN(10001)) / 10000}
	}
	if g.pct(70) {
		s := g.step()
		e.Query.StepContext = &s
	}
	if g.pct(40) {
		e.Query.TenantScope = g.strp(string(zipfPick(g.tenants, g.tenantZ)))
	}
	if g.pct(85) {
		s := oneOf(g, recallStops)
		e.Provenance.StopReason = &s
	}
	if g.pct(50) {
		t := g.recordedTrace()
		e.TraceLinkID = &t
	}
	return e
}

func (g *Generator) replayTraceRecorded() *ledger.ReplayTraceRecorded {
	var idx int
	if len(g.recorded) > 0 && (g.pct(20) || g.nextTrace >= g.cfg.TraceLinks) {
		idx = g.recorded[g.rng.IntN(len(g.recorded))]
	} else {
		idx = g.nextTrace
		g.nextTrace++
		g.recorded = append(g.recorded, idx)
	}
	return &ledger.ReplayTraceRecorded{TraceLinkID: g.traceLink(idx), TraceLink: g.trace()}
}

var downgradeReasons = []ledger.ReplayabilityDowngradeReason{ledger.DowngradeRecallEmbedderNotDeterministic,
	ledger.DowngradeRecallCorpusNotContentAddressed, ledger.DowngradeRemoteBackendUsed, ledger.DowngradeNoSeedProvided,
	ledger.DowngradeMultipleReasons}

func (g *Generator) downgraded() *ledger.ReplayabilityDowngraded {
	from, to := ledger.ReplayabilityDeterministic, ledger.ReplayabilityBestEffort
	if g.pct(30) {
		from, to = ledger.ReplayabilityBestEffort, ledger.ReplayabilityNone
	}
	return &ledger.ReplayabilityDowngraded{TraceLinkID: g.recordedTrace(), From: from, To: to, Reason: oneOf(g, downgradeReasons)}
}

var (
	artifactKinds = []ledger.ArtifactKind{{Kind: ledger.ArtifactKindAdapter}, {Kind: ledger.ArtifactKindAdapter},
		{Kind: ledger.ArtifactKindPack}, {Kind: ledger.ArtifactKindPolicy}, {Kind: ledger.ArtifactKindTruthFile},
		{Kind: ledger.ArtifactKindEvalSuite}, {Kind: ledger.ArtifactKindOther, Other: "prompt-template"}}
	states = []ledger.GovernedArtifactState{ledger.StateDraft, ledger.StateApproved, ledger.StateActive,
		ledger.StateQuarantined, ledger.StateDeprecated, ledger.StateRolledBack}
)

func (g *Generator) artifactTransition() *ledger.ArtifactStateTransitioned {
	i := g.rng.IntN(len(states) - 1)
	a := &ledger.ArtifactStateTransitioned{
		ArtifactID:   ledger.ArtifactID(oneOf(g, g.artifacts)),
		ArtifactKind: oneOf(g, artifactKinds),
		Event: ledger.LifecycleEvent{
			FromState: states[i],
			ToState:   states[i+1],
			Timestamp: string(g.lastTS),
			Actor:     oneOf(g, g.actors),
			Reason:    g.short(),
		},
	}
	if g.pct(60) {
		a.Event.TicketRef = g.strp("JIRA-" + strconv.Itoa(100+g.rng.IntN(900)))
	}
	if g.pct(70) {
		a.Event.TenantID = g.strp(string(zipfPick(g.tenants, g.tenantZ)))
	}
	return a
}

var severities = []ledger.RollbackSeverity{ledger.SeverityLow, ledger.SeverityMedium, ledger.SeverityMedium,
	ledger.SeverityHigh, ledger.SeverityCritical}

func (g *Generator) artifactRollback() *ledger.ArtifactRollbackRecorded {
	r := &ledger.ArtifactRollbackRecorded{Rollback: ledger.RollbackRecord{
		ArtifactID:    oneOf(g, g.artifacts),
		PreviousState: oneOf(g, states[1:4]),
		RolledBackAt:  string(g.lastTS),
		Actor:         oneOf(g, g.actors),
		Reason:        g.short(),
		Impact: ledger.RollbackImpact{
			QualityIssues:      []string{g.short()},
			InvalidatesOutputs: g.pct(40),
			Severity:           oneOf(g, severities),
			AffectedTenants:    []string{string(zipfPick(g.tenants, g.tenantZ))},
		},
	}}
	if g.pct(70) {
		r.Rollback.Impact.AffectedCount = g.u64p(100_000)
	}
	if g.pct(50) {
		r.Rollback.IncidentRef = g.strp("INC-" + strconv.Itoa(1000+g.rng.IntN(9000)))
	}
	if g.pct(60) {
		r.Rollback.TenantID = g.strp(r.Rollback.Impact.AffectedTenants[0])
	}
	return r
}

func (g *Generator) backendInvoked() *ledger.BackendInvoked {
	b := &ledger.BackendInvoked{
		BackendName: ledger.BackendID(oneOf(g, backends)),
		TraceLinkID: g.recordedTrace(),
		Step:        g.step(),
	}
	if g.pct(40) {
		a := ledger.BackendID(oneOf(g, adapters))
		b.AdapterID = &a
	}
	if g.pct(40) {
		b.PolicySnapshotHash = g.hashp()
	}
	return b
}

func (g *Generator) stopReason() *ledger.StopReason {
	switch g.rng.IntN(20) {
	case 0, 1, 2, 3, 4, 5, 6, 7:
		return &ledger.StopReason{Kind: ledger.StopConverged}
	case 8, 9:
		return &ledger.StopReason{Kind: ledger.StopCriteriaMet, CriteriaMet: &ledger.StopCriteriaMetData{
			Criteria: []ledger.CriterionID{"crit-accuracy", "crit-coverage"}[:1+g.rng.IntN(2)]}}
	case 10:
		return &ledger.StopReason{Kind: ledger.StopUserCancelled}
	case 11:
		return &ledger.StopReason{Kind: ledger.StopHumanInterventionRequired, HumanInterventionRequired: &ledger.StopHumanInterventionData{
			Criteria: []ledger.CriterionID{"crit-risk"}, ApprovalRefs: []ledger.ApprovalPointID{ledger.ApprovalPointID(g.fp("ap-", 6))}}}
	case 12:
		return &ledger.StopReason{Kind: ledger.StopCycleBudgetExhausted, CycleBudgetExhausted: &ledger.StopCycleBudgetData{CyclesExecuted: 50, Limit: 50}}
	case 13:
		return &ledger.StopReason{Kind: ledger.StopFactBudgetExhausted, FactBudgetExhausted: &ledger.StopFactBudgetData{FactsCount: uint32(g.rng.IntN(1000)), Limit: 1000}}
	case 14:
		return &ledger.StopReason{Kind: ledger.StopTokenBudgetExhausted, TokenBudgetExhausted: &ledger.StopTokenBudgetData{TokensConsumed: uint64(g.rng.IntN(200_000)), Limit: 200_000}}
	case 15:
		return &ledger.StopReason{Kind: ledger.StopTimeBudgetExhausted, TimeBudgetExhausted: &ledger.StopTimeBudgetData{DurationMs: uint64(g.rng.IntN(60_000)), LimitMs: 60_000}}
	case 16:
		return &ledger.StopReason{Kind: ledger.StopInvariantViolated, InvariantViolated: &ledger.StopInvariantViolatedData{
			Class: oneOf(g, []ledger.InvariantClass{ledger.InvariantStructural, ledger.InvariantSemantic, ledger.InvariantAcceptance}),
			Name:  "inv-" + oneOf(g, checkNames), Reason: g.short()}}
	case 17:
		return &ledger.StopReason{Kind: ledger.StopPromotionRejected, PromotionRejected: &ledger.StopPromotionRejectedData{ProposalID: g.recentProposal(), Reason: g.short()}}
	case 18:
		return &ledger.StopReason{Kind: ledger.StopError, Error: &ledger.StopErrorData{Message: g.short(),
			Category: oneOf(g, []ledger.ErrorCategory{ledger.ErrorCategoryInternal, ledger.ErrorCategoryConfiguration, ledger.ErrorCategoryExternal, ledger.ErrorCategoryResource, ledger.ErrorCategoryUnknown})}}
	}
	if g.pct(50) {
		return &ledger.StopReason{Kind: ledger.StopAgentRefused, AgentRefused: &ledger.StopAgentRefusedData{AgentID: "agent-" + strconv.Itoa(g.rng.IntN(9)), Reason: g.short()}}
	}
	return &ledger.StopReason{Kind: ledger.StopHitlGatePending, HitlGatePending: &ledger.StopHitlGatePendingData{
		GateID: g.fp("hitl-", 6), ProposalID: g.recentProposal(), Summary: g.short(), AgentID: "procurement-agent", Cycle: uint32(g.rng.IntN(20))}}
}

func (g *Generator) outcomeRecorded() *ledger.OutcomeRecorded {
	o := &ledger.OutcomeRecorded{ChainID: g.chain(), Step: g.step(), Passed: g.pct(80)}
	if g.pct(60) {
		o.StopReason = g.stopReason()
	}
	if g.pct(90) {
		o.LatencyMs = g.u64p(30_000)
	}
	if g.pct(70) {
		o.Tokens = g.u64p(50_000)
	}
	if g.pct(50) {
		o.CostMicrodollars = g.u64p(2_000_000)
	}
	if g.pct(70) {
		b := ledger.BackendID(oneOf(g, backends))
		o.Backend = &b
	}
	if n := g.rng.IntN(6) - 2; n > 0 {
		o.Metadata = make(map[string]string, n)
		for range n {
			o.Metadata[oneOf(g, metaKeys)] = g.fp("", 8)
		}
	}
	return o
}

var budgetResources = []ledger.BudgetResource{{Kind: ledger.BudgetEngineBudget}, {Kind: ledger.BudgetTokens}, {Kind: ledger.BudgetTokens},
	{Kind: ledger.BudgetFacts}, {Kind: ledger.BudgetCycles}, {Kind: ledger.BudgetTime}, {Kind: ledger.BudgetCost},
	{Kind: ledger.BudgetOther, Other: "gpu-seconds"}}

func (g *Generator) budgetExceeded() *ledger.BudgetExceeded {
	limit := 1000 * (1 + g.rng.IntN(100))
	b := &ledger.BudgetExceeded{ChainID: g.chain(), Resource: oneOf(g, budgetResources), Limit: strconv.Itoa(limit)}
	if g.pct(70) {
		b.Observed = g.strp(strconv.Itoa(limit + g.rng.IntN(limit)))
	}
	return b
}

func (g *Generator) policySnapshot() *ledger.PolicySnapshotCaptured {
	p := &ledger.PolicySnapshotCaptured{
		PolicyID:     ledger.PolicyID("policy-" + oneOf(g, domains) + "-" + strconv.Itoa(g.rng.IntN(5))),
		SnapshotHash: oneOf(g, g.contentHash),
		CapturedBy:   ledger.ActorID(oneOf(g, g.actors)),
	}
	switch g.rng.IntN(3) {
	case 0:
		k := &ledger.KernelPolicy{
			RecallEnabled:       g.pct(70),
			RecallMaxCandidates: uint64(4 + g.rng.IntN(30)),
			RecallMinScore:      g.f32(),
			RequiresHuman:       g.pct(20),
			RequiredTruths:      append([]string{}, truths[:g.rng.IntN(len(truths))]...),
		}
		if g.pct(50) {
			k.AdapterID = g.strp(oneOf(g, adapters))
		}
		if g.pct(50) {
			k.Seed = g.u64p(1 << 40)
		}
		p.Policy = ledger.PolicySnapshot{Type: ledger.PolicySnapshotKernel, Kernel: k}
	case 1:
		r := &ledger.RoutingPolicy{
			TruthPreferences: map[string]string{"finance": oneOf(g, backends), "marketing": oneOf(g, backends)},
			RiskTierBackends: map[ledger.RiskTier][]string{
				ledger.RiskTierLow: {oneOf(g, backends), "local"}, ledger.RiskTierHigh: {"local"},
			},
			DataClassificationBackends: map[ledger.DataClassification][]string{
				ledger.DataPublic: {oneOf(g, backends)}, ledger.DataRestricted: {},
			},
			DefaultBackend: oneOf(g, backends),
		}
		if g.pct(50) {
			r.RiskTierBackends[ledger.RiskTierCritical] = []string{}
			r.RiskTierBackends[ledger.RiskTierMedium] = []string{oneOf(g, backends)}
		}
		p.Policy = ledger.PolicySnapshot{Type: ledger.PolicySnapshotRouting, Routing: r}
	default:
		r := &ledger.RecallPolicy{
			Enabled:            g.pct(80),
			MaxKTotal:          uint64(5 + g.rng.IntN(40)),
			MaxTokensInjection: uint64(500 * (1 + g.rng.IntN(8))),
			MinScoreThreshold:  float64(g.rng.IntN(100)) / 100,
			Budgets:            ledger.RecallBudgets{MaxLatencyMs: 250, MaxEmbeddingCalls: uint64(1 + g.rng.IntN(10)), MaxTokensPerCandidate: 256},
			AllowedUses:        []ledger.RecallUse{ledger.RecallUseRuntimeAugmentation},
		}
		if g.pct(30) {
			r.AllowedUses = append(r.AllowedUses, ledger.RecallUseTrainingCandidateSelection)
		}
		p.Policy = ledger.PolicySnapshot{Type: ledger.PolicySnapshotRecall, Recall: r}
	}
	return p
}

var outcomes = []ledger.HypothesisOutcome{ledger.HypothesisConfirmed, ledger.HypothesisConfirmed, ledger.HypothesisFalsified,
	ledger.HypothesisSuperseded, ledger.HypothesisUnresolved}

func (g *Generator) hypothesisResolved() *ledger.HypothesisResolved {
	formed := uint32(g.rng.IntN(50))
	h := &ledger.HypothesisResolved{
		ChainID:       g.chain(),
		FactID:        ledger.FactID("fact-" + strconv.Itoa(g.rng.IntN(int(g.n)+1))),
		Domain:        ledger.DomainID(oneOf(g, domains)),
		Claim:         g.short(),
		Confidence:    float64(g.rng.IntN(1_000_001)) / 1_000_000,
		Outcome:       oneOf(g, outcomes),
		FormedCycle:   formed,
		ResolvedCycle: formed + uint32(g.rng.IntN(10)),
	}
	if h.Outcome == ledger.HypothesisFalsified && g.pct(70) {
		t := ledger.TensionID("tension-" + strconv.Itoa(g.rng.IntN(1000)))
		h.ContradictionID = &t
	}
	return h
}

func (g *Generator) gateDecision() *ledger.GateDecisionRecorded {
	gate := "hitl-" + strconv.FormatUint(g.n, 10)
	req := ledger.GateRequest{
		GateID:      gate,
		ProposalID:  g.recentProposal(),
		Summary:     g.short(),
		AgentID:     "procurement-agent",
		ContextData: []ledger.GateContextEntry{{Label: "amount", Value: "$" + strconv.Itoa(1000*(1+g.rng.IntN(50)))}},
		Cycle:       uint32(g.rng.IntN(20)),
		RequestedAt: g.lastTS,
		Timeout: ledger.GateTimeout{TimeoutSecs: 3600,
			Action: oneOf(g, []ledger.TimeoutAction{ledger.TimeoutReject, ledger.TimeoutApprove, ledger.TimeoutEscalate})},
	}
	if g.pct(60) {
		req.Rationale = g.strp(g.short())
	}
	dec := ledger.GateDecision{GateID: gate, Verdict: ledger.GateVerdict{Kind: ledger.GateApprove},
		DecidedBy: oneOf(g, g.actors), DecidedAt: g.lastTS}
	if g.pct(35) {
		dec.Verdict = ledger.GateVerdict{Kind: ledger.GateReject}
		if g.pct(70) {
			dec.Verdict.RejectReason = g.strp(g.short())
		}
	}
	return &ledger.GateDecisionRecorded{Request: req, Decision: dec}
}
