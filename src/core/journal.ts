/**
 * The journal: an SQLite database in the state folder that records the migration's
 * identity, every run, and every planned file with its state, so that any interruption (Ctrl-C, a
 * killed runner, `kill -9` mid-upload) can be resumed without uploading anything twice.
 *
 * States: planned → downloaded → uploading → uploaded → verified, or skipped, conflict, failed,
 * filtered. "uploading" is written (and synced to disk) BEFORE the POST is sent, so a file whose
 * upload may have landed is always known as uncertain ("uploading" / "uploaded" without "verified").
 *
 * Durability: WAL mode. Every commit is written to the WAL before the statement returns, so a
 * killed process (SIGKILL) loses no commit: the operating system still holds the bytes. The
 * "uploading" mark is committed and followed by an fsync of the WAL (off the event loop, one
 * commit and one fsync shared by the marks of files reaching their upload together, see
 * Journal.markUploading) before the upload is sent, so that it survives even a power cut of the
 * machine; the other state changes wait for the next commit, at most MARK_COMMIT_MS (see
 * Journal.mark). Other commits use synchronous=NORMAL (no fsync).
 * (https://www.sqlite.org/pragma.html#pragma_synchronous, https://www.sqlite.org/wal.html)
 */
import { existsSync, renameSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { formatVerification, verificationKey } from "./digests.js";
import { PyregError, type FailureClass } from "./errors.js";
import { isFailureClass, retriedNextRun } from "./failure.js";
import type { Destination, DistFile, FileOutcome } from "./model.js";
import { sha256Of } from "./model.js";
import { decide, type Plan, type PlanAction, type PlanEntry } from "./plan.js";
import { makeDirSync } from "./dirs.js";
import { FileLock } from "./lock.js";

export type FileState =
  | "planned"
  | "downloaded"
  | "uploading"
  | "uploaded"
  | "verified"
  | "skipped"
  | "conflict"
  | "failed"
  | "filtered";

export const FILE_STATES: readonly FileState[] = [
  "planned",
  "downloaded",
  "uploading",
  "uploaded",
  "verified",
  "skipped",
  "conflict",
  "failed",
  "filtered",
];

/** A POST may have been sent and its effect was never confirmed. */
export const UNCERTAIN_STATES: ReadonlySet<FileState> = new Set<FileState>(["uploading", "uploaded"]);

export interface Endpoint {
  /** Stable identity: kind + URL without credentials, query or fragment, or an absolute folder path. */
  key: string;
  /** For people, credentials redacted. */
  description: string;
}

export interface Identity {
  source: Endpoint;
  destination: Endpoint;
  /** "K/N" when the journal belongs to one shard. */
  shard?: string | undefined;
}

/** What the legacy upload protocol cannot carry to the destination, per file. */
export interface NotCarried {
  uploadTime?: string;
  yanked?: boolean | string;
  notes?: Record<string, string>;
}

export interface FileRow {
  project: string;
  filename: string;
  version: string;
  size: number | null;
  sha256: string | null;
  state: FileState;
  reason: string | null;
  code: string | null;
  /** The failure's class (transient, lasting, auth, conflict, uncertain), read by src/core/failure.ts. */
  class: FailureClass | null;
  serverAnswer: string | null;
  destinationSha256: string | null;
  notCarried: NotCarried | null;
  /** The run that last changed the row, and the run that first planned it. */
  runId: number;
  firstRunId: number;
  /** How many times an upload was started (the "uploading" mark), over all runs. */
  uploadAttempts: number;
  /** How the bytes at the destination were confirmed ("index:sha256", "content:sha256"). */
  verification?: string | null | undefined;
  /**
   * When the last upload attempt gives up at the latest (its request deadline, ISO time): until
   * then that attempt may still land, so a resumed run does not send the file again before it.
   */
  uploadDeadline?: string | null | undefined;
  bytes: number | null;
  seconds: number | null;
  updatedAt: string;
}

export type RunStatus = "running" | "done" | "interrupted" | "failed";

export interface RunRow {
  id: number;
  command: string;
  argv: string[];
  version: string;
  source: string;
  destination: string;
  shard: string | null;
  startedAt: string;
  endedAt: string | null;
  status: RunStatus | "killed";
  message: string | null;
  counts: Record<string, number> | null;
}

export type CheckStatus = "ok" | "missing" | "different" | "unverifiable";

export interface CheckRow {
  project: string;
  filename: string;
  version: string;
  status: CheckStatus;
  detail: string;
  runId: number;
  /** How the file was checked ("index:sha512", "content:sha256"), when it was. */
  verification?: string | null | undefined;
}

export interface ProjectRow {
  project: string;
  error: string | null;
  runId: number;
}

export interface JournalData {
  dir: string;
  identity: Identity;
  runs: RunRow[];
  files: FileRow[];
  projects: ProjectRow[];
  /** Results of the last `verify` run, if any. */
  checks: CheckRow[];
  /** What the selection rules of the latest run said (warnings, problems, what was left out). */
  selection: SelectionRow[];
  /** Files at the source that are not distributions, as the latest run found them. */
  ignored: { name: string; reason: string }[];
  /** What each run warned about (a pattern that matched nothing...). */
  warnings: { runId: number; text: string }[];
}

/**
 * One note of the selection rules for the report: a warning (a rule that matched nothing), a
 * problem (a pinned file missing or different at the source), or what was left out without being
 * a file of the plan (a project, or a file `verify` did not check).
 */
export interface SelectionRow {
  kind: "warning" | "problem" | "filtered-project" | "filtered-file";
  project: string | null;
  filename: string | null;
  text: string;
  runId: number;
}

export const JOURNAL_FILE = "journal.sqlite";
const LOCK_FILE = "lock.sqlite";
const SCHEMA_VERSION = "1";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  command TEXT NOT NULL, argv TEXT NOT NULL, version TEXT NOT NULL,
  source TEXT NOT NULL, destination TEXT NOT NULL, shard TEXT, pid INTEGER,
  started_at TEXT NOT NULL, ended_at TEXT, status TEXT NOT NULL, message TEXT, counts TEXT);
