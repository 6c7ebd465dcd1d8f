/**
 * The page cache of a state folder (pages.sqlite, beside the journal): the index pages a run read,
 * with their validators (ETag, Last-Modified), so that the next run asks with conditional requests
 * (src/http/conditional.ts); what each project's pages said in this run (their stamps); and the
 * projects a run left complete with the stamps it saw (see src/core/rerun.ts, which decides).
 *
 * It belongs to the journal it sits beside: a journal started over (--reset-state) or replaced
 * makes it start over too, so nothing recorded for another journal is ever believed.
 * Writes share one commit for up to COMMIT_MS (WAL, synchronous=NORMAL: a killed process loses
 * nothing committed, https://www.sqlite.org/wal.html; at most the last COMMIT_MS of writes are not
 * committed yet). Losing any of this file costs a re-read of those pages, nothing else.
 */
import { randomUUID } from "node:crypto";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import type Database from "better-sqlite3";
import { openDatabase } from "./sqlite.js";
import type { PageStore, StoredPage } from "../http/conditional.js";
import { JOURNAL_FILE } from "./journal.js";

export const PAGES_FILE = "pages.sqlite";

/**
 * How long writes wait for their commit. A commit per event-loop turn cost 15-30 µs of CPU per
 * file in a 100,000-file run (each commit rewrites the b-tree pages it touched: the pages and
 * stamps tables' leaves and interior pages, again and again); one every 100 ms writes each of
 * them a few times a second.
 */
const COMMIT_MS = 100;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pages (
  url TEXT PRIMARY KEY, final_url TEXT NOT NULL, status INTEGER NOT NULL, etag TEXT,
  last_modified TEXT, date TEXT, content_type TEXT, body BLOB NOT NULL, stamp TEXT NOT NULL,
  session TEXT);
