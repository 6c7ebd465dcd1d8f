/**
 * verify as a use-case: every selected source file must be at the destination with the same bytes
 * (compared by the listings' strongest shared digest, or by reading the file back). verify creates
 * nothing: the run and its checks are recorded in the journal of its source/destination pair when
 * one is there (migrate's state folder), and a report is written elsewhere only where --report says.
 */
import { errorMessage, isFatal, PyregError } from "../errors.js";
import type { SelectionProblem, Selection } from "../select/index.js";
import { compareDigests, decisiveDigest, verificationKey, type Verification } from "../digests.js";
import { digestStream } from "../hash.js";
import { refusedFormat } from "../formats.js";
import type { Destination, DistFile, Source } from "../model.js";
import { parseFilename } from "../names.js";
import { checkProjectPages, collapseDuplicates } from "../plan.js";
import type { CheckRow, SelectionRow } from "../journal.js";
import { mapLimit, Pool } from "../pool.js";
import { shardSelector } from "../shard.js";
import { Spool } from "../spool.js";
import type { RunControl } from "./events.js";
import { selectionRows } from "./migrate.js";
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
import { openVerifyState, type RunState } from "./state.js";

export type VerifyStatus = "ok" | "missing" | "different" | "unverifiable";

export interface Checked {
  status: VerifyStatus;
  detail: string;
  verification?: Verification | undefined;
}

/**
 * One file: its listing at the destination is compared with the source's (the strongest digest
 * both publish); where that cannot decide (no shared digest stronger than md5), or with
 * --content, the file is downloaded from the destination and hashed; the source's bytes are read
 * too when the source publishes no decisive digest.
 */
async function checkOne(
  src: Source,
  dst: Destination,
  f: DistFile,
  d: DistFile | undefined,
  content: boolean,
): Promise<Checked> {
  if (!d) {
    // A format the destination kind does not take is missing for that reason (migrate did not send it).
    const parsed = parseFilename(f.filename);
    const refused = parsed ? refusedFormat(dst.kind, parsed) : undefined;
    return {
      status: "missing",
      detail: refused ? `not at the destination: ${refused}` : "not at the destination",
    };
  }
  const c = compareDigests(f.hashes, d.hashes);
  if (c.result === "different")
    return {
      status: "different",
      detail: `destination ${c.digest} ${c.have} ≠ source ${c.want}`,
      verification: { by: "index", digest: c.digest },
    };
  if (c.result === "same" && !content)
    return { status: "ok", detail: "", verification: { by: "index", digest: c.digest } };
  if (!dst.open)
    return {
      status: "unverifiable",
      detail: "no digest in common with the source, and this destination cannot be read back",
    };
  try {
    const theirs = decisiveDigest(f.hashes);
    const names = theirs ? [theirs.name] : ["sha256"];
    const have = await digestStream(await dst.open(d), names);
    // Without a decisive digest from the source, its own bytes are the reference.
    const want = theirs ? f.hashes : await digestStream(await src.open(f), names);
    const cc = compareDigests(want, have);
    if (cc.result === "same")
      return { status: "ok", detail: "", verification: { by: "content", digest: cc.digest } };
    if (cc.result === "different")
      return {
        status: "different",
        detail: `the destination serves bytes with ${cc.digest} ${cc.have} ≠ source ${cc.want}`,
        verification: { by: "content", digest: cc.digest },
      };
    return { status: "unverifiable", detail: "no digest could be computed" };
  } catch (err) {
    if (isFatal(err)) throw err;
    return { status: "unverifiable", detail: `could not read the file to check it: ${errorMessage(err)}` };
  }
}

/** PEP 592: the same bytes, yanked at one end and installable at the other, are not the same file. */
function yankChecked(f: DistFile, d: DistFile | undefined, r: Checked): Checked {
  if (r.status !== "ok" || !d || Boolean(f.yanked) === Boolean(d.yanked)) return r;
  return {
    ...r,
    status: "different",
    detail: f.yanked
      ? `yanked at the source${f.yanked === true ? "" : ` (${f.yanked})`}, not at the destination`
      : "yanked at the destination, not at the source",
  };
}

export interface VerifyOptions extends RunOptions, StateOptions, RunControl {
  /** The selection rules (default: built from the selection options). */
  selection?: Selection | undefined;
  /** The command line recorded in the journal (redacted). */
  argv?: readonly string[] | undefined;
  /** Called before a report is built. */
  beforeReport?: (() => void) | undefined;
  /** An already opened runtime (the CLI's); default: one opened from these options, closed at the end. */
  runtime?: Runtime | undefined;
}

export interface VerifyCounts {
  /** Files checked. */
  files: number;
  ok: number;
  missing: number;
  different: number;
  unverifiable: number;
  /** Source files the selection left out (not checked; each given as a `filtered` event). */
  filtered: number;
}

/**
 * What verify found, in counts and short lists: each file's result is given as a `checked` event
 * while the run goes on (and recorded in the journal when there is one), never held until the end,
 * so that memory does not grow with the number of files.
 */
