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
 * machine; that commit also marks the project's next files (see Journal.markUploading). The other
 * state changes wait for the next commit, at most MARK_COMMIT_MS (see Journal.mark). Other commits
 * use synchronous=NORMAL (no fsync).
 * (https://www.sqlite.org/pragma.html#pragma_synchronous, https://www.sqlite.org/wal.html)
 */
import { existsSync, renameSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { openDatabase } from "../sqlite.js";
import { formatVerification, verificationKey } from "../digests.js";
import { PyregError } from "../errors.js";
import type { DistFile, FileOutcome } from "../model.js";
import { sha256Of } from "../model.js";
import type { PlanEntry, ProjectPlan } from "../plan.js";
import { clearPending, keepPending, pendingProjects, replacePending } from "./pending.js";
import { makeDirSync } from "../dirs.js";
import type { FileLock } from "../lock.js";
import { takeLock } from "./lock.js";
import { reportSource } from "./reader.js";
import { resumeStep } from "./resume.js";
import {
  describeIdentity,
  fileColumns,
  fileRow,
  now,
  openWithoutLock,
  readAll,
  readIdentity,
  type RawFileRow,
} from "./rows.js";
import { addMissingColumns, JOURNAL_FILE, LOCK_FILE, SCHEMA, SCHEMA_VERSION } from "./schema.js";
import { notCarriedOf } from "./types.js";
import type {
  CheckRow,
  ReportSource,
  FileRow,
  FileState,
  Identity,
  JournalData,
  OpenOptions,
  ResumeDecision,
  RunStatus,
  SelectionRow,
  StateDetail,
} from "./types.js";

/** Longest a state change other than "uploading" waits for its commit (see Journal.mark). */
const MARK_COMMIT_MS = 100;
/**
 * The plan's decisions share a commit: applyProject opens a transaction that is committed after
 * this many files, MARK_COMMIT_MS after it was opened, or by any other commit, whichever comes
 * first. A commit per project cost about 0.27 ms (each writes its changed pages to the WAL), and
 * nothing needs a plan durable before the run goes on: a run that stops while planning plans again.
 */
const PLAN_COMMIT_FILES = 10_000;

/**
 * How many files that have not started yet (the next ones the engine will start, of any project)
 * one durable "uploading" commit also marks (see Journal.markUploading), and how long such a mark
 * covers their upload: one sent later gets a commit and fsync of its own. bench/journal.ts, the
 * journal's CPU per file: with 40 files per project (as the benchmark's small corpus), 60 µs with
 * 31 of the project's files marked ahead (two commits with an fsync per project), 50 µs with 127
 * (one); marking the next files of any project, 46-58 µs, and 45-56 µs with 3 files per project
 * (104-123 µs when only the project's own files were marked). A mark that expires unused costs one
 * queued state change more; with large files, which start more slowly, the transfer dwarfs it.
 */
export const MARK_AHEAD = 127;
const MARK_AHEAD_MS = 1_000;
/** History rows bound to one INSERT (see Journal.appendHistory); SQLite allows 32,766 parameters. */
const HISTORY_ROWS = 32;

export class Journal {
  private runId = 0;
  private readonly getStmt;
  private readonly historyStmt;
  private upsertStmt: Database.Statement | undefined;
  private historyManyStmt: Database.Statement | undefined;
  private setProjectStmt: Database.Statement | undefined;
  private projectStmt: Database.Statement | undefined;
  /** The SELECT list of a files row (rows.ts fileColumns), read from the schema once. */
  private readonly fileColumns: string;
  /** fsync of the WAL in progress, and the next one (shared by every commit made before it starts). */
  private walHandle: Promise<FileHandle> | undefined;
  private lastSync: Promise<void> = Promise.resolve();
  private nextSync: Promise<void> | undefined;
  /** Marks not committed yet (see mark), and the timer that commits them. */
  private queued: QueuedChange[] = [];
  private commitTimer: NodeJS.Timeout | undefined;
  private deferredError: PyregError | undefined;
  /** The plan's decisions not committed yet (see applyProject): a transaction is open for them. */
  private planOpen = false;
  private planFiles = 0;
  private planTimer: NodeJS.Timeout | undefined;
  /**
   * Files marked "uploading" ahead of their upload (see markUploading): the commit and fsync that
   * cover them, and when they were marked. A file leaves when it is sent or reaches any other state.
   */
  private readonly ahead = new Map<DistFile, { synced: Promise<void>; at: number }>();

  private constructor(
    private readonly db: Database.Database,
    readonly dir: string,
    readonly identity: Identity,
    private readonly lock: FileLock | undefined,
  ) {
    this.fileColumns = fileColumns(db);
    this.getStmt = db
      .prepare(`SELECT ${this.fileColumns} FROM files WHERE project = ? AND filename = ?`)
      .raw();
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
      db = openDatabase(path);
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
   * A journal for one run that must leave no state folder (verify without a journal of its pair,
   * whose report goes only where --report says): SQLite's temporary database, opened with an empty
   * file name. Its pages stay in the page cache (a few MB) and spill to a file SQLite deletes as
   * soon as it opens it, so a million checks do not fill memory and nothing is left on disk, even
   * after a kill (https://www.sqlite.org/inmemorydb.html#temp_db,
   * https://www.sqlite.org/tempfiles.html). Gone when closed.
   */
  static temporary(identity: Identity): Journal {
    const db = openDatabase("");
    db.exec(SCHEMA);
    addMissingColumns(db);
    writeIdentity(db, identity);
    return new Journal(db, "(temporary)", identity, undefined);
  }

  /** Reads a journal without taking its lock (for `pyreg report`, also while a run is going on). */
  static read(dir: string): JournalData {
    const { db, identity } = openWithoutLock(dir);
    try {
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
    this.commitQueued();
    const r = this.getStmt.get(project, filename) as RawFileRow | undefined;
    return r ? fileRow(r) : undefined;
  }

  /** Every row of one project, by filename (marks committed first). */
  private projectRows(project: string): Map<string, FileRow> {
    this.commitQueued();
    const rows = (this.projectStmt ??= this.db
      .prepare(`SELECT ${this.fileColumns} FROM files WHERE project = ?`)
      .raw()).all(project) as RawFileRow[];
    const out = new Map<string, FileRow>();
    for (const r of rows) out.set(r[1], fileRow(r));
    return out;
  }

  private write(file: DistFile, state: FileState, detail: StateDetail = {}, at = now()): void {
    this.upsert(rowChange(file, state, detail), at);
    this.appendHistory([{ file, state, detail }], at);
  }

  /** The file's row after a state change, or after several folded into one (the history rows are the caller's). */
  private upsert(change: RowChange, at: string): void {
    const { file, state, detail } = change;
    // Prepared once (preparing it for every state change cost about 0.3 ms a time), with
    // positional parameters: binding an object of twenty named ones cost more than the statement.
    (this.upsertStmt ??= this.db.prepare(
      `INSERT INTO files (project, filename, version, size, sha256, state, reason, code, class, server_answer,
           destination_sha256, not_carried, run_id, first_run_id, upload_attempts, bytes, seconds, updated_at,
           verification, upload_deadline)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (project, filename) DO UPDATE SET
           version = excluded.version, size = COALESCE(excluded.size, files.size),
           sha256 = COALESCE(excluded.sha256, files.sha256), state = excluded.state,
           reason = excluded.reason, code = excluded.code, class = excluded.class, server_answer = excluded.server_answer,
           destination_sha256 = excluded.destination_sha256, not_carried = excluded.not_carried,
           run_id = excluded.run_id, upload_attempts = files.upload_attempts + excluded.upload_attempts,
           bytes = COALESCE(excluded.bytes, files.bytes), seconds = COALESCE(excluded.seconds, files.seconds),
           updated_at = excluded.updated_at, verification = excluded.verification,
           upload_deadline = COALESCE(excluded.upload_deadline, files.upload_deadline)`,
    )).run(
      file.project,
      file.filename,
      file.version,
      change.size ?? null,
      change.sha256 ?? null,
      state,
      detail.reason ?? null,
      detail.code ?? null,
      detail.class ?? null,
      detail.serverAnswer ?? null,
      detail.destinationSha256 ?? null,
      notCarriedJson(file),
      this.runId,
      this.runId,
      change.attempts,
      detail.bytes ?? null,
      detail.seconds ?? null,
      at,
      detail.verification ?? null,
      detail.uploadDeadline !== undefined ? new Date(detail.uploadDeadline).toISOString() : null,
    );
  }

  /**
   * The history rows of a commit's state changes, in their order: HISTORY_ROWS to a statement
   * (a commit holds hundreds of changes while files are transferred). bench/journal.ts, six runs
   * each, alternated: the journal's CPU per file 86 µs with a statement per row, 81 µs with this.
   */
  private appendHistory(batch: readonly QueuedChange[], at: string): void {
    const whole = batch.length - (batch.length % HISTORY_ROWS);
    if (whole > 0) {
      const stmt = (this.historyManyStmt ??= this.db.prepare(
        "INSERT INTO history (run_id, project, filename, state, detail, at) VALUES " +
          Array.from({ length: HISTORY_ROWS }, () => "(?, ?, ?, ?, ?, ?)").join(", "),
      ));
      const args: unknown[] = new Array<unknown>(HISTORY_ROWS * 6);
      for (let i = 0; i < whole; i += HISTORY_ROWS) {
        for (let k = 0; k < HISTORY_ROWS; k++) {
          const q = batch[i + k]!;
          const o = k * 6;
          args[o] = this.runId;
          args[o + 1] = q.file.project;
          args[o + 2] = q.file.filename;
          args[o + 3] = q.state;
          args[o + 4] = q.detail.reason ?? null;
          args[o + 5] = at;
        }
        stmt.run(args);
      }
    }
    for (let i = whole; i < batch.length; i++) {
      const q = batch[i]!;
      this.historyStmt.run(this.runId, q.file.project, q.file.filename, q.state, q.detail.reason ?? null, at);
    }
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
    if (this.ahead.size && this.ahead.has(file)) {
      // Marked "uploading" ahead of its upload: a "downloaded" must not take that mark back.
      if (state === "downloaded") return;
      this.ahead.delete(file);
    }
    this.queued.push({ file, state, detail });
    this.commitTimer ??= setTimeout(() => {
      this.commitTimer = undefined;
      this.flushQuietly();
    }, MARK_COMMIT_MS);
  }

  /** Commits the plan's open decisions, then the queued marks (one transaction). */
  flush(): void {
    this.throwDeferred();
    this.commitPlan();
    if (this.commitTimer) {
      clearTimeout(this.commitTimer);
      this.commitTimer = undefined;
    }
    if (this.queued.length === 0) return;
    const batch = this.queued;
    this.queued = [];
    const at = now();
    // One upsert per file, however many of its changes this commit holds (typically "uploading",
    // "uploaded" and "verified" of a small file): the changes are folded in order into the row
    // they leave behind (see foldChange), which is what their upserts one after the other would
    // write. Its history rows are all written. bench/journal.ts (20,000 files, 40 a project): 3.5
    // upserts per file while transferring before, 1.5 now; the journal's CPU per file 95 → 86 µs.
    const rows = new Map<string, RowChange>();
    for (const q of batch) {
      const key = q.file.project + "\n" + q.file.filename;
      const before = rows.get(key);
      rows.set(
        key,
        before ? foldChange(before, q.file, q.state, q.detail) : rowChange(q.file, q.state, q.detail),
      );
    }
    try {
      this.db.transaction(() => {
        for (const change of rows.values()) this.upsert(change, at);
        this.appendHistory(batch, at);
      })();
    } catch (err) {
      // Without its journal entry a file must not be sent: STATE is fatal and stops the run.
      throw this.writeError(err);
    }
  }

  /** A failure to write the journal: fatal, it stops the run (exit 2). */
  private writeError(err: unknown): PyregError {
    return new PyregError("STATE", `cannot write the journal in ${this.dir}: ${(err as Error).message}`, {
      cause: err,
      hint: "check free space and permissions of the state folder, then run the same command again",
    });
  }

  /** A commit after a turn: a failure is kept and thrown by the next mark (before any upload). */
  private quietly(commit: () => void): void {
    if (!this.db.open) return;
    try {
      commit();
    } catch (err) {
      this.deferredError ??= err as PyregError;
    }
  }

  private flushQuietly(): void {
    this.quietly(() => this.flush());
  }

  /**
   * Commits the queued marks before a read that must see them (with the plan's open decisions, see
   * flush); with none queued, the plan's open transaction is read as it stands, uncommitted.
   */
  private commitQueued(): void {
    if (this.queued.length) this.flush();
    else this.throwDeferred();
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
   *
   * Marks ahead: the same commit marks up to MARK_AHEAD of `notStarted` (files not started yet, in
   * the order they will start, of this project or the next ones) "uploading" too, with a deadline
   * MARK_AHEAD_MS later than this file's. When one of them reaches its upload within MARK_AHEAD_MS, that durable mark already stands before
   * its POST: its own mark (the attempt, its deadline) is queued like any other state change, and
   * it is sent without a commit and fsync of its own. A commit with an fsync before every few
   * uploads cost about 0.2 ms of CPU per small file in a run (measured against the same run
   * without them); one for every 32 files costs a sixth of that, one for every 128 less again (see
   * MARK_AHEAD). What it changes after a crash:
   * the files marked ahead but not sent are uncertain as well, so the next run reads their
   * project's index again before sending them (as for any interrupted upload), and their recorded
   * deadline may be up to MARK_AHEAD_MS later than their upload's. A run that ends in any other
   * way puts the files it marked ahead and never sent back to "planned" (see close).
   */
  async markUploading(file: DistFile, deadline?: number, notStarted: Iterable<DistFile> = []): Promise<void> {
    const now = Date.now();
    const early = this.ahead.get(file);
    // The file's own mark (it leaves `ahead` with it, see mark).
    this.mark(file, "uploading", { uploadAttempt: true, uploadDeadline: deadline });
    if (early && now - early.at <= MARK_AHEAD_MS) {
      await early.synced;
      return;
    }
    const marked: DistFile[] = [];
    for (const next of notStarted) {
      if (marked.length >= MARK_AHEAD) break;
      if (next === file) continue;
      // A mark that still covers its file is kept. One that no longer does (the files before it
      // took longer than MARK_AHEAD_MS to reach their upload) is renewed by this commit: left as
      // it was, each of those files needed a commit and fsync of its own. A 20,000-file migration
      // from one `pyreg serve` into another fsynced the WAL 805 times before, 232 with the marks
      // renewed (strace), and its client used 3 % less CPU (31.4 → 30.3 s, five runs alternated).
      const prior = this.ahead.get(next);
      if (prior && now - prior.at <= MARK_AHEAD_MS) continue;
      this.mark(next, "uploading", {
        reason: "about to be uploaded (marked with the file before it)",
        uploadDeadline: deadline === undefined ? undefined : deadline + MARK_AHEAD_MS,
      });
      marked.push(next);
    }
    const synced = this.syncWal();
    for (const next of marked) this.ahead.set(next, { synced, at: now });
    await synced;
  }

  /**
   * The files marked "uploading" ahead of an upload that never came (the run stopped before them):
   * back to "planned", since nothing was sent for them. For the end of a transfer; close does it
   * too.
   */
  unmarkAhead(): void {
    if (this.deferredError) return;
    for (const file of [...this.ahead.keys()])
      this.mark(file, "planned", { reason: "not attempted: the run stopped before its upload" });
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
      throw this.writeError(err);
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
   * Records one planned project (made from both indexes) against what earlier runs left, in its
   * own transaction, and decides this run's work for it:
   * - a file the plan skips (same name and sha256 at the destination) that an earlier run left
   *   "uploading"/"uploaded" is "verified": that upload landed;
   * - a file to copy that an earlier run left uncertain is returned in `uncertain`: the caller reads
   *   the destination again after a delay before uploading it (see recheckUncertain);
   * - a file that failed earlier with a permanent error is carried over as failed unless
   *   `retryFailed`; any other earlier failure is simply tried again.
   * The project's entries are kept in the journal's pending work when any is to be copied (see
   * pendingProjects): the engine reads them back a project at a time, so the plan is never held
   * whole in memory.
   */
  applyProject(p: ProjectPlan, opts: { retryFailed: boolean }): ResumeDecision & { project: ProjectPlan } {
    // Queued marks first, in their own commit: none may be committed from inside the project's
    // savepoint below.
    this.commitQueued();
    const decision: ResumeDecision = { uncertain: [], carried: [], landed: 0 };
    if (!this.planOpen) {
      this.db.exec("BEGIN");
      this.planOpen = true;
    }
    // A savepoint inside the open transaction (better-sqlite3 nests transaction functions so): a
    // project is decided whole or not at all.
    const project = this.db.transaction(() => {
      const decided = this.decideProject(p, opts, decision);
      if (decided.entries.some((e) => e.action === "copy")) keepPending(this.db, decided);
      return decided;
    })();
    this.planFiles += p.entries.length;
    if (this.planFiles >= PLAN_COMMIT_FILES) this.commitPlan();
    else
      this.planTimer ??= setTimeout(() => {
        this.planTimer = undefined;
        this.quietly(() => this.commitPlan());
      }, MARK_COMMIT_MS);
    return { project, ...decision };
  }

  /** Commits the plan's open decisions (see applyProject). */
  private commitPlan(): void {
    if (this.planTimer) {
      clearTimeout(this.planTimer);
      this.planTimer = undefined;
    }
    if (!this.planOpen) return;
    this.planOpen = false;
    this.planFiles = 0;
    try {
      this.db.exec("COMMIT");
    } catch (err) {
      throw this.writeError(err);
    }
  }

  /** The projects applyProject kept, in the order they were planned, read one at a time. */
  pendingProjects(): Generator<ProjectPlan> {
    this.flush();
    return pendingProjects(this.db);
  }

  /**
   * Replaces (or, with undefined, removes) kept entries of one project, by filename, after a
   * re-check decided them again.
   */
  updatePending(project: string, changes: ReadonlyMap<string, PlanEntry | undefined>): void {
    replacePending(this.db, project, changes);
  }

  /** Forgets every kept entry (the start and the end of a run). */
  clearPending(): void {
    clearPending(this.db);
  }

  private decideProject(p: ProjectPlan, opts: { retryFailed: boolean }, acc: ResumeDecision): ProjectPlan {
    const { uncertain, carried } = acc;
    (this.setProjectStmt ??= this.db.prepare(
      "INSERT INTO projects (project, error, run_id) VALUES (?, ?, ?) ON CONFLICT (project) DO UPDATE SET error = excluded.error, run_id = excluded.run_id",
    )).run(p.project, p.error ?? null, this.runId);
    // What earlier runs left for this project's files, read in one query (the primary key's
    // prefix) rather than one query per file.
    const before = this.projectRows(p.project);
    const entries = p.entries.filter((e) => {
      const prev =
        e.file.project === p.project
          ? before.get(e.file.filename)
          : this.get(e.file.project, e.file.filename);
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
            acc.landed++;
            this.write(e.file, "verified", {
              reason: `uploaded in run ${prev.runId} (interrupted before it was verified); the destination lists it with the source's sha256`,
            });
          } else if (prev?.state !== "verified" && !(prev?.state === "skipped" && prev.reason === e.reason)) {
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

  /** Records the projects a `verify` run could not read (a migrate records its plan's in applyProject). */
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
  recordSelection(rows: Iterable<Omit<SelectionRow, "runId">>): void {
    const ins = this.db.prepare(
      "INSERT INTO selection (run_id, kind, project, filename, text) VALUES (?, ?, ?, ?, ?)",
    );
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM selection WHERE run_id = ?").run(this.runId);
      for (const r of rows) ins.run(this.runId, r.kind, r.project, r.filename, r.text);
    })();
  }

  /** The journal as a report reads it, a row at a time, on this connection (marks committed first). */
  reportSource(): ReportSource {
    this.flush();
    return reportSource(this.db, this.dir, this.identity, this.runId);
  }

  data(): JournalData {
    this.flush();
    return readAll(this.db, this.dir, this.identity, this.runId);
  }

  close(): void {
    if (this.db.open) {
      this.unmarkAhead();
      this.flushQuietly();
    }
    void this.walHandle?.then((h) => h.close()).catch(() => undefined);
    if (this.db.open) this.db.close();
    this.lock?.release();
  }
}

/** A state change waiting for its commit (see Journal.mark). */
interface QueuedChange {
  file: DistFile;
  state: FileState;
  detail: StateDetail;
}

/** A file's row as one or more state changes of one commit leave it (see Journal.upsert). */
interface RowChange {
  /** The last change's file: its version and what the form cannot carry are written. */
  file: DistFile;
  state: FileState;
  detail: StateDetail;
  /** Upload attempts the changes count (the row's count grows by this many). */
  attempts: number;
  size: number | undefined;
  sha256: string | undefined;
}

function rowChange(file: DistFile, state: FileState, detail: StateDetail): RowChange {
  return {
    file,
    state,
    detail,
    attempts: detail.uploadAttempt ? 1 : 0,
    size: file.size,
    sha256: sha256Of(file),
  };
}

/**
 * `before` followed by one more change of the same file, as the upsert's SQL would leave the row:
 * the columns it sets outright (state, reason, code, class, server answer, destination sha256,
 * verification, version) from the later change; those it keeps when not given (size, sha256,
 * bytes, seconds, upload deadline) from the last change that gives them; upload attempts summed.
 */
function foldChange(before: RowChange, file: DistFile, state: FileState, d: StateDetail): RowChange {
  const b = before.detail;
  return {
    file,
    state,
    detail: {
      reason: d.reason,
      code: d.code,
      class: d.class,
      serverAnswer: d.serverAnswer,
      destinationSha256: d.destinationSha256,
      verification: d.verification,
      bytes: d.bytes ?? b.bytes,
      seconds: d.seconds ?? b.seconds,
      uploadDeadline: d.uploadDeadline ?? b.uploadDeadline,
    },
    attempts: before.attempts + (d.uploadAttempt ? 1 : 0),
    size: file.size ?? before.size,
    sha256: sha256Of(file) ?? before.sha256,
  };
}

/** What the upload form cannot carry, as stored (computed once per file: every change writes it). */
const notCarriedCache = new WeakMap<DistFile, string | null>();
function notCarriedJson(file: DistFile): string | null {
  let json = notCarriedCache.get(file);
  if (json === undefined) {
    const nc = notCarriedOf(file);
    json = nc ? JSON.stringify(nc) : null;
    notCarriedCache.set(file, json);
  }
  return json;
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
