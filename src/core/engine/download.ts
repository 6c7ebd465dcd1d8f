/**
 * The download stage: a file's bytes from the source, hashed as they stream (sha256, the digests
 * the upload form needs, and those the source and destination publish), kept in memory or in a
 * temporary file, and checked against the size and strongest digest the source lists.
 */
import { open, type FileHandle } from "node:fs/promises";
import { BatchedWriter } from "../batchedWriter.js";
import { compareDigests } from "../digests.js";
import { errorMessage, PyregError } from "../errors.js";
import { MultiHash } from "../hash.js";
import type { DistFile, LocalDist, Source } from "../model.js";
import { keptInMemory, tempFileError } from "./temp.js";

/**
 * Download a file, hashing as it streams, to `path` (or into memory when the source lists it as
 * at most `inMemoryMax` bytes); checks size and sha256 against the source.
 */
export async function download(
  source: Source,
  file: DistFile,
  path: string,
  onBytes: (n: number) => void,
  inMemoryMax: number,
  formDigests: boolean,
  extraDigests: readonly string[],
): Promise<LocalDist> {
  const body = await source.open(file);
  // sha256 checks the bytes against the source; md5 and BLAKE2b only serve the upload form (a
  // folder destination needs neither: 2.8 CPU seconds per GB saved there). Digests the source or
  // the destination publish instead of sha256 are computed in the same pass.
  const hash = formDigests ? await MultiHash.create(extraDigests) : MultiHash.sha256Only(extraDigests);
  const inMemory = keptInMemory(file, inMemoryMax);
  // One plain loop (no stream layers): each chunk is hashed, counted, and either kept in memory
  // or written to the temporary file in batches.
  const chunks: Buffer[] = [];
  let held = 0;
  // Any failure of the temporary file is a STATE error (see tempFileError).
  const onDisk = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => Promise.reject(tempFileError(path, err)));
  let out: FileHandle | undefined;
  try {
    let writer: BatchedWriter | undefined;
    if (!inMemory) {
      out = await onDisk(open(path, "w"));
      writer = new BatchedWriter(out, path);
    }
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      onBytes(chunk.length);
      if (writer) {
        await onDisk(writer.write(chunk));
        continue;
      }
      held += chunk.length;
      // A source that sends more than it listed is not kept (the size check below fails it).
      if (held <= inMemoryMax) chunks.push(chunk);
    }
    if (writer) await onDisk(writer.flush());
  } catch (err) {
    body.destroy();
    hash.release();
    if (err instanceof PyregError) throw err;
    throw new PyregError("HTTP", `${file.filename}: download cut short (${errorMessage(err)})`, {
      hint: "the source or the network dropped the transfer; run again to fetch it",
      cause: err,
    });
  } finally {
    await out?.close();
  }
  const d = hash.digest();
  if (file.size !== undefined && d.size !== file.size) {
    throw new PyregError(
      "INCOMPLETE",
      `${file.filename}: got ${d.size} bytes, the source lists ${file.size}`,
      {
        hint: "the download was cut or the source is inconsistent",
      },
    );
  }
  // The strongest digest the source publishes (sha256 or another, see digests.ts).
  const check = compareDigests(file.hashes, d.extra);
  if (check.result === "different") {
    throw new PyregError(
      "HASH_MISMATCH",
      `${file.filename}: ${check.digest} ${check.have} does not match the source's ${check.want}`,
      {
        hint: "the source served other bytes than its index promises; the file is not copied",
      },
    );
  }
  return {
    path,
    ...(inMemory ? { data: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks) } : {}),
    filename: file.filename,
    size: d.size,
    sha256: d.sha256,
    md5: d.md5,
    blake2_256: d.blake2_256,
    digests: d.extra,
  };
}
