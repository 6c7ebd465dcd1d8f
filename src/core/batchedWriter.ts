/**
 * Writes a stream of chunks to a file in `writev` calls of about `batch` bytes: fewer system calls
 * (and trips through libuv's thread pool) than one write per 64 KiB network chunk. Used for the
 * migration's temporary files and for `pyreg serve`'s uploads.
 */
import type { FileHandle } from "node:fs/promises";

export class BatchedWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly handle: FileHandle | Promise<FileHandle>,
    private readonly path: string,
    private readonly batch = 1024 * 1024,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= this.batch) await this.flush();
  }

  /**
   * Writes what is held. A short write is continued with the rest, as write(2) asks: the next
   * call then fails with the real cause (ENOSPC on a full disk, EFBIG for a file too large), which
   * callers map to an answer (`pyreg serve`: 507 for ENOSPC). A write that makes no progress at
   * all is an error.
   */
  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    let chunks = this.pending;
    let left = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    const handle = await this.handle;
    while (left > 0) {
      const { bytesWritten } = await handle.writev(chunks);
      if (bytesWritten === left) return;
      if (bytesWritten <= 0) throw new Error(`short write to ${this.path}: no byte of ${left} written`);
      left -= bytesWritten;
      chunks = skipBytes(chunks, bytesWritten);
    }
  }
}

/** The chunks after their first `n` bytes (views, no copy). */
function skipBytes(chunks: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < chunks.length && n >= (chunks[i] as Buffer).length) n -= (chunks[i++] as Buffer).length;
  const rest = chunks.slice(i);
  if (n > 0 && rest.length > 0) rest[0] = (rest[0] as Buffer).subarray(n);
  return rest;
}
