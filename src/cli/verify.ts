import type { Command } from "commander";
import { errorMessage, isFatal } from "../core/errors.js";
import { projectFilter } from "../core/filter.js";
import { sha256Of } from "../core/model.js";
import { mapLimit } from "../core/pool.js";
import { fileJson } from "./list.js";
import { addFromTo, REGISTRY_HELP, type FromToOptions } from "./plan.js";
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
  printJson,
} from "./common.js";

export type VerifyStatus = "ok" | "missing" | "different" | "unverifiable";

export function registerVerify(program: Command): void {
  const cmd = program
    .command("verify")
    .summary("check that every source file is at the destination with the same sha256")
    .description(
      "Read both indexes and check every source file: it must be at the destination under the same " +
        "filename with the same sha256. Lists each missing or different file. Exits 0 only when all are.",
    )
    .addHelpText("after", REGISTRY_HELP);
  addStateOptions(addConnectionOptions(addSelectionOptions(addFromTo(cmd)), true), false).action(
    async (opts: FromToOptions & StateOptions) => {
      const rt = makeRuntime(opts);
      let state: RunState | undefined;
      try {
        state = openRunState(opts, "verify");
        const src = await openFrom(opts.from, rt);
        const dst = await openTo(opts.to, rt);
        state.journal.describeRun(src.describe(), dst.describe());
        const filter = projectFilter(opts.include, opts.exclude);
        const inShard = opts.shard ? shardSelector(opts.shard) : () => true;
        const projects = (await src.listProjects()).filter((p) => inShard(p) && !filter(p)).sort();
        const rows: {
          file: ReturnType<typeof fileJson>;
          source: DistFile;
          status: VerifyStatus;
          detail: string;
        }[] = [];
        const errors: { project: string; error: string }[] = [];
        await mapLimit(projects, opts.concurrency, async (project) => {
          try {
            const [files, there] = await Promise.all([src.listFiles(project), dst.listFiles(project)]);
            for (const f of files) {
              if (f.notes?.["filtered"]) continue;
              const d = there.get(f.filename);
              const want = sha256Of(f);
              const have = d ? sha256Of(d) : undefined;
              let status: VerifyStatus = "ok";
              let detail = "";
              if (!d) {
                status = "missing";
                detail = "not at the destination";
              } else if (!want || !have) {
                status = "unverifiable";
                detail = !want ? "the source publishes no sha256" : "the destination publishes no sha256";
              } else if (want !== have) {
                status = "different";
                detail = `destination sha256 ${have} ≠ source ${want}`;
              }
              rows.push({ file: fileJson(f), source: f, status, detail });
            }
          } catch (err) {
            if (isFatal(err)) throw err;
            errors.push({ project, error: errorMessage(err) });
          }
        });
        rows.sort((a, b) => String(a.file["filename"]).localeCompare(String(b.file["filename"])));
        const bad = rows.filter((r) => r.status !== "ok");
        for (const r of bad)
          human(opts, `${r.status.padEnd(12)} ${String(r.file["filename"])}  (${r.detail})`);
        for (const e of errors) human(opts, `error        project ${e.project}: ${e.error}`);
        human(
          opts,
          `verify: ${rows.length - bad.length} of ${rows.length} files at the destination with the same sha256` +
            (bad.length
              ? `; ${bad.filter((r) => r.status === "missing").length} missing, ${bad.filter((r) => r.status === "different").length} different, ${bad.filter((r) => r.status === "unverifiable").length} unverifiable`
              : "") +
            (errors.length ? `; ${errors.length} projects could not be read` : ""),
        );
        if (opts.json) {
          printJson({
            source: src.describe(),
            destination: dst.describe(),
            ok: bad.length === 0 && errors.length === 0,
            counts: {
              files: rows.length,
              ok: rows.length - bad.length,
              missing: bad.filter((r) => r.status === "missing").length,
              different: bad.filter((r) => r.status === "different").length,
              unverifiable: bad.filter((r) => r.status === "unverifiable").length,
            },
            problems: bad.map((r) => ({ ...r.file, status: r.status, detail: r.detail })),
            errors,
          });
        }
        state.journal.recordChecks(
          rows.map((r) => ({
            project: r.source.project,
            filename: r.source.filename,
            version: r.source.version,
            status: r.status,
            detail: r.detail,
          })),
        );
        const reportPath = state.finish(bad.length || errors.length ? "failed" : "done", undefined, {
          files: rows.length,
          ok: rows.length - bad.length,
          problems: bad.length,
          projectErrors: errors.length,
        });
        rt.log(`report: ${reportPath} (and report.json)`);
        process.exitCode = bad.length || errors.length ? 1 : 0;
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
