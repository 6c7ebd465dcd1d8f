/**
 * plan as a use-case: compare the source with the destination's index, file by file, changing
 * nothing; with a state folder, also what a migrate resuming from it would do (the journal only read).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { PyregError } from "../errors.js";
import { JOURNAL_FILE, openReportSource, resumeStep, type ResumeStep, type RunRow } from "../journal.js";
import type { OpenedSource } from "../journal/types.js";
import {
  countEntries,
  emptyHeader,
  emptyPlanCounts,
  planProjects,
  type PlanCounts,
  type PlanHeader,
} from "../plan.js";
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
  /** Files by what a resumed run would do with them ("as-planned": as the plan says). */
  counts: Record<ResumeStep, number>;
  /** The state folder's last run. */
  lastRun?: RunRow | undefined;
}

/** A file a migrate resuming from the state folder would treat otherwise than the plan says. */
export interface ResumeFile {
  project: string;
  filename: string;
  step: Exclude<ResumeStep, "as-planned">;
}

/**
 * What the plan found, without its entries: those come a project at a time as `planned` events
 * (with the resume steps of a state folder), so that memory does not grow with the number of files.
 */
export interface PlanData {
  source: { kind: string; description: string };
  destination: { kind: string; description: string };
  /** Files per action, bytes to copy, and files to copy of unknown size. */
  counts: PlanCounts;
  /** Projects the selection kept (each one a `planned` event). */
  projects: number;
  /** Projects that could not be listed at the source or the destination, with why. */
  projectErrors: { project: string; error: string }[];
  filteredProjects: PlanHeader["filteredProjects"];
  /** Selection rules that matched nothing, and files left out for want of a fact. */
  warnings: string[];
  /** Pinned files (--requirements) missing at the source or with another sha256. */
  problems: PlanHeader["problems"];
  /** Files the source holds that are not distributions, with why. */
  ignored: PlanHeader["ignored"];
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
  // Opened (and its migration checked) before anything is read; looked up file by file as the
  // projects are planned: the journal is never read whole, and never written.
  const journal = stateDir ? openJournal(stateDir, opts) : undefined;
  const rt = opts.runtime ?? openRuntime(opts, (e) => opts.onEvent?.(e));
  try {
    const data = await untilAborted(planAll(opts, selection, rt, journal), opts.signal, rt);
    const c = data.counts;
    const incomplete =
      c.conflict || c.invalid || c.unsupported || data.problems.length || data.projectErrors.length;
    return { status: incomplete ? "incomplete" : "ok", ...data };
  } finally {
    journal?.source.close();
    if (!opts.runtime) await rt.close();
  }
}

interface OpenedJournal {
  state: string;
  source: OpenedSource;
}

function openJournal(state: string, opts: { from: string; to: string }): OpenedJournal {
  const source = openReportSource(state);
  try {
    const from = endpointOf(opts.from);
    const to = endpointOf(opts.to);
    if (source.identity.source.key !== from.key || source.identity.destination.key !== to.key) {
      throw new PyregError("STATE", `the state folder ${state} belongs to another migration`, {
        hint: `it is ${source.identity.source.description} -> ${source.identity.destination.description}`,
      });
    }
    return { state, source };
  } catch (err) {
    source.close();
    throw err;
  }
}

/** Reads both indexes a project at a time: each project an event, the data counts and header facts. */
async function planAll(
  opts: PlanOptions & { from: string; to: string },
  selection: Selection,
  rt: Runtime,
  journal: OpenedJournal | undefined,
): Promise<PlanData> {
  const src = await openFrom(opts.from, rt);
  const dst = await openTo(opts.to, rt);
  const source = { kind: src.kind, description: src.describe() };
  const destination = { kind: dst.kind, description: dst.describe() };
  opts.onEvent?.({ type: "plan-start", source, destination });
  const header = emptyHeader(src, dst);
  const counts = emptyPlanCounts();
  const projectErrors: PlanData["projectErrors"] = [];
  const resumeCounts: Record<ResumeStep, number> = {
    carried: 0,
    uncertain: 0,
    landed: 0,
    again: 0,
    "as-planned": 0,
  };
  const projects = planProjects(
    src,
    dst,
    {
      selection,
      listConcurrency: opts.concurrency,
      ...(opts.shard ? { select: shardSelector(opts.shard) } : {}),
    },
    header,
  );
  for await (const p of projects) {
    // Interrupted: nothing more is reported (the projects read ahead are dropped).
    if (opts.signal?.aborted) break;
    countEntries(counts, p.entries);
    if (p.error) projectErrors.push({ project: p.project, error: p.error });
    let resume: ResumeFile[] | undefined;
    if (journal) {
      resume = [];
      for (const e of p.entries) {
        const step = resumeStep(
          e.action,
          journal.source.get(e.file.project, e.file.filename),
          opts.retryFailed ?? false,
        );
        resumeCounts[step]++;
        if (step !== "as-planned") resume.push({ project: e.file.project, filename: e.file.filename, step });
      }
    }
    opts.onEvent?.({ type: "planned", project: p, ...(resume ? { resume } : {}) });
    // An upload destination keeps each project's listing for a transfer that plan never makes:
    // dropped once the project is planned, or memory would grow with every file listed.
    dst.invalidate?.(p.project);
  }
  return {
    source,
    destination,
    counts,
    projects: header.projects,
    projectErrors,
    filteredProjects: header.filteredProjects,
    warnings: header.warnings,
    problems: header.problems,
    ignored: header.ignored,
    ...(journal
      ? {
          resume: {
            state: journal.state,
            counts: resumeCounts,
            lastRun: journal.source.runs[journal.source.runs.length - 1],
          },
        }
      : {}),
  };
}
