/**
 * The plan: what each source file needs, decided from the destination's index before anything is
 * sent. Same filename + same digest → skip; same filename + other digest →
 * conflict (never overwritten); absent → copy. Digests are compared as src/core/digests.ts says.
 */
import { errorMessage, isFatal, PyregError } from "./errors.js";
import { compareDigests, decisiveDigest } from "./digests.js";
import { rulesFrom, Selection, type SelectionProblem } from "./select/index.js";
import type { Destination, DistFile, Source } from "./model.js";
import { refusedFormat } from "./formats.js";
import { checkSafeFilename, legacyFormatReason, parseFilename } from "./names.js";
import { Pool } from "./pool.js";

/**
 * unsupported: a format the destination kind is known to refuse (src/core/formats.ts), not sent;
 * like invalid, it ends as a failed file (exit 1) with the reason.
 */
export type PlanAction = "copy" | "skip" | "conflict" | "filtered" | "invalid" | "unsupported";

export interface PlanEntry {
  file: DistFile;
  action: PlanAction;
  reason: string;
  /** The selection rule that left the file out (action "filtered" by a rule). */
  rule?: string | undefined;
  destination?: DistFile | undefined;
  /** For "invalid": the failure code recorded (default BAD_FILENAME). */
  code?: "BAD_FILENAME" | "DUPLICATE_LISTING" | undefined;
}

export interface ProjectPlan {
  project: string;
  entries: PlanEntry[];
  /** Set when the project could not be listed at the source or destination. */
  error?: string | undefined;
}

export interface Plan {
  source: string;
  destination: string;
  projects: ProjectPlan[];
  filteredProjects: { project: string; reason: string; rule?: string | undefined }[];
  /** Selection rules that matched nothing, and files left out for want of a fact. */
  warnings: string[];
  /** Pinned files (--requirements) missing at the source or with another sha256. */
  problems: SelectionProblem[];
  /** Files the source holds that are not copied, with why (e.g. a README in a folder). */
  ignored?: { name: string; reason: string }[];
  /** Projects left out because nothing changed since a run completed them (see rerun.ts). */
  unchanged?: { projects: number; files: number };
}

export interface PlanOptions {
  /** The selection rules (see ./select/); without it, only include/exclude globs apply. */
  selection?: Selection;
  include?: readonly string[];
  exclude?: readonly string[];
  /** How many projects are listed at once. */
  listConcurrency?: number;
  /** Keep only projects this returns true for (sharding). */
  select?: (project: string) => boolean;
  onProject?: (p: ProjectPlan) => void;
  /**
   * Re-runs: reads the project's pages and says whether it is unchanged since a run that completed
   * it (its number of files); such a project is not listed or planned (see rerun.ts).
   */
  unchanged?: (project: string) => Promise<number | undefined>;
}

/** Decides one file against the destination listing (and what its kind takes). */
export function decide(file: DistFile, dest: Map<string, DistFile>, destinationKind?: string): PlanEntry {
  const filtered = file.notes?.["filtered"];
  if (filtered) return { file, action: "filtered", reason: filtered };
  try {
    checkSafeFilename(file.filename);
  } catch (err) {
    return { file, action: "invalid", reason: errorMessage(err) };
  }
  const parsed = parseFilename(file.filename);
  if (!parsed)
    return {
      file,
      action: "invalid",
      reason: legacyFormatReason(file.filename) ?? `${file.filename} is not a wheel or sdist filename`,
    };
  if (parsed.project !== file.project) {
    return {
      file,
      action: "invalid",
      reason: `${file.filename} is listed under project "${file.project}" but its name says "${parsed.project}"`,
    };
  }
  const there = dest.get(file.filename);
  const refused = destinationKind !== undefined ? refusedFormat(destinationKind, parsed) : undefined;
  if (refused && !there) return { file, action: "unsupported", reason: refused };
  if (!there) return { file, action: "copy", reason: "not at the destination" };
  const c = compareDigests(file.hashes, there.hashes);
  if (c.result === "same") {
    return {
      file,
      action: "skip",
      reason:
        c.digest === "sha256"
          ? "already at the destination with the same sha256"
          : `already at the destination with the same ${c.digest}`,
      destination: there,
    };
  }
  if (c.result === "different") {
    return {
      file,
      action: "conflict",
      reason: `the destination has ${file.filename} with another ${c.digest} (${c.have.slice(0, 12)}… ≠ ${c.want.slice(0, 12)}…); left alone`,
      destination: there,
    };
  }
  // The listings share no decisive digest: the engine decides from the source's bytes (hashed as
  // they stream with the digest the destination publishes), or from the destination's bytes.
  const theirs = decisiveDigest(there.hashes);
  return {
    file,
    action: "copy",
    reason: theirs
      ? `at the destination with a ${theirs.name} only: compared with the source's bytes once downloaded`
      : "at the destination with no digest stronger than md5: compared with its downloaded bytes",
    destination: there,
  };
}

