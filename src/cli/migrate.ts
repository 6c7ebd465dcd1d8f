import type { Command } from "commander";
import { runPlan, type EngineEvent, type MigrationResult } from "../core/engine.js";
import { errorMessage, PyregError } from "../core/errors.js";
import type { FileOutcome } from "../core/model.js";
import { makePlan, planCounts } from "../core/plan.js";
import { fileJson } from "./list.js";
import { addFromTo, REGISTRY_HELP, type FromToOptions } from "./plan.js";
import {
  addConnectionOptions,
  addSelectionOptions,
  formatBytes,
  human,
  makeRuntime,
  openFrom,
  openTo,
  printJson,
} from "./common.js";

export function summarize(outcomes: FileOutcome[]): Record<FileOutcome["kind"], number> & { bytes: number } {
  const c = { copied: 0, skipped: 0, conflict: 0, failed: 0, filtered: 0, bytes: 0 };
  for (const o of outcomes) {
    c[o.kind]++;
    if (o.kind === "copied") c.bytes += o.bytes;
  }
  return c;
}

export function outcomeJson(o: FileOutcome): Record<string, unknown> {
  const { file, kind, ...rest } = o;
  return { ...fileJson(file), outcome: kind, ...rest };
}

/** Plain progress lines (no terminal tricks): one line every few seconds and one per problem. */
function progressPrinter(
  quiet: boolean,
  intervalMs = 5000,
): { onEvent: (e: EngineEvent) => void; stop: () => void } {
  let total = 0;
  let totalBytes = 0;
  let done = 0;
  let bytes = 0;
  let failed = 0;
  const started = Date.now();
  const line = (): void => {
    const secs = (Date.now() - started) / 1000;
    const rate = bytes / Math.max(secs, 0.001);
    const eta = totalBytes > bytes && rate > 0 ? ` ETA ${Math.ceil((totalBytes - bytes) / rate)}s` : "";
    process.stderr.write(
      `progress: ${done}/${total} files, ${formatBytes(bytes)}/${formatBytes(totalBytes)}, ${formatBytes(rate)}/s${eta}${failed ? `, ${failed} failed` : ""}\n`,
    );
  };
  const timer = quiet ? undefined : setInterval(line, intervalMs);
  timer?.unref();
  return {
    onEvent(e) {
      if (e.type === "start") {
        total = e.files;
        totalBytes = e.bytes;
      } else if (e.type === "bytes") bytes += e.bytes;
      else if (e.type === "outcome") {
        if (e.outcome.kind === "copied" || e.outcome.kind === "failed" || e.outcome.kind === "conflict")
          done++;
        if (e.outcome.kind === "failed") {
          failed++;
          process.stderr.write(`failed: ${e.outcome.file.filename}: ${e.outcome.reason}\n`);
        } else if (e.outcome.kind === "conflict") {
          process.stderr.write(`conflict: ${e.outcome.file.filename}: ${e.outcome.reason}\n`);
        } else if (e.outcome.kind === "copied" && !quiet) {
          process.stderr.write(`copied: ${e.outcome.file.filename}\n`);
        }
      } else if (e.type === "retry" && !quiet) {
        process.stderr.write(`retrying download of ${e.file.filename}: ${e.reason}\n`);
      }
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}

export function registerMigrate(program: Command): void {
  const cmd = program
    .command("migrate")
    .summary("copy every file of every version from one registry to another, verified")
    .description(
      "Copy every wheel and sdist of every version from SOURCE to DESTINATION. Each file is " +
        "downloaded to a temporary file while its sha256 is checked against the source, uploaded with " +
        "the metadata read from the file itself (the form twine sends), and then found in the " +
        "destination's index with the same sha256. Files already there are skipped; a file of the same " +
        "name with other bytes is reported as a conflict and never overwritten. Safe to run again.",
    )
    .addHelpText(
      "after",
      REGISTRY_HELP +
        "\n\nExample:\n  pyreg migrate --from https://old.example.com/simple/ --to https://new.example.com/ --to-index https://new.example.com/simple/",
    );
  addConnectionOptions(addSelectionOptions(addFromTo(cmd)), true).action(async (opts: FromToOptions) => {
    const rt = makeRuntime(opts);
    const abort = new AbortController();
    const onSigint = (): void => {
      if (abort.signal.aborted) process.exit(130);
      process.stderr.write("\ninterrupted: finishing the files in flight (Ctrl-C again to quit at once)\n");
      abort.abort();
    };
    process.on("SIGINT", onSigint);
    process.on("SIGTERM", onSigint);
    const progress = progressPrinter(opts.quiet);
    try {
      const src = await openFrom(opts.from, rt);
      const dst = await openTo(opts.to, rt);
      rt.log(`from ${src.describe()}\nto   ${dst.describe()}`);
      const plan = await makePlan(src, dst, {
        include: opts.include,
        exclude: opts.exclude,
        listConcurrency: opts.concurrency,
      });
      const pc = planCounts(plan);
      rt.log(
        `plan: ${pc.copy} to copy (${formatBytes(pc.bytes)}), ${pc.skip} already there, ${pc.conflict} conflicts, ${pc.invalid} invalid, ${pc.filtered} filtered`,
      );
      const result: MigrationResult = await runPlan(plan, src, dst, {
        concurrency: opts.concurrency,
        verifyDelayMs: opts.verifyDelay,
        signal: abort.signal,
        onEvent: (e) => progress.onEvent(e),
      });
      progress.stop();
      const c = summarize(result.outcomes);
      const projectErrors = plan.projects.filter((p) => p.error);
      for (const p of projectErrors)
        process.stderr.write(`failed: project ${p.project} could not be listed: ${p.error}\n`);
      human(
        opts,
        `migrate: ${c.copied} copied (${formatBytes(c.bytes)}), ${c.skipped} already there, ${c.conflict} conflicts, ${c.failed} failed, ${c.filtered} filtered` +
          (projectErrors.length ? `, ${projectErrors.length} projects not listed` : ""),
      );
      if (opts.json) {
        printJson({
          source: plan.source,
          destination: plan.destination,
          counts: c,
          outcomes: result.outcomes.map(outcomeJson),
          projectErrors: projectErrors.map((p) => ({ project: p.project, error: p.error })),
          ...(result.stopped ? { stopped: result.stopped.reason } : {}),
        });
      }
      if (result.stopped) {
        if (result.stopped.error) throw result.stopped.error;
        throw new PyregError("INTERRUPTED", "interrupted before the migration finished", {
          hint: "run the same command again to finish; files already copied are skipped",
        });
      }
      process.exitCode = c.failed || c.conflict || projectErrors.length ? 1 : 0;
    } catch (err) {
      progress.stop();
      throw err instanceof PyregError ? err : new PyregError("HTTP", errorMessage(err), { cause: err });
    } finally {
      process.off("SIGINT", onSigint);
      process.off("SIGTERM", onSigint);
      await rt.close();
    }
  });
}
