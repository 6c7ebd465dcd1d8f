/**
 * The one policy that reads failure classes (see FailureClass in ./errors.ts): what the engine does
 * within a run, and what the next run does with a file that failed. Decisions are this table,
 * never a match on an error's message.
 */
import type { FailureClass } from "./errors.js";

export interface ClassPolicy {
  /** Whole-file downloads before the file fails (the HTTP client's own retries come first). */
  downloadAttempts: number;
  /** A later run tries the file again by itself; otherwise only with --retry-failed. */
  retryNextRun: boolean;
  /** The whole run stops: every other file would get the same answer. */
  stopsRun: boolean;
}

export const FAILURE_POLICY: Readonly<Record<FailureClass, ClassPolicy>> = {
  // Three whole-file attempts keep a file's failure chance tiny on a flaky network (20% of
  // requests faulted in the soak test).
  transient: { downloadAttempts: 3, retryNextRun: true, stopsRun: false },
  // Bytes other than the index promises may have been corrupted on the way: fetched once more
  // (pnpm's tarball fetcher does the same), then the file fails.
  lasting: { downloadAttempts: 2, retryNextRun: false, stopsRun: false },
  auth: { downloadAttempts: 1, retryNextRun: true, stopsRun: true },
  conflict: { downloadAttempts: 1, retryNextRun: false, stopsRun: false },
  uncertain: { downloadAttempts: 1, retryNextRun: true, stopsRun: false },
};

/** Whether a file that failed with this class in an earlier run is tried again without --retry-failed. */
export function retriedNextRun(cls: FailureClass | null | undefined): boolean {
  // A row written before classes were recorded: trying again is the safe choice.
  return cls ? FAILURE_POLICY[cls].retryNextRun : true;
}

export function isFailureClass(v: unknown): v is FailureClass {
  return typeof v === "string" && Object.prototype.hasOwnProperty.call(FAILURE_POLICY, v);
}
