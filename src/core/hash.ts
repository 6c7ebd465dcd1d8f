import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { Worker } from "node:worker_threads";
import { createBLAKE2b, type IHasher } from "hash-wasm";

export interface Digests {
  sha256: string;
  md5: string;
  blake2_256: string;
  size: number;
}

/**
 * The three digests the upload form carries, computed in one pass. BLAKE2b with a 32-byte output
 * (not a truncated blake2b-512, PROTOCOLS.md §3): Node 20's OpenSSL cannot set that length, so it
 * comes from hash-wasm (about 550 MB/s here, against 44 MB/s for a pure-JS implementation).
 */
/**
 * BLAKE2b hashers no longer in use: making one instantiates a WebAssembly module (about 0.1 ms,
 * 0.25 CPU s per 2,000 files), so they are reset and reused.
 */
const spareBlake2: IHasher[] = [];
const MAX_SPARE = 64;

export class MultiHash {
  private readonly sha = createHash("sha256");
  private readonly md5: Hash | undefined;
  size = 0;
  private constructor(private b2: IHasher | undefined) {
    if (b2) this.md5 = createHash("md5");
  }
  /** Only sha256: md5 and blake2_256 digest to "". */
  static sha256Only(): MultiHash {
    return new MultiHash(undefined);
  }
  /** All three digests. */
  static async create(): Promise<MultiHash> {
    const b2 = spareBlake2.pop() ?? (await createBLAKE2b(256));
    b2.init();
    return new MultiHash(b2);
  }
  update(chunk: Buffer): void {
    this.sha.update(chunk);
    this.md5?.update(chunk);
    this.b2?.update(chunk);
    this.size += chunk.length;
  }
  /** The digests (once: the hasher is done afterwards). */
  digest(): Digests {
    const blake2_256 = this.b2?.digest("hex") ?? "";
    this.release();
    return {
      sha256: this.sha.digest("hex"),
      md5: this.md5?.digest("hex") ?? "",
      blake2_256,
      size: this.size,
    };
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

/** md5 and BLAKE2b-256 of a file (the upload form's other digests). */
export interface FormDigests {
  md5: string;
  blake2_256: string;
  size: number;
}

type Waiting = { resolve: (d: FormDigests) => void; reject: (e: Error) => void };

/** The worker thread died (not: the file could not be read). */
class WorkerGone extends Error {}

/** One worker thread for the form digests of files on disk (see digestWorker.ts). */
class DigestWorker {
  private worker: Worker | undefined;
  private broken = false;
  private nextId = 0;
  private readonly waiting = new Map<number, Waiting>();

  /** The digests of the file at `path`, or undefined when no worker thread can run here. */
  digests(path: string): Promise<FormDigests> | undefined {
    const w = this.start();
    if (!w) return undefined;
    const id = this.nextId++;
    const answer = new Promise<FormDigests>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
    w.ref(); // keeps the process alive while an answer is due
    w.postMessage({ id, path });
    return answer;
  }

  private start(): Worker | undefined {
    if (this.worker || this.broken) return this.worker;
    try {
      // Small heaps: it holds one file's 256 KiB read buffer and two hashers (RSS target 200 MB).
      const w = new Worker(new URL("./digestWorker.js", import.meta.url), {
        resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 16 },
      });
      w.on("message", (m: FormDigests & { id: number; error?: string }) => {
        const waiting = this.waiting.get(m.id);
        if (!waiting) return;
        this.waiting.delete(m.id);
        if (this.waiting.size === 0) w.unref();
        if (m.error !== undefined) waiting.reject(new Error(m.error));
        else waiting.resolve({ md5: m.md5, blake2_256: m.blake2_256, size: m.size });
      });
      const fail = (why: string): void => {
        // The thread is gone: what it owed is computed here instead, and so is everything after.
        this.broken = true;
        this.worker = undefined;
        for (const waiting of this.waiting.values()) waiting.reject(new WorkerGone(why));
        this.waiting.clear();
      };
      w.on("error", (err) => fail(err.message));
      w.on("exit", (code) => fail(`digest worker exited (${code})`));
      w.unref();
      this.worker = w;
    } catch {
      this.broken = true;
    }
    return this.worker;
  }
}

const digestWorker = new DigestWorker();

/**
 * md5 and BLAKE2b-256 of a file on disk, computed on a worker thread (on this thread when none can
 * run, or when the worker dies). A read error of the file itself is thrown as it is.
 */
export async function formDigestsOfFile(path: string): Promise<FormDigests> {
  const inWorker = digestWorker.digests(path);
  if (inWorker) {
    try {
      return await inWorker;
    } catch (err) {
      if (!(err instanceof WorkerGone)) throw err;
    }
  }
  const d = await digestsOfFile(path);
  return { md5: d.md5, blake2_256: d.blake2_256, size: d.size };
}
