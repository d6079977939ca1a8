package ledger

// ArtifactTransitionEnvelope builds the envelope that
// Ledger.WriteArtifactStateTransition appends: event_id "evt-" + a new
// ULID, occurred_at the lifecycle event's timestamp (now, RFC 3339 UTC, when
// empty) and tenant_id the lifecycle event's tenant when that is a valid id.
// Stores that replicate appends (package jetstream) build the envelope once,
// on the writer, so that every replica stores the same bytes.
func ArtifactTransitionEnvelope(id ArtifactID, kind ArtifactKind, ev LifecycleEvent) ExperienceEventEnvelope {
	return artifactTransitionEnvelope(id, kind, ev)
}
