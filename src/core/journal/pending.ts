/**
 * A run's pending work: the plan entries of the projects that have files to copy, kept in the
 * journal between planning and transferring so that the plan is never held whole in memory. Only
 * the running migrate uses them; they are cleared when a run starts and when it ends (a run killed
 * in between leaves rows that the next run clears before planning again).
 *
 * One row per project, its entries as one JSON array: the engine reads a project's entries
 * together anyway, and a row (with its index entry) per file cost a few µs of CPU per file to
 * write, read and delete (bench/journal.ts, 40 files per project: the plan's journal work 17-19 µs
 * per file with a row per file, 13-14 with a row per project). Journals of earlier versions kept a
 * row per file in the table `pending`: it holds nothing a later run needs, and is dropped when the
 * pending work is cleared.
 */
import type Database from "better-sqlite3";
import type { PlanEntry, ProjectPlan } from "../plan.js";

type Names = "insert" | "read" | "replace" | "remove" | "next";
const statements = new WeakMap<Database.Database, Record<Names, Database.Statement>>();

function stmts(db: Database.Database): Record<Names, Database.Statement> {
  let s = statements.get(db);
  if (!s) {
    s = {
      insert: db.prepare("INSERT INTO pending_projects (project, entries) VALUES (?, ?)"),
      read: db.prepare("SELECT seq, entries FROM pending_projects WHERE project = ? ORDER BY seq"),
      replace: db.prepare("UPDATE pending_projects SET entries = ? WHERE seq = ?"),
      remove: db.prepare("DELETE FROM pending_projects WHERE seq = ?"),
      next: db.prepare(
        "SELECT seq, project, entries FROM pending_projects WHERE seq > ? ORDER BY seq LIMIT 1",
      ),
    };
    statements.set(db, s);
  }
  return s;
}

/** Keeps every entry of the project (the caller's transaction makes it atomic). */
export function keepPending(db: Database.Database, p: ProjectPlan): void {
  stmts(db).insert.run(p.project, JSON.stringify(p.entries));
}

/**
 * The kept projects in the order they were planned, each read when it is asked for. No statement
 * stays open between two projects (the connection is used for the journal's marks meanwhile).
 */
export function* pendingProjects(db: Database.Database): Generator<ProjectPlan> {
  const { next } = stmts(db);
  let after = 0;
  for (;;) {
    const row = next.get(after) as { seq: number; project: string; entries: string } | undefined;
    if (!row) return;
    after = row.seq;
    yield { project: row.project, entries: JSON.parse(row.entries) as PlanEntry[] };
  }
}

/**
 * Replaces entries of one project, by filename (undefined: the entry is removed; a project left
 * with none is removed).
 */
export function replacePending(
  db: Database.Database,
  project: string,
  changes: ReadonlyMap<string, PlanEntry | undefined>,
): void {
  const s = stmts(db);
  for (const row of s.read.all(project) as { seq: number; entries: string }[]) {
    const entries: PlanEntry[] = [];
    for (const e of JSON.parse(row.entries) as PlanEntry[]) {
      const change = changes.has(e.file.filename) ? changes.get(e.file.filename) : e;
      if (change) entries.push(change);
    }
    if (entries.length) s.replace.run(JSON.stringify(entries), row.seq);
    else s.remove.run(row.seq);
  }
}

export function clearPending(db: Database.Database): void {
  db.prepare("DELETE FROM pending_projects").run();
  db.prepare("DROP TABLE IF EXISTS pending").run();
}
