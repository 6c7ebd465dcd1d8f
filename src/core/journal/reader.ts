/**
 * The journal read for a report, a row at a time: totals come from SQL aggregates, and every list
 * that grows with the number of files is an iterator over a query (better-sqlite3's
 * Statement.iterate, https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md#iteratebindparameters---iterator),
 * so a report of a million files never holds them all in memory.
 */
import type Database from "better-sqlite3";
import {
  checkRow,
  fileColumns,
  fileRow,
  pidAlive,
  runRow,
  selectionRow,
  type RawCheck,
  type RawFileRow,
  type RawRunRow,
  type RawSelection,
} from "./rows.js";
import type {
  CheckRow,
  CheckStatus,
  ChecksSummary,
  FileRow,
  FileState,
  FileTally,
  Identity,
  NotCarried,
  NotCarriedRow,
  ProjectRow,
  ReportSource,
  SelectionRow,
} from "./types.js";

interface FileTotals {
  byState: { state: FileState; files: number; bytes: number; unknownSizes: number }[];
  verifiedBy: Record<string, number>;
  notCarried: number;
}

/** The same counts with their keys in binary order (as SQLite's ORDER BY sorts text). */
function sortedKeys(counts: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of Object.keys(counts).sort()) out[k] = counts[k] as number;
  return out;
}

/**
 * Every total of the report's summary from one scan of the files table, counted as the rows go
 * by. `GROUP BY state` and `GROUP BY verification` would each sort every row first (SQLite builds a
 * temporary B-tree for a GROUP BY that no index gives in order, https://www.sqlite.org/eqp.html),
 * in memory up to the size of the page cache; one plain scan needs none.
 */
function fileTotals(db: Database.Database, fileVerification: boolean): FileTotals {
  const byState = new Map<string, { state: FileState; files: number; bytes: number; unknownSizes: number }>();
  const verifiedBy: Record<string, number> = {};
  let notCarried = 0;
  const rows = db
    .prepare(
      `SELECT state, COALESCE(size, bytes), ${fileVerification ? "verification" : "NULL"}, state = 'verified' AND not_carried IS NOT NULL FROM files`,
    )
    .raw()
    .iterate() as IterableIterator<[FileState, number | null, string | null, number]>;
  for (const [state, size, verification, carried] of rows) {
    let t = byState.get(state);
    if (!t) byState.set(state, (t = { state, files: 0, bytes: 0, unknownSizes: 0 }));
    t.files++;
    if (size === null) t.unknownSizes++;
    else t.bytes += size;
    if (verification) verifiedBy[verification] = (verifiedBy[verification] ?? 0) + 1;
    if (carried) notCarried++;
  }
  return { byState: [...byState.values()], verifiedBy: sortedKeys(verifiedBy), notCarried };
}

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
  const columns = fileColumns(db);
  const fileRows = function* (clauses: string): Generator<FileRow> {
    for (const r of db
      .prepare(`SELECT ${columns} FROM files ${clauses}`)
      .raw()
      .iterate() as IterableIterator<RawFileRow>)
      yield fileRow(r);
  };
  const lastVerify = [...runs].reverse().find((r) => r.command === "verify");
  let checks: ChecksSummary | null = null;
  if (lastVerify) {
    const id = lastVerify.id;
    const counts: Record<CheckStatus, number> = { ok: 0, missing: 0, different: 0, unverifiable: 0 };
    const by: Record<string, number> = {};
    // One scan, counted here: GROUP BY would sort every row first (see fileTotals above).
    for (const [status, k] of db
      .prepare(
        `SELECT status, ${hasColumn("checks", "verification") ? "verification" : "NULL"} FROM checks WHERE run_id = ?`,
      )
      .raw()
      .iterate(id) as IterableIterator<[CheckStatus, string | null]>) {
      counts[status] = (counts[status] ?? 0) + 1;
      if (k) by[k] = (by[k] ?? 0) + 1;
    }
    const total = counts.ok + counts.missing + counts.different + counts.unverifiable;
    // Only a run that recorded checks has a verification section (as when it was one list).
    if (total > 0)
      checks = {
        runId: id,
        counts,
        by: sortedKeys(by),
        problemCount: total - counts.ok,
        problems: () =>
          iterate<RawCheck, CheckRow>(
            "SELECT * FROM checks WHERE run_id = ? AND status <> 'ok' ORDER BY filename",
            checkRow,
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
  let counted: FileTotals | undefined;
  const totals = (): FileTotals => (counted ??= fileTotals(db, fileVerification));
  return {
    dir,
    identity,
    runs,
    stateTotals: () => totals().byState,
    verifiedBy: () => totals().verifiedBy,
    projects: () =>
      iterate<{ project: string; error: string | null; run_id: number }, ProjectRow>(
        "SELECT project, error, run_id FROM projects ORDER BY project",
        (p) => ({ project: p.project, error: p.error, runId: p.run_id }),
      ),
    files: () => fileRows("ORDER BY project"),
    // Five columns as arrays (better-sqlite3's raw mode), not every column as an object.
    fileTallies: () =>
      db
        .prepare(
          "SELECT project, version, filename, state, COALESCE(size, bytes) FROM files ORDER BY project",
        )
        .raw()
        .iterate() as IterableIterator<FileTally>,
    unverifiedFiles: () => fileRows("WHERE state <> 'verified' ORDER BY project"),
    // The four columns the report shows, not every column: a third of the CPU of reading every
    // column of each row (28-33 against 68-89 ms for 20,000 files, each read twice for a report).
    notCarried: function* (): Generator<NotCarriedRow> {
      for (const [project, version, filename, notCarried] of db
        .prepare(
          "SELECT project, version, filename, not_carried FROM files WHERE state = 'verified' AND not_carried IS NOT NULL ORDER BY filename",
        )
        .raw()
        .iterate() as IterableIterator<[string, string, string, string]>)
        yield { project, version, filename, notCarried: JSON.parse(notCarried) as NotCarried };
    },
    notCarriedCount: () => totals().notCarried,
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
