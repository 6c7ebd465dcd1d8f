/** list as a use-case: the projects, versions and files of a registry, with the selection applied. */
import { errorMessage, isFatal } from "../errors.js";
import type { DistFile, Source } from "../model.js";
import { checkProjectPages } from "../plan.js";
import { mapLimit } from "../pool.js";
import type { Exclusion, Selection, SelectionProblem } from "../select/index.js";
import type { RunControl } from "./events.js";
import {
  openFrom,
  openRuntime,
  selectionFrom,
  untilAborted,
  withDefaults,
  type RunOptions,
  type WithDefaults,
  type Runtime,
} from "./options.js";
import { tagged, type Tagged } from "./result.js";

export interface ListOptions extends RunOptions, RunControl {
  /** The selection rules (default: built from the selection options). */
  selection?: Selection | undefined;
  /** An already opened runtime (the CLI's); default: one opened from these options, closed at the end. */
  runtime?: Runtime | undefined;
}

export interface ListedProject {
  project: string;
  /** The selected files. */
  files: DistFile[];
  /** The files the selection left out, with the rule and why. */
  filtered: ({ file: DistFile } & Exclusion)[];
}

export interface ListData {
  source: { kind: string; description: string };
  projects: ListedProject[];
  filteredProjects: ({ project: string } & Exclusion)[];
  warnings: string[];
  problems: SelectionProblem[];
  /** Projects that could not be listed. */
  errors: { project: string; error: string }[];
  /** Files at the source that are not distributions (folder sources). */
  ignored: Awaited<ReturnType<NonNullable<Source["ignored"]>>>;
}

/** Lists a registry; "incomplete" when a project could not be listed or a pinned file is a problem. */
export async function list(source: string, opts: WithDefaults<ListOptions> = {}): Promise<Tagged<ListData>> {
  return tagged(() => run({ ...withDefaults<ListOptions>(opts), from: source }));
}

async function run(opts: ListOptions & { from: string }): Promise<Tagged<ListData>> {
  const selection = opts.selection ?? (await selectionFrom(opts));
  const rt = opts.runtime ?? openRuntime(opts, (e) => opts.onEvent?.(e));
  try {
    const work = async (): Promise<Omit<ListData, "source"> & { src: Source }> => {
      const src = await openFrom(opts.from, rt);
      const all = await src.listProjects();
      const filteredProjects: ({ project: string } & Exclusion)[] = [];
      const projects = all
        .filter((p) => {
          const out = selection.project(p);
          if (out) filteredProjects.push({ project: p, ...out });
          return !out;
        })
        .sort();
      const problems: SelectionProblem[] = selection.unlistedPins(all);
      const ignored = (await src.ignored?.()) ?? [];
      const errors: { project: string; error: string }[] = [];
      const thrown: unknown[] = [];
      const listed = await mapLimit(projects, opts.concurrency, async (project): Promise<ListedProject> => {
        try {
          const every = await src.listFiles(project);
          const chosen = selection.files(project, every);
          problems.push(...chosen.problems);
          return {
            project,
            files: every.filter((f) => !chosen.filtered.has(f)),
            filtered: [...chosen.filtered].map(([f, why]) => ({ file: f, ...why })),
          };
        } catch (err) {
          if (isFatal(err)) throw err;
          thrown.push(err);
          errors.push({ project, error: errorMessage(err) });
          return { project, files: [], filtered: [] };
        }
      });
      await checkProjectPages(src, thrown, projects.length);
      return { src, projects: listed, filteredProjects, warnings: [], problems, errors, ignored };
    };
    const {
      src,
      projects: listed,
      filteredProjects,
      problems,
      errors,
      ignored,
    } = await untilAborted(work(), opts.signal, rt);
    return {
      status: errors.length || problems.length ? "incomplete" : "ok",
      source: { kind: src.kind, description: src.describe() },
      projects: listed,
      filteredProjects,
      warnings: selection.warnings(),
      problems,
      errors,
      ignored,
    };
  } finally {
    if (!opts.runtime) await rt.close();
  }
}
