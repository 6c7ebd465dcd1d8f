import type { Command } from "commander";
import { errorMessage, isFatal } from "../core/errors.js";
import { projectFilter } from "../core/filter.js";
import { sha256Of } from "../core/model.js";
import { mapLimit } from "../core/pool.js";
import { fileJson } from "./list.js";
import { addFromTo, REGISTRY_HELP, type FromToOptions } from "./plan.js";
import {
  addConnectionOptions,
  addSelectionOptions,
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
  addConnectionOptions(addSelectionOptions(addFromTo(cmd)), true).action(async (opts: FromToOptions) => {
    const rt = makeRuntime(opts);
    try {
      const src = await openFrom(opts.from, rt);
      const dst = await openTo(opts.to, rt);
      const filter = projectFilter(opts.include, opts.exclude);
      const projects = (await src.listProjects()).filter((p) => !filter(p)).sort();
      const rows: { file: ReturnType<typeof fileJson>; status: VerifyStatus; detail: string }[] = [];
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
            rows.push({ file: fileJson(f), status, detail });
          }
        } catch (err) {
          if (isFatal(err)) throw err;
          errors.push({ project, error: errorMessage(err) });
        }
      });
      rows.sort((a, b) => String(a.file["filename"]).localeCompare(String(b.file["filename"])));
      const bad = rows.filter((r) => r.status !== "ok");
      for (const r of bad) human(opts, `${r.status.padEnd(12)} ${String(r.file["filename"])}  (${r.detail})`);
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
      process.exitCode = bad.length || errors.length ? 1 : 0;
    } finally {
      await rt.close();
    }
  });
}