/**
 * One plan entry per filename. An index may list a filename twice (GitLab's group index read with
 * a deploy token lists one per project holding it): identical listings collapse into one; listings
 * that disagree, or that cannot be told apart, make the file a problem, and nothing is uploaded.
 */
export function collapseDuplicates(files: readonly DistFile[]): {
  files: DistFile[];
  problems: PlanEntry[];
} {
  const byName = new Map<string, DistFile[]>();
  for (const f of files) {
    const list = byName.get(f.filename);
    if (list) list.push(f);
    else byName.set(f.filename, [f]);
  }
  const out: DistFile[] = [];
  const problems: PlanEntry[] = [];
  for (const [filename, list] of byName) {
    const first = list[0] as DistFile;
    if (list.length === 1) {
      out.push(first);
      continue;
    }
    const disagree = list.slice(1).find((f) => {
      if (f.url === first.url) return false;
      return compareDigests(first.hashes, f.hashes).result !== "same";
    });
    if (!disagree) {
      out.push(first);
      continue;
    }
    const c = compareDigests(first.hashes, disagree.hashes);
    problems.push({
      file: first,
      action: "invalid",
      code: "DUPLICATE_LISTING",
      reason:
        c.result === "different"
          ? `the source lists ${filename} ${list.length} times with different ${c.digest} digests (${c.want.slice(0, 12)}… and ${c.have.slice(0, 12)}…); which one is the file cannot be decided, so none is copied`
          : `the source lists ${filename} ${list.length} times at different URLs without a digest that shows they are the same bytes; none is copied`,
    });
  }
  return { files: out, problems };
}

/**
 * When most of the projects a source lists have no page (404), the URL is not the index itself
 * (devpi's /USER/INDEX/ instead of its +simple/, a file listing...): stop before doing anything,
 * with the URL it probably meant, instead of reporting every project as an error.
 */
export async function checkProjectPages(
  source: Source,
  errors: readonly unknown[],
  listed: number,
): Promise<void> {
  const notFound = errors.filter((e) => e instanceof PyregError && e.status === 404).length;
  if (listed < 2 || notFound * 2 <= listed) return;
  const better = await source.suggestIndex?.().catch(() => undefined);
  throw new PyregError(
    "NOT_AN_INDEX",
    `${notFound} of the ${listed} projects ${source.describe()} lists have no page there (404): it is probably not the index itself`,
    {
      hint: better
        ? `did you mean ${better} ?`
        : "give the simple index's own URL (usually …/simple/; devpi: …/USER/INDEX/+simple/ or devpi+https://…/USER/INDEX/)",
    },
  );
}

/**
 * What a plan says besides its projects, filled while the projects are read: the projects and
 * files the selection left out, pin problems, warnings and the source's non-distributions. Lists
 * here grow with the number of projects, never with the number of files.
 */
export interface PlanHeader {
  source: string;
  destination: string;
  filteredProjects: Plan["filteredProjects"];
  problems: SelectionProblem[];
  /** Complete once the projects have all been read. */
  warnings: string[];
  ignored: NonNullable<Plan["ignored"]>;
  unchanged: { projects: number; files: number };
  /** Projects the selection kept (read, or found unchanged). */
  projects: number;
  /** Projects that could not be listed at the source or the destination. */
  projectErrors: number;
}

/** How many project plans are read ahead of the one the caller is given (in the source's order). */
const READ_AHEAD = 4;
/**
 * The first projects are all read before any is handed out: when most of them have no page, the
 * source URL is not the index (checkProjectPages), and nothing should have been printed or done.
 */
const FIRST_CHECK = 20;

/**
 * The plan a project at a time, in the order the source lists projects, with at most
 * `listConcurrency` projects read at once and a few more kept ahead: memory holds a handful of
 * projects, whatever the number of files. `header` is filled as the projects are read (its
 * warnings and ignored files once the last one has been given).
 */
