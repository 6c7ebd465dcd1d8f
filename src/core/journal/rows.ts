/** Rows as SQLite returns them, turned into the journal's records; and the whole journal read at once. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { openDatabase } from "../sqlite.js";
import { PyregError } from "../errors.js";
import { isFailureClass } from "../failure.js";
import { JOURNAL_FILE } from "./schema.js";
import type {
  CheckRow,
  CheckStatus,
  FileRow,
  FileState,
  Identity,
  JournalData,
  NotCarried,
  RunRow,
  RunStatus,
  SelectionRow,
} from "./types.js";

export function now(): string {
  return new Date().toISOString();
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The files table's columns in the order fileRow reads them. Rows are read in better-sqlite3's
 * raw mode (https://github.com/WiseLibs/better-sqlite3/blob/master/docs/api.md#rawtogglestate):
 * an array per row instead of an object of twenty named properties. Reading the 20,000 rows of a
 * journal in name order cost 100 ms of CPU as objects and 52 ms as arrays (in-process, the
 * journal of a 20,000-file migration); a report reads them several times.
 */
const FILE_COLUMNS = [
  "project",
  "filename",
  "version",
  "size",
  "sha256",
  "state",
  "reason",
  "code",
  "class",
  "server_answer",
  "destination_sha256",
  "not_carried",
  "run_id",
  "first_run_id",
  "upload_attempts",
  "verification",
  "upload_deadline",
  "bytes",
  "seconds",
  "updated_at",
] as const;

/** A files row as fileColumns selects it, in raw mode. */
export type RawFileRow = [
  project: string,
  filename: string,
  version: string,
  size: number | null,
  sha256: string | null,
  state: string,
  reason: string | null,
  code: string | null,
  failureClass: string | null,
  serverAnswer: string | null,
  destinationSha256: string | null,
  notCarried: string | null,
  runId: number,
  firstRunId: number,
  uploadAttempts: number,
  verification: string | null,
  uploadDeadline: string | null,
  bytes: number | null,
  seconds: number | null,
  updatedAt: string,
];

/**
 * The SELECT list of a files row for fileRow. A column that an older journal opened read-only
 * lacks (added since, see schema.ts) reads as NULL.
 */
export function fileColumns(db: Database.Database): string {
  const have = new Set(
    (db.prepare("PRAGMA table_info(files)").all() as { name: string }[]).map((c) => c.name),
  );
  return FILE_COLUMNS.map((c) => (have.has(c) ? c : "NULL")).join(", ");
}

/** A row of the checks table as SQLite gives it. */
export interface RawCheck {
  project: string;
  filename: string;
  version: string;
  status: string;
  detail: string;
  run_id: number;
  verification?: string | null;
}

export function checkRow(c: RawCheck): CheckRow {
  return {
    project: c.project,
    filename: c.filename,
    version: c.version,
    status: c.status as CheckStatus,
    detail: c.detail,
    runId: c.run_id,
    verification: c.verification,
  };
}

/** A row of the selection table as SQLite gives it. */
export interface RawSelection {
  run_id: number;
  kind: SelectionRow["kind"];
  project: string | null;
  filename: string | null;
  text: string;
}

export function selectionRow(r: RawSelection): SelectionRow {
  return { kind: r.kind, project: r.project, filename: r.filename, text: r.text, runId: r.run_id };
}
export function fileRow(r: RawFileRow): FileRow {
  return {
    project: r[0],
    filename: r[1],
    version: r[2],
    size: r[3],
    sha256: r[4],
    state: r[5] as FileState,
    reason: r[6],
    code: r[7],
    class: isFailureClass(r[8]) ? r[8] : null,
    serverAnswer: r[9],
    destinationSha256: r[10],
    notCarried: r[11] ? (JSON.parse(r[11]) as NotCarried) : null,
    runId: r[12],
    firstRunId: r[13],
    uploadAttempts: r[14],
    verification: r[15],
    uploadDeadline: r[16],
    bytes: r[17],
    seconds: r[18],
    updatedAt: r[19],
  };
}

export interface RawRunRow {
  id: number;
  command: string;
  argv: string;
  version: string;
  source: string;
  destination: string;
  shard: string | null;
  pid: number | null;
  started_at: string;
  ended_at: string | null;
  status: string;
  message: string | null;
  counts: string | null;
}

