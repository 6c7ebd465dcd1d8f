/**
 * Minimal writers of real distribution archives for the benchmark: a zip of STORED entries (wheels)
 * whose large entry streams from a generator, and a tar.gz (sdists). Wheels get a padding entry of
 * incompressible bytes so a file reaches its target size without holding it in memory.
 */
import { createHash, randomFillSync } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { open } from "node:fs/promises";
import { once } from "node:events";
import { pipeline } from "node:stream/promises";
import { createGzip, crc32 } from "node:zlib";
import tar from "tar-stream";

/** An entry: small ones as a buffer, the padding as a producer of chunks of known total size. */
export interface ZipEntry {
  name: string;
  data?: Buffer;
  /** Streamed entries: size and a producer of exactly `size` bytes. */
  size?: number;
  chunks?: () => Iterable<Buffer>;
  /** Entry whose content is all zeros, written as a hole (sparse file). */
  zeros?: number;
}

/** DOS time/date of 2020-01-02 03:04:06 (even seconds). */
const DOS_TIME = (3 << 11) | (4 << 5) | (6 >> 1);
const DOS_DATE = ((2020 - 1980) << 9) | (1 << 5) | 2;

function localHeader(name: Buffer, crc: number, size: number): Buffer {
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(20, 4); // version needed
  h.writeUInt16LE(0x0800, 6); // UTF-8 names
  h.writeUInt16LE(0, 8); // stored
  h.writeUInt16LE(DOS_TIME, 10);
  h.writeUInt16LE(DOS_DATE, 12);
  h.writeUInt32LE(crc >>> 0, 14);
  h.writeUInt32LE(size, 18);
  h.writeUInt32LE(size, 22);
  h.writeUInt16LE(name.length, 26);
  h.writeUInt16LE(0, 28);
  return Buffer.concat([h, name]);
}

function centralHeader(name: Buffer, crc: number, size: number, offset: number): Buffer {
  const h = Buffer.alloc(46);
  h.writeUInt32LE(0x02014b50, 0);
  h.writeUInt16LE((3 << 8) | 20, 4); // made by: unix
  h.writeUInt16LE(20, 6);
  h.writeUInt16LE(0x0800, 8);
  h.writeUInt16LE(0, 10);
  h.writeUInt16LE(DOS_TIME, 12);
  h.writeUInt16LE(DOS_DATE, 14);
  h.writeUInt32LE(crc >>> 0, 16);
  h.writeUInt32LE(size, 20);
  h.writeUInt32LE(size, 24);
  h.writeUInt16LE(name.length, 28);
  h.writeUInt32LE((0o100644 << 16) >>> 0, 38); // external attributes: regular file 0644
  h.writeUInt32LE(offset, 42);
  return Buffer.concat([h, name]);
}

/** CRC-32 of `n` zero bytes, computed in 16 MiB steps. */
function crcOfZeros(n: number): number {
  const block = Buffer.alloc(Math.min(n, 16 * 1024 * 1024));
  let crc = 0;
  for (let left = n; left > 0; left -= block.length) {
    crc = crc32(left >= block.length ? block : block.subarray(0, left), crc);
  }
  return crc;
}

/**
 * Writes a zip of stored entries (sizes below 4 GiB in total: no zip64). Zero entries become holes
 * in the file, so a 2 GiB wheel is written in about a second and takes little disk.
 */
