// Package segment writes and reads sealed segment files: immutable files
// holding a dense range of the ledger's sequence numbers, compressed in
// blocks, every byte covered by a checksum, and carrying the ledger's
// SHA-256 hash chain so that any segment can be verified on its own.
//
// Records are opaque byte strings (the ledger's canonical envelopes); this
// package never decodes them. The WAL makes appends durable; segments are
// written in the background when the ledger seals its tail, and by
// compaction.
//
// # Invariants
//
//   - A segment holds Count >= 1 records with the sequence numbers
//     FirstSeq..LastSeq, each exactly once. An empty segment is refused by
//     Writer.Finish (ErrEmpty): there is nothing to seal, and an empty
//     file would break the "LastSeq >= FirstSeq" rule every reader relies on.
//   - Files are written as path+".tmp", fsynced, renamed to path, and the
//     directory fsynced. Any write, sync or rename failure poisons the
//     Writer and leaves no file at path.
//   - Reads verify before they trust: bounds, then the xxhash64 of the
//     stored bytes, then decompression capped at the header's length, then
//     record framing. Any failure is a *corrupt.CorruptionError naming the
//     file and a byte offset; decoders never panic and never allocate more
//     than the remaining input (or MaxBlockBytes) allows.
//   - Open reads only the trailer and the footer. OpenLazy (the ledger's
//     way) verifies the footer's checksum but parses only its fixed part
//     (Info); the block table and seq map are parsed and checked on first
//     use, held in a FooterCache that bounds them for many segments, and
//     read and verified again (against the checksum seen at open) after
//     eviction. An unordered segment's seq map is held apart, only while
//     the FooterCache has room beside the footers (it never evicts a
//     footer); otherwise each use reads it again and checks it against
//     an xxhash64 taken when the footer was first parsed and checked.
//
// # Hash chain
//
// h(0) = ChainStart (the previous segment's last value, or 32 zero bytes);
// h(n) = SHA-256(h(n-1) || uint64be(len(data_n)) || data_n), over records
// in sequence order. Hashing the logical record bytes (not the compressed
// blocks) keeps the chain unchanged across recompression and compaction.
// Ordered segments store h after each block's last record; unordered
// (clustered) segments store the checkpoints the compactor computed, and
// Verify re-walks the records in sequence order to recompute them.
// Linking segments (each ChainStart equals the previous segment's
// ChainEnd) is the caller's check: Verify proves a segment consistent with
// its own stored ChainStart.
//
// # Salvage
//
// SalvageFile reads what survives of a damaged segment, for ledger repair:
// with a verifying footer every block entry is read and checked as a
// Reader does, otherwise the file is scanned for block magic and each
// block whose header is sane and whose checksum, decompression and framing
// verify is kept. It returns the records of every verifying block (sorted
// by seq; disagreeing copies of a seq are dropped), the stored chain values
// of a verified footer and the damaged blocks or byte ranges. It never
// writes; damage is described, not returned as an error.
//
// # File layout (format version 1)
//
// All fixed-width integers are little-endian except the length inside the
// hash chain, which is big-endian. A file is
//
//	block 0 | block 1 | ... | block N-1 | footer | trailer (32 bytes)
//
// Block (blocks are contiguous from offset 0):
//
//	off  size  field
//	0    4     magic "EXSB"
//	4    1     codec: 0 = raw, 1 = zstd (one frame)
//	5    1     flags: bit 0 = unordered seq encoding; other bits 0
//	6    2     reserved, 0
//	8    8     ulen: uncompressed payload length, 2..MaxBlockBytes (16 MiB)
//	16   4     slen: stored payload length (raw: == ulen; zstd: < ulen)
//	20   4     count: records, 1..ulen/2
//	24   8     first seq: seq of the block's first stored record
//	32   1+m   min time: length m <= 64, then bytes
//	..   1+n   max time: length n <= 64, then bytes (both empty or both set)
//	..   slen  payload
//	..   8     xxhash64 of every preceding byte of the block
//
// A block is stored raw when zstd does not bring it below 97% of ulen.
// The zstd frame header must carry a content size equal to ulen (it may
// omit it only when ulen < 256, as the encoder does). Frames carry no zstd
// checksum (the block's xxhash64 covers them), and by default their
// literals are stored raw rather than Huffman-coded (Options.EntropyLiterals):
// readers handle either.
// The uncompressed payload is count records, each
//
//	seq delta | uvarint len | len bytes
//
// where the seq delta is from the previous record's seq (the first
// record's is from the block's first seq, so it is always 0). Ordered
// blocks store it as a uvarint (0 for the first record, then always 1);
// unordered blocks as a zigzag varint. The payload must be consumed
// exactly. Record times are not stored per record (they live inside the
// caller's bytes); only block and segment min/max, compared byte-wise,
// with empty times ignored.
//
// Footer:
//
//	off  size  field
//	0    4     magic "EXSF"
//	4    1     flags: bit 0 = unordered
//	5    3     reserved, 0
//	8    4     block count N >= 1
//	12   8     first seq
//	20   8     last seq (last - first + 1 == count)
//	28   8     count
//	36   8     raw bytes: sum of the records' data lengths
//	44   32    chain start
//	76   32    chain end (h after the last seq)
//	108  1+m   min time (as in blocks)
//	..   1+n   max time
//	N block entries:
//	     8     offset
//	     4     length (header + payload + checksum)
//	     8     first seq
//	     4     count
//	     1+m   min time
//	     1+n   max time
//	     32    chain value after the block's last record (ordered);
//	           zeros (unordered)
//	unordered segments only:
//	     4     checkpoint count K, 1..count
//	     K x   8 seq + 32 chain value after that seq; seqs ascending,
//	           the last is (last seq, chain end)
//	     1     map width W: 2 if N <= 65536, else 4
//	     count x W  block number holding seq first+i, for i in 0..count-1
//	4     meta length M <= MaxMetaBytes (1 MiB)
//	M     meta: the caller's opaque bytes
//	8     xxhash64 of every preceding footer byte
//
// Open checks (OpenLazy: at first use): blocks are contiguous from 0 and end where the footer
// starts; ordered blocks' first seqs follow from the counts; counts sum to
// count; segment min/max time agree with the blocks'; the last block's
// chain value is the chain end; in unordered segments the map's per-block
// histogram equals the block counts and each block's first seq maps to it.
//
// Trailer (the last 32 bytes):
//
//	off  size  field
//	0    8     footer offset
//	8    4     footer length (including its checksum); offset + length +
//	           32 == file size
//	12   2     format version (1)
//	14   2     reserved, 0
//	16   8     xxhash64 of bytes 0..15
//	24   8     magic "EXLEDGSG"
//
// # Unordered (clustered) segments
//
// Compaction re-clusters records by (tenant, kind, time) so that blocks
// are selective for those queries. The Writer then takes records in any
// seq order (Options.Unordered), checks at Finish that they fill
// [first, last] exactly once, and writes the seq→block map. Lookups use
// the map, and each decoded block carries a small sorted index. Scans and
// Verify walk the seq order in windows holding about 64 MiB of decoded
// blocks, so memory stays bounded whatever the clustering.
//
// # Reading and the block cache
//
// Readers share a Cache of decoded blocks, bounded by bytes and
// scan-resistant: a block read enters a small LRU window (a tenth of the
// bytes) and, pushed out of it, the main LRU part only if it has room or
// if the block was looked up more often recently than each block it would
// evict (a W-TinyLFU; see Cache). A query larger than the cache thus
// neither flushes it nor, repeated, finds nothing (a plain LRU evicts a
// loop's every block before its next read): it keeps what fits. Block, Get
// and GetMany go through it and fill it: they serve point and selective
// reads, which revisit blocks. Scan and GetManyBulk of an ordered segment visit
// blocks once: they use a block already cached (without counting the
// lookup toward its frequency) but decompress the others into recycled
// buffers without caching them, so a scan larger than the cache leaves the
// cached working set alone. ScanBulk does the same for
// unordered segments, whose seq order visits blocks out of order: it
// decompresses a window of about 72 MiB of blocks once, in parallel, and
// then walks the window's seqs; ScanBulkSeqs does it for a list of seqs
// only (a query's many candidates), reading only their blocks. The zstd
// output buffer always has a
// little slack past the block's length, which lets the decoder use
// its faster over-copying loops.
package segment
