/**
 * A list kept on disk instead of in memory: items are appended as JSON lines to a temporary file
 * and read back in order, a chunk at a time. The file is unlinked as soon as it is opened (POSIX
 * keeps an open file readable until its last descriptor closes), so nothing is left behind by a
 * crash or a kill, and nothing shows in the temporary folder while it is used. Commands that print
 * one entry per file (plan --json, migrate --json, verify) keep their lists here, so their memory
 * does not grow with the number of files.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, unlinkSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Appended text is written in batches of about this many characters. */
const WRITE_BATCH = 1 << 20;
const READ_CHUNK = 1 << 20;

export class Spool<T = unknown> {
  private fd: number | undefined;
  private pending: string[] = [];
  private pendingLength = 0;
  private written = 0;
  private count = 0;

  /** Items appended so far. */
  get length(): number {
    return this.count;
  }

  push(item: T): void {
    const line = JSON.stringify(item) + "\n";
    this.pending.push(line);
    this.pendingLength += line.length;
    this.count++;
    if (this.pendingLength >= WRITE_BATCH) this.flush();
  }

  private open(): number {
    if (this.fd === undefined) {
      const dir = mkdtempSync(join(tmpdir(), "pyreg-spool-"));
      const path = join(dir, "items");
      this.fd = openSync(path, "w+");
      unlinkSync(path);
      rmSync(dir, { recursive: true, force: true });
    }
    return this.fd;
  }

  private flush(): void {
    if (!this.pendingLength) return;
    const buf = Buffer.from(this.pending.join(""), "utf8");
    this.pending = [];
    this.pendingLength = 0;
    const fd = this.open();
    let off = 0;
    while (off < buf.length) {
      const n = writeSync(fd, buf, off, buf.length - off, this.written);
      off += n;
      this.written += n;
    }
  }

  /** The items in the order they were appended (the spool may be read more than once). */
  *items(): Generator<T> {
    if (this.fd === undefined) {
      // Never written to disk: everything is still in the batch.
      for (const line of this.pending) yield JSON.parse(line) as T;
      return;
    }
    this.flush();
    const fd = this.fd;
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    let pos = 0;
    let rest = Buffer.alloc(0);
    while (pos < this.written) {
      const n = readSync(fd, buf, 0, Math.min(READ_CHUNK, this.written - pos), pos);
      if (n <= 0) break;
      pos += n;
      let data = rest.length ? Buffer.concat([rest, buf.subarray(0, n)]) : buf.subarray(0, n);
      let start = 0;
      for (let nl = data.indexOf(10, start); nl !== -1; nl = data.indexOf(10, start)) {
        yield JSON.parse(data.toString("utf8", start, nl)) as T;
        start = nl + 1;
      }
      // The unfinished line is copied: `buf` is reused by the next read.
      rest = Buffer.from(data.subarray(start));
      data = rest;
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
    this.pending = [];
    this.pendingLength = 0;
  }
}