export interface VerifyData {
  source: { kind: string; description: string };
  destination: { kind: string; description: string };
  counts: VerifyCounts;
  /** Files compared, by how ("index:sha256": the listings' sha256, "content:sha256": the bytes read back...). */
  verifiedBy: Record<string, number>;
  /** Projects that could not be listed at the source or the destination. */
  errors: { project: string; error: string }[];
  filteredProjects: { project: string; reason: string; rule: string }[];
  warnings: string[];
  selectionProblems: SelectionProblem[];
  /** The Markdown report written (report.md in the state folder, or --report's), if any. */
  report?: string | undefined;
  /** The state folder whose journal recorded this check (none when its pair has no journal). */
  recordedIn?: string | undefined;
}

/** Checks the selected source files at the destination; resolves with a tagged result. */
export async function verify(
  from: string,
  to: string,
  opts: WithDefaults<VerifyOptions> = {},
): Promise<Tagged<VerifyData>> {
  return tagged(() => run({ ...withDefaults<VerifyOptions>(opts), from, to }));
}

/** One project's results, held until its turn comes (projects are handed out in order). */
interface ProjectCheck {
  project: string;
  /** Sorted by filename. */
  checked: { file: DistFile; result: Checked }[];
  /** Sorted by filename. */
  filtered: { file: DistFile; rule: string; reason: string }[];
  problems: SelectionProblem[];
  /** Set when the project could not be listed at the source or the destination. */
  error?: { thrown: unknown } | undefined;
}

/** How many projects are checked ahead of the one whose results are being given out. */
const READ_AHEAD = 4;
/**
 * The first projects are all checked before any result is given: when most of them have no page,
 * the source URL is not the index (checkProjectPages), and nothing should have been printed.
 */
const FIRST_CHECK = 20;
/** Results recorded in the journal a batch at a time (one transaction each). */
const CHECK_BATCH = 1000;

const byFilename = (a: { file: DistFile }, b: { file: DistFile }): number =>
  a.file.filename.localeCompare(b.file.filename);

