/** The journal's SQLite schema, and the columns added to older journals when they are opened. */
import type Database from "better-sqlite3";

export { JOURNAL_FILE } from "./types.js";
export const LOCK_FILE = "lock.sqlite";
export const SCHEMA_VERSION = "1";

/**
 * history's id is a plain rowid, without AUTOINCREMENT: a new row gets the largest id + 1, so ids
 * still grow with time (history rows are only ever appended), and no sqlite_sequence row is read
 * and rewritten with every state change (https://www.sqlite.org/autoinc.html: AUTOINCREMENT
 * "imposes extra CPU, memory, disk space, and disk I/O overhead"). pending_projects keeps
 * AUTOINCREMENT: its reader relies on an id never being given twice.
 * Journals made before keep their tables as they are.
 */
export const SCHEMA = `
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
  id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL, project TEXT NOT NULL,
  filename TEXT NOT NULL, state TEXT NOT NULL, detail TEXT, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS projects (project TEXT PRIMARY KEY, error TEXT, run_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ignored (name TEXT PRIMARY KEY, reason TEXT NOT NULL, run_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS warnings (run_id INTEGER NOT NULL, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS checks (
  project TEXT NOT NULL, filename TEXT NOT NULL, version TEXT NOT NULL, status TEXT NOT NULL,
  detail TEXT NOT NULL, run_id INTEGER NOT NULL, verification TEXT, PRIMARY KEY (project, filename));
CREATE TABLE IF NOT EXISTS selection (
  run_id INTEGER NOT NULL, kind TEXT NOT NULL, project TEXT, filename TEXT, text TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending_projects (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, entries TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS pending_projects_project ON pending_projects (project);
`;

/** Columns added after the first release: added to an older journal when it is opened. */
const ADDED_COLUMNS: readonly [table: string, column: string, type: string][] = [
  ["files", "verification", "TEXT"],
  ["files", "upload_deadline", "TEXT"],
  ["checks", "verification", "TEXT"],
  // The failure's class (src/core/failure.ts); empty in older journals: such a failure is retried.
  ["files", "class", "TEXT"],
];

export function addMissingColumns(db: Database.Database): void {
  for (const [table, column, type] of ADDED_COLUMNS) {
    const have = (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some(
      (c) => c.name === column,
    );
    if (!have) db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${type}`);
  }
}
