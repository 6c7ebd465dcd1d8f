/**
 * plan as a use-case: compare the source with the destination's index, file by file, changing
 * nothing; with a state folder, also what a migrate resuming from it would do (the journal only read).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PyregError } from "../errors.js";
import { JOURNAL_FILE, openReportSource, resumeStep, type ResumeStep, type RunRow } from "../journal.js";
import { makePlan, planCounts, type Plan } from "../plan.js";
import type { Selection } from "../select/index.js";
import { shardSelector, type Shard } from "../shard.js";
import type { RunControl } from "./events.js";
import {
  endpointOf,
  openFrom,
  openRuntime,
  openTo,
  selectionFrom,
  stateDirOf,
  untilAborted,
  withDefaults,
  type RunOptions,
  type WithDefaults,
  type Runtime,
} from "./options.js";
import { tagged, type Tagged } from "./result.js";

export interface PlanOptions extends RunOptions, RunControl {
  shard?: Shard | undefined;
  /** Also show what a migrate resuming from this state folder would do (default: migrate's, when a run left it). */
  state?: string | undefined;
  /** With a state folder: as migrate's retryFailed would. */
  retryFailed?: boolean | undefined;
  /** The selection rules (default: built from the selection options). */
  selection?: Selection | undefined;
  /** An already opened runtime (the CLI's); default: one opened from these options, closed at the end. */
  runtime?: Runtime | undefined;
}

export interface ResumePreview {
  state: string;
  counts: Record<ResumeStep, number>;
  /** The files a resumed run would treat otherwise than the plan says. */
  files: { project: string; filename: string; step: ResumeStep }[];
  /** The state folder's last run. */
  lastRun?: RunRow | undefined;
}

export interface PlanData {
  source: { kind: string; description: string };
  destination: { kind: string; description: string };
  plan: Plan;
  /** Files per action, bytes to copy, and files to copy of unknown size. */
  counts: ReturnType<typeof planCounts>;
  resume?: ResumePreview | undefined;
}

/** Plans a migration; "incomplete" when a file conflicts or is invalid, a project could not be listed, or a pinned file is a problem. */
export async function plan(
  from: string,
  to: string,
  opts: WithDefaults<PlanOptions> = {},
): Promise<Tagged<PlanData>> {
  return tagged(() => run({ ...withDefaults<PlanOptions>(opts), from, to }));
}

async function run(opts: PlanOptions & { from: string; to: string }): Promise<Tagged<PlanData>> {
  const selection = opts.selection ?? (await selectionFrom(opts));
  const rt = opts.runtime ?? openRuntime(opts, (e) => opts.onEvent?.(e));
  try {
    const { src, dst, planned } = await untilAborted(
      (async () => {
        const src = await openFrom(opts.from, rt);
        const dst = await openTo(opts.to, rt);
        const planned = await makePlan(src, dst, {
          selection,
          listConcurrency: opts.concurrency,
          ...(opts.shard ? { select: shardSelector(opts.shard) } : {}),
        });
        return { src, dst, planned };
      })(),
      opts.signal,
      rt,
    );
    const data: PlanData = {
      source: { kind: src.kind, description: src.describe() },
      destination: { kind: dst.kind, description: dst.describe() },
      plan: planned,
      counts: planCounts(planned),
    };
    // The state folder migrate would use: the one given, or the default one when a run left it.
    const defaultState = stateDirOf(opts, opts.from, opts.to);
    let stateDir = opts.state ?? (existsSync(join(defaultState, JOURNAL_FILE)) ? defaultState : undefined);
    if (stateDir && !existsSync(join(stateDir, JOURNAL_FILE))) {
      // A migrate command line with its verb changed, before its first run: nothing to resume.
      opts.onEvent?.({
        type: "log",
        message: `no journal in ${stateDir} yet: migrate would start there from the beginning`,
      });
      stateDir = undefined;
    }
    if (stateDir) {
      try {
        data.resume = resumePreview(planned, opts, stateDir);
      } catch (err) {
        if (err instanceof PyregError) return { status: "error", error: err, ...data };
        throw err;
      }
    }
    const c = data.counts;
    const incomplete =
      c.conflict ||
      c.invalid ||
      c.unsupported ||
      planned.problems.length ||
      planned.projects.some((p) => p.error);
    return { status: incomplete ? "incomplete" : "ok", ...data };
  } finally {
    if (!opts.runtime) await rt.close();
  }
}

function resumePreview(
  plan: Plan,
  opts: { from: string; to: string; retryFailed?: boolean | undefined },
  state: string,
): ResumePreview {
  // Looked up file by file: the journal is never read whole.
  const data = openReportSource(state);
  try {
    const from = endpointOf(opts.from);
    const to = endpointOf(opts.to);
    if (data.identity.source.key !== from.key || data.identity.destination.key !== to.key) {
      throw new PyregError("STATE", `the state folder ${state} belongs to another migration`, {
        hint: `it is ${data.identity.source.description} -> ${data.identity.destination.description}`,
      });
    }
    const counts: Record<ResumeStep, number> = {
      carried: 0,
      uncertain: 0,
      landed: 0,
      again: 0,
      "as-planned": 0,
    };
    const files: { project: string; filename: string; step: ResumeStep }[] = [];
    for (const p of plan.projects) {
      for (const e of p.entries) {
        const step = resumeStep(
          e.action,
          data.get(e.file.project, e.file.filename),
          opts.retryFailed ?? false,
        );
        counts[step]++;
        if (step !== "as-planned") files.push({ project: e.file.project, filename: e.file.filename, step });
      }
    }
    return { state, counts, files, lastRun: data.runs[data.runs.length - 1] };
  } finally {
    data.close();
  }
}
