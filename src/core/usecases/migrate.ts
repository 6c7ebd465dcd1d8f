/**
 * migrate as a use-case: plan, resume decisions (re-checking an interrupted run's unconfirmed
 * uploads), transfers, journal and reports. Progress and messages go to `onEvent`; `signal` stops
 * it (files in flight are finished, the run is recorded as interrupted).
 */
import { join } from "node:path";
import { entryOutcome, transfer, type MigrationResult } from "../engine.js";
import { decisiveDigest } from "../digests.js";
import { errorMessage, PyregError } from "../errors.js";
import type { FileOutcome } from "../model.js";
import {
  countEntries,
  emptyHeader,
  emptyPlanCounts,
  planProjects,
  type Plan,
  type PlanEntry,
  type PlanOptions,
} from "../plan.js";
import { MARK_AHEAD, recheckTime, recheckUncertain, type SelectionRow } from "../journal.js";
import { formatShard, shardSelector } from "../shard.js";
import { yankHowTo } from "../yank.js";
import { formatTotal, plural } from "../units.js";
import type { Selection } from "../select/index.js";
import type { RunControl } from "./events.js";
import {
  openFrom,
  openRuntime,
  openTo,
  selectionFrom,
  untilAborted,
  withDefaults,
  type RunOptions,
  type WithDefaults,
  type Runtime,
  type StateOptions,
} from "./options.js";
import { tagged, type Tagged } from "./result.js";
import { openRunState, type RunState } from "./state.js";
import { PageCache } from "../pageCache.js";
import { Rerun } from "../rerun.js";
import { PYREG_VERSION } from "../../version.js";

export interface MigrateOptions extends RunOptions, StateOptions, RunControl {
  /** The selection rules (default: built from the selection options). */
  selection?: Selection | undefined;
  /** The command line recorded in the journal (redacted). */
  argv?: readonly string[] | undefined;
  /** Called before a report is built. */
  beforeReport?: (() => void) | undefined;
  /** How to resume, added to an interruption's error. */
  resumeHint?: string | undefined;
  /** An already opened runtime (the CLI's); default: one opened from these options, closed at the end. */
  runtime?: Runtime | undefined;
}

export type MigrateCounts = Record<FileOutcome["kind"], number> & { bytes: number };

export interface MigrateData {
  source: { kind: string; description: string };
  destination: { kind: string; description: string };
  /** The state folder. */
  state: string;
  counts: MigrateCounts;
  /** Files the plan wanted copied that reached no outcome (the run stopped before them). */
  notAttempted: number;
  /** Files at the source that are not distributions. */
  ignored: NonNullable<Plan["ignored"]>;
  /** Warnings known only after the transfers (yanks the destination could not take). */
  lateWarnings: string[];
  /**
   * Files that failed in an earlier run with a lasting error, not tried again (each was given as an
   * "outcome" event, and is counted as failed).
   */
  carried: number;
  /** Projects that could not be listed at the source or the destination. */
  projectErrors: { project: string; error: string }[];
  /** Projects the selection left out, with the rule. */
  filteredProjects: Plan["filteredProjects"];
  /** Selection rules that matched nothing, and files left out for want of a fact. */
  warnings: string[];
  /** Pinned files (--requirements) missing at the source or with another sha256. */
  selectionProblems: Plan["problems"];
  /** report.md in the state folder. */
  report: string;
  /** Why the transfers stopped early (interruption or a fatal error). */
  stopped?: string | undefined;
  /** Projects not read again: unchanged at both ends since a run completed them (see rerun.ts). */
  unchanged: { projects: number; files: number };
}

/**
 * The run's outcomes as they come, counted (every file's outcome is given as an "outcome" event;
 * none is kept, so memory does not grow with the number of files).
 */
