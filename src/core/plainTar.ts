/**
 * The first file of an uncompressed tar archive held in memory (the decompressed start of a small
 * sdist) that a test picks, found in one synchronous pass over plain ustar headers only. Any other
 * header (pax or GNU extensions, links, devices, an end-of-archive or damaged block, a base-256 or
 * malformed number, a name that is not ASCII) answers undefined: the caller then reads the
 * archive with tar-stream, which decides with its own rules. So this walker never answers where
 * tar-stream could answer otherwise; it only skips tar-stream's machinery for the plain case.
 *
 * Why by hand (the rest of pyreg reads tar archives with tar-stream): tar-stream makes a stream,
 * an event and a callback per entry. readCoreMetadata of the 2 KB sdists of the benchmark's corpus
 * held in memory (500 of them, 10 times, after warm-up) cost 37-46 µs of CPU per sdist with
 * tar-stream's extraction and 27-33 µs with this walker; most of the rest is gunzipSync (about
 * 14 µs for 2 KB, mostly setting up zlib).
 *
 * The format is POSIX ustar (IEEE Std 1003.1, "pax" utility, ustar Interchange Format; GNU tar's
 * manual, "Basic Tar Format"): 512-byte headers, each followed by its data padded to 512 bytes.
 * Name, size, checksum and the two magic forms are read as tar-stream 3 reads them (its
 * headers.js decode): the ustar prefix joined with "/" to the name, the GNU magic without one,
 * and a regular file whose name ends in "/" taken as a directory.
 */

const BLOCK = 512;
const NAME = 0;
const NAME_LENGTH = 100;
const SIZE = 124;
const SIZE_LENGTH = 12;
const CHECKSUM = 148;
const CHECKSUM_LENGTH = 8;
const TYPEFLAG = 156;
const MAGIC = 257;
const PREFIX = 345;
const PREFIX_LENGTH = 155;
/** "ustar\0" + version "00" (POSIX), and "ustar  \0" (GNU and old GNU). */
const USTAR = Buffer.from("ustar\u000000", "latin1");
const GNU = Buffer.from("ustar  \u0000", "latin1");

/** The found file, or null: every header up to the end of the buffer is plain and none matched. */
export type PlainTarAnswer = { name: string; data: Buffer } | null;

/**
 * Walks the headers of `tar` from its start. `pick` decides on each regular file's name; a picked
 * file larger than `maxSize`, or whose data the buffer does not hold whole, answers undefined.
 */
export function plainTarFile(
  tar: Buffer,
  pick: (name: string) => boolean,
  maxSize: number,
): PlainTarAnswer | undefined {
  for (let at = 0; at + BLOCK <= tar.length;) {
    const header = tar.subarray(at, at + BLOCK);
    if (!checksumMatches(header)) return undefined;
    const flag = header[TYPEFLAG];
    // "0" or NUL: a regular file; "5": a directory. Every other type is left to tar-stream.
    if (flag !== 0x30 && flag !== 0 && flag !== 0x35) return undefined;
    const size = octal(header, SIZE, SIZE_LENGTH);
    if (size === undefined) return undefined;
    let name = ascii(header, NAME, NAME_LENGTH);
    if (name === undefined) return undefined;
    if (header.compare(USTAR, 0, USTAR.length, MAGIC, MAGIC + USTAR.length) === 0) {
      if (header[PREFIX] !== 0) {
        const prefix = ascii(header, PREFIX, PREFIX_LENGTH);
        if (prefix === undefined) return undefined;
        name = `${prefix}/${name}`;
      }
    } else if (header.compare(GNU, 0, GNU.length, MAGIC, MAGIC + GNU.length) !== 0) return undefined;
    const dataStart = at + BLOCK;
    const file = flag !== 0x35 && !name.endsWith("/");
    if (file && pick(name)) {
      if (size > maxSize || dataStart + size > tar.length) return undefined;
      return { name, data: tar.subarray(dataStart, dataStart + size) };
    }
    at = dataStart + Math.ceil(size / BLOCK) * BLOCK;
  }
  return null;
}

/** The header's checksum field against the sum of its bytes, that field counted as spaces. */
function checksumMatches(header: Buffer): boolean {
  const stored = octal(header, CHECKSUM, CHECKSUM_LENGTH);
  let sum = 8 * 0x20;
  for (let i = 0; i < CHECKSUM; i++) sum += header[i]!;
  for (let i = CHECKSUM + CHECKSUM_LENGTH; i < BLOCK; i++) sum += header[i]!;
  // An all-zero block (the end of the archive) sums to 256: not a plain header.
  return stored !== undefined && sum !== 8 * 0x20 && stored === sum;
}

/**
 * A numeric field: octal digits (leading zeros included), then only NUL or space to the end of the
 * field, as tar, Python's tarfile and tar-stream write them. Leading spaces, base-256 and anything
 * else: undefined.
 */
function octal(header: Buffer, start: number, length: number): number | undefined {
  let value = 0;
  let digits = 0;
  let i = start;
  const end = start + length;
  for (; i < end; i++) {
    const c = header[i]!;
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
    digits++;
  }
  if (digits === 0) return undefined;
  for (; i < end; i++) if (header[i] !== 0 && header[i] !== 0x20) return undefined;
  return value;
}

/** A NUL-terminated (or full-length) field of printable ASCII; undefined for any other byte. */
function ascii(header: Buffer, start: number, length: number): string | undefined {
  let end = start;
  for (; end < start + length; end++) {
    const c = header[end]!;
    if (c === 0) break;
    if (c < 0x20 || c > 0x7e) return undefined;
  }
  return header.toString("latin1", start, end);
}
