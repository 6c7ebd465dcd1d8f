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
import { mapLimit } from "../pool.js";
import { shardSelector } from "../shard.js";
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

export interface VerifyData {
  source: { kind: string; description: string };
  destination: { kind: string; description: string };
  /** Every checked file, by filename. */
  rows: ({ source: DistFile } & Checked)[];
  /** The rows that are not "ok". */
  bad: ({ source: DistFile } & Checked)[];
  errors: { project: string; error: string }[];
  filteredFiles: { file: DistFile; rule: string; reason: string }[];
  filteredProjects: { project: string; reason: string; rule: string }[];
  warnings: string[];
  selectionProblems: SelectionProblem[];
  counts: { files: number; ok: number; missing: number; different: number; unverifiable: number };
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

async function run(opts: VerifyOptions & { from: string; to: string }): Promise<Tagged<VerifyData>> {
  const selection = opts.selection ?? (await selectionFrom(opts));
  const rt = opts.runtime ?? openRuntime(opts, (e) => opts.onEvent?.(e));
  let state: RunState | undefined;
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
    const { filteredProjects, selectionProblems, filteredFiles, rows, errors } = await untilAborted(
      (async () => {
        // A destination whose index lists the digest the client sent (GitLab) is always read back.
        const content = opts.content === true || dst.indexEchoesClientDigest === true;
        const inShard = opts.shard ? shardSelector(opts.shard) : () => true;
        const allProjects = await src.listProjects();
        const filteredProjects: { project: string; reason: string; rule: string }[] = [];
        const projects = allProjects
          .filter((p) => {
            if (!inShard(p)) return false;
            const out = selection.project(p);
            if (out) filteredProjects.push({ project: p, ...out });
            return !out;
          })
          .sort();
        const selectionProblems: SelectionProblem[] = selection.unlistedPins(new Set(allProjects), inShard);
        const filteredFiles: { file: DistFile; rule: string; reason: string }[] = [];
        const rows: ({ source: DistFile } & Checked)[] = [];
        const errors: { project: string; error: string }[] = [];
        const thrown: unknown[] = [];
        await mapLimit(projects, opts.concurrency, async (project) => {
          try {
            const [listed, there] = await Promise.all([src.listFiles(project), dst.listFiles(project)]);
            const { files: unique, problems } = collapseDuplicates(
              listed.filter((f) => !f.notes?.["filtered"]),
            );
            for (const p of problems) rows.push({ source: p.file, status: "unverifiable", detail: p.reason });
            // Exactly the selected files are checked; the others are listed as left out, with their rule.
            const chosen = selection.files(project, unique);
            selectionProblems.push(...chosen.problems);
            const files = unique.filter((f) => {
              const out = chosen.filtered.get(f);
              if (out) filteredFiles.push({ file: f, ...out });
              return !out;
            });
            await mapLimit(files, 4, async (f) => {
              const r = yankChecked(
                f,
                there.get(f.filename),
                await checkOne(src, dst, f, there.get(f.filename), content),
              );
              rows.push({ source: f, ...r });
            });
          } catch (err) {
            if (isFatal(err)) throw err;
            thrown.push(err);
            errors.push({ project, error: errorMessage(err) });
          }
        });
        await checkProjectPages(src, thrown, projects.length);
        st?.journal.recordProjects(errors);
        return { filteredProjects, selectionProblems, filteredFiles, rows, errors };
      })(),
      opts.signal,
      rt,
    );
    rows.sort((a, b) => a.source.filename.localeCompare(b.source.filename));
    filteredFiles.sort((a, b) => a.file.filename.localeCompare(b.file.filename));
    const warnings = selection.warnings();
    for (const w of warnings) opts.onEvent?.({ type: "warning", message: w });
    for (const p of selectionProblems) opts.onEvent?.({ type: "problem", message: p.reason });
    const bad = rows.filter((r) => r.status !== "ok");
    state?.journal.recordChecks(
      rows.map((r) => ({
        project: r.source.project,
        filename: r.source.filename,
        version: r.source.version,
        status: r.status,
        detail: r.detail,
        verification: verificationKey(r.verification),
      })),
    );
    state?.journal.recordSelection([
      ...selectionRows({ warnings, problems: selectionProblems, filteredProjects }),
      ...filteredFiles.map((f) => ({
        kind: "filtered-file" as const,
        project: f.file.project,
        filename: f.file.filename,
        text: f.reason,
      })),
    ]);
    const failed = bad.length || errors.length || selectionProblems.length;
    const reportPath = state?.finish(failed ? "failed" : "done", undefined, {
      files: rows.length,
      ok: rows.length - bad.length,
      problems: bad.length,
      projectErrors: errors.length,
      selectionProblems: selectionProblems.length,
      filtered: filteredFiles.length,
    });
    return {
      status: failed ? "incomplete" : "ok",
      source: { kind: src.kind, description: src.describe() },
      destination: { kind: dst.kind, description: dst.describe() },
      rows,
      bad,
      errors,
      filteredFiles,
      filteredProjects,
      warnings,
      selectionProblems,
      counts: {
        files: rows.length,
        ok: rows.length - bad.length,
        missing: bad.filter((r) => r.status === "missing").length,
        different: bad.filter((r) => r.status === "different").length,
        unverifiable: bad.filter((r) => r.status === "unverifiable").length,
      },
      report: reportPath,
      recordedIn: state?.kept ? state.dir : undefined,
    };
  } catch (err) {
    if (state) {
      try {
        const interrupted = err instanceof PyregError && err.code === "INTERRUPTED";
        state.finish(interrupted ? "interrupted" : "failed", errorMessage(err), {});
      } catch {
        // The error itself matters more than the report.
      }
    }
    throw err;
  } finally {
    state?.close();
    if (!opts.runtime) await rt.close();
  }
}
