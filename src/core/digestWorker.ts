/**
 * A worker thread that computes a file's md5 and BLAKE2b-256 (what the upload form carries besides
 * sha256), so that the main thread, which moves every byte of the migration, does not: on 2 cores
 * those two digests were about 2.8 CPU seconds per GB on the critical path. See hash.ts
 * (formDigestsOfFile) for the other side.
 *
 * Messages in: { id, path }. Out: { id, md5, blake2_256, size } or { id, error }.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { parentPort } from "node:worker_threads";
import { createBLAKE2b, type IHasher } from "hash-wasm";

const port = parentPort;
if (!port) throw new Error("digestWorker runs as a worker thread");

/** Hashers of finished files, reset and reused (each new one instantiates WebAssembly). */
const spare: IHasher[] = [];

port.on("message", (msg: { id: number; path: string }) => {
  void (async () => {
    let b2: IHasher | undefined;
    try {
      const md5 = createHash("md5");
      b2 = spare.pop() ?? (await createBLAKE2b(256));
      b2.init();
      let size = 0;
      for await (const chunk of createReadStream(msg.path, { highWaterMark: 1024 * 1024 })) {
        md5.update(chunk as Buffer);
        b2.update(chunk as Buffer);
        size += (chunk as Buffer).length;
      }
      port.postMessage({ id: msg.id, md5: md5.digest("hex"), blake2_256: b2.digest("hex"), size });
    } catch (err) {
      port.postMessage({ id: msg.id, error: err instanceof Error ? err.message : String(err) });
    } finally {
      if (b2) spare.push(b2);
    }
  })();
});