CREATE TABLE IF NOT EXISTS files (
  project TEXT NOT NULL, filename TEXT NOT NULL, version TEXT NOT NULL,
  size INTEGER, sha256 TEXT, state TEXT NOT NULL, reason TEXT, code TEXT, class TEXT, server_answer TEXT,
  destination_sha256 TEXT, not_carried TEXT, run_id INTEGER NOT NULL, first_run_id INTEGER NOT NULL,
  upload_attempts INTEGER NOT NULL DEFAULT 0, bytes INTEGER, seconds REAL, updated_at TEXT NOT NULL,
  verification TEXT, upload_deadline TEXT,
  PRIMARY KEY (project, filename));
CREATE TABLE IF NOT EXISTS history (
  id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL, project TEXT NOT NULL,
  filename TEXT NOT NULL, state TEXT NOT NULL, detail TEXT, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (project TEXT PRIMARY KEY, error TEXT, run_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ignored (name TEXT PRIMARY KEY, reason TEXT NOT NULL, run_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS warnings (run_id INTEGER NOT NULL, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checks (
  project TEXT NOT NULL, filename TEXT NOT NULL, version TEXT NOT NULL, status TEXT NOT NULL,
  detail TEXT NOT NULL, run_id INTEGER NOT NULL, verification TEXT, PRIMARY KEY (project, filename));
CREATE TABLE IF NOT EXISTS selection (
  run_id INTEGER NOT NULL, kind TEXT NOT NULL, project TEXT, filename TEXT, text TEXT NOT NULL);
`;

/** Columns added after the first release: added to an older journal when it is opened. */
const ADDED_COLUMNS: readonly [table: string, column: string, type: string][] = [
  ["files", "verification", "TEXT"],
  ["files", "upload_deadline", "TEXT"],
  ["checks", "verification", "TEXT"],
  // The failure's class (src/core/failure.ts); empty in older journals: such a failure is retried.
  ["files", "class", "TEXT"],
];

function addMissingColumns(db: Database.Database): void {
  for (const [table, column, type] of ADDED_COLUMNS) {
    const have = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some(
      (c) => c.name === column,
    );
    if (!have) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
  }
}

/**
 * The resume policy for one planned file, given what earlier runs recorded about it (pure, so
 * that `plan --state` shows what `migrate` would do without writing anything):
 * - carried: failed earlier with a lasting error, not tried again without --retry-failed (or,
 *   for a file the index lists, an earlier run read other bytes back than the index lists);
 * - uncertain: an interrupted upload, not listed: the index is read again before sending;
 * - landed: an interrupted upload the destination now lists with the right sha256;
 * - again: copied earlier, but the destination no longer lists it: copied again;
 * - as-planned: nothing earlier changes the plan's action.
 */
export type ResumeStep = "carried" | "uncertain" | "landed" | "again" | "as-planned";

export function resumeStep(
  action: PlanAction,
  prev: Pick<FileRow, "state" | "code" | "class"> | undefined,
  retryFailed: boolean,
): ResumeStep {
  if (!prev) return "as-planned";
  if (action === "copy") {
    // The failure policy decides by the class the error was given when it was made.
    if (prev.state === "failed" && !retryFailed && !retriedNextRun(prev.class)) return "carried";
    if (UNCERTAIN_STATES.has(prev.state)) return "uncertain";
    if (prev.state === "verified") return "again";
  }
  if (action === "skip") {
    // Listed with the source's digest, but an earlier run read other bytes back: not evidence.
    if (prev.state === "failed" && prev.code === "CONTENT_MISMATCH") return "carried";
    if (UNCERTAIN_STATES.has(prev.state)) return "landed";
  }
  return "as-planned";
}

export function notCarriedOf(f: DistFile): NotCarried | null {
  const out: NotCarried = {};
  if (f.uploadTime) out.uploadTime = f.uploadTime;
  if (f.yanked) out.yanked = f.yanked;
  const notes = Object.entries(f.notes ?? {}).filter(([k]) => k !== "filtered");
  if (notes.length) out.notes = Object.fromEntries(notes);
  return Object.keys(out).length ? out : null;
}

function now(): string {
  return new Date().toISOString();
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

interface RawFileRow {
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

function fileRow(r: RawFileRow): FileRow {
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

interface RawRunRow {
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

function runRow(r: RawRunRow, live: boolean): RunRow {
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

function readIdentity(db: Database.Database): Identity | undefined {
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

function describeIdentity(i: Identity): string {
  return `from ${i.source.description}\n  to   ${i.destination.description}${i.shard ? `\n  shard ${i.shard}` : ""}`;
}

function readAll(db: Database.Database, dir: string, identity: Identity, currentRun?: number): JournalData {
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
          .all(lastVerify.id) as {
          project: string;
          filename: string;
          version: string;
          status: string;
          detail: string;
          run_id: number;
          verification: string | null;
        }[]
      ).map((c) => ({
        verification: c.verification,
        project: c.project,
        filename: c.filename,
        version: c.version,
        status: c.status as CheckStatus,
        detail: c.detail,
        runId: c.run_id,
      }))
    : [];
  // Journals written before selection notes existed have no such table (reports open them read-only).
  const hasSelection = db
    .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'selection'")
    .get();
  const rows = hasSelection
    ? (
        db.prepare("SELECT * FROM selection ORDER BY run_id, rowid").all() as {
          run_id: number;
          kind: SelectionRow["kind"];
          project: string | null;
          filename: string | null;
          text: string;
        }[]
      ).map((r) => ({
        kind: r.kind,
        project: r.project,
        filename: r.filename,
        text: r.text,
        runId: r.run_id,
      }))
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

/** What applying a plan to the journal decided for this run. */
export interface ResumeDecision {
  /** The plan to give the engine (files carried over as failed are taken out). */
  plan: Plan;
  /** Files to copy whose previous upload may have landed: re-check the destination before sending. */
  uncertain: PlanEntry[];
  /** Failed in an earlier run with a permanent error and not retried (no --retry-failed). */
  carried: FileOutcome[];
  /** Files an earlier interrupted upload put at the destination (found now with the same sha256). */
  landed: number;
}

export interface StateDetail {
  reason?: string | null | undefined;
  code?: string | null | undefined;
  class?: FailureClass | null | undefined;
  serverAnswer?: string | null | undefined;
  destinationSha256?: string | null | undefined;
  bytes?: number | undefined;
  seconds?: number | undefined;
  uploadAttempt?: boolean;
  /** With uploadAttempt: the attempt's deadline (ms since the epoch). */
  uploadDeadline?: number | undefined;
  verification?: string | null | undefined;
}

export interface OpenOptions {
  /** Start the folder over: the old journal is kept beside it as journal.<time>.sqlite. */
  reset?: boolean;
}

/** Longest a state change other than "uploading" waits for its commit (see Journal.mark). */
const MARK_COMMIT_MS = 100;

export class Journal {
  private runId = 0;
  private readonly getStmt;
  private readonly historyStmt;
  private upsertStmt: Database.Statement | undefined;
  /** fsync of the WAL in progress, and the next one (shared by every commit made before it starts). */
  private walHandle: Promise<FileHandle> | undefined;
  private lastSync: Promise<void> = Promise.resolve();
  private nextSync: Promise<void> | undefined;
  /** Marks not committed yet (see mark), and the timer that commits them. */
  private queued: { file: DistFile; state: FileState; detail: StateDetail }[] = [];
  private commitTimer: NodeJS.Timeout | undefined;
  private deferredError: PyregError | undefined;

  private constructor(
    private readonly db: Database.Database,
    readonly dir: string,
    readonly identity: Identity,
    private readonly lock: FileLock | undefined,
  ) {
    this.getStmt = db.prepare("SELECT * FROM files WHERE project = ? AND filename = ?");
    this.historyStmt = db.prepare(
      "INSERT INTO history (run_id, project, filename, state, detail, at) VALUES (?, ?, ?, ?, ?, ?)",
    );
  }

  /**
   * Opens (or creates) the journal of a state folder for one source/destination pair. Fails with a
   * STATE error when the folder belongs to another pair, or another live pyreg is using it.
   */
  static open(dir: string, identity: Identity, opts: OpenOptions = {}): Journal {
    makeDirSync(dir, "the state folder", "STATE");
    const lock = takeLock(join(dir, LOCK_FILE), dir);
    let db: Database.Database | undefined;
    try {
      const path = join(dir, JOURNAL_FILE);
      if (opts.reset && existsSync(path)) {
        const stamp = now().replace(/[:.]/g, "-");
        for (const suffix of ["", "-wal", "-shm"]) {
          if (existsSync(path + suffix))
            renameSync(path + suffix, join(dir, `journal.${stamp}.sqlite${suffix}`));
        }
      }
      db = new Database(path);
      db.pragma("journal_mode = WAL");
      db.pragma("synchronous = NORMAL");
      db.pragma("busy_timeout = 5000");
      db.exec(SCHEMA);
      addMissingColumns(db);
      const have = readIdentity(db);
      if (!have) {
        writeIdentity(db, identity);
      } else if (
        have.source.key !== identity.source.key ||
        have.destination.key !== identity.destination.key ||
        (have.shard ?? "") !== (identity.shard ?? "")
      ) {
        throw new PyregError(
          "STATE",
          `the state folder ${dir} belongs to another migration:\n  ${describeIdentity(have)}\n` +
            `this command is:\n  ${describeIdentity(identity)}`,
          {
            hint:
              `give this migration its own folder with --state DIR, or add --reset-state to start ` +
              `${dir} over (its journal is kept beside it as journal.<time>.sqlite)`,
          },
        );
      }
      return new Journal(db, dir, have ?? identity, lock);
    } catch (err) {
      db?.close();
      lock.release();
      if (err instanceof PyregError) throw err;
      throw new PyregError("STATE", `cannot open the journal in ${dir}: ${(err as Error).message}`, {
        cause: err,
        hint: "check that the folder is writable and not on a network file system, or use --state DIR",
      });
    }
  }

  /**
   * A journal held in memory only, for a run that must leave no state folder (verify without a
   * journal of its pair, whose report goes only where --report says). Nothing is written to disk.
   */
  static inMemory(identity: Identity): Journal {
    const db = new Database(":memory:");
    db.exec(SCHEMA);
    addMissingColumns(db);
    writeIdentity(db, identity);
    return new Journal(db, "(memory)", identity, undefined);
  }

  /** Reads a journal without taking its lock (for `pyreg report`, also while a run is going on). */
  static read(dir: string): JournalData {
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
      if (!identity)
        throw new PyregError("STATE", `the journal in ${dir} has no source/destination recorded`);
      return readAll(db, dir, identity);
    } finally {
      db.close();
    }
  }

  get currentRun(): number {
    return this.runId;
  }

  startRun(r: {
    command: string;
    argv: string[];
    version: string;
    source: string;
    destination: string;
  }): number {
    const info = this.db
      .prepare(
        "INSERT INTO runs (command, argv, version, source, destination, shard, pid, started_at, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'running')",
      )
      .run(
        r.command,
        JSON.stringify(r.argv),
        r.version,
        r.source,
        r.destination,
        this.identity.shard ?? null,
        process.pid,
        now(),
      );
    this.runId = Number(info.lastInsertRowid);
    return this.runId;
  }

  /** The adapters' own descriptions, once they are open. */
  describeRun(source: string, destination: string): void {
    this.db
      .prepare("UPDATE runs SET source = ?, destination = ? WHERE id = ?")
      .run(source, destination, this.runId);
  }

  endRun(status: RunStatus, message: string | undefined, counts: Record<string, number>): void {
    this.flush();
    this.db
      .prepare("UPDATE runs SET ended_at = ?, status = ?, message = ?, counts = ? WHERE id = ?")
      .run(now(), status, message ?? null, JSON.stringify(counts), this.runId);
  }

  get(project: string, filename: string): FileRow | undefined {
    this.flush();
    const r = this.getStmt.get(project, filename) as RawFileRow | undefined;
    return r ? fileRow(r) : undefined;
  }

  private write(file: DistFile, state: FileState, detail: StateDetail = {}, at = now()): void {
    const notCarried = notCarriedOf(file);
    // Prepared once: preparing it for every state change cost about 0.3 ms a time.
    (this.upsertStmt ??= this.db.prepare(
      `INSERT INTO files (project, filename, version, size, sha256, state, reason, code, class, server_answer,
           destination_sha256, not_carried, run_id, first_run_id, upload_attempts, bytes, seconds, updated_at,
           verification, upload_deadline)
         VALUES (@project, @filename, @version, @size, @sha256, @state, @reason, @code, @class, @answer, @dsha,
           @notCarried, @run, @run, @attempt, @bytes, @seconds, @at, @verification, @deadline)
         ON CONFLICT (project, filename) DO UPDATE SET
           version = excluded.version, size = COALESCE(excluded.size, files.size),
           sha256 = COALESCE(excluded.sha256, files.sha256), state = excluded.state,
           reason = excluded.reason, code = excluded.code, class = excluded.class, server_answer = excluded.server_answer,
           destination_sha256 = excluded.destination_sha256, not_carried = excluded.not_carried,
           run_id = excluded.run_id, upload_attempts = files.upload_attempts + excluded.upload_attempts,
           bytes = COALESCE(excluded.bytes, files.bytes), seconds = COALESCE(excluded.seconds, files.seconds),
           updated_at = excluded.updated_at, verification = excluded.verification,
           upload_deadline = COALESCE(excluded.upload_deadline, files.upload_deadline)`,
    )).run({
      project: file.project,
      filename: file.filename,
      version: file.version,
      size: file.size ?? null,
      sha256: sha256Of(file) ?? null,
      state,
      reason: detail.reason ?? null,
      code: detail.code ?? null,
      class: detail.class ?? null,
      answer: detail.serverAnswer ?? null,
      dsha: detail.destinationSha256 ?? null,
      notCarried: notCarried ? JSON.stringify(notCarried) : null,
      run: this.runId,
      attempt: detail.uploadAttempt ? 1 : 0,
      bytes: detail.bytes ?? null,
      seconds: detail.seconds ?? null,
      at,
      verification: detail.verification ?? null,
      deadline: detail.uploadDeadline !== undefined ? new Date(detail.uploadDeadline).toISOString() : null,
    });
    this.historyStmt.run(this.runId, file.project, file.filename, state, detail.reason ?? null, at);
  }

  /**
   * One state change. It is committed with the others queued, in one transaction: by the next
   * commit of "uploading" marks (see markUploading), a read (get, data), close, or at the latest
   * MARK_COMMIT_MS after it was queued. A commit per state change cost more than the transfer of
   * a small file; with many files in flight nearly every other change rides along with an
   * "uploading" commit. What a kill can lose is only the changes of those last milliseconds, and
   * none of them is needed to resume safely: "uploading" is never deferred (see markUploading), a
   * lost "downloaded" leaves the file planned, and a lost "uploaded"/"verified" leaves it
   * uncertain, which the next run re-checks at the destination.
   */
  mark(file: DistFile, state: FileState, detail: StateDetail = {}): void {
    this.throwDeferred();
    this.queued.push({ file, state, detail });
    this.commitTimer ??= setTimeout(() => {
      this.commitTimer = undefined;
      this.flushQuietly();
    }, MARK_COMMIT_MS);
  }

  /** Commits the queued marks (one transaction). */
  flush(): void {
    this.throwDeferred();
    if (this.commitTimer) {
      clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
    }
    if (this.queued.length === 0) return;
    const batch = this.queued;
    this.queued = [];
    const at = now();
    try {
      this.db.transaction(() => {
        for (const q of batch) this.write(q.file, q.state, q.detail, at);
      })();
    } catch (err) {
      // Without its journal entry a file must not be sent: STATE is fatal and stops the run.
      throw new PyregError("STATE", `cannot write the journal in ${this.dir}: ${(err as Error).message}`, {
        cause: err,
        hint: "check free space and permissions of the state folder, then run the same command again",
      });
    }
  }

  /** The flush after a turn: a failure is kept and thrown by the next mark (before any upload). */
  private flushQuietly(): void {
    if (!this.db.open) return;
    try {
      this.flush();
    } catch (err) {
      this.deferredError ??= err as PyregError;
    }
  }

  private throwDeferred(): void {
    if (this.deferredError) throw this.deferredError;
  }

  /**
   * Recorded BEFORE the upload is sent: committed, then the WAL is fsynced before this resolves.
   * Group commit: the marks queued while an fsync is under way (other files reaching their upload
   * meanwhile) are committed together when it ends, in one transaction, and covered by one fsync.
   * The fsync runs off the event loop (libuv's pool): a synchronous=FULL commit blocked the event
   * loop 3-10 ms per file here, and a commit per mark was most of the journal's CPU (each commit
   * writes the changed pages to the WAL).
   */
  async markUploading(file: DistFile, deadline?: number): Promise<void> {
    this.mark(file, "uploading", { uploadAttempt: true, uploadDeadline: deadline });
    await this.syncWal();
  }

  /**
   * The destination answered the file's upload attempt: the attempt can no longer land later, so
   * a resumed run need not wait for its deadline (the file stays uncertain until it is verified).
   */
  endAttempt(file: DistFile): void {
    this.mark(file, "uploading", { uploadDeadline: Date.now() });
  }

  private syncWal(): Promise<void> {
    if (this.nextSync) return this.nextSync;
    const sync = this.lastSync.then(async () => {
      this.nextSync = undefined; // marks from now on wait for the commit and fsync after this one
      this.flush(); // every mark queued so far, the "uploading" ones waiting here among them
      // Without a WAL (journal_mode=WAL refused, e.g. on some network file systems) the database
      // file itself holds the commit.
      const path = join(this.dir, JOURNAL_FILE);
      this.walHandle ??= open(path + "-wal", "r").catch(() => open(path, "r"));
      await (await this.walHandle).sync();
    });
    this.lastSync = sync.catch(() => undefined);
    this.nextSync = sync.catch((err: unknown) => {
      if (err instanceof PyregError) throw err; // the commit's own (see flush)
      throw new PyregError("STATE", `cannot write the journal in ${this.dir}: ${(err as Error).message}`, {
        cause: err,
        hint: "check free space and permissions of the state folder, then run the same command again",
      });
    });
    return this.nextSync;
  }

  /** Records the engine's final outcome for a file (no-op when nothing changed). */
  recordOutcome(o: FileOutcome): void {
    // Read only where it decides something: a read commits the queued marks first.
    const prev = o.kind === "copied" ? undefined : this.get(o.file.project, o.file.filename);
    switch (o.kind) {
      case "copied":
        this.mark(o.file, "verified", {
          reason: o.verification
            ? `copied; confirmed by its ${formatVerification(o.verification)}`
            : "copied; the destination index lists it with the source's sha256",
          bytes: o.bytes,
          seconds: o.seconds,
          verification: verificationKey(o.verification),
        });
        return;
      case "skipped":
        // A file this migration copied earlier stays "verified" when a later run finds it there.
        if (prev && (prev.state === "verified" || (prev.state === "skipped" && prev.reason === o.reason)))
          return;
        this.mark(o.file, "skipped", { reason: o.reason, verification: verificationKey(o.verification) });
        return;
      case "conflict":
        if (prev?.state === "conflict" && prev.reason === o.reason) return;
        this.mark(o.file, "conflict", { reason: o.reason, destinationSha256: o.destinationSha256 });
        return;
      case "failed":
        if (prev?.state === "failed" && prev.reason === o.reason && prev.runId === this.runId) return;
        this.mark(o.file, "failed", {
          reason: o.reason,
          code: o.code,
          class: o.class,
          serverAnswer: o.serverAnswer,
        });
        return;
      case "filtered":
        if (prev?.state === "verified" || prev?.state === "skipped") return;
        if (prev?.state === "filtered" && prev.reason === o.reason) return;
        this.mark(o.file, "filtered", { reason: o.reason });
        return;
    }
  }

  /**
   * Records a fresh plan (made from both indexes) against what earlier runs left, in one
   * transaction, and decides this run's work:
   * - a file the plan skips (same name and sha256 at the destination) that an earlier run left
   *   "uploading"/"uploaded" is "verified": that upload landed;
   * - a file to copy that an earlier run left uncertain is returned in `uncertain`: the caller reads
   *   the destination again after a delay before uploading it (see resolveUncertain in the CLI);
   * - a file that failed earlier with a permanent error is carried over as failed unless
   *   `retryFailed`; any other earlier failure is simply tried again.
   */
  applyPlan(plan: Plan, opts: { retryFailed: boolean }): ResumeDecision {
    const uncertain: PlanEntry[] = [];
    const carried: FileOutcome[] = [];
    let landed = 0;
    const projects = this.db.transaction(() => {
      const setProject = this.db.prepare(
        "INSERT INTO projects (project, error, run_id) VALUES (?, ?, ?) ON CONFLICT (project) DO UPDATE SET error = excluded.error, run_id = excluded.run_id",
      );
      return plan.projects.map((p) => {
        setProject.run(p.project, p.error ?? null, this.runId);
        const entries = p.entries.filter((e) => {
          const prev = this.get(e.file.project, e.file.filename);
          const step = resumeStep(e.action, prev, opts.retryFailed);
          switch (e.action) {
            case "copy":
              if (step === "carried" && prev) {
                carried.push({
                  kind: "failed",
                  file: e.file,
                  code: prev.code ?? "ERROR",
                  class: prev.class ?? "lasting",
                  reason: `failed in run ${prev.runId}, not tried again (--retry-failed does): ${prev.reason ?? ""}`,
                  serverAnswer: prev.serverAnswer ?? undefined,
                });
                return false;
              }
              if (step === "uncertain") {
                uncertain.push(e);
                return true;
              }
              this.write(e.file, "planned", {
                reason:
                  prev?.state === "verified"
                    ? `copied in run ${prev.runId}, but the destination no longer lists it: copying again`
                    : e.reason,
              });
              return true;
            case "skip":
              // The destination's index lists the source's digest, but an earlier run read other
              // bytes back from it: the listing is not evidence for this file.
              if (step === "carried" && prev) {
                carried.push({
                  kind: "failed",
                  file: e.file,
                  code: "CONTENT_MISMATCH",
                  class: prev.class ?? "uncertain",
                  reason: `run ${prev.runId} read other bytes back from the destination than its index lists: ${prev.reason ?? ""}`,
                });
                return false;
              }
              if (step === "landed" && prev) {
                landed++;
                this.write(e.file, "verified", {
                  reason: `uploaded in run ${prev.runId} (interrupted before it was verified); the destination lists it with the source's sha256`,
                });
              } else if (
                prev?.state !== "verified" &&
                !(prev?.state === "skipped" && prev.reason === e.reason)
              ) {
                this.write(e.file, "skipped", { reason: e.reason });
              }
              return true;
            case "conflict":
              if (!(prev?.state === "conflict" && prev.reason === e.reason))
                this.write(e.file, "conflict", {
                  reason: e.reason,
                  destinationSha256: e.destination ? sha256Of(e.destination) : undefined,
                });
              return true;
            case "filtered":
              // A file an earlier run copied (or found there) stays so when a later run's selection
              // leaves it out: it is at the destination, and the report must say so.
              if (prev?.state === "verified" || prev?.state === "skipped") return true;
              if (!(prev?.state === "filtered" && prev.reason === e.reason))
                this.write(e.file, "filtered", { reason: e.reason });
              return true;
            case "invalid":
              this.write(e.file, "failed", {
                reason: e.reason,
                code: e.code ?? "BAD_FILENAME",
                class: "lasting",
              });
              return true;
            case "unsupported":
              this.write(e.file, "failed", {
                reason: e.reason,
                code: "UNSUPPORTED_FORMAT",
                class: "lasting",
              });
              return true;
          }
          return true;
        });
        return { ...p, entries };
      });
    })();
    return { plan: { ...plan, projects }, uncertain, carried, landed };
  }

  /** The source's files that are not distributions, as this run found them (replaces the last list). */
  recordIgnored(list: readonly { name: string; reason: string }[]): void {
    const ins = this.db.prepare("INSERT OR REPLACE INTO ignored (name, reason, run_id) VALUES (?, ?, ?)");
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM ignored").run();
      for (const i of list) ins.run(i.name, i.reason, this.runId);
    })();
  }

  recordWarnings(texts: readonly string[]): void {
    const ins = this.db.prepare("INSERT INTO warnings (run_id, text) VALUES (?, ?)");
    this.db.transaction(() => {
      for (const t of texts) ins.run(this.runId, t);
    })();
  }

  /** Records the projects a `verify` run could not read (a migrate records its plan's in applyPlan). */
  recordProjects(errors: readonly { project: string; error: string }[]): void {
    const set = this.db.prepare(
      "INSERT INTO projects (project, error, run_id) VALUES (?, ?, ?) ON CONFLICT (project) DO UPDATE SET error = excluded.error, run_id = excluded.run_id",
    );
    this.db.transaction(() => {
      for (const e of errors) set.run(e.project, e.error, this.runId);
    })();
  }

  /** Records one `verify` run's per-file results. */
  recordChecks(rows: Omit<CheckRow, "runId">[]): void {
    const ins = this.db.prepare(
      "INSERT OR REPLACE INTO checks (project, filename, version, status, detail, run_id, verification) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      for (const r of rows)
        ins.run(r.project, r.filename, r.version, r.status, r.detail, this.runId, r.verification ?? null);
    })();
  }

  /** Records what this run's selection rules said, for the report (replaces earlier notes of this run). */
  recordSelection(rows: Omit<SelectionRow, "runId">[]): void {
    const ins = this.db.prepare(
      "INSERT INTO selection (run_id, kind, project, filename, text) VALUES (?, ?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM selection WHERE run_id = ?").run(this.runId);
      for (const r of rows) ins.run(this.runId, r.kind, r.project, r.filename, r.text);
    })();
  }

  data(): JournalData {
    this.flush();
    return readAll(this.db, this.dir, this.identity, this.runId);
  }

  close(): void {
    if (this.db.open) this.flushQuietly();
    void this.walHandle?.then((h) => h.close()).catch(() => undefined);
    if (this.db.open) this.db.close();
    this.lock?.release();
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The resume rule for files whose upload an earlier run started but never confirmed ("uploading" /
 * "uploaded") and that the fresh plan still wants to copy (the destination index did not list them):
 * an index may list a new file only after a while (CDN caches, eventually consistent registries),
 * so wait `waitMs`, read the project's index once more, and decide again. Listed with the source's
 * sha256 → verified (that upload landed; nothing is sent); listed with other bytes → conflict;
 * still absent → the earlier upload did not land, and the file is uploaded again.
 */
/**
 * When the files of an interrupted run may be re-checked: `waitMs` from now, and not before the
 * latest recorded deadline of their upload attempts (until then an attempt the killed process
 * sent may still be applied by the destination).
 */
export function recheckTime(uncertain: readonly PlanEntry[], journal: Journal, waitMs: number): number {
  let at = Date.now() + waitMs;
  for (const e of uncertain) {
    const d = journal.get(e.file.project, e.file.filename)?.uploadDeadline;
    const t = d ? Date.parse(d) : NaN;
    if (Number.isFinite(t) && t > at) at = t;
  }
  return at;
}

export async function resolveUncertain(
  plan: Plan,
  uncertain: readonly PlanEntry[],
  destination: Destination,
  journal: Journal,
  /** When to read the index again (ms since the epoch, see recheckTime). */
  recheckAt: number,
  /** The clock the wait reads (tests drive it); default real time. */
  clock: { now(): number; sleep(ms: number): Promise<void> } = { now: () => Date.now(), sleep },
): Promise<{ plan: Plan; landed: number; resent: number }> {
  if (!uncertain.length) return { plan, landed: 0, resent: 0 };
  const byProject = new Map<string, Set<string>>();
  for (const e of uncertain) {
    const set = byProject.get(e.file.project) ?? new Set<string>();
    set.add(e.file.filename);
    byProject.set(e.file.project, set);
  }
  const waitMs = recheckAt - clock.now();
  if (waitMs > 0) await clock.sleep(waitMs);
  let landed = 0;
  let resent = 0;
  const projects = [];
  for (const p of plan.projects) {
    const names = byProject.get(p.project);
    if (!names) {
      projects.push(p);
      continue;
    }
    destination.invalidate?.(p.project);
    const listing = await destination.listFiles(p.project);
    const entries = p.entries.map((e) => {
      if (!names.has(e.file.filename)) return e;
      const prev = journal.get(e.file.project, e.file.filename);
      const again = decide(e.file, listing);
      if (again.action === "skip") {
        landed++;
        journal.mark(e.file, "verified", {
          reason: `uploaded in run ${prev?.runId ?? "?"} (interrupted before it was verified); the destination lists it with the source's sha256`,
        });
      } else if (again.action === "conflict") {
        journal.mark(e.file, "conflict", {
          reason: again.reason,
          destinationSha256: again.destination ? sha256Of(again.destination) : undefined,
        });
      } else if (again.action === "copy") {
        if (!again.destination) resent++;
        journal.mark(e.file, "planned", {
          reason: `an upload in run ${prev?.runId ?? "?"} was not confirmed and the destination does not list the file after a re-check: uploading again`,
        });
      }
      return again;
    });
    projects.push({ ...p, entries });
  }
  return { plan: { ...plan, projects }, landed, resent };
}

function writeIdentity(db: Database.Database, identity: Identity): void {
  const set = db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)");
  db.transaction(() => {
    set.run("schema", SCHEMA_VERSION);
    set.run("source_key", identity.source.key);
    set.run("source", identity.source.description);
    set.run("destination_key", identity.destination.key);
    set.run("destination", identity.destination.description);
    set.run("shard", identity.shard ?? "");
    set.run("created_at", now());
  })();
}

/**
 * One process at a time per state folder: an exclusive SQLite lock on `lock.sqlite`, held for the
 * whole run and released by the operating system when the process ends in any way (see lock.ts),
 * so there is no stale lock to take over and no window in which two runs both win.
 */
function takeLock(lockPath: string, dir: string): FileLock {
  const lock = FileLock.take(lockPath, "exclusive", `the state folder ${dir}`);
  if (lock) return lock;
  const holder = FileLock.holder(lockPath);
  const who = holder
    ? holder.host === hostname()
      ? ` (pid ${holder.pid})`
      : ` (pid ${holder.pid} on host ${holder.host})`
    : "";
  throw new PyregError("STATE", `the state folder ${dir} is in use by another pyreg${who}`, {
    hint: "wait for it to finish, or give this run its own --state DIR",
  });
}
