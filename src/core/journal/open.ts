/** A journal opened read-only for a report or a resume preview (see ./reader.ts). */
import { reportSource } from "./reader.js";
import { fileRow, openWithoutLock, type RawFileRow } from "./rows.js";
import type { OpenedSource } from "./types.js";

export function openReportSource(dir: string): OpenedSource {
  const { db, identity } = openWithoutLock(dir);
  try {
    const get = db.prepare("SELECT * FROM files WHERE project = ? AND filename = ?");
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