export async function writeStoredZip(path: string, entries: ZipEntry[]): Promise<void> {
  const fh = await open(path, "w", 0o644);
  try {
    let pos = 0;
    const central: Buffer[] = [];
    for (const e of entries) {
      const name = Buffer.from(e.name, "utf8");
      const offset = pos;
      if (e.data) {
        const crc = crc32(e.data);
        const head = localHeader(name, crc, e.data.length);
        await fh.write(Buffer.concat([head, e.data]), 0, head.length + e.data.length, pos);
        pos += head.length + e.data.length;
        central.push(centralHeader(name, crc, e.data.length, offset));
      } else if (e.zeros !== undefined) {
        const crc = crcOfZeros(e.zeros);
        const head = localHeader(name, crc, e.zeros);
        await fh.write(head, 0, head.length, pos);
        pos += head.length + e.zeros; // a hole: nothing written
        central.push(centralHeader(name, crc, e.zeros, offset));
      } else if (e.chunks && e.size !== undefined) {
        // The CRC goes in the local header: reserve it, stream the data, then fill it in.
        const headPos = pos;
        const placeholder = localHeader(name, 0, e.size);
        pos += placeholder.length;
        let crc = 0;
        let written = 0;
        for (const c of e.chunks()) {
          crc = crc32(c, crc);
          await fh.write(c, 0, c.length, pos);
          pos += c.length;
          written += c.length;
        }
        if (written !== e.size) throw new Error(`${e.name}: produced ${written} bytes, not ${e.size}`);
        const head = localHeader(name, crc, e.size);
        await fh.write(head, 0, head.length, headPos);
        central.push(centralHeader(name, crc, e.size, offset));
      } else throw new Error(`zip entry ${e.name} has no content`);
    }
    const cd = Buffer.concat(central);
    const end = Buffer.alloc(22);
    end.writeUInt32LE(0x06054b50, 0);
    end.writeUInt16LE(entries.length, 8);
    end.writeUInt16LE(entries.length, 10);
    end.writeUInt32LE(cd.length, 12);
    end.writeUInt32LE(pos, 16);
    const tail = Buffer.concat([cd, end]);
    await fh.write(tail, 0, tail.length, pos);
    await fh.truncate(pos + tail.length);
  } finally {
    await fh.close();
  }
}

/** Writes a tar.gz whose padding entry streams from `chunks` (gzip level 1: random data barely shrinks). */
export async function writeTarGz(
  path: string,
  top: string,
  entries: [string, Buffer][],
  padding: { name: string; size: number; chunks: () => Iterable<Buffer> } | undefined,
): Promise<void> {
  const pack = tar.pack();
  const out = pipeline(pack, createGzip({ level: 1 }), createWriteStream(path));
  const common = {
    mtime: new Date(Date.UTC(2020, 0, 2, 3, 4, 6)),
    uid: 0,
    gid: 0,
    uname: "",
    gname: "",
  };
  pack.entry({ ...common, name: `${top}/`, type: "directory", mode: 0o755 });
  for (const [name, data] of entries) {
    pack.entry({ ...common, name, type: "file", mode: 0o644, size: data.length }, data);
  }
  if (padding) {
    const entry = pack.entry({
      ...common,
      name: padding.name,
      type: "file",
      mode: 0o644,
      size: padding.size,
    });
    for (const c of padding.chunks()) {
      if (!entry.write(c)) await once(entry, "drain");
    }
    entry.end(() => undefined);
  }
  pack.finalize();
  await out;
}

/** sha256 and size of a file, streamed. */
export async function sha256OfFile(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const c of createReadStream(path, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    h.update(c);
    size += c.length;
  }
  return { sha256: h.digest("hex"), size };
}

/**
 * Incompressible padding: slices of one random pool (generated once), starting at a different
 * offset per file. Each slice is random, so neither gzip nor the transport can shrink it.
 */
export class Padding {
  private constructor(private readonly pool: Buffer) {}
  static create(poolBytes = 64 * 1024 * 1024): Padding {
    return new Padding(randomFillSync(Buffer.allocUnsafe(poolBytes)));
  }
  chunks(size: number, start: number): () => Iterable<Buffer> {
    const pool = this.pool;
    return function* () {
      let off = start % pool.length;
      let left = size;
      while (left > 0) {
        const n = Math.min(left, pool.length - off, 1024 * 1024);
        yield pool.subarray(off, off + n);
        left -= n;
        off = (off + n) % pool.length;
      }
    };
  }
}

/** A zip of small STORED entries, in memory (the synthetic registry's wheels, bench/synthetic.ts). */
export function storedZipBuffer(entries: { name: string; data: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let pos = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name, "utf8");
    const crc = crc32(e.data);
    const head = localHeader(name, crc, e.data.length);
    central.push(centralHeader(name, crc, e.data.length, pos));
    parts.push(head, e.data);
    pos += head.length + e.data.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(pos, 16);
  return Buffer.concat([...parts, cd, end]);
}
