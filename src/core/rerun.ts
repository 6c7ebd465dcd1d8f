/**
 * Cheap re-runs: a project is skipped (not listed, planned or transferred again) when nothing can
 * have changed for it since a run that left it complete. The rule, where any doubt means the
 * project is read and planned as usual:
 * - both of its pages say what they said then: the source's project page and the destination's,
 *   compared by a stamp of their bodies (read with conditional requests, RFC 9110 §13.1, so an
 *   unchanged page costs a 304 and no body);
 * - that run planned it with the same settings (the fingerprint: selection rules, the options that
 *   change what a listing holds or how files are checked, pyreg's version);
 * - every file of it the journal holds ended done (verified, skipped, filtered): no failure, no
 *   conflict, no upload left unconfirmed;
 * - skipping is on at all: never with --verify-content (it reads every file back), nor with a
 *   selection rule that looks at files (their "matched nothing" warnings and pins need every
 *   file seen); only include/exclude of project names leave it on.
 * A project is settled ("complete with these stamps") only by a run that finished: when its plan
 * needed nothing (every file already there or left out), or when every file it copied was copied,
 * and its destination page, as read after its uploads, lists every file with the source's digest.
 */
import { createHash } from "node:crypto";
import { isFatal } from "./errors.js";
import type { Destination, Source } from "./model.js";
import type { PageCache } from "./pageCache.js";
import { decide, type ProjectPlan } from "./plan.js";
import type { Selection } from "./select/index.js";

export interface RerunSettings {
  selection: Selection;
  /** Options that change what a listing holds or how a file is checked. */
  options: Record<string, unknown>;
  verifyContent: boolean;
  version: string;
}

/** Why skipping is off for these settings, or undefined when it is on. */
export function skippingOff(s: RerunSettings): string | undefined {
  if (s.verifyContent) return "--verify-content reads every file back";
  const fileRules = s.selection.rules.filter((r) => r.kind !== "include" && r.kind !== "exclude");
  if (fileRules.length) return "selection rules that look at files need every file listed";
  return undefined;
}

export function fingerprint(s: RerunSettings): string {
  const options = Object.fromEntries(
    Object.entries(s.options)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
  return createHash("sha256")
    .update(JSON.stringify({ rules: s.selection.rules, options, version: s.version }))
    .digest("hex");
}

export class Rerun {
  readonly unchanged = { projects: 0, files: 0 };
  private readonly fingerprint: string | undefined;
  /** Why unchanged projects are planned again in this run, when skipping is off. */
  readonly off: string | undefined;

  constructor(
    private readonly cache: PageCache,
    private readonly source: Source,
    private readonly destination: Destination,
    settings: RerunSettings,
    private readonly runId: number,
  ) {
    this.off = skippingOff(settings);
    this.fingerprint = this.off ? undefined : fingerprint(settings);
  }

  /** Whether an earlier run recorded projects as complete (so that skipping would have applied). */
  get anySettled(): boolean {
    return this.cache.anySettled();
  }

  /**
   * Reads the project's pages at both ends (conditionally) and tells whether it is unchanged since
   * a run that left it complete: then its number of files, and it needs no work.
   */
  async check(project: string): Promise<number | undefined> {
    let stamps: [string | undefined, string | undefined];
    try {
      stamps = await Promise.all([this.source.pageStamp?.(project), this.destination.pageStamp?.(project)]);
    } catch (err) {
      // Listing the project reads the pages again and says what is wrong.
      if (isFatal(err)) throw err;
      return undefined;
    }
    const [s, d] = stamps;
    this.cache.recordStamps(project, s, d);
    if (!this.fingerprint || !s || !d) return undefined;
    const was = this.cache.settled(project);
    if (!was || was.source !== s || was.destination !== d || was.fingerprint !== this.fingerprint)
      return undefined;
    const done = this.cache.doneFiles(project);
    if (done === undefined || (was.files > 0 && done === 0)) return undefined;
    this.unchanged.projects++;
    this.unchanged.files += done;
    return done;
  }

  /**
   * After a project's work (its plan, and its transfers when it had files to copy): whether this
   * run leaves it complete (see the note at the top). A project that is not is forgotten at once;
   * one that is is remembered, and recorded by commitSettled when the run finishes. `notDone`:
   * something outside its entries' outcomes failed for it (a pin problem, a file carried over as
   * failed). `copied`: its files to copy that ended copied.
   */
  async settleProject(p: ProjectPlan, copied: ReadonlySet<string>, notDone: boolean): Promise<void> {
    if (!this.fingerprint) return;
    const ok =
      !p.error &&
      !notDone &&
      p.entries.every(
        (e) =>
          e.action === "skip" ||
          e.action === "filtered" ||
          (e.action === "copy" && copied.has(e.file.filename)),
      );
    const stamps = this.cache.stampsOf(p.project);
    if (!ok || !stamps?.source || !stamps.destination) {
      this.cache.unsettle(p.project);
      return;
    }
    let destination = stamps.destination;
    if (p.entries.some((e) => e.action === "copy")) {
      // The page read while planning is from before the uploads. The check stage read it again
      // after the project's last upload (src/core/engine/check.ts: every file counted as copied
      // was confirmed from that reading), and this process's page store keeps that reading: its
      // stamp and listing are taken from there, without asking the destination a third time (a
      // page no longer kept is read again). Settled only when it lists every file the source
      // lists with the source's digest.
      try {
        const now = await this.destination.pageStamp?.(p.project);
        const listing = await this.destination.listFiles(p.project);
        const all = p.entries.every(
          (e) => e.action === "filtered" || decide(e.file, listing).action === "skip",
        );
        if (!now || !all) {
          this.cache.unsettle(p.project);
          return;
        }
        destination = now;
      } catch (err) {
        if (isFatal(err)) throw err;
        this.cache.unsettle(p.project);
        return;
      }
    }
    this.cache.settleLater(p.project, {
      source: stamps.source,
      destination,
      fingerprint: this.fingerprint,
      files: p.entries.length,
      runId: this.runId,
    });
  }

  /** Records the projects settleProject found complete: only a run that finished calls it. Returns how many. */
  commitSettled(): number {
    return this.cache.commitSettling(true);
  }

  /** Forgets what settleProject kept (a run that did not finish, or one starting). */
  dropSettling(): void {
    this.cache.commitSettling(false);
  }
}
