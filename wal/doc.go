// Package wal is the ledger's write-ahead log: an append-only sequence of
// checksummed frames, one per committed batch, spread over numbered files.
//
// # Job
//
// Commit makes a batch of opaque records durable and gives it dense,
// monotonic sequence numbers. A single committer goroutine merges the
// batches of concurrent callers into one write and one fdatasync (group
// commit). Open verifies the log, replays what the caller does not hold
// yet, and repairs only a torn tail. Checkpoint deletes files the caller
// has made durable elsewhere. Open with Options.ReadOnly verifies and
// replays without changing anything; Salvage cuts a corrupt log back to
// its longest valid prefix, and SalvageFrames returns every frame that
// still verifies, wherever it lies (what ledgerctl repair uses).
//
// # Files
//
// Dir holds files named "%016d.wal" (decimal file number, 1, 2, 3, ...;
// numbers are consecutive, a missing number is corruption). The number is
// the file index, not a sequence number, so the next file can be created
// before its first sequence number is known. A file is created as
// "<name>.wal.tmp", written, fsynced, renamed and the directory fsynced, so
// a ".wal" file always has a complete header; leftover ".wal.tmp" files are
// deleted by Open (ignored by a read-only Open). Once the active file is
// half full, the next one is pre-created in the background. While commits
// are small (see fillSpare), or always with Options.FillFiles (which, while
// commits are large, starts the pre-creation as soon as a filled file is
// active), it is
// zero-filled to FileSize (plain writes, no fallocate), so frames overwrite
// zeros and fdatasync needs no size change; otherwise it holds only the
// header. The first file of a new
// log, and a file created when pre-creation failed, hold only the header
// and grow by appends. A file is rotated when the next frame would
// end past FileSize (a file always takes at least one frame, so a batch
// larger than FileSize makes a larger file); the full file is fsynced
// before any frame goes to the next one.
//
// File header, 40 bytes, little-endian:
//
//	off len field
//	  0   8 magic "EXLGWAL\x00"
//	  8   2 version (1)
//	 10   2 flags (0)
//	 12   4 header length (40)
//	 16   8 salt (per ledger)
//	 24   8 file number (must equal the number in the name)
//	 32   8 xxhash64 of bytes 0..31
//
// # Frames
//
// Frames follow the header back to back; every frame starts at a multiple
// of 8 and its size is a multiple of 8, so no length field straddles a
// 512-byte sector.
//
//	off len field
//	  0   4 magic 0x46574c45 ("ELWF")
//	  4   1 version (1)
//	  5   1 flags (0)
//	  6   2 reserved (0)
//	  8   8 salt
//	 16   8 first sequence number (>= 1)
//	 24   8 synced: file offset up to which the file was known durable
//	        (fdatasync returned) when this frame was written
//	 32   4 record count N (>= 1)
//	 36   4 payload length P
//	 40   P payload: N records, each a uint32 length then its bytes
//	      pad zero bytes to a multiple of 8
//	  .   8 xxhash64, seeded with the file number, of every byte above
//
// Seeding the checksum with the file number means a frame is valid only in
// the file it was written to: stale frames in a reused file, or frames
// copied between files, fail the checksum.
//
// # Recycled files
//
// With Options.RecycleFiles = k, Checkpoint keeps up to k covered files
// for reuse instead of removing them: each is renamed to
// "<name>.wal.free" (directory fsynced after each, oldest first, as for a
// removal). When the next file is pre-created and a free file exists, the
// free file is renamed to "<next>.wal.tmp", its 40-byte header is
// overwritten with the new file number and fsynced, and it is renamed to
// "<next>.wal" and the directory fsynced: the same states as a created
// file, except that the previous life's bytes follow the header. Frames
// are written over them; since the previous life's frames were
// checksummed with the old file number, none of them verifies in the new
// file, and at the end of the new frames they read as bytes that are not
// a frame. The file format is unchanged (version 1).
//
// A recycled file is truncated at the end of its own frames, and
// fsynced, before the next file takes a frame (rotation) and at Close, so
// a finished file never holds stale bytes: recovery's rule that nonzero
// bytes after a file's frames followed by valid frames in a later file is
// corruption stays exact. Only the active file (and an unused recycled
// next file after a crash) can hold stale bytes after its frames; recovery
// classifies them as it classifies any nonzero bytes there: a torn tail,
// truncated, unless a current frame written after those bytes were synced
// follows in the same file (corruption). Stale frames are never replayed,
// also when one carries the ledger's salt and continues the sequence.
// Close renames an unused recycled next file back to a free name. A
// writable Open adopts up to k free files and removes the rest (all of
// them with k = 0); a read-only Open, Salvage, SalvageFrames and Tail
// ignore them. Salvage and SalvageFrames report the stale bytes of the
// active file as dropped or damaged bytes (they cannot be told from
// damage).
//
// Before hashing or allocating, a reader checks: magic, version, flags and
// reserved bytes; P <= MaxBatchBytes; frame size <= bytes left in the file;
// 1 <= N and 4*N <= P; synced within [40, frame offset]; the sequence range
// does not overflow. After the checksum: salt equals the ledger's, padding
// is zero, every record length fits in the payload left, and the records
// use exactly P bytes. Sequence numbers must continue exactly from the
// previous frame (across files), and the first frame of the log must start
// at or before the caller's startSeq.
//
// # Direct writes
//
// By default (Options.BufferedWrites unset) the active file is written
// with direct I/O: it is opened with vfs.OpenDirect (O_DIRECT on the OS)
// before its creation's rename (or, for the file Open reopens, after its
// last partial block is read back), so each frame goes from the WAL's
// buffer to the device without being copied into page-cache pages. The
// log is written once and read only by recovery, Salvage, SalvageFrames
// and tails, so the page cache buys nothing, and filling fresh page-cache
// pages is what a buffered write of a large group costs most (about 3 ms
// of CPU per MiB on the 2-core VM the benchmarks run on).
//
// Direct I/O needs the offset, the length and the buffer address aligned
// to 4 KiB (vfs.DirectAlign). The committer therefore encodes frames into
// an aligned buffer whose first bytes are a copy of the active file's
// last partial 4 KiB block up to the end of the last frame (the bytes on
// disk, kept in memory since they were written; the file header for a new
// file), and each group write covers that block again, the new frames,
// and zeros up to the next 4 KiB boundary. The logical end of the file is
// still the end of the last frame: the next write rewrites the zeros. The
// file format does not change (the frames, their offsets and their
// "synced" fields are those a buffered writer writes), and:
//
//   - the rewritten part of the last block holds the same bytes as the
//     disk, so a torn write leaves every earlier frame intact, as a torn
//     buffered write (whose page the kernel also writes whole) does;
//   - the zeros after the last frame read, to recovery, Salvage,
//     SalvageFrames and Tail, as the normal end of the file
//     (pre-allocated space); a recycled file's stale bytes beyond them
//     are handled as before (stale frames never verify);
//   - when a file is finished (rotation) or closed, the padding past the
//     size a buffered writer would have left (the file's size when it
//     became active, or the end of its frames) is truncated, without an
//     fdatasync of its own (zeros are harmless if a crash keeps them), so
//     a closed log is byte-identical to one written through the page
//     cache;
//   - a zero-filled next file is filled through its direct handle (the
//     last bytes of a FileSize that is not a multiple of 4 KiB through
//     a buffered one);
//   - fdatasync is called exactly where a buffered WAL calls it: O_DIRECT
//     bypasses the page cache, not the device's write cache.
//
// A file system that refuses O_DIRECT at open (vfs.ErrDirectUnsupported:
// tmpfs before Linux 6.6, some FUSE mounts) or refuses a direct write
// with EINVAL before writing anything makes the WAL write through the
// page cache for the rest of its life, with the reason logged and in
// Stats.DirectFallback; the refused write is done through a buffered
// handle, so no commit fails. Any other write error poisons the WAL as
// before.
//
// # Recovery and the tail policy
//
// Open reads every file in order and stops each file at the first bytes
// that are not a valid frame ("end"). What follows is classified:
//
//   - only zero bytes: the normal end (pre-allocated space); nothing to do;
//   - a valid frame later in the same file whose synced offset is beyond
//     end: the damaged bytes had been made durable, so this is corruption
//     (*CorruptionError, nothing truncated);
//   - otherwise, nonzero bytes: a torn tail, if no later file holds a valid
//     frame (else *CorruptionError). The file is truncated at end (logged
//     with the byte count) and fsynced. Valid frames inside a torn tail
//     were written in the same unsynced window as the damage, were never
//     acknowledged under SyncAlways, and are dropped with it.
//
// Consequently a single damaged bit is always reported as corruption,
// except in the last write (group) of the last file holding frames, where
// it cannot be told from a torn write and the group is dropped as a torn
// tail. With sequential SyncAlways commits that is exactly the final frame.
// A bad or short file header is always corruption (creation is atomic), as
// is a missing file number or a sequence gap. Open then fsyncs the last
// file holding frames, so frames that reached only the page cache before a
// process crash are durable before they are replayed; Open is idempotent.
//
// # Read-only mode
//
// With Options.ReadOnly, Open runs the same verification and replay but
// never creates, writes, truncates, renames, removes or fsyncs: Dir must
// exist, leftover ".wal.tmp" files are ignored, a torn tail is the end of
// the log (logged at Debug, left in its file), covered files are kept,
// and no file stays open. Corruption is still a *CorruptionError. Commit,
// Sync and Checkpoint return ErrReadOnly; Close only marks the WAL
// closed.
//
// A read-only Open may run beside a live read-write WAL on the same
// directory and replays a prefix of the log that includes every commit
// acknowledged before it started. Its scan can race with the writer: file
// N read up to offset X, then file N+1 holding frames written after X (a
// sequence gap), or a file removed by Checkpoint after the listing. A
// failed scan is therefore repeated, and the error is returned only when
// two consecutive scans fail identically (a quiet log always does), or
// after 8 scans.
//
// # Tail
//
// NewTail returns a reader of the frames a live WAL appends, usually in
// another process (ledgerctl tail -f), that never writes, locks or
// fsyncs. It first finds the file holding the wanted sequence number (the
// last file whose first frame starts at or before it), then each Read
// continues at the offset where the previous one stopped: it parses the
// frame header, checks it as recovery does, reads the frame and accepts it
// only if its checksum is valid. Anything else there (a frame still being
// written, pre-allocated zeros, a torn write being repaired) is "not yet":
// Read returns and the next one looks again at the same offset. At the end
// of the valid frames of a file, the tail moves to the next file only once
// that file's first frame continues the sequence (the writer starts a file
// only after the previous one is complete). If its file was removed (a
// checkpoint, or a writer that dropped its log at a clean close), the tail
// finds its position again from the directory. A sequence number no file
// holds any more is ErrTailGap: the caller reads those records elsewhere
// and Seeks past them. A checksum-valid frame with a foreign salt or a bad
// payload is a *CorruptionError.
//
// # Salvage
//
// Salvage(opts) verifies the log as Open does but, instead of refusing a
// corrupt log, keeps its longest valid prefix: every frame before the
// first bad point. The first bad point is the first invalid frame that
// Open would report or truncate (checksum, bounds, salt, sequence gap or
// overlap, damaged bytes followed by durable frames, a torn tail), a bad
// file header, or a missing file number. The file holding the first bad
// frame is truncated at that frame's offset (a file with a bad header, or
// the file after a missing number, is removed whole), every later file is
// removed, newest first, the directory is fsynced, and only then is the
// file holding the first bad frame truncated and fsynced, so an
// interrupted Salvage can simply be run again.
// Zero bytes after the last frame (pre-allocated space) are not damage.
// The SalvageReport gives the last kept sequence number, the bytes and
// files dropped, the frames still recognisable in the dropped bytes
// (checksum valid for their file) with their sequence range, the first
// bad point as a *CorruptionError, and whether Open would have refused the
// log (Corrupt; false for a mere torn tail). On a clean log Salvage
// changes nothing; after a Salvage, a second one finds a clean log. The
// caller copies the files aside first and has no WAL open on Dir; the
// start-sequence check of Open is not applied.
//
// SalvageFrames(opts) is the frame-granular alternative ledger.Repair uses:
// it changes nothing, reads every file whole and returns every frame whose
// checksum verifies (seeded with the number in the file's name, so a bad
// file header does not hide its frames), with the ledger's salt and
// well-formed records, wherever it lies: after an invalid frame the scan
// resumes at each 8-byte boundary. It also returns where each frame was
// found and the nonzero byte ranges that hold no verified frame. Sequence
// order, gaps and repeats are the caller's business.
//
// # Errors and durability
//
// A failed write or fdatasync poisons the WAL: the callers of the group get
// an error wrapping ErrPoisoned and the I/O error, and every later Commit
// fails the same way until the WAL is reopened. fsync is never retried, and
// nothing is written after a failed write, so a partial frame is never
// followed by valid frames in its file. Failures to pre-create the next
// file do not poison (the committer creates it itself when it needs it);
// a failure then does.
//
// Sync policies: SyncAlways acknowledges after fdatasync; SyncInterval(d)
// after the write, with an fdatasync at most every d; SyncNever after the
// write, syncing only on rotation, Sync and Close.
package wal
