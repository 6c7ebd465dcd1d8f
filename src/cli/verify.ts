import type { Command } from "commander";
import { PyregError } from "../core/errors.js";
import type { Tagged } from "../core/usecases/result.js";
import { verify, type VerifyData } from "../core/usecases/verify.js";
import { redactText } from "../http/redact.js";
import { Streamed } from "../core/jsonPieces.js";
import { Spool } from "../core/spool.js";
import { plural } from "../core/units.js";
import { preferBoundedHeap } from "./gc.js";
import { fileJson } from "./list.js";
import { finish } from "./outcome.js";
import { addFromTo, REGISTRY_HELP, type FromToOptions } from "./plan.js";
import { recordedArgv } from "./report.js";
import {
  addConnectionOptions,
  addSelectionOptions,
  addStateOptions,
  human,
  makeRuntime,
  printJsonStream,
  renderRuntimeEvent,
  selectionFrom,
  type StateOptions,
} from "./common.js";

export type { VerifyStatus } from "../core/usecases/verify.js";

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
        "destination serves everything the lock pins. verify creates nothing: it records its check in the " +
        "journal of its source/destination pair when migrate left one (--state, or migrate's default folder) " +
        "and writes that folder's report again; otherwise only --report PATH writes a report.",
    )
    .addHelpText("after", REGISTRY_HELP);
  addStateOptions(addConnectionOptions(addSelectionOptions(addFromTo(cmd)), true), false).action(
    async (opts: FromToOptions & StateOptions) => {
      if (opts.resetState)
        process.stderr.write("note: verify starts no state folder: --reset-state not done\n");
      // Without --content, verify reads index pages only: what it makes is short-lived (see
      // src/cli/gc.ts; with the young generation let grow and no bound on the old one, verify of
      // 100,000 files peaked at 269 MiB RSS instead of 118).
      if (!opts.content) preferBoundedHeap();
      const selection = await selectionFrom(opts);
      const rt = makeRuntime(opts);
      // Each file not found the same is printed as soon as its project is checked (projects in
      // order, files by name); with --json, those files and the ones left out by the selection
      // are kept on disk (a Spool) until the document is written, so memory does not grow with
      // the number of files.
      const notVerified = new Spool<Record<string, unknown>>();
      const filteredFiles = new Spool<Record<string, unknown>>();
      try {
        let result: Tagged<VerifyData>;
        try {
          result = await verify(opts.from, opts.to, {
            ...opts,
            selection,
            runtime: rt,
            argv: recordedArgv(),
            beforeReport: preferBoundedHeap,
            onEvent: (e) => {
              if (e.type === "checked") {
                if (e.status === "ok") return;
                human(opts, `${e.status.padEnd(12)} ${e.file.filename}  (${e.detail})`);
                if (opts.json) notVerified.push({ ...fileJson(e.file), status: e.status, detail: e.detail });
              } else if (e.type === "filtered") {
                if (opts.json) filteredFiles.push({ ...fileJson(e.file), rule: e.rule, reason: e.reason });
              } else if (e.type === "problem")
                process.stderr.write(redactText(`problem: ${e.message}`) + "\n");
              else renderRuntimeEvent(opts, e);
            },
          });
        } finally {
          await rt.close();
        }
        if (result.status === "error") throw result.error;
        if (result.status === "interrupted") throw new PyregError("INTERRUPTED", result.message);
        const { counts, errors, filteredProjects, selectionProblems } = result;
        const bad = counts.files - counts.ok;
        for (const e of errors)
          process.stderr.write(
            redactText(`failed: project ${e.project} could not be listed: ${e.error}`) + "\n",
          );
        human(
          opts,
          `verify: ${counts.ok} of ${plural(counts.files, "file")} at the destination with the same bytes` +
            (bad
              ? `; ${counts.missing} missing, ${counts.different} different, ${counts.unverifiable} unverifiable`
              : "") +
            (errors.length ? `; ${plural(errors.length, "project")} could not be listed` : "") +
            (counts.filtered || filteredProjects.length
              ? `; left out by the selection: ${plural(counts.filtered, "file")}, ${plural(filteredProjects.length, "project")}`
              : "") +
            (selectionProblems.length ? `; ${plural(selectionProblems.length, "pinned file problem")}` : ""),
        );
        if (opts.json) {
          await printJsonStream("verify", {
            source: result.source,
            destination: result.destination,
            ok: bad === 0 && errors.length === 0 && selectionProblems.length === 0,
            counts: {
              files: counts.files,
              ok: counts.ok,
              missing: counts.missing,
              different: counts.different,
              unverifiable: counts.unverifiable,
            },
            notVerified: new Streamed(() => notVerified.items()),
            verifiedBy: result.verifiedBy,
            projectErrors: errors,
            filteredFiles: new Streamed(() => filteredFiles.items()),
            filteredProjects,
            warnings: result.warnings,
            selectionProblems,
          });
        }
        renderRuntimeEvent(opts, {
          type: "log",
          message: redactText(
            (result.recordedIn ? `recorded in the journal of ${result.recordedIn}; ` : "") +
              (result.report
                ? `report: ${result.report} (and its .json)`
                : "no report written (no journal of this migration to record into; --report PATH writes one)"),
          ),
        });
        finish(result.status);
      } finally {
        notVerified.close();
        filteredFiles.close();
      }
    },
  );
}