export async function* planProjects(
  source: Source,
  destination: Destination,
  opts: PlanOptions = {},
  header: PlanHeader = emptyHeader(source, destination),
): AsyncGenerator<ProjectPlan> {
  const selection =
    opts.selection ?? new Selection(rulesFrom({ include: opts.include ?? [], exclude: opts.exclude ?? [] }));
  const all = await source.listProjects();
  const kept: string[] = [];
  for (const p of all) {
    if (opts.select && !opts.select(p)) continue;
    const why = selection.project(p);
    if (why) header.filteredProjects.push({ project: p, reason: why.reason, rule: why.rule });
    else kept.push(p);
  }
  header.problems.push(...selection.unlistedPins(all, opts.select));
  header.projects = kept.length;
  const concurrency = opts.listConcurrency ?? 16;
  const listing = new Pool(concurrency);
  /** Listing errors, by the project's place in `kept`. */
  const errors: { at: number; err: unknown }[] = [];
  const one = async (project: string, at: number): Promise<ProjectPlan | undefined> => {
    let plan: ProjectPlan;
    const same = await opts.unchanged?.(project);
    if (same !== undefined) {
      header.unchanged.projects++;
      header.unchanged.files += same;
      return undefined;
    }
    try {
      const [files, dest] = await Promise.all([source.listFiles(project), destination.listFiles(project)]);
      plan = planProject(project, files, dest, selection, destination.kind, header.problems);
    } catch (err) {
      if (isFatal(err)) throw err;
      errors.push({ at, err });
      header.projectErrors++;
      plan = { project, entries: [], error: errorMessage(err) };
    }
    opts.onProject?.(plan);
    return plan;
  };
  const ahead: Promise<ProjectPlan | undefined>[] = [];
  let next = 0;
  const fill = (until: number): void => {
    while (next < kept.length && ahead.length < until) {
      const at = next++;
      const project = kept[at] as string;
      const p = listing.run(() => one(project, at));
      // Awaited in order below; a rejection seen there, not reported as unhandled meanwhile.
      p.catch(() => undefined);
      ahead.push(p);
    }
  };
  const window = concurrency + READ_AHEAD;
  const first = Math.min(kept.length, FIRST_CHECK);
  fill(Math.max(window, first));
  if (first >= 2) {
    await Promise.all(ahead.slice(0, first));
    await checkProjectPages(
      source,
      errors.filter((e) => e.at < first).map((e) => e.err),
      first,
    );
  }
  while (ahead.length) {
    const plan = await (ahead.shift() as Promise<ProjectPlan | undefined>);
    fill(window);
    if (plan) yield plan;
  }
  await checkProjectPages(
    source,
    errors.map((e) => e.err),
    kept.length,
  );
  header.ignored.push(...((await source.ignored?.()) ?? []));
  header.warnings.push(...selection.warnings());
}

export function emptyHeader(source: Source, destination: Destination): PlanHeader {
  return {
    source: source.describe(),
    destination: destination.describe(),
    filteredProjects: [],
    problems: [],
    warnings: [],
    ignored: [],
    unchanged: { projects: 0, files: 0 },
    projects: 0,
    projectErrors: 0,
  };
}

/** One project's plan from both listings (the selection's file rules, duplicates, then decide). */
export function planProject(
  project: string,
  files: readonly DistFile[],
  dest: Map<string, DistFile>,
  selection: Selection,
  destinationKind: string | undefined,
  problems: SelectionProblem[],
): ProjectPlan {
  const { files: unique, problems: duplicates } = collapseDuplicates(files);
  const chosen = selection.files(project, unique);
  problems.push(...chosen.problems);
  return {
    project,
    entries: [
      ...unique.map((f): PlanEntry => {
        const out = chosen.filtered.get(f);
        return out
          ? { file: f, action: "filtered", reason: out.reason, rule: out.rule }
          : decide(f, dest, destinationKind);
      }),
      ...duplicates,
    ],
  };
}

/**
 * The whole plan in memory (small sources, tests and tools that need every entry at once);
 * commands read it a project at a time with planProjects.
 */
export async function makePlan(
  source: Source,
  destination: Destination,
  opts: PlanOptions = {},
): Promise<Plan> {
  const header = emptyHeader(source, destination);
  const projects: ProjectPlan[] = [];
  for await (const p of planProjects(source, destination, opts, header)) projects.push(p);
  return {
    source: header.source,
    destination: header.destination,
    projects,
    filteredProjects: header.filteredProjects,
    warnings: header.warnings,
    problems: header.problems,
    ignored: header.ignored,
    ...(opts.unchanged ? { unchanged: header.unchanged } : {}),
  };
}

export type PlanCounts = Record<PlanAction, number> & { files: number; bytes: number; unknownSizes: number };

export function emptyPlanCounts(): PlanCounts {
  return {
    copy: 0,
    skip: 0,
    conflict: 0,
    filtered: 0,
    invalid: 0,
    unsupported: 0,
    files: 0,
    bytes: 0,
    unknownSizes: 0,
  };
}

/** Adds one project's entries to the counts. */
export function countEntries(c: PlanCounts, entries: readonly PlanEntry[]): PlanCounts {
  for (const e of entries) {
    c[e.action]++;
    c.files++;
    if (e.action === "copy") c.bytes += e.file.size ?? 0;
    // Files to copy whose size the index does not give: shown as unknown, never as 0 B.
    if (e.action === "copy" && e.file.size === undefined) c.unknownSizes++;
  }
  return c;
}

export function planCounts(plan: Pick<Plan, "projects">): PlanCounts {
  const c = emptyPlanCounts();
  for (const p of plan.projects) countEntries(c, p.entries);
  return c;
}