class Tally {
  readonly counts: MigrateCounts = { copied: 0, skipped: 0, conflict: 0, failed: 0, filtered: 0, bytes: 0 };
  /** Outcomes of files the transfers were given. */
  reached = 0;
  /** Copied files the source lists as yanked: the first YANKED_NAMED by name, and how many. */
  readonly yanked: string[] = [];
  yankedCount = 0;

  constructor(private readonly emit: (e: { type: "outcome"; outcome: FileOutcome }) => void) {}

  outcome(o: FileOutcome): void {
    this.counts[o.kind]++;
    if (o.kind === "copied") this.counts.bytes += o.bytes;
    this.emit({ type: "outcome", outcome: o });
  }

  transferred(o: FileOutcome): void {
    this.reached++;
    if (o.kind === "copied" && o.file.yanked) {
      this.yankedCount++;
      if (this.yanked.length < YANKED_NAMED) this.yanked.push(o.file.filename);
    }
    this.outcome(o);
  }
}

/** How many yanked files the warning names (the report lists every file with its state). */
const YANKED_NAMED = 50;

function planOptions(opts: MigrateOptions, selection: Selection, rerun: Rerun): PlanOptions {
  return {
    selection,
    listConcurrency: opts.concurrency,
    ...(opts.shard ? { select: shardSelector(opts.shard) } : {}),
    unchanged: (project) => rerun.check(project),
  };
}

/** The plan's selection notes as the journal keeps them for the report. */
export function selectionRows(
  plan: Pick<Plan, "warnings" | "problems" | "filteredProjects">,
): Omit<SelectionRow, "runId">[] {
  return [
    ...plan.warnings.map((text) => ({ kind: "warning" as const, project: null, filename: null, text })),
    ...plan.problems.map((p) => ({
      kind: "problem" as const,
      project: p.project,
      filename: p.filename ?? null,
      text: p.reason,
    })),
    ...plan.filteredProjects.map((p) => ({
      kind: "filtered-project" as const,
      project: p.project,
      filename: null,
      text: p.reason,
    })),
  ];
}

function formatWait(ms: number): string {
  return `${Math.max(0, Math.ceil(ms / 100) / 10)}s`;
}

/** Copies the selected files from `from` to `to`; resolves with a tagged result. */
export async function migrate(
  from: string,
  to: string,
  opts: WithDefaults<MigrateOptions> = {},
): Promise<Tagged<MigrateData>> {
  return tagged(() => run({ ...withDefaults<MigrateOptions>(opts), from, to }));
}