CREATE TABLE IF NOT EXISTS stamps (
  project TEXT PRIMARY KEY, source TEXT, destination TEXT, session TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS settled (
  project TEXT PRIMARY KEY, source TEXT NOT NULL, destination TEXT NOT NULL, fingerprint TEXT NOT NULL,
  files INTEGER NOT NULL, run_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS settling (
  project TEXT PRIMARY KEY, source TEXT NOT NULL, destination TEXT NOT NULL, fingerprint TEXT NOT NULL,
  files INTEGER NOT NULL, run_id INTEGER NOT NULL);
`;

/** Journal states of a file that needs nothing more (see src/core/journal.ts). */
const DONE_STATES = ["verified", "skipped", "filtered"] as const;

export interface SettledRow {
  source: string;
  destination: string;
  fingerprint: string;
  files: number;
  runId: number;
}

export interface PageCounts {
  /** Answered from the store: already read in this process. */
  cached: number;
  /** 304 Not Modified. */
  notModified: number;
  /** Asked conditionally, answered with the changed page. */
  changed: number;
  /** Asked without a condition (no kept page, or a kept page without validators). */
  unconditional: number;
}

interface RawPage {
  url: string;
  final_url: string;
  status: number;
  etag: string | null;
  last_modified: string | null;
  date: string | null;
  content_type: string | null;
  body: Buffer;
  stamp: string;
  session: string | null;
}

export class PageCache implements PageStore {
  private readonly session = randomUUID();
  readonly counts: PageCounts = { cached: 0, notModified: 0, changed: 0, unconditional: 0 };
  private commitTimer: NodeJS.Timeout | undefined;
  private readonly stmt;

  private constructor(
    private readonly db: Database.Database,
    /** The journal, read-only: which files of a project ended done. */
    private readonly journal: Database.Database,
  ) {
    this.stmt = {
      get: db.prepare("SELECT * FROM pages WHERE url = ?"),
      put: db.prepare(
        "INSERT OR REPLACE INTO pages (url, final_url, status, etag, last_modified, date, content_type, body, stamp, session) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      touch: db.prepare("UPDATE pages SET session = ? WHERE url = ?"),
      drop: db.prepare("DELETE FROM pages WHERE url = ?"),
      stamps: db.prepare("SELECT source, destination FROM stamps WHERE project = ? AND session = ?"),
      setStamps: db.prepare(
        "INSERT OR REPLACE INTO stamps (project, source, destination, session) VALUES (?, ?, ?, ?)",
      ),
      settled: db.prepare("SELECT * FROM settled WHERE project = ?"),
      unsettle: db.prepare("DELETE FROM settled WHERE project = ?"),
      settleLater: db.prepare(
        "INSERT OR REPLACE INTO settling (project, source, destination, fingerprint, files, run_id) VALUES (?, ?, ?, ?, ?, ?)",
      ),
      states: journal.prepare("SELECT state, COUNT(*) AS n FROM files WHERE project = ? GROUP BY state"),
    };
  }

  /** Opens the cache of a state folder whose journal is open (it must exist). */
  static open(dir: string): PageCache {
    const journal = openDatabase(join(dir, JOURNAL_FILE), { readonly: true, fileMustExist: true });
    let db: Database.Database | undefined;
    try {
      journal.pragma("busy_timeout = 5000");
      const created = (
        journal.prepare("SELECT value FROM meta WHERE key = 'created_at'").get() as
          { value: string } | undefined
      )?.value;
      const path = join(dir, PAGES_FILE);
      db = openDb(path);
      const owner = (
        db.prepare("SELECT value FROM meta WHERE key = 'journal'").get() as { value: string } | undefined
      )?.value;
      if (owner !== created) {
        // Another journal's cache (the folder was started over): none of it is believed.
        db.close();
        for (const suffix of ["", "-wal", "-shm"]) if (existsSync(path + suffix)) rmSync(path + suffix);
        db = openDb(path);
        db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('journal', ?)").run(created ?? "");
      }
      return new PageCache(db, journal);
    } catch (err) {
      db?.close();
      journal.close();
      throw err;
    }
  }

  /** Writes of up to COMMIT_MS share one commit (close commits what is left). */
  private write(run: () => void): void {
    if (!this.db.inTransaction) this.db.exec("BEGIN");
    run();
    // Unreferenced: a pending commit does not keep the process alive (close commits).
    this.commitTimer ??= setTimeout(() => this.commit(), COMMIT_MS).unref();
  }

  private commit(): void {
    if (this.commitTimer) clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
    if (this.db.open && this.db.inTransaction) this.db.exec("COMMIT");
  }

  get(url: string): (StoredPage & { fresh: boolean }) | undefined {
    const r = this.stmt.get.get(url) as RawPage | undefined;
    if (!r) return undefined;
    return {
      url: r.url,
      finalUrl: r.final_url,
      status: r.status,
      etag: r.etag,
      lastModified: r.last_modified,
      date: r.date,
      contentType: r.content_type,
      body: r.body,
      stamp: r.stamp,
      fresh: r.session === this.session,
    };
  }

  put(p: StoredPage): void {
    this.write(() =>
      this.stmt.put.run(
        p.url,
        p.finalUrl,
        p.status,
        p.etag,
        p.lastModified,
        p.date,
        p.contentType,
        p.body,
        p.stamp,
        this.session,
      ),
    );
  }

  touch(url: string): void {
    this.write(() => this.stmt.touch.run(this.session, url));
  }

  stale(url: string): void {
    this.drop(url);
  }

  drop(url: string): void {
    this.write(() => this.stmt.drop.run(url));
  }

  count(kind: "cached" | "not-modified" | "changed" | "unconditional"): void {
    if (kind === "not-modified") this.counts.notModified++;
    else this.counts[kind]++;
  }

  /** What the project's pages said in this run. */
  recordStamps(project: string, source: string | undefined, destination: string | undefined): void {
    this.write(() => this.stmt.setStamps.run(project, source ?? null, destination ?? null, this.session));
  }

  stampsOf(project: string): { source: string | null; destination: string | null } | undefined {
    return this.stmt.stamps.get(project, this.session) as
      { source: string | null; destination: string | null } | undefined;
  }

  settled(project: string): SettledRow | undefined {
    const r = this.stmt.settled.get(project) as
      { source: string; destination: string; fingerprint: string; files: number; run_id: number } | undefined;
    return r && { ...r, runId: r.run_id };
  }

  /**
   * A project found complete by a run that has not finished: kept aside (on disk, not in memory),
   * and settled by commitSettling when the run finishes.
   */
  settleLater(project: string, row: SettledRow): void {
    this.write(() =>
      this.stmt.settleLater.run(project, row.source, row.destination, row.fingerprint, row.files, row.runId),
    );
  }

  /** Settles the projects of settleLater (every one, or none when `keep` is false). Returns how many. */
  commitSettling(keep: boolean): number {
    let n = 0;
    this.write(() => {
      if (keep)
        n = this.db
          .prepare(
            "INSERT OR REPLACE INTO settled (project, source, destination, fingerprint, files, run_id) SELECT project, source, destination, fingerprint, files, run_id FROM settling",
          )
          .run().changes;
      this.db.prepare("DELETE FROM settling").run();
    });
    return n;
  }

  anySettled(): boolean {
    return this.db.prepare("SELECT 1 FROM settled LIMIT 1").get() !== undefined;
  }

  unsettle(project: string): void {
    this.write(() => this.stmt.unsettle.run(project));
  }

  /**
   * How many of the project's files the journal holds, when every one of them needs nothing more
   * (verified, skipped, filtered); undefined when any is in another state (failed, conflict, an
   * upload not confirmed...).
   */
  doneFiles(project: string): number | undefined {
    const rows = this.stmt.states.all(project) as { state: string; n: number }[];
    let n = 0;
    for (const r of rows) {
      if (!(DONE_STATES as readonly string[]).includes(r.state)) return undefined;
      n += r.n;
    }
    return n;
  }

  close(): void {
    if (this.db.open) {
      this.commit();
      this.db.close();
    }
    if (this.journal.open) this.journal.close();
  }
}

function openDb(path: string): Database.Database {
  const db = openDatabase(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.exec(SCHEMA);
  return db;
}