export function runRow(r: RawRunRow, live: boolean): RunRow {
  // A run still "running" whose process is gone was killed (kill -9, power cut, OOM).
  const killed = r.status === "running" && !live;
  return {
    id: r.id,
    command: r.command,
    argv: JSON.parse(r.argv) as string[],
    version: r.version,
    source: r.source,
    destination: r.destination,
    shard: r.shard,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    status: killed ? "killed" : (r.status as RunStatus),
    message: r.message,
    counts: r.counts ? (JSON.parse(r.counts) as Record<string, number>) : null,
  };
}

export function readIdentity(db: Database.Database): Identity | undefined {
  const rows = db.prepare("SELECT key, value FROM meta").all() as { key: string; value: string }[];
  const m = new Map(rows.map((r) => [r.key, r.value]));
  const s = m.get("source_key");
  const d = m.get("destination_key");
  if (!s || !d) return undefined;
  return {
    source: { key: s, description: m.get("source") ?? s },
    destination: { key: d, description: m.get("destination") ?? d },
    shard: m.get("shard") || undefined,
  };
}

export function describeIdentity(i: Identity): string {
  return `from ${i.source.description}\n  to   ${i.destination.description}${i.shard ? `\n  shard ${i.shard}` : ""}`;
}

export function readAll(
  db: Database.Database,
  dir: string,
  identity: Identity,
  currentRun?: number,
): JournalData {
  const runs = (db.prepare("SELECT * FROM runs ORDER BY id").all() as RawRunRow[]).map((r) =>
    runRow(r, r.id === currentRun || (r.pid !== null && r.pid !== process.pid && pidAlive(r.pid))),
  );
  const files = (
    db
      .prepare(`SELECT ${fileColumns(db)} FROM files ORDER BY project, version, filename`)
      .raw()
      .all() as RawFileRow[]
  ).map(fileRow);
  const projects = (
    db.prepare("SELECT project, error, run_id FROM projects ORDER BY project").all() as {
      project: string;
      error: string | null;
      run_id: number;
    }[]
  ).map((p) => ({ project: p.project, error: p.error, runId: p.run_id }));
  const lastVerify = [...runs].reverse().find((r) => r.command === "verify");
  const checks = lastVerify
    ? (
        db
          .prepare("SELECT * FROM checks WHERE run_id = ? ORDER BY project, version, filename")
          .all(lastVerify.id) as RawCheck[]
      ).map(checkRow)
    : [];
  // Journals written before selection notes existed have no such table (reports open them read-only).
  const hasSelection = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'selection'")
    .get();
  const rows = hasSelection
    ? (db.prepare("SELECT * FROM selection ORDER BY run_id, rowid").all() as RawSelection[]).map(selectionRow)
    : [];
  const lastRun = runs[runs.length - 1]?.id;
  const selection = rows.filter((r) => r.runId === lastRun);
  const has = (table: string): boolean =>
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== undefined;
  // Journals written before these tables existed have neither.
  const ignored = has("ignored")
    ? (db.prepare("SELECT name, reason FROM ignored ORDER BY name").all() as {
        name: string;
        reason: string;
      }[])
    : [];
  const warnings = has("warnings")
    ? (
        db.prepare("SELECT run_id, text FROM warnings ORDER BY rowid").all() as {
          run_id: number;
          text: string;
        }[]
      ).map((w) => ({ runId: w.run_id, text: w.text }))
    : [];
  return { dir, identity, runs, files, projects, checks, selection, ignored, warnings };
}

/**
 * A journal's database opened without its lock (a report, a resume preview, also while a run is
 * going on), with its recorded source and destination. The caller closes it.
 */
export function openWithoutLock(dir: string): { db: Database.Database; identity: Identity } {
  const path = join(dir, JOURNAL_FILE);
  if (!existsSync(path)) {
    throw new PyregError("STATE", `no journal in ${dir} (${JOURNAL_FILE} not found)`, {
      hint: "give the --state folder a migrate or verify ran with (default ./.pyreg/)",
    });
  }
  const db = openDatabase(path, { fileMustExist: true });
  try {
    db.pragma("busy_timeout = 5000");
    const identity = readIdentity(db);
    if (!identity) throw new PyregError("STATE", `the journal in ${dir} has no source/destination recorded`);
    return { db, identity };
  } catch (err) {
    db.close();
    throw err;
  }
}
