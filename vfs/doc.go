// Package vfs is the one seam through which exledger touches the file
// system. Every byte that wal/, segment/, index/ and ledger/ read or write
// goes through an FS, so a test can swap the real OS for an in-memory file
// system that simulates power loss, or for a wrapper that injects I/O
// errors. It is public so that users can do the same with their own crash
// handling: pass an FS in ledger.Options.FS and drive it as exledger's own
// reliability suite does.
//
// Three implementations are provided:
//
//   - OS is the real file system. File.Sync is fdatasync(2), SyncDir
//     fsyncs the directory, Lock is flock(LOCK_EX|LOCK_NB).
//   - MemFS is an in-memory file system that remembers what was made
//     durable. File data becomes durable when the file is synced; a
//     directory entry (create, rename, remove) when its directory is.
//     Crash returns the file system a power loss at that instant could
//     leave behind, under a CrashMode (drop everything unsynced, keep it,
//     or tear unsynced writes at random sector boundaries), and
//     SetCrashAfter makes every mutating operation after the Nth fail with
//     ErrCrashed, so a test can stop a program at every step it takes.
//   - FaultFS wraps another FS and fails the Nth operation of a chosen kind
//     (write, sync, rename, ...) with an injected error.
//
// Hard links are an optional interface, Linker, called through Link: all
// three implementations have it, and an error for which CanCopyInstead
// holds (ErrCrossDevice, ErrLinkUnsupported) tells the caller to copy the
// file instead.
//
// Direct I/O is another optional interface, DirectOpener, called through
// OpenDirect: OS opens the file with O_DIRECT, MemFS and FaultFS give a
// handle with the same content and crash semantics that, like the OS,
// refuses reads and writes not aligned to DirectAlign (FaultFS can also
// refuse the open, as tmpfs does, with RefuseDirect). An error matching
// ErrDirectUnsupported tells the caller to use a buffered handle.
//
// The interface is deliberately small: only the calls the engine makes.
// Paths are ordinary OS paths (join them with path/filepath). An
// implementation must make Rename atomic once the directory is synced and
// must report a missing file with an error matching fs.ErrNotExist.
//
// Stability: FS and File may gain methods only together with a new major
// version of the module; the test file systems (MemFS, FaultFS) may gain
// options at any time.
package vfs
