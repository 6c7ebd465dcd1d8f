/**
 * A run's pending work: the plan entries of the projects that have files to copy, kept in the
 * journal between planning and transferring so that the plan is never held whole in memory. Only
 * the running migrate uses them; they are cleared when a run starts and when it ends (a run killed
 * in between leaves rows that the next run clears before planning again).
 */
import type Database from "better-sqlite3";
import type { PlanEntry, ProjectPlan } from "../plan.js";

type Names = "insert" | "read" | "remove" | "update" | "next";
const statements = new WeakMap<Database.Database, Record<Names, Database.Statement>>();

function stmts(db: Database.Database): Record<Names, Database.Statement> {
  let s = statements.get(db);
  if (!s) {
    s = {
      insert: db.prepare("INSERT INTO pending (project, filename, entry) VALUES (?, ?, ?)"),
      read: db.prepare("SELECT entry, seq FROM pending WHERE project = ? ORDER BY seq"),
      remove: db.prepare("DELETE FROM pending WHERE project = ? AND filename = ?"),
      update: db.prepare("UPDATE pending SET entry = ? WHERE project = ? AND filename = ?"),
      next: db.prepare("SELECT project, seq FROM pending WHERE seq > ? ORDER BY seq LIMIT 1"),
    };
    statements.set(db, s);
  }
  return s;
}

/** Keeps every entry of the project (the caller's transaction makes it atomic). */
export function keepPending(db: Database.Database, p: ProjectPlan): void {
  const { insert } = stmts(db);
  for (const e of p.entries) insert.run(p.project, e.file.filename, JSON.stringify(e));
}

/**
 * The kept projects in the order they were planned, each read when it is asked for. A project's
 * rows were written in one transaction, so they follow one another: the next project is the one of
 * the first row after the last project's. No statement stays open between two projects (the
 * connection is used for the journal's marks meanwhile).
 */
export function* pendingProjects(db: Database.Database): Generator<ProjectPlan> {
  const { next, read } = stmts(db);
  let after = 0;
  for (;;) {
    const row = next.get(after) as { project: string; seq: number } | undefined;
    if (!row) return;
    const rows = read.all(row.project) as { entry: string; seq: number }[];
    for (const r of rows) if (r.seq > after) after = r.seq;
    yield { project: row.project, entries: rows.map((r) => JSON.parse(r.entry) as PlanEntry) };
  }
}

export function replacePending(
  db: Database.Database,
  project: string,
  filename: string,
  entry: PlanEntry | undefined,
): void {
  if (entry) stmts(db).update.run(JSON.stringify(entry), project, filename);
  else stmts(db).remove.run(project, filename);
}

export function clearPending(db: Database.Database): void {
  db.prepare("DELETE FROM pending").run();
}
