// Command ledgerctl runs the exledger demo and inspects, queries, exports,
// imports, verifies and maintains exledger ledgers. docs/ledgerctl.md
// documents every command with real output.
//
// Invariants:
//
//   - Exit codes: 0 ok, 1 error, 2 usage (anything cobra rejects before a
//     command runs, and bad flag values), 3 integrity violation
//     (ledger.ErrIntegrity or a *ledger.CorruptionError), 4 the ledger's
//     lock is held by another process (ledger.ErrLocked). verify-proof
//     exits 3 for a proof that does not verify (proof.ErrInvalid).
//   - Read-only commands (stat, query, get, trace, export, verify, digest,
//     tail, tail -f, checkpoint, prove) open the ledger with
//     Options.ReadOnly: no lock, no byte written inside DIR. They, and compact and repair, first check that DIR
//     holds a MANIFEST, so they never create a ledger; only demo and import
//     create one, and only in a missing or empty directory.
//   - Commands write only inside DIR and to the files named on the command
//     line (export --out, repair --aside, keygen --out, checkpoint --out,
//     prove --out; these never overwrite a file); demo without DIR uses a
//     temporary directory, removed unless --keep.
//   - Events are printed as Converge JSON (ledger.AppendEnvelopeJSON), one
//     per line, whatever -o says; -o json switches the other outputs to
//     one JSON document. Progress goes to stderr, only on a terminal.
//   - The command tree is built by newRootCmd(stdout, stderr), so tests run
//     every command in-process.
package main
