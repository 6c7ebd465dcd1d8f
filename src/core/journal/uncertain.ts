/**
 * The network side of resuming: files whose upload an earlier run started but never confirmed are
 * looked up at the destination again before anything is sent.
 */
import type { Destination } from "../model.js";
import { sha256Of } from "../model.js";
import { decide, type Plan, type PlanEntry } from "../plan.js";
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

/**
 * The resume rule for files whose upload an earlier run started but never confirmed ("uploading" /
 * "uploaded") and that the fresh plan still wants to copy (the destination index did not list them):
 * an index may list a new file only after a while (CDN caches, eventually consistent registries),
 * so wait `waitMs`, read the project's index once more, and decide again. Listed with the source's
 * sha256 → verified (that upload landed; nothing is sent); listed with other bytes → conflict;
 * still absent → the earlier upload did not land, and the file is uploaded again.
 */
export async function resolveUncertain(
  plan: Plan,
  uncertain: readonly PlanEntry[],
  destination: Destination,
  journal: Journal,
  /** When to read the index again (ms since the epoch, see recheckTime). */
  recheckAt: number,
  /** The clock the wait reads (tests drive it); default real time. */
  clock: { now(): number; sleep(ms: number): Promise<void> } = { now: () => Date.now(), sleep },
): Promise<{ plan: Plan; landed: number; resent: number }> {
  if (!uncertain.length) return { plan, landed: 0, resent: 0 };
  const byProject = new Map<string, Set<string>>();
  for (const e of uncertain) {
    const set = byProject.get(e.file.project) ?? new Set<string>();
    set.add(e.file.filename);
    byProject.set(e.file.project, set);
  }
  const waitMs = recheckAt - clock.now();
  if (waitMs > 0) await clock.sleep(waitMs);
  let landed = 0;
  let resent = 0;
  const projects = [];
  for (const p of plan.projects) {
    const names = byProject.get(p.project);
    if (!names) {
      projects.push(p);
      continue;
    }
    destination.invalidate?.(p.project);
    const listing = await destination.listFiles(p.project);
    const entries = p.entries.map((e) => {
      if (!names.has(e.file.filename)) return e;
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
      return again;
    });
    projects.push({ ...p, entries });
  }
  return { plan: { ...plan, projects }, landed, resent };
}
