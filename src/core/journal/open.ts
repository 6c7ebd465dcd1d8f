/** A journal opened read-only for a report or a resume preview (see ./reader.ts). */
import { reportSource } from "./reader.js";
import { fileColumns, fileRow, openWithoutLock, type RawFileRow } from "./rows.js";
import type { OpenedSource } from "./types.js";

/** KiB of SQLite page cache for a journal read for a report. */
const REPORT_CACHE_KIB = 2048;

export function openReportSource(dir: string): OpenedSource {
  const { db, identity } = openWithoutLock(dir);
  try {
    // A report reads the journal front to back a few times, so a large page cache buys nothing:
    // better-sqlite3 builds SQLite with a 16 MB one (SQLITE_DEFAULT_CACHE_SIZE=-16000), which a
    // journal of 100,000 files fills, and which also bounds what a sort keeps in memory before
    // it spills to a temporary file (https://www.sqlite.org/pragma.html#pragma_cache_size).
    db.pragma(`cache_size = -${REPORT_CACHE_KIB}`);
    const get = db.prepare(`SELECT ${fileColumns(db)} FROM files WHERE project = ? AND filename = ?`).raw();
    return {
      ...reportSource(db, dir, identity),
      get: (project, filename) => {
        const r = get.get(project, filename) as RawFileRow | undefined;
        return r ? fileRow(r) : undefined;
      },
      close: () => db.close(),
    };
  } catch (err) {
    db.close();
    throw err;
  }
}
