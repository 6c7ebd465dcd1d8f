/**
 * Locks that cannot be won twice: SQLite's own file locking (POSIX advisory locks, taken atomically
 * by the kernel and released by it when the holder exits, even by `kill -9`). A lock file left by a
 * dead run is therefore never "stale": nothing has to remove it, so no race between two runs
 * removing and re-creating it can let both in. (https://www.sqlite.org/lockingv3.html)
 *
 * An exclusive lock is a `BEGIN EXCLUSIVE` transaction held open; a shared lock is an open read
 * transaction. A busy timeout of 0 makes taking one answer at once.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import type Database from "better-sqlite3";
import { openDatabase } from "./sqlite.js";

export interface LockHolder {
  pid: number;
  host: string;
  at: string;
  /** What holds it, for people ("the state folder /x", a command line). */
  what?: string | undefined;
}

export class FileLock {
  private constructor(
    private db: Database.Database | undefined,
    readonly path: string,
  ) {}

  /** Takes the lock (exclusive, or shared with other shared holders), or returns undefined if held. */
  static take(path: string, mode: "exclusive" | "shared", what?: string): FileLock | undefined {
    const db = openDatabase(path, { timeout: 0 });
    try {
      if (mode === "exclusive") db.exec("BEGIN EXCLUSIVE");
      else {
        db.exec("BEGIN");
        db.prepare("SELECT count(*) FROM sqlite_master").get();
      }
    } catch (err) {
      db.close();
      if ((err as { code?: string }).code?.startsWith("SQLITE_BUSY")) return undefined;
      throw err;
    }
    if (mode === "exclusive") {
      // For the message another run shows; never read to decide anything.
      const holder: LockHolder = { pid: process.pid, host: hostname(), at: new Date().toISOString(), what };
      try {
        writeFileSync(`${path}.holder`, JSON.stringify(holder));
      } catch {
        // Only a nicer message is lost.
      }
    }
    return new FileLock(db, path);
  }

  /** Who took the exclusive lock last (as it wrote), if readable. */
  static holder(path: string): LockHolder | undefined {
    try {
      return JSON.parse(readFileSync(`${path}.holder`, "utf8")) as LockHolder;
    } catch {
      return undefined;
    }
  }

  release(): void {
    const db = this.db;
    this.db = undefined;
    if (!db) return;
    try {
      db.exec("ROLLBACK");
    } catch {
      // Closing releases the lock anyway.
    }
    db.close();
  }
}
