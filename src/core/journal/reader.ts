/**
 * The journal read for a report, a row at a time: totals come from SQL aggregates, and every list
 * that grows with the number of files is an iterator over a query (better-sqlite3's
 * Statement.iterate, https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md#iteratebindparameters---iterator),
 * so a report of a million files never holds them all in memory.
 */
import type Database from "better-sqlite3";
import { fileRow, pidAlive, runRow, type RawFileRow, type RawRunRow } from "./rows.js";
import type {
  CheckRow,
  CheckStatus,
  ChecksSummary,
  FileRow,
  FileState,
  Identity,
  ProjectRow,
  ReportSource,
  SelectionRow,
} from "./types.js";

interface RawCheck {
  project: string;
  filename: string;
  version: string;
  status: string;
  detail: string;
  run_id: number;
  verification?: string | null;
}

interface RawSelection {
  run_id: number;
  kind: SelectionRow["kind"];
  project: string | null;
  filename: string | null;
  text: string;
}

const selectionRow = (r: RawSelection): SelectionRow => ({
  kind: r.kind,
  project: r.project,
  filename: r.filename,
  text: r.text,
  runId: r.run_id,
});

/** A ReportSource over an open database (the journal's own connection, or a read-only one). */
export function reportSource(
  db: Database.Database,
  dir: string,
  identity: Identity,
  currentRun?: number,
): ReportSource {
  const has = (table: string): boolean =>
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
  const hasColumn = (table: string, column: string): boolean =>
    (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
  const runs = (db.prepare("SELECT * FROM runs ORDER BY id").all() as RawRunRow[]).map((r) =>
    runRow(r, r.id === currentRun || (r.pid !== null && r.pid !== process.pid && pidAlive(r.pid))),
  );
  const lastRun = runs[runs.length - 1]?.id ?? -1;
  const iterate = function* <R, T>(sql: string, map: (r: R) => T, ...params: unknown[]): Generator<T> {
    for (const r of db.prepare(sql).iterate(...params) as IterableIterator<R>) yield map(r);
  };
  const lastVerify = [...runs].reverse().find((r) => r.command === "verify");
  let checks: ChecksSummary | null = null;
  if (lastVerify) {
    const id = lastVerify.id;
    const counts: Record<CheckStatus, number> = { ok: 0, missing: 0, different: 0, unverifiable: 0 };
    for (const r of db
      .prepare("SELECT status, COUNT(*) AS n FROM checks WHERE run_id = ? GROUP BY status")
      .all(id) as { status: CheckStatus; n: number }[])
      counts[r.status] = r.n;
    const by: Record<string, number> = {};
    if (hasColumn("checks", "verification"))
      for (const r of db
        .prepare(
          "SELECT verification AS k, COUNT(*) AS n FROM checks WHERE run_id = ? AND verification IS NOT NULL AND verification <> '' GROUP BY verification ORDER BY verification",
        )
        .all(id) as { k: string; n: number }[])
        by[r.k] = r.n;
    const total = counts.ok + counts.missing + counts.different + counts.unverifiable;
    // Only a run that recorded checks has a verification section (as when it was one list).
    if (total > 0)
      checks = {
        runId: id,
        counts,
        by,
        problemCount: total - counts.ok,
        problems: () =>
          iterate<RawCheck, CheckRow>(
            "SELECT * FROM checks WHERE run_id = ? AND status <> 'ok' ORDER BY filename",
            (c) => ({
              project: c.project,
              filename: c.filename,
              version: c.version,
              status: c.status as CheckStatus,
              detail: c.detail,
              runId: c.run_id,
              verification: c.verification,
            }),
            id,
          ),
      };
  }
  const hasSelection = has("selection");
  const selection = hasSelection
    ? (
        db
          .prepare("SELECT * FROM selection WHERE run_id = ? AND kind <> 'filtered-file' ORDER BY rowid")
          .all(lastRun) as RawSelection[]
      ).map(selectionRow)
    : [];
  const fileVerification = hasColumn("files", "verification");
  return {
    dir,
    identity,
    runs,
    stateTotals: () =>
      db
        .prepare(
          "SELECT state, COUNT(*) AS files, COALESCE(SUM(COALESCE(size, bytes)), 0) AS bytes, SUM(COALESCE(size, bytes) IS NULL) AS unknownSizes FROM files GROUP BY state",
        )
        .all() as { state: FileState; files: number; bytes: number; unknownSizes: number }[],
    verifiedBy: () => {
      const out: Record<string, number> = {};
      if (fileVerification)
        for (const r of db
          .prepare(
            "SELECT verification AS k, COUNT(*) AS n FROM files WHERE verification IS NOT NULL AND verification <> '' GROUP BY verification ORDER BY verification",
          )
          .all() as { k: string; n: number }[])
          out[r.k] = r.n;
      return out;
    },
    projects: () =>
      iterate<{ project: string; error: string | null; run_id: number }, ProjectRow>(
        "SELECT project, error, run_id FROM projects ORDER BY project",
        (p) => ({ project: p.project, error: p.error, runId: p.run_id }),
      ),
    files: () => iterate<RawFileRow, FileRow>("SELECT * FROM files ORDER BY project", fileRow),
    unverifiedFiles: () =>
      iterate<RawFileRow, FileRow>("SELECT * FROM files WHERE state <> 'verified' ORDER BY project", fileRow),
    notCarried: () =>
      iterate<RawFileRow, FileRow>(
        "SELECT * FROM files WHERE state = 'verified' AND not_carried IS NOT NULL ORDER BY filename",
        fileRow,
      ),
    notCarriedCount: () =>
      (
        db
          .prepare("SELECT COUNT(*) AS n FROM files WHERE state = 'verified' AND not_carried IS NOT NULL")
          .get() as { n: number }
      ).n,
    checks,
    selection,
    filteredFileCount: () =>
      hasSelection
        ? (
            db
              .prepare("SELECT COUNT(*) AS n FROM selection WHERE run_id = ? AND kind = 'filtered-file'")
              .get(lastRun) as { n: number }
          ).n
        : 0,
    filteredFiles: () =>
      hasSelection
        ? iterate<RawSelection, SelectionRow>(
            "SELECT * FROM selection WHERE run_id = ? AND kind = 'filtered-file' ORDER BY rowid",
            selectionRow,
            lastRun,
          )
        : [],
    // Journals written before these tables existed have neither.
    ignored: has("ignored")
      ? (db.prepare("SELECT name, reason FROM ignored ORDER BY name").all() as {
          name: string;
          reason: string;
        }[])
      : [],
    warnings: has("warnings")
      ? (
          db.prepare("SELECT run_id, text FROM warnings ORDER BY rowid").all() as {
            run_id: number;
            text: string;
          }[]
        ).map((w) => ({ runId: w.run_id, text: w.text }))
      : [],
  };
}