async function run(opts: VerifyOptions & { from: string; to: string }): Promise<Tagged<VerifyData>> {
  const selection = opts.selection ?? (await selectionFrom(opts));
  const rt = opts.runtime ?? openRuntime(opts, (e) => opts.onEvent?.(e));
  let state: RunState | undefined;
  /** Checks not recorded in the journal yet. */
  let pending: Omit<CheckRow, "runId">[] = [];
  const recordPending = (): void => {
    if (pending.length) state?.journal.recordChecks(pending);
    pending = [];
  };
  /** Set once an interruption is decided: the checks still in flight are neither given nor recorded. */
  let stopped = false;
  /** The files the selection left out, for the journal's selection notes (written at the end). */
  const leftOut = new Spool<Omit<SelectionRow, "runId">>();
  try {
    // Opened before the state folder is made: a run that fails validation leaves nothing behind.
    const { src, dst } = await untilAborted(
      (async () => ({ src: await openFrom(opts.from, rt), dst: await openTo(opts.to, rt) }))(),
      opts.signal,
      rt,
    );
    // verify starts no state folder: it records into its pair's journal when there is one.
    state = openVerifyState(opts);
    const st = state;
    st?.journal.describeRun(src.describe(), dst.describe());
    const counts: VerifyCounts = { files: 0, ok: 0, missing: 0, different: 0, unverifiable: 0, filtered: 0 };
    const verifiedBy: Record<string, number> = {};
    const errors: VerifyData["errors"] = [];
    const filteredProjects: VerifyData["filteredProjects"] = [];
    const selectionProblems: SelectionProblem[] = [];

    /** One project's results: counted, given as events, recorded (in the order projects are listed). */
    const give = (p: ProjectCheck): void => {
      if (stopped) return;
      if (p.error) {
        errors.push({ project: p.project, error: errorMessage(p.error.thrown) });
        return;
      }
      selectionProblems.push(...p.problems);
      for (const f of p.filtered) {
        counts.filtered++;
        if (st)
          leftOut.push({
            kind: "filtered-file",
            project: f.file.project,
            filename: f.file.filename,
            text: f.reason,
          });
        opts.onEvent?.({ type: "filtered", file: f.file, rule: f.rule, reason: f.reason });
      }
      for (const { file, result } of p.checked) {
        counts.files++;
        counts[result.status]++;
        const key = verificationKey(result.verification);
        if (key) verifiedBy[key] = (verifiedBy[key] ?? 0) + 1;
        if (st) {
          pending.push({
            project: file.project,
            filename: file.filename,
            version: file.version,
            status: result.status,
            detail: result.detail,
            verification: key,
          });
        }
        opts.onEvent?.({ type: "checked", file, ...result });
      }
      if (pending.length >= CHECK_BATCH) recordPending();
    };

    await untilAborted(
      (async () => {
        // A destination whose index lists the digest the client sent (GitLab) is always read back.
        const content = opts.content === true || dst.indexEchoesClientDigest === true;
        const inShard = opts.shard ? shardSelector(opts.shard) : () => true;
        const allProjects = await src.listProjects();
        const projects = allProjects
          .filter((p) => {
            if (!inShard(p)) return false;
            const out = selection.project(p);
            if (out) filteredProjects.push({ project: p, ...out });
            return !out;
          })
          .sort();
        selectionProblems.push(...selection.unlistedPins(allProjects, inShard));

        const checkProject = async (project: string): Promise<ProjectCheck> => {
          try {
            const [listed, there] = await Promise.all([src.listFiles(project), dst.listFiles(project)]);
            const { files: unique, problems } = collapseDuplicates(
              listed.filter((f) => !f.notes?.["filtered"]),
            );
            const checked: ProjectCheck["checked"] = problems.map((p) => ({
              file: p.file,
              result: { status: "unverifiable", detail: p.reason },
            }));
            // Exactly the selected files are checked; the others are listed as left out, with their rule.
            const chosen = selection.files(project, unique);
            const filtered: ProjectCheck["filtered"] = [];
            const files = unique.filter((f) => {
              const out = chosen.filtered.get(f);
              if (out) filtered.push({ file: f, ...out });
              return !out;
            });
            checked.push(
              ...(await mapLimit(files, 4, async (f) => {
                const d = there.get(f.filename);
                return { file: f, result: yankChecked(f, d, await checkOne(src, dst, f, d, content)) };
              })),
            );
            return {
              project,
              checked: checked.sort(byFilename),
              filtered: filtered.sort(byFilename),
              problems: chosen.problems,
            };
          } catch (err) {
            if (isFatal(err)) throw err;
            return { project, checked: [], filtered: [], problems: [], error: { thrown: err } };
          } finally {
            // Each project is read once: the destination's cached listing is not kept to the end.
            dst.invalidate?.(project);
          }
        };

        // Projects checked `concurrency` at once and a few more ahead, handed out in order: memory
        // holds a handful of projects' results, whatever the number of files.
        const pool = new Pool(opts.concurrency);
        const ahead: Promise<ProjectCheck>[] = [];
        let next = 0;
        const fill = (until: number): void => {
          while (next < projects.length && ahead.length < until) {
            const project = projects[next++] as string;
            const p = pool.run(() => checkProject(project));
            // Awaited in order below; a rejection is seen there, not reported as unhandled meanwhile.
            p.catch(() => undefined);
            ahead.push(p);
          }
        };
        const thrown = (list: readonly ProjectCheck[]): unknown[] =>
          list.flatMap((p) => (p.error ? [p.error.thrown] : []));
        const failed: ProjectCheck[] = [];
        const window = opts.concurrency + READ_AHEAD;
        const first = Math.min(projects.length, FIRST_CHECK);
        fill(Math.max(window, first));
        if (first >= 2) await checkProjectPages(src, thrown(await Promise.all(ahead.slice(0, first))), first);
        while (ahead.length) {
          const p = await (ahead.shift() as Promise<ProjectCheck>);
          fill(window);
          if (p.error) failed.push(p);
          give(p);
        }
        await checkProjectPages(src, thrown(failed), projects.length);
      })(),
      opts.signal,
      rt,
      undefined,
      () => {
        stopped = true;
      },
    );
    recordPending();
    st?.journal.recordProjects(errors);
    const warnings = selection.warnings();
    for (const w of warnings) opts.onEvent?.({ type: "warning", message: w });
    for (const p of selectionProblems) opts.onEvent?.({ type: "problem", message: p.reason });
    st?.journal.recordSelection(
      (function* () {
        yield* selectionRows({ warnings, problems: selectionProblems, filteredProjects });
        yield* leftOut.items();
      })(),
    );
    const bad = counts.files - counts.ok;
    const failed = bad || errors.length || selectionProblems.length;
    const reportPath = st?.finish(failed ? "failed" : "done", undefined, {
      files: counts.files,
      ok: counts.ok,
      problems: bad,
      projectErrors: errors.length,
      selectionProblems: selectionProblems.length,
      filtered: counts.filtered,
    });
    return {
      status: failed ? "incomplete" : "ok",
      source: { kind: src.kind, description: src.describe() },
      destination: { kind: dst.kind, description: dst.describe() },
      counts,
      verifiedBy,
      errors,
      filteredProjects,
      warnings,
      selectionProblems,
      report: reportPath,
      recordedIn: st?.kept ? st.dir : undefined,
    };
  } catch (err) {
    if (state) {
      try {
        // The files checked before the run stopped are in the journal, and so in its report.
        recordPending();
        const interrupted = err instanceof PyregError && err.code === "INTERRUPTED";
        state.finish(interrupted ? "interrupted" : "failed", errorMessage(err), {});
      } catch {
        // The error itself matters more than the report.
      }
    }
    throw err;
  } finally {
    stopped = true;
    leftOut.close();
    state?.close();
    if (!opts.runtime) await rt.close();
  }
}
