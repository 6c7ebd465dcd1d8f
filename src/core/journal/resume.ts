/** The resume policy: what an earlier run's record of a file changes in this run's plan. */
import { retriedNextRun } from "../failure.js";
import type { PlanAction } from "../plan.js";
import { UNCERTAIN_STATES, type FileRow } from "./types.js";

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
