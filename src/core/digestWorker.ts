/**
 * A worker thread that computes a file's md5 and BLAKE2b-256 (what the upload form carries besides
 * sha256), so that the main thread, which moves every byte of the migration, does not: on 2 cores
 * those two digests were about 2.8 CPU seconds per GB on the critical path. See hash.ts
 * (formDigestsOfFile) for the other side.
 *
 * Messages in: { id, path }. Out: { id, md5, blake2_256, size } or { id, error }.
 */
import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import { parentPort } from "node:worker_threads";
import { createBLAKE2b, type IHasher } from "hash-wasm";

const port = parentPort;
if (!port) throw new Error("digestWorker runs as a worker thread");

const buffer = Buffer.allocUnsafe(256 * 1024);

/** Hashers of finished files, reset and reused (each new one instantiates WebAssembly). */
const spare: IHasher[] = [];

/** One file at a time: several at once would only hold more buffers (there is one core for it). */
let queue: Promise<void> = Promise.resolve();

port.on("message", (msg: { id: number; path: string }) => {
  queue = queue.then(() => digest(msg));
});

async function digest(msg: { id: number; path: string }): Promise<void> {
  let b2: IHasher | undefined;
  try {
    const md5 = createHash("md5");
    b2 = spare.pop() ?? (await createBLAKE2b(256));
    b2.init();
    // One buffer, read into again and again: this thread allocates nothing per file.
    const handle = await open(msg.path, "r");
    let size = 0;
    try {
      for (;;) {
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
        if (bytesRead === 0) break;
        const part = buffer.subarray(0, bytesRead);
        md5.update(part);
        b2.update(part);
        size += bytesRead;
      }
    } finally {
      await handle.close();
    }
    port?.postMessage({ id: msg.id, md5: md5.digest("hex"), blake2_256: b2.digest("hex"), size });
  } catch (err) {
    port?.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
  } finally {
    if (b2) spare.push(b2);
  }
}
