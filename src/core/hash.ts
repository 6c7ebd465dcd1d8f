import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import type { IHasher } from "hash-wasm";
// hash-wasm's build of BLAKE2b alone, rather than its index, which holds every algorithm's
// WebAssembly and which a bundler keeps whole: 18 KB of the CLI's bundle against 235 KB, about
// 12 ms less CPU at each start of pyreg on the 2-core test machine. That file's path is the
// layout of hash-wasm's build, not a documented entry point: package.json names one exact version.
import blake2bBuild from "hash-wasm/dist/blake2b.umd.min.js";

export interface Digests {
  sha256: string;
  md5: string;
  blake2_256: string;
  size: number;
  /** Other digests asked for (e.g. sha512 for an index that publishes only that), by name. */
  extra: Record<string, string>;
}

/**
 * The three digests the upload form carries, computed in one pass. BLAKE2b with a 32-byte output
 * (not a truncated blake2b-512, pypa/twine twine/package.py, pypi/warehouse forklift): Node 20's OpenSSL cannot set that length, so it
 * comes from hash-wasm (about 960 MB/s on the 2-core bench VM, as fast as OpenSSL's blake2b512
 * there; a pure-JS implementation managed 44 MB/s).
 */
/**
 * BLAKE2b hashers no longer in use: making one instantiates a WebAssembly module (about 0.1 ms,
 * 0.25 CPU s per 2,000 files), so they are reset and reused.
 */
const spareBlake2: IHasher[] = [];
const { createBLAKE2b } = blake2bBuild;
const MAX_SPARE = 64;

export class MultiHash {
  private readonly sha = createHash("sha256");
  private readonly md5: Hash | undefined;
  private readonly extra: [string, Hash][];
  size = 0;
  private constructor(
    private b2: IHasher | undefined,
    extra: readonly string[],
  ) {
    if (b2) this.md5 = createHash("md5");
    // md5 is already computed for the form; sha256 always is.
    this.extra = [...new Set(extra)]
      .filter((n) => n !== "sha256" && !(n === "md5" && b2))
      .map((n) => [n, createHash(n)]);
  }
  /** Only sha256 (and `extra`): md5 and blake2_256 digest to "". */
  static sha256Only(extra: readonly string[] = []): MultiHash {
    return new MultiHash(undefined, extra);
  }
  /** All three digests of the upload form (and `extra`, names Node's crypto knows). */
  static async create(extra: readonly string[] = []): Promise<MultiHash> {
    const b2 = spareBlake2.pop() ?? (await createBLAKE2b(256));
    b2.init();
    return new MultiHash(b2, extra);
  }
  update(chunk: Buffer): void {
    this.sha.update(chunk);
    this.md5?.update(chunk);
    this.b2?.update(chunk);
    for (const [, h] of this.extra) h.update(chunk);
    this.size += chunk.length;
  }
  /** The digests (once: the hasher is done afterwards). */
  digest(): Digests {
    const blake2_256 = this.b2?.digest("hex") ?? "";
    this.release();
    const sha256 = this.sha.digest("hex");
    const md5 = this.md5?.digest("hex") ?? "";
    const extra: Record<string, string> = { sha256 };
    if (md5) extra["md5"] = md5;
    for (const [n, h] of this.extra) extra[n] = h.digest("hex");
    return { sha256, md5, blake2_256, size: this.size, extra };
  }
  /** Gives the BLAKE2b hasher back for reuse (a hasher that will not be digested). */
  release(): void {
    if (this.b2 && spareBlake2.length < MAX_SPARE) spareBlake2.push(this.b2);
    this.b2 = undefined;
  }
}

export async function sha256File(path: string): Promise<{ sha256: string; size: number }> {
  const h = createHash("sha256");
  let size = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return { sha256: h.digest("hex"), size };
}

export async function digestsOfFile(path: string): Promise<Digests> {
  const h = await MultiHash.create();
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest();
}

/** The named digests (Node's crypto names: sha256, sha512, md5...) of a stream's bytes, by name. */
export async function digestStream(
  body: AsyncIterable<Buffer> & { destroy?: () => void },
  names: readonly string[],
): Promise<Record<string, string>> {
  const hashes = [...new Set(names)].map((n) => [n, createHash(n)] as const);
  try {
    for await (const chunk of body) for (const [, h] of hashes) h.update(chunk);
  } catch (err) {
    body.destroy?.();
    throw err;
  }
  return Object.fromEntries(hashes.map(([n, h]) => [n, h.digest("hex")]));
}
