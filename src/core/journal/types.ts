/** The journal's records as the rest of pyreg sees them (see ./store.ts for what they mean). */
import type { FailureClass } from "../errors.js";
import type { DistFile, FileOutcome } from "../model.js";
import type { PlanEntry } from "../plan.js";

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

/** What recording a planned project decided, besides the project's entries (see Journal.applyProject). */
export interface ResumeDecision {
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

/** The last `verify` run's checks, summed up, with its problems to iterate. */
export interface ChecksSummary {
  runId: number;
  counts: Record<CheckStatus, number>;
  /** Checked files by how they were checked ("index:sha512", "content:sha256"). */
  by: Record<string, number>;
  /** Checks that are not "ok". */
  problemCount: number;
  /** Checks that are not "ok", by filename (binary order). */
  problems(): Iterable<CheckRow>;
}

/**
 * What a report reads from one journal. Every iterator is ordered as it says; the lists that grow
 * with the number of files are iterators, the rest is small.
 */
export interface ReportSource {
  dir: string;
  identity: Identity;
  runs: RunRow[];
  /**
   * Files and bytes by state: a file's size as listed, else the bytes it had when copied;
   * `unknownSizes`: files with neither (not in `bytes`).
   */
  stateTotals(): { state: FileState; files: number; bytes: number; unknownSizes: number }[];
  /** Files by how their bytes at the destination were confirmed. */
  verifiedBy(): Record<string, number>;
  /** Projects recorded (with or without an error), by project. */
  projects(): Iterable<ProjectRow>;
  /** Every file, by project (any order inside a project). */
  files(): Iterable<FileRow>;
  /** What the per-project table counts of every file, by project (any order inside a project). */
  fileTallies(): Iterable<FileTally>;
  /** Files not "verified", by project. */
  unverifiedFiles(): Iterable<FileRow>;
  /** "verified" files with something the upload could not carry, by filename. */
  notCarried(): Iterable<NotCarriedRow>;
  notCarriedCount(): number;
  checks: ChecksSummary | null;
  /** The latest run's selection notes, but files left out ("filtered-file"), which are iterated. */
  selection: SelectionRow[];
  filteredFileCount(): number;
  filteredFiles(): Iterable<SelectionRow>;
  ignored: { name: string; reason: string }[];
  warnings: { runId: number; text: string }[];
}

/** A copied file and what the upload form could not carry of it. */
export type NotCarriedRow = Pick<FileRow, "project" | "version" | "filename"> & { notCarried: NotCarried };

/** A file as the report's per-project table counts it; `size`: as listed, else the bytes it had. */
export type FileTally = readonly [
  project: string,
  version: string,
  filename: string,
  state: FileState,
  size: number | null,
];

/** A journal opened read-only, without its lock (`pyreg report`, also while a run is going on). */
export interface OpenedSource extends ReportSource {
  /** One file's row (a resume preview looks files up one by one). */
  get(project: string, filename: string): FileRow | undefined;
  close(): void;
}

export function notCarriedOf(f: DistFile): NotCarried | null {
  const out: NotCarried = {};
  if (f.uploadTime) out.uploadTime = f.uploadTime;
  if (f.yanked) out.yanked = f.yanked;
  const notes = Object.entries(f.notes ?? {}).filter(([k]) => k !== "filtered");
  if (notes.length) out.notes = Object.fromEntries(notes);
  return Object.keys(out).length ? out : null;
}

/** The journal's file in a state folder. */
export const JOURNAL_FILE = "journal.sqlite";
