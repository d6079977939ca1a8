// Package index builds and reads the secondary indexes of the ledger:
// tenant, kind, correlation, chain, trace link (record and reference),
// artifact, occurred_at time and event id.
//
// Every sealed segment gets one immutable index file, built by a Builder
// and written with WriteFile; Open (or Decode) reads it back as an Index.
// The unsealed tail is indexed by a Mem; Mem.Encode seals it into the
// same bytes a Builder would produce. Both are Sources for Eval, which
// answers a Query (a conjunction of OR-sets of terms plus an inclusive
// time range) as a lazy iterator of ascending ordinals. An ordinal is
// seq - FirstSeq of the segment; a segment's ordinals are exactly
// 0..Count-1. The caller extracts the terms of each event; this package
// never sees events.
//
// The rule: a selective query costs what it returns, not what the ledger
// holds. A term lookup is a filter probe, a binary search over restart
// points and one posting list; a time range is two binary searches plus
// one step per run of consecutive ordinals in the answer; an event-id
// lookup is a filter probe and a binary search in one hash bucket.
//
// # Invariants
//
//   - Encode is deterministic: the bytes depend only on the set of
//     entries added, never on Add order or term order within an event.
//   - Every byte of a file is covered by a checksum (xxhash64): the header
//     and trailer by the trailer checksum, each section by its own, and
//     in a version 2 file each 4 KiB chunk of the dictionary and postings
//     sections by its chunk checksum. Open verifies the header, trailer
//     and summary. In a version 2 file a term lookup reads only the
//     dictionary's restart rows, the restart blocks its binary search
//     visits and one posting list, each chunk they touch verified before
//     any of its bytes is used. Any other section (and, in a version 1
//     file, the dictionary and postings) is verified in full when first
//     loaded (and again when loaded after a Cache evicted it), before any
//     of it is used. Verify checks every section and every chunk. Any
//     failure is a *CorruptionError{File, Offset, Reason}.
//   - Decoders never panic and check every count and length against the
//     remaining bytes before allocating: loading a hostile file allocates
//     at most about its own size (Open copies sections; Decode slices).
//     Roaring bitmaps are only deserialized from checksummed bytes, under
//     recover, and validated.
//   - Bitmaps and slices returned to callers are theirs to mutate.
//   - Index is safe for concurrent use. Mem is not locked: Add excludes
//     everything else; reads may run concurrently with each other.
//
// # File layout (format version 2)
//
// All integers are little-endian; "uvarint" is encoding/binary's
// unsigned varint. A file is a 16-byte header, seven sections stored
// back to back in this order, then a fixed-size trailer:
//
//	header   (16 B)  magic "EXLEDIDX" | version u32 = 2 | reserved u32 = 0
//	section 0 summary
//	section 1 dictionary
//	section 2 postings
//	section 3 time
//	section 4 event-id filter
//	section 5 event-id table
//	section 6 chunk checksums
//	trailer  (184 B) 7 x (offset u64 | length u64 | xxhash64 of the section u64)
//	                 | section count u32 = 7 | magic "IXTR"
//	                 | xxhash64(header || trailer minus these last 8 bytes) u64
//
// Section 0 starts at offset 16, each next one where the previous ends,
// and the last ends where the trailer starts; anything else is corrupt.
// Open reads the version first: it says how long the trailer is (a
// damaged version names no version or a trailer whose checksum fails).
//
// Version 1 (written before version 2, still read): the same header with
// version 1, sections 0-5 byte for byte as in version 2, and a 160-byte
// trailer of 6 rows and section count 6. A lookup in a version 1 file
// loads and verifies the whole dictionary and postings sections.
// Builder.EncodeVersion(1) writes it, so that such a file can be checked
// against its data.
//
// Chunk checksums (section 6): the dictionary and postings sections, taken
// together as one region (the dictionary's bytes, then the postings'),
// are cut into chunks of 4096 bytes (the last may be shorter; a chunk may
// span the boundary of the two sections):
//
//	chunkSize u32 = 4096 | n u32 = ceil((len(dictionary)+len(postings))/4096)
//	n x xxhash64 of chunk i (region bytes [4096*i, min(4096*(i+1), end)))
//
// A lookup reads the section (kept for the life of the Index: 8 bytes per
// 4 KiB), then the dictionary's head (n, nrestarts and the restart rows:
// kept in the Cache), then per binary-search step the restart block it
// probes and finally one posting list, reading each byte range in one
// read of the chunks that cover it and checking each of those chunks
// before using any byte. Chunks read for a range of at most 16 chunks
// (64 KiB) are kept in the Cache (the restart blocks near the top of the
// binary search are shared by every lookup of the file, and a tenant's
// or a kind's list is a few 8 KiB bitmap containers); a longer range is
// verified, used and dropped. Once the lookups of one file have needed a
// quarter of its distinct chunks (a file in which many distinct terms are
// looked up), its next read from the file reads the dictionary and
// postings whole, verifies every chunk and keeps them all, as a version 1
// file's sections are kept; chunks read again after an eviction do not
// count toward that quarter.
//
// Summary (loaded by Open):
//
//	count u32                 events; ordinals are 0..count-1
//	minTime, maxTime          uvarint length + bytes; byte-wise min and max
//	                          occurred_at ("" when count is 0)
//	terms u32                 distinct dictionary terms
//	fieldBytes 7 x u64        dictionary + postings bytes per field 1..7
//	filter                    Bloom filter over the dictionary terms (below)
//
// Bloom filter: k u8 | 3 zero bytes | nwords u32 | nwords x u64. Bit
// positions are (h1 + i*h2) mod (64*nwords), i < k, with h1 = low 32 bits
// of the hash and h2 = high 32 bits | 1. About 10 bits per key, k = 7
// (1% false positives). An empty filter (nwords = 0, k = 0) holds nothing.
// A term's hash is splitmix64(xxhash64(value) ^ field*0x9e3779b97f4a7c15);
// an event id's hash is xxhash64(id).
//
// Dictionary: every distinct (field, value) except event ids, sorted by
// key = field byte followed by the value bytes:
//
//	n u32 | nrestarts u32 = ceil(n/16)
//	nrestarts x (keyOff u32 | postOff u64)   entry 16*r: its offset in the
//	                                         entries blob, and the offset in
//	                                         the postings section of the first
//	                                         list at or after it
//	entries blob, one entry per term:
//	    shared uvarint | unshared uvarint | key suffix (unshared bytes)
//	    | card<<1|kind uvarint
//	    | card == 1: the ordinal, uvarint (kind 0, no postings bytes)
//	    | card >= 2: length uvarint of its list in the postings section
//
// Keys are front coded against the previous key; shared is 0 at every
// restart entry. Posting lists (card >= 2) are stored in dictionary order;
// an entry's list starts at its restart row's postOff plus the lengths of
// the earlier lists in its block. Restart block r is the blob bytes from
// its keyOff to the next row's (the last to the end of the section); the
// keyOffs strictly increase. A lookup binary-searches the restart keys
// (the first key of each block) and scans at most 16 entries of one
// block.
//
// Postings: the concatenated lists. kind 0 is a delta list: the first
// ordinal, then (ordinal - previous - 1) for each next one, uvarints.
// kind 1 is a roaring bitmap in the portable serialization (RunOptimize'd),
// used for card >= 16 unless it is more than twice the size of the delta
// list: roaring lists are returned without decoding (copy-on-write
// containers over the section bytes), delta lists cost a varint loop, so
// the format trades a little space for lookup speed on large lists.
//
// Time: the events sorted by (occurred_at bytes, ordinal).
//
//	ndistinct u32 | npos u32 (= count) | nkeyRestarts u32 = ceil(ndistinct/16)
//	| keysLen u32 | nruns u32 | nrunRestarts u32 = ceil(nruns/32)
//	nkeyRestarts x (keyOff u32 | pos u32)      every 16th distinct time:
//	                                           blob offset, and position (in
//	                                           time order) of its first event
//	keys blob (keysLen bytes), one entry per distinct time, ascending:
//	    shared<<1|multi uvarint | unshared uvarint | suffix
//	    | multi == 1 only: (events with this time - 2) uvarint
//	nrunRestarts x (runOff u32 | pos u32 | ordStart u32)   every 32nd run
//	runs blob, to the end of the section: the ordinals in time order cut
//	    into maximal runs of consecutive ordinals, each run
//	    zigzag(start - end of previous run) uvarint | length-1 uvarint
//	    (the first run's "previous end" is 0; at a restart the absolute
//	    start is also in the restart row)
//
// TimeRange finds the first position with time >= start and the first
// with time > end by binary search over the restart keys plus a scan of
// one 16-entry block each, then emits the runs covering that position
// range as bitmap ranges. Times that mostly increase with ordinal give
// few, long runs; the epoch default, odd strings and disorder only add
// short runs. A range covering [minTime, maxTime] needs no section load.
//
// Event-id filter: a Bloom filter (format above) over the hashes of all
// event ids, so a lookup of a new id usually loads only this section.
//
// Event-id table:
//
//	n u32 | bucketBits u8 (<= 20) | ordBytes u8 | fpBytes u8 = 4 | 0 u8
//	(2^bucketBits + 1) x u32    cumulative row starts per bucket; last = n
//	n x (fp u32 | ordinal in ordBytes bytes)
//
// With h = xxhash64(id): bucket = the top bucketBits bits of h, fp = the
// next 32 bits. Rows are sorted by (bucket, fp, ordinal), without
// duplicate (bucket, fp, ordinal). bucketBits = floor(log2(n/8)) (0 below
// 16 ids), about 8 rows per bucket; ordBytes is 1, 2, 3 or 4, the fewest
// that hold count-1. A lookup returns every ordinal with the same bucket
// and fp: candidates that the caller verifies against the event.
//
// Sizes per event on the benchmark corpus are reported by
// BenchmarkIndex1M (see bench_test.go).
package index
