/** The engine's events, options and result, and what its stages share while a run goes on. */
import type { Destination, DistFile, FileOutcome, LocalDist, Source } from "../model.js";
import type { ProjectPlan } from "../plan.js";

export type EngineEvent =
  /** The files to copy, their listed bytes, and how many of them the index gives no size for. */
  | { type: "start"; files: number; bytes: number; unknownSizes: number }
  | { type: "file-start"; file: DistFile }
  | { type: "bytes"; file: DistFile; bytes: number }
  /** Downloaded and checked against the source's sha256 (the journal's "downloaded"). */
  | { type: "downloaded"; file: DistFile; local: LocalDist }
  | { type: "uploaded"; file: DistFile }
  /**
   * The destination answered an upload attempt with an error: that attempt can no longer land
   * later ("uploaded" says the same for an attempt answered with success).
   */
  | { type: "attempt-over"; file: DistFile }
  | { type: "outcome"; outcome: FileOutcome }
  /** A download fetched again, or an upload sent again (stage says which). */
  | { type: "retry"; stage: "download" | "upload"; file: DistFile; reason: string }
  /** The run stopped on an answer that proves this file was not stored (credentials refused). */
  | { type: "unsent"; file: DistFile; reason: string };

export type BeforeUpload = (
  file: DistFile,
  local: LocalDist,
  notStarted: ReadonlySet<DistFile>,
) => void | Promise<void>;

export interface EngineOptions {
  concurrency: number;
  /** Where downloads are kept while they are checked and uploaded. */
  tmpDir?: string | undefined;
  signal?: AbortSignal | undefined;
  onEvent?: (e: EngineEvent) => void;
  /** How often the destination index is read again for a file it does not list yet. */
  verifyAttempts?: number;
  verifyDelayMs?: number;
  /**
   * Check every upload by downloading it back from the destination (--verify-content); always on
   * for a destination whose index echoes the client's digest.
   */
  verifyContent?: boolean | undefined;
  /**
   * Called before a file is uploaded; lets the journal record the "uploading" state first.
   * `notStarted` holds the files that have not started yet, in the order they will start: those of
   * the projects in hand and of the projects read ahead (see `lookahead`), which the journal may
   * mark together with this one (see Journal.markUploading).
   */
  beforeUpload?: BeforeUpload;
  /**
   * How many files to copy, beyond the ones already started, to know of ahead: projects are read
   * from the work's iterable ahead of the transfers until they hold this many (default 0: a
   * project is read when a transfer slot is free). Memory holds them, so it stays small.
   */
  lookahead?: number | undefined;
  /**
   * Called when a project's transfers and checks are over (or the run stopped before some of
   * them), with the outcomes its files to copy reached.
   */
  onProjectDone?: (project: ProjectPlan, outcomes: readonly FileOutcome[]) => void | Promise<void>;
}

export interface MigrationResult {
  /** Set when the run stopped early (fatal error or interruption). */
  stopped?: { reason: string; error?: unknown } | undefined;
}

/** Thrown inside a file's stages when the run is stopping; the file is left alone. */
export class Stop extends Error {}

/** What the stages of one run share. */
export interface RunContext {
  source: Source;
  destination: Destination;
  emit(e: EngineEvent): void;
  /** A file's one outcome (emitted as an "outcome" event). */
  record(o: FileOutcome): void;
  /** How often the destination index is read again for a file it does not list yet, and the first pause. */
  verifyAttempts: number;
  verifyDelayMs: number;
  /** Throws Stop when the run is stopping (interrupted, or stopped by a fatal error). */
  checkStop(): void;
  /** The files that have not started yet, in the order they will start (see EngineOptions.beforeUpload). */
  notStarted: ReadonlySet<DistFile>;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
