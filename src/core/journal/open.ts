/** A journal opened read-only for a report or a resume preview (see ./reader.ts). */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { PyregError } from "../errors.js";
import { reportSource } from "./reader.js";
import { fileRow, readIdentity, type RawFileRow } from "./rows.js";
import { JOURNAL_FILE } from "./schema.js";
import type { OpenedSource } from "./types.js";

export function openReportSource(dir: string): OpenedSource {
  const path = join(dir, JOURNAL_FILE);
  if (!existsSync(path)) {
    throw new PyregError("STATE", `no journal in ${dir} (${JOURNAL_FILE} not found)`, {
      hint: "give the --state folder a migrate or verify ran with (default ./.pyreg/)",
    });
  }
  const db = new Database(path, { fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    const identity = readIdentity(db);
    if (!identity) throw new PyregError("STATE", `the journal in ${dir} has no source/destination recorded`);
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