async function run(opts: MigrateOptions & { from: string; to: string }): Promise<Tagged<MigrateData>> {
  const emit = (e: Parameters<NonNullable<RunControl["onEvent"]>>[0]): void => opts.onEvent?.(e);
  const selection = opts.selection ?? (await selectionFrom(opts));
  const rt = opts.runtime ?? openRuntime(opts, emit);
  const signal = opts.signal ?? new AbortController().signal;
  const resumeHint =
    opts.resumeHint ??
    "to resume, run migrate again with the same options (files already copied are skipped)";
  let state: RunState | undefined;
  let pages: PageCache | undefined;
  let counts: Record<string, number> = {};
  try {
    // Both ends are opened (and their URLs or folders checked) before the state folder is made: a
    // run that fails validation leaves nothing behind.
    const src = await openFrom(opts.from, rt);
    const dst = await openTo(opts.to, rt);
    state = openRunState(opts, "migrate");
    const journal = state.journal;
    journal.describeRun(src.describe(), dst.describe());
    // Index pages are kept in the state folder and asked for conditionally by the next run.
    pages = PageCache.open(state.dir);
    rt.http.pages = pages;
    const rerun = new Rerun(
      pages,
      src,
      dst,
      {
        selection,
        options: {
          toIndex: opts.toIndex,
          allowForeignFileHosts: opts.allowForeignFileHosts,
          allowBrokenArchives: opts.allowBrokenArchives,
          excludeSubgroups: opts.excludeSubgroups,
          gitlabStatuses: opts.gitlabStatuses,
          gitlabApi: opts.gitlabApi,
          shard: opts.shard ? formatShard(opts.shard) : undefined,
        },
        verifyContent: opts.verifyContent ?? false,
        version: PYREG_VERSION,
      },
      journal.currentRun,
    );
    rt.log(
      `from ${src.describe()}\nto   ${dst.describe()}` +
        (opts.shard ? `\nshard ${formatShard(opts.shard)}` : "") +
        `\nstate ${state.dir}`,
    );
    // An interruption while the indexes are read, or while waiting to re-check, stops at once: this
    // run has uploaded nothing yet. The work left behind fails on the closed connections.
    const interruptible = <T>(work: Promise<T>, phase: string): Promise<T> => {
      const message = `interrupted while ${phase}; nothing was uploaded`;
      return untilAborted(
        work,
        signal,
        rt,
        new PyregError("INTERRUPTED", message, { hint: resumeHint }),
        () => state?.finish("interrupted", message, {}),
      );
    };
    // What a run that did not finish found complete is not believed.
    rerun.dropSettling();
    // Never silent: a re-run that could have skipped unchanged projects says why it does not.
    if (rerun.off && rerun.anySettled)
      rt.log(
        `unchanged projects are planned again in this run: ${rerun.off} (conditional requests still apply)`,
      );
    emit({ type: "phase", phase: "planning" });
    // Planning, a project at a time: each project's decisions go to the journal (with its entries
    // when it has files to copy), its outcomes that need no transfer are given at once, and only
    // counts stay in memory.
    journal.clearPending();
    const header = emptyHeader(src, dst);
    const retryFailed = opts.retryFailed ?? false;
    const uncertain: PlanEntry[] = [];
    const destinationDigests = new Set<string>();
    const totals = { files: 0, bytes: 0, unknownSizes: 0 };
    const planCounts = emptyPlanCounts();
    const projectErrors: { project: string; error: string }[] = [];
    /** Projects something failed for outside their files to copy: never settled by this run. */
    const notDone = new Set<string>();
    const tally = new Tally(emit);
    let landed = 0;
    let carried = 0;
    let problemsSeen = 0;
    const planning = (async () => {
      for await (const p of planProjects(src, dst, planOptions(opts, selection, rerun), header)) {
        // Interrupted: the run is recorded as such and the journal closed; nothing more is written.
        if (signal.aborted) return;
        const d = journal.applyProject(p, { retryFailed });
        // Pinned files found missing or different while this project was read.
        for (; problemsSeen < header.problems.length; problemsSeen++)
          notDone.add((header.problems[problemsSeen] as { project: string }).project);
        landed += d.landed;
        for (const o of d.carried) {
          carried++;
          notDone.add(p.project);
          tally.outcome(o);
        }
        if (p.error) {
          projectErrors.push({ project: p.project, error: p.error });
          continue;
        }
        countEntries(planCounts, d.project.entries);
        const waiting = new Set(d.uncertain.map((e) => e.file.filename));
        let copies = 0;
        for (const e of d.project.entries) {
          if (e.destination) {
            const digest = decisiveDigest(e.destination.hashes);
            if (digest) destinationDigests.add(digest.name);
          }
          const o = entryOutcome(e);
          if (o) {
            if (o.kind === "failed" || o.kind === "conflict") notDone.add(p.project);
            tally.outcome(o);
          } else if (!waiting.has(e.file.filename)) {
            copies++;
            totals.files++;
            totals.bytes += e.file.size ?? 0;
            if (e.file.size === undefined) totals.unknownSizes++;
          }
        }
        uncertain.push(...d.uncertain);
        // A project with nothing to copy is complete now, or never in this run (one with files to
        // copy was kept in the journal's pending work by applyProject).
        if (!copies && !d.uncertain.length)
          await rerun.settleProject(d.project, new Set(), notDone.has(p.project));
      }
    })();
    await interruptible(planning, "reading the indexes");
    const unchanged = header.unchanged;
    if (unchanged.projects)
      rt.log(
        `unchanged: ${plural(unchanged.projects, "project")} (${plural(unchanged.files, "file")}) as a run that completed them left them, at the source and at the destination: not planned again`,
      );
    for (const w of header.warnings) emit({ type: "warning", message: w });
    for (const p of header.problems) {
      emit({ type: "problem", message: p.reason });
      notDone.add(p.project);
    }
    journal.recordSelection(selectionRows(header));
    journal.recordIgnored(header.ignored);
    if (header.ignored.length) {
      const names = header.ignored.slice(0, 5).map((i) => i.name);
      rt.log(
        `ignored: ${plural(header.ignored.length, "file")} at the source (not distributions): ${names.join(", ")}${header.ignored.length > 5 ? ", …" : ""} (listed in the report)`,
      );
    }
    if (landed)
      rt.log(`resume: ${plural(landed, "file")} uploaded by an interrupted run found at the destination`);
    if (uncertain.length) {
      // Not before the earlier attempts' deadlines: until then one of them may still land.
      const at = recheckTime(uncertain, journal, (opts.recheckWait ?? 5) * 1000);
      rt.log(
        `resume: the destination does not list ${plural(uncertain.length, "file")} whose upload was not confirmed; reading its index again in ${formatWait(at - Date.now())} before sending them` +
          (at > Date.now() + (opts.recheckWait ?? 5) * 1000
            ? " (when the earlier upload's request deadline has passed)"
            : ""),
      );
      emit({ type: "phase", phase: "rechecking" });
      const r = await interruptible(
        recheckUncertain(uncertain, dst, journal, at),
        "re-checking the files of an interrupted run",
      );
      for (const e of r.decided) {
        const o = entryOutcome(e);
        if (o) {
          // Decided again from the destination's index: counted as the plan's own decisions are.
          planCounts.copy--;
          planCounts[e.action]++;
          if (o.kind === "conflict") notDone.add(e.file.project);
          tally.outcome(o);
        } else {
          totals.files++;
          totals.bytes += e.file.size ?? 0;
          if (e.file.size === undefined) totals.unknownSizes++;
        }
      }
      rt.log(`resume: ${r.landed} found after the re-check, ${r.resent} to upload again`);
    }
    if (carried) {
      rt.log(
        `resume: ${plural(carried, "file")} failed in an earlier run with a lasting error and are not tried again (--retry-failed tries them)`,
      );
    }
    const pc = planCounts;
    rt.log(
      `plan: ${totals.files} to copy (${formatTotal(totals.bytes, totals.unknownSizes)}), ${pc.skip} already there, ${plural(pc.conflict, "conflict")}, ${pc.invalid} invalid, ${pc.filtered} filtered` +
        (pc.unsupported ? `, ${pc.unsupported} in a format the destination does not take` : ""),
    );
    emit({ type: "phase", phase: "transferring" });
    const result: MigrationResult = await transfer(
      {
        // Read back from the journal a project at a time.
        projects: journal.pendingProjects(),
        ...totals,
        destinationDigests,
      },
      src,
      dst,
      {
        concurrency: opts.concurrency,
        verifyDelayMs: opts.verifyDelay,
        verifyContent: opts.verifyContent ?? false,
        signal,
        // The attempt's deadline goes with the mark: a resumed run waits for it before resending.
        beforeUpload: (file, _local, notStarted) =>
          journal.markUploading(file, Date.now() + rt.http.requestDeadlineMs, notStarted),
        // Enough files known ahead for the journal to mark as many as it can with each commit.
        lookahead: MARK_AHEAD,
        onEvent: (e) => {
          if (e.type === "downloaded") journal.mark(e.file, "downloaded");
          // Answered: the attempt cannot land any later, a resumed run need not wait for it.
          else if (e.type === "uploaded") journal.mark(e.file, "uploaded", { uploadDeadline: Date.now() });
          else if (e.type === "attempt-over") journal.endAttempt(e.file);
          else if (e.type === "outcome") {
            journal.recordOutcome(e.outcome);
            tally.transferred(e.outcome);
            return;
          } else if (e.type === "unsent")
            journal.mark(e.file, "planned", { reason: `not attempted: the run stopped on ${e.reason}` });
          emit(e);
        },
        onProjectDone: (p, outcomes) => {
          const copied = new Set(outcomes.filter((o) => o.kind === "copied").map((o) => o.file.filename));
          return rerun.settleProject(p, copied, notDone.has(p.project));
        },
      },
    );
    journal.unmarkAhead();
    journal.clearPending();
    // A yank the destination could not take (PEP 592 has no field in the upload form): the files
    // are installable there until yanked by hand, so they are named with how.
    const yankByHand = dst.keepsYanked ? [] : tally.yanked;
    const lateWarnings = yankByHand.length
      ? [
          `yanked at the source but not at the destination: ${plural(tally.yankedCount, "file")} (the upload form cannot carry a yank): ${yankByHand.join(", ")}${tally.yankedCount > yankByHand.length ? `, and ${tally.yankedCount - yankByHand.length} more (each is in the report)` : ""}; ${yankHowTo(dst.kind)}`,
        ]
      : [];
    for (const w of lateWarnings) rt.warn(w);
    journal.recordWarnings(lateWarnings);
    const c = tally.counts;
    // Files the plan wanted copied that reached no outcome: the run stopped before them.
    const notAttempted = Math.max(0, totals.files - tally.reached);
    counts = { ...c, notAttempted };
    const stoppedBy = result.stopped;
    // Only a run that finished says which projects it left complete (see rerun.ts).
    if (stoppedBy) rerun.dropSettling();
    else {
      try {
        rerun.commitSettled();
      } catch (err) {
        rt.warn(
          `could not record which projects this run completed (${errorMessage(err)}): the next run reads them all again`,
        );
      }
    }
    counts = { ...counts, unchangedProjects: unchanged.projects, unchangedFiles: unchanged.files };
    const reportPath =
      state.finish(stoppedBy ? (stoppedBy.error ? "failed" : "interrupted") : "done", stoppedBy?.reason, {
        ...counts,
        projectErrors: projectErrors.length,
        selectionProblems: header.problems.length,
      }) ?? join(state.dir, "report.md");
    const data: MigrateData = {
      source: { kind: src.kind, description: src.describe() },
      destination: { kind: dst.kind, description: dst.describe() },
      state: state.dir,
      counts: c,
      notAttempted,
      ignored: header.ignored,
      lateWarnings,
      carried,
      projectErrors,
      filteredProjects: header.filteredProjects,
      warnings: header.warnings,
      selectionProblems: header.problems,
      report: reportPath,
      unchanged,
      ...(stoppedBy ? { stopped: stoppedBy.reason } : {}),
    };
    if (stoppedBy) {
      if (stoppedBy.error instanceof PyregError) return { status: "error", error: stoppedBy.error, ...data };
      // Not pyreg's error: a bug, thrown as it is.
      if (stoppedBy.error !== undefined) throw stoppedBy.error;
      return { status: "interrupted", message: "interrupted before the migration finished", ...data };
    }
    const incomplete = c.failed || c.conflict || projectErrors.length || header.problems.length;
    return { status: incomplete ? "incomplete" : "ok", ...data };
  } catch (err) {
    const interrupted = err instanceof PyregError && err.code === "INTERRUPTED";
    if (state && !interrupted) {
      try {
        state.finish("failed", errorMessage(err), counts);
      } catch {
        // The report is secondary to the error being shown.
      }
    }
    throw err;
  } finally {
    if (pages) {
      rt.http.pages = undefined;
      pages.close();
    }
    state?.close();
    if (!opts.runtime) await rt.close();
  }
}
