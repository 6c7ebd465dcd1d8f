import type { Command } from "commander";
import { errorMessage, isFatal } from "../core/errors.js";
import type { SelectionProblem } from "../core/select/index.js";
import { compareDigests, decisiveDigest, verificationKey, type Verification } from "../core/digests.js";
import { digestStream } from "../core/hash.js";
import type { Destination, Source } from "../core/model.js";
import { checkProjectPages, collapseDuplicates } from "../core/plan.js";
import { mapLimit } from "../core/pool.js";
import { fileJson } from "./list.js";
import { addFromTo, printSelectionNotes, REGISTRY_HELP, selectionRows, type FromToOptions } from "./plan.js";
import type { DistFile } from "../core/model.js";
import { shardSelector } from "../core/shard.js";
import { openRunState, type RunState } from "./report.js";
import {
  addConnectionOptions,
  addSelectionOptions,
  addStateOptions,
  type StateOptions,
  human,
  makeRuntime,
  openFrom,
  openTo,
  endpointJson,
  printJson,
  selectionFrom,
} from "./common.js";

export type VerifyStatus = "ok" | "missing" | "different" | "unverifiable";

interface Checked {
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
  if (!d) return { status: "missing", detail: "not at the destination" };
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

export function registerVerify(program: Command): void {
  const cmd = program
    .command("verify")
    .summary("check that every source file is at the destination with the same bytes")
    .description(
      "Read both indexes and check every source file: it must be at the destination under the same " +
        "filename with the same digest (the strongest both indexes publish: sha512, sha384, sha256, sha1). " +
        "Files the listings cannot decide (no digest, or only md5) are downloaded from the destination " +
        "and hashed; --content does that for every file. Lists each missing or different file. " +
        "Exits 0 only when all are there. With selection options (--include, --platforms, --requirements...), " +
        "exactly the selected files are checked: `pyreg verify --requirements uv.lock` says whether the " +
        "destination serves everything the lock pins.",
    )
    .addHelpText("after", REGISTRY_HELP);
  addStateOptions(addConnectionOptions(addSelectionOptions(addFromTo(cmd)), true), false).action(
    async (opts: FromToOptions & StateOptions) => {
      const selection = await selectionFrom(opts);
      const rt = makeRuntime(opts);
      let state: RunState | undefined;
      try {
        // Opened before the state folder is made: a command that fails validation leaves nothing.
        const src = await openFrom(opts.from, rt);
        const dst = await openTo(opts.to, rt);
        state = openRunState(opts, "verify");
        state.journal.describeRun(src.describe(), dst.describe());
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
        const filteredFiles: (ReturnType<typeof fileJson> & { rule: string; reason: string })[] = [];
        const rows: ({
          file: ReturnType<typeof fileJson>;
          source: DistFile;
        } & Checked)[] = [];
        const errors: { project: string; error: string }[] = [];
        const thrown: unknown[] = [];
        await mapLimit(projects, opts.concurrency, async (project) => {
          try {
            const [listed, there] = await Promise.all([src.listFiles(project), dst.listFiles(project)]);
            const { files: unique, problems } = collapseDuplicates(
              listed.filter((f) => !f.notes?.["filtered"]),
            );
            for (const p of problems)
              rows.push({ file: fileJson(p.file), source: p.file, status: "unverifiable", detail: p.reason });
            // Exactly the selected files are checked; the others are listed as left out, with their rule.
            const chosen = selection.files(project, unique);
            selectionProblems.push(...chosen.problems);
            const files = unique.filter((f) => {
              const out = chosen.filtered.get(f);
              if (out) filteredFiles.push({ ...fileJson(f), ...out });
              return !out;
            });
            await mapLimit(files, 4, async (f) => {
              const r = yankChecked(
                f,
                there.get(f.filename),
                await checkOne(src, dst, f, there.get(f.filename), content),
              );
              rows.push({ file: fileJson(f), source: f, ...r });
            });
          } catch (err) {
            if (isFatal(err)) throw err;
            thrown.push(err);
            errors.push({ project, error: errorMessage(err) });
          }
        });
        await checkProjectPages(src, thrown, projects.length);
        state.journal.recordProjects(errors);
        rows.sort((a, b) => String(a.file["filename"]).localeCompare(String(b.file["filename"])));
        filteredFiles.sort((a, b) => String(a["filename"]).localeCompare(String(b["filename"])));
        const notes = { warnings: selection.warnings(), problems: selectionProblems };
        printSelectionNotes(notes);
        const bad = rows.filter((r) => r.status !== "ok");
        for (const r of bad)
          human(opts, `${r.status.padEnd(12)} ${String(r.file["filename"])}  (${r.detail})`);
        for (const e of errors) human(opts, `error        project ${e.project}: ${e.error}`);
        human(
          opts,
          `verify: ${rows.length - bad.length} of ${rows.length} files at the destination with the same bytes` +
            (bad.length
              ? `; ${bad.filter((r) => r.status === "missing").length} missing, ${bad.filter((r) => r.status === "different").length} different, ${bad.filter((r) => r.status === "unverifiable").length} unverifiable`
              : "") +
            (errors.length ? `; ${errors.length} projects could not be read` : "") +
            (filteredFiles.length || filteredProjects.length
              ? `; left out by the selection: ${filteredFiles.length} files, ${filteredProjects.length} projects`
              : "") +
            (selectionProblems.length ? `; ${selectionProblems.length} pinned file problems` : ""),
        );
        if (opts.json) {
          printJson("verify", {
            source: endpointJson(src),
            destination: endpointJson(dst),
            ok: bad.length === 0 && errors.length === 0 && selectionProblems.length === 0,
            counts: {
              files: rows.length,
              ok: rows.length - bad.length,
              missing: bad.filter((r) => r.status === "missing").length,
              different: bad.filter((r) => r.status === "different").length,
              unverifiable: bad.filter((r) => r.status === "unverifiable").length,
            },
            problems: bad.map((r) => ({ ...r.file, status: r.status, detail: r.detail })),
            verifiedBy: Object.fromEntries(
              [...new Set(rows.map((r) => verificationKey(r.verification)).filter((k) => k !== null))].map(
                (k) => [k, rows.filter((r) => verificationKey(r.verification) === k).length],
              ),
            ),
            errors,
            filtered: filteredFiles,
            filteredProjects,
            warnings: notes.warnings,
            selectionProblems,
          });
        }
        state.journal.recordChecks(
          rows.map((r) => ({
            project: r.source.project,
            filename: r.source.filename,
            version: r.source.version,
            status: r.status,
            detail: r.detail,
            verification: verificationKey(r.verification),
          })),
        );
        state.journal.recordSelection([
          ...selectionRows({ ...notes, filteredProjects }),
          ...filteredFiles.map((f) => ({
            kind: "filtered-file" as const,
            project: String(f["project"]),
            filename: String(f["filename"]),
            text: f.reason,
          })),
        ]);
        const failed = bad.length || errors.length || selectionProblems.length;
        const reportPath = state.finish(failed ? "failed" : "done", undefined, {
          files: rows.length,
          ok: rows.length - bad.length,
          problems: bad.length,
          projectErrors: errors.length,
          selectionProblems: selectionProblems.length,
          filtered: filteredFiles.length,
        });
        rt.log(`report: ${reportPath} (and report.json)`);
        process.exitCode = failed ? 1 : 0;
      } catch (err) {
        if (state) {
          try {
            state.finish("failed", errorMessage(err), {});
          } catch {
            // The error itself matters more than the report.
          }
        }
        throw err;
      } finally {
        state?.close();
        await rt.close();
      }
    },
  );
}
