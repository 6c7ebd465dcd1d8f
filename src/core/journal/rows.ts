/** Rows as SQLite returns them, turned into the journal's records; and the whole journal read at once. */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
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

export interface RawFileRow {
  project: string;
  filename: string;
  version: string;
  size: number | null;
  sha256: string | null;
  state: string;
  reason: string | null;
  code: string | null;
  class?: string | null;
  server_answer: string | null;
  destination_sha256: string | null;
  not_carried: string | null;
  run_id: number;
  first_run_id: number;
  upload_attempts: number;
  verification?: string | null | undefined;
  upload_deadline: string | null;
  bytes: number | null;
  seconds: number | null;
  updated_at: string;
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
    project: r.project,
    filename: r.filename,
    version: r.version,
    size: r.size,
    sha256: r.sha256,
    state: r.state as FileState,
    reason: r.reason,
    code: r.code,
    class: isFailureClass(r.class) ? r.class : null,
    serverAnswer: r.server_answer,
    destinationSha256: r.destination_sha256,
    notCarried: r.not_carried ? (JSON.parse(r.not_carried) as NotCarried) : null,
    runId: r.run_id,
    firstRunId: r.first_run_id,
    uploadAttempts: r.upload_attempts,
    verification: r.verification,
    uploadDeadline: r.upload_deadline,
    bytes: r.bytes,
    seconds: r.seconds,
    updatedAt: r.updated_at,
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
    db.prepare("SELECT * FROM files ORDER BY project, version, filename").all() as RawFileRow[]
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
  const db = new Database(path, { fileMustExist: true });
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
