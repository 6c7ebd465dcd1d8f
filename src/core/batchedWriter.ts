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

  /** Writes what is held. A short write (a full disk, a file too large) is an error. */
  async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const chunks = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    const { bytesWritten } = await (await this.handle).writev(chunks);
    if (bytesWritten !== bytes)
      throw new Error(`short write to ${this.path}: ${bytesWritten} of ${bytes} bytes`);
  }
}
