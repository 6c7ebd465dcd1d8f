/**
 * The plan: what each source file needs, decided from the destination's index before anything is
 * sent (DESIGN.md practice 6). Same filename + same sha256 → skip; same filename + other sha256 →
 * conflict (never overwritten); absent → copy.
 */
import { errorMessage, isFatal } from "./errors.js";
import { projectFilter } from "./filter.js";
import type { Destination, DistFile, Source } from "./model.js";
import { sha256Of } from "./model.js";
import { checkSafeFilename, parseFilename } from "./names.js";
import { mapLimit } from "./pool.js";

export type PlanAction = "copy" | "skip" | "conflict" | "filtered" | "invalid";

export interface PlanEntry {
  file: DistFile;
  action: PlanAction;
  reason: string;
  destination?: DistFile | undefined;
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
  filteredProjects: { project: string; reason: string }[];
}

export interface PlanOptions {
  include?: readonly string[];
  exclude?: readonly string[];
  /** How many projects are listed at once. */
  listConcurrency?: number;
  /** Keep only projects this returns true for (sharding). */
  select?: (project: string) => boolean;
  onProject?: (p: ProjectPlan) => void;
}

/** Decides one file against the destination listing. */
export function decide(file: DistFile, dest: Map<string, DistFile>): PlanEntry {
  const filtered = file.notes?.["filtered"];
  if (filtered) return { file, action: "filtered", reason: filtered };
  try {
    checkSafeFilename(file.filename);
  } catch (err) {
    return { file, action: "invalid", reason: errorMessage(err) };
  }
  const parsed = parseFilename(file.filename);
  if (!parsed)
    return { file, action: "invalid", reason: `${file.filename} is not a wheel or sdist filename` };
  if (parsed.project !== file.project) {
    return {
      file,
      action: "invalid",
      reason: `${file.filename} is listed under project "${file.project}" but its name says "${parsed.project}"`,
    };
  }
  const there = dest.get(file.filename);
  if (!there) return { file, action: "copy", reason: "not at the destination" };
  const want = sha256Of(file);
  const have = sha256Of(there);
  if (want && have) {
    return want === have
      ? {
          file,
          action: "skip",
          reason: "already at the destination with the same sha256",
          destination: there,
        }
      : {
          file,
          action: "conflict",
          reason: `the destination has ${file.filename} with another sha256 (${have.slice(0, 12)}… ≠ ${want.slice(0, 12)}…); left alone`,
          destination: there,
        };
  }
  // Without both digests the bytes must be compared after download; the engine does that.
  return {
    file,
    action: "copy",
    reason: "at the destination but without a sha256 to compare",
    destination: there,
  };
}

export async function makePlan(
  source: Source,
  destination: Destination,
  opts: PlanOptions = {},
): Promise<Plan> {
  const filter = projectFilter(opts.include ?? [], opts.exclude ?? []);
  const all = await source.listProjects();
  const filteredProjects: Plan["filteredProjects"] = [];
  const kept: string[] = [];
  for (const p of all) {
    if (opts.select && !opts.select(p)) continue;
    const why = filter(p);
    if (why) filteredProjects.push({ project: p, reason: why });
    else kept.push(p);
  }
  const projects = await mapLimit(kept, opts.listConcurrency ?? 16, async (project) => {
    let plan: ProjectPlan;
    try {
      const [files, dest] = await Promise.all([source.listFiles(project), destination.listFiles(project)]);
      plan = { project, entries: files.map((f) => decide(f, dest)) };
    } catch (err) {
      if (isFatal(err)) throw err;
      plan = { project, entries: [], error: errorMessage(err) };
    }
    opts.onProject?.(plan);
    return plan;
  });
  return { source: source.describe(), destination: destination.describe(), projects, filteredProjects };
}

export function planCounts(plan: Plan): Record<PlanAction, number> & { files: number; bytes: number } {
  const c = { copy: 0, skip: 0, conflict: 0, filtered: 0, invalid: 0, files: 0, bytes: 0 };
  for (const p of plan.projects) {
    for (const e of p.entries) {
      c[e.action]++;
      c.files++;
      if (e.action === "copy") c.bytes += e.file.size ?? 0;
    }
  }
  return c;
}
