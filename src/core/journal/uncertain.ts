/**
 * The network side of resuming: files whose upload an earlier run started but never confirmed are
 * looked up at the destination again before anything is sent.
 */
import type { Destination } from "../model.js";
import { sha256Of } from "../model.js";
import { decide, type PlanEntry } from "../plan.js";
import type { Journal } from "./store.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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

type Clock = { now(): number; sleep(ms: number): Promise<void> };

/**
 * The resume rule for files whose upload an earlier run started but never confirmed ("uploading" /
 * "uploaded") and that the fresh plan still wants to copy (the destination index did not list them):
 * an index may list a new file only after a while (CDN caches, eventually consistent registries),
 * so wait until `recheckAt`, read each project's index once more, and decide again. Listed with the
 * source's sha256 → verified (that upload landed; nothing is sent); listed with other bytes →
 * conflict; still absent → the earlier upload did not land, and the file is uploaded again.
 * Returns each entry decided again, and replaces it in the journal's pending work.
 */
export async function recheckUncertain(
  uncertain: readonly PlanEntry[],
  destination: Destination,
  journal: Journal,
  recheckAt: number,
  clock: Clock = { now: () => Date.now(), sleep },
): Promise<{ decided: PlanEntry[]; landed: number; resent: number }> {
  const byProject = new Map<string, PlanEntry[]>();
  for (const e of uncertain) {
    const list = byProject.get(e.file.project) ?? [];
    list.push(e);
    byProject.set(e.file.project, list);
  }
  const waitMs = recheckAt - clock.now();
  if (waitMs > 0) await clock.sleep(waitMs);
  let landed = 0;
  let resent = 0;
  const decided: PlanEntry[] = [];
  for (const [project, entries] of byProject) {
    destination.invalidate?.(project);
    const listing = await destination.listFiles(project);
    const changes = new Map<string, PlanEntry>();
    for (const e of entries) {
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
      changes.set(e.file.filename, again);
      decided.push(again);
    }
    journal.updatePending(project, changes);
  }
  return { decided, landed, resent };
}
