import type { Command } from "commander";
import { runPlan, type MigrationResult } from "../core/engine.js";
import { errorMessage, PyregError } from "../core/errors.js";
import type { FileOutcome } from "../core/model.js";
import { makePlan, planCounts } from "../core/plan.js";
import { fileJson } from "./list.js";
import { formatTotal, plural } from "../core/units.js";
import {
  addFromTo,
  printSelectionNotes,
  REGISTRY_HELP,
  runPlanCommand,
  selectionRows,
  type FromToOptions,
} from "./plan.js";
import { recheckTime, resolveUncertain } from "../core/journal.js";
import { formatShard, shardSelector } from "../core/shard.js";
import { yankHowTo } from "../core/yank.js";
import { chooseMode, Progress } from "./progress.js";
import { openRunState, resumeCommand, type RunState } from "./report.js";
import {
  addConnectionOptions,
  addCreateOptions,
  addSelectionOptions,
  addStateOptions,
  formatBytes,
  human,
  makeRuntime,
  openFrom,
  openTo,
  endpointJson,
  printJson,
  selectionFrom,
  type StateOptions,
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

export function registerMigrate(program: Command): void {
  const cmd = program
    .command("migrate")
    .summary("copy every file of every version from one registry to another, verified")
    .description(
      "Copy every wheel and sdist of every version from SOURCE to DESTINATION. Each file is " +
        "downloaded (into memory, or a temporary file when large) while its sha256 is checked against the source, uploaded with " +
        "the metadata read from the file itself (the form twine sends), and then found in the " +
        "destination's index with the same sha256. Files already there are skipped; a file of the same " +
        "name with other bytes is reported as a conflict and never overwritten. Safe to run again.",
    )
    .addHelpText(
      "after",
      REGISTRY_HELP +
        "\n\nExample:\n  pyreg migrate --from https://old.example.com/simple/ --to https://new.example.com/ --to-index https://new.example.com/simple/",
    );
  addCreateOptions(addStateOptions(addConnectionOptions(addSelectionOptions(addFromTo(cmd)), true), true))
    .option("--dry-run", "only show what would be copied, skipped and refused: the same as pyreg plan")
    .action(async (opts: FromToOptions & StateOptions & { dryRun?: boolean }) => {
      if (opts.dryRun) {
        await runPlanCommand(opts);
        return;
      }
      const selection = await selectionFrom(opts);
      const rt = makeRuntime(opts);
      const abort = new AbortController();
      let state: RunState | undefined;
      let transferring = false;
      const onSigint = (): void => {
        if (abort.signal.aborted) {
          // The journal is committed after every step: files in flight stay "uploading" (uncertain)
          // and the next run re-checks them against the destination before sending anything.
          process.stderr.write(
            `\nstopped at once; to resume, run the same command again:\n  ${resumeCommand()}\n`,
          );
          process.exit(130);
        }
        // Before the transfers start there is nothing in flight to finish.
        process.stderr.write(
          transferring
            ? "\ninterrupted: finishing the files in flight (Ctrl-C again to quit at once)\n"
            : "\ninterrupted\n",
        );
        abort.abort();
      };
      process.on("SIGINT", onSigint);
      process.on("SIGTERM", onSigint);
      const progress = new Progress({ quiet: opts.quiet, mode: chooseMode(opts), other: process.stdout });
      let counts: Record<string, number> = {};
      try {
        // Both ends are opened (and their URLs or folders checked) before the state folder is
        // made: a command that fails validation leaves nothing behind.
        const src = await openFrom(opts.from, rt);
        const dst = await openTo(opts.to, rt);
        state = openRunState(opts, "migrate");
        const journal = state.journal;
        journal.describeRun(src.describe(), dst.describe());
        rt.log(
          `from ${src.describe()}\nto   ${dst.describe()}` +
            (opts.shard ? `\nshard ${formatShard(opts.shard)}` : "") +
            `\nstate ${state.dir}`,
        );
        // Ctrl-C while the indexes are read, or while waiting to re-check, stops at once: this run
        // has uploaded nothing yet. The work left behind fails on the closed connections.
        const interruptible = async <T>(work: Promise<T>, phase: string): Promise<T> => {
          const message = `interrupted while ${phase}; nothing was uploaded`;
          const interruption = new PyregError("INTERRUPTED", message, { hint: resumeHint() });
          let stop = (): void => undefined;
          const stopped = new Promise<never>((_, reject) => {
            stop = () => reject(interruption);
          });
          if (abort.signal.aborted) stop();
          else abort.signal.addEventListener("abort", stop, { once: true });
          try {
            return await Promise.race([work, stopped]);
          } catch (err) {
            if (err === interruption) {
              state?.finish("interrupted", message, {});
              await rt.http.destroy();
            }
            throw err;
          } finally {
            abort.signal.removeEventListener("abort", stop);
          }
        };
        const planned = await interruptible(
          makePlan(src, dst, {
            selection,
            listConcurrency: opts.concurrency,
            ...(opts.shard ? { select: shardSelector(opts.shard) } : {}),
          }),
          "reading the indexes",
        );
        printSelectionNotes(planned);
        journal.recordSelection(selectionRows(planned));
        journal.recordIgnored(planned.ignored ?? []);
        if (planned.ignored?.length) {
          const names = planned.ignored.slice(0, 5).map((i) => i.name);
          rt.log(
            `ignored: ${planned.ignored.length} file(s) at the source are not distributions: ${names.join(", ")}${planned.ignored.length > 5 ? ", …" : ""} (listed in the report)`,
          );
        }
        const decision = journal.applyPlan(planned, { retryFailed: opts.retryFailed ?? false });
        let plan = decision.plan;
        if (decision.landed)
          rt.log(`resume: ${decision.landed} file(s) uploaded by an interrupted run are at the destination`);
        if (decision.uncertain.length) {
          // Not before the earlier attempts' deadlines: until then one of them may still land.
          const at = recheckTime(decision.uncertain, journal, (opts.recheckWait ?? 5) * 1000);
          rt.log(
            `resume: ${decision.uncertain.length} file(s) whose upload was not confirmed are not listed at the destination; reading its index again in ${formatWait(at - Date.now())} before sending them` +
              (at > Date.now() + (opts.recheckWait ?? 5) * 1000
                ? " (when the earlier upload's request deadline has passed)"
                : ""),
          );
          const r = await interruptible(
            resolveUncertain(plan, decision.uncertain, dst, journal, at),
            "re-checking the files of an interrupted run",
          );
          plan = r.plan;
          rt.log(`resume: ${r.landed} found after the re-check, ${r.resent} to upload again`);
        }
        if (decision.carried.length) {
          rt.log(
            `resume: ${plural(decision.carried.length, "file")} failed in an earlier run with a lasting error and are not tried again (--retry-failed tries them)`,
          );
        }
        const pc = planCounts(plan);
        rt.log(
          `plan: ${pc.copy} to copy (${formatTotal(pc.bytes, pc.unknownSizes)}), ${pc.skip} already there, ${plural(pc.conflict, "conflict")}, ${pc.invalid} invalid, ${pc.filtered} filtered`,
        );
        transferring = true;
        const result: MigrationResult = await runPlan(plan, src, dst, {
          concurrency: opts.concurrency,
          verifyDelayMs: opts.verifyDelay,
          verifyContent: opts.verifyContent ?? false,
          signal: abort.signal,
          // The attempt's deadline goes with the mark: a resumed run waits for it before resending.
          beforeUpload: (file) => journal.markUploading(file, Date.now() + rt.http.requestDeadlineMs),
          onEvent: (e) => {
            if (e.type === "downloaded") journal.mark(e.file, "downloaded");
            // Answered: the attempt cannot land any later, a resumed run need not wait for it.
            else if (e.type === "uploaded") journal.mark(e.file, "uploaded", { uploadDeadline: Date.now() });
            else if (e.type === "attempt-over") journal.endAttempt(e.file);
            else if (e.type === "outcome") journal.recordOutcome(e.outcome);
            else if (e.type === "unsent")
              journal.mark(e.file, "planned", { reason: `not attempted: the run stopped on ${e.reason}` });
            progress.onEvent(e);
          },
        });
        progress.stop(true);
        const outcomes = [...decision.carried, ...result.outcomes];
        for (const o of decision.carried)
          if (o.kind === "failed") process.stderr.write(`failed: ${o.file.filename}: ${o.reason}\n`);
        // A yank the destination could not take (PEP 592 has no field in the upload form): the
        // files are installable there until yanked by hand, so they are named with how.
        const yankByHand = dst.keepsYanked
          ? []
          : result.outcomes.filter((o) => o.kind === "copied" && o.file.yanked).map((o) => o.file.filename);
        const lateWarnings = yankByHand.length
          ? [
              `${yankByHand.length} file(s) are yanked at the source but not at the destination (the upload form cannot carry a yank): ${yankByHand.join(", ")}; ${yankHowTo(dst.kind)}`,
            ]
          : [];
        for (const w of lateWarnings) rt.warn(w);
        journal.recordWarnings(lateWarnings);
        const c = summarize(outcomes);
        // Files the plan wanted copied that reached no outcome: the run stopped before them.
        const reached = new Set(result.outcomes.map((o) => `${o.file.project}\0${o.file.filename}`));
        const notAttempted = plan.projects
          .flatMap((p) => p.entries)
          .filter((e) => e.action === "copy" && !reached.has(`${e.file.project}\0${e.file.filename}`)).length;
        counts = { ...c, notAttempted };
        const projectErrors = plan.projects.filter((p) => p.error);
        for (const p of projectErrors)
          process.stderr.write(`failed: project ${p.project} could not be listed: ${p.error}\n`);
        const stoppedBy = result.stopped;
        const reportPath = state.finish(
          stoppedBy ? (stoppedBy.error ? "failed" : "interrupted") : "done",
          stoppedBy?.reason,
          { ...counts, projectErrors: projectErrors.length, selectionProblems: plan.problems.length },
        );
        human(
          opts,
          `migrate: ${c.copied} copied (${formatBytes(c.bytes)}), ${c.skipped} already there, ${plural(c.conflict, "conflict")}, ${c.failed} failed, ${c.filtered} filtered` +
            (notAttempted ? `, ${notAttempted} not attempted` : "") +
            (planned.ignored?.length ? `, ${planned.ignored.length} ignored (not distributions)` : "") +
            (projectErrors.length ? `, ${plural(projectErrors.length, "project")} not listed` : "") +
            (plan.filteredProjects.length
              ? `, ${plural(plan.filteredProjects.length, "project")} left out`
              : "") +
            (plan.problems.length ? `; ${plural(plan.problems.length, "pinned file problem")}` : ""),
        );
        rt.log(`report: ${reportPath} (and report.json)`);
        if (opts.json) {
          printJson("migrate", {
            source: endpointJson(src),
            destination: endpointJson(dst),
            state: state.dir,
            counts: { ...c, notAttempted },
            outcomes: outcomes.map(outcomeJson),
            projectErrors: projectErrors.map((p) => ({ project: p.project, error: p.error })),
            filteredProjects: plan.filteredProjects,
            warnings: [...plan.warnings, ...lateWarnings],
            problems: plan.problems,
            ignored: planned.ignored ?? [],
            ...(stoppedBy ? { stopped: stoppedBy.reason } : {}),
          });
        }
        if (stoppedBy) {
          if (stoppedBy.error) throw stoppedBy.error;
          throw new PyregError("INTERRUPTED", "interrupted before the migration finished", {
            hint: resumeHint(),
          });
        }
        process.exitCode = c.failed || c.conflict || projectErrors.length || plan.problems.length ? 1 : 0;
      } catch (err) {
        progress.stop();
        const e = err instanceof PyregError ? err : new PyregError("HTTP", errorMessage(err), { cause: err });
        if (state && e.code !== "INTERRUPTED") {
          try {
            state.finish("failed", e.message, counts);
          } catch {
            // The report is secondary to the error being shown.
          }
        }
        throw e;
      } finally {
        process.off("SIGINT", onSigint);
        process.off("SIGTERM", onSigint);
        state?.close();
        await rt.close();
      }
    });
}

function formatWait(ms: number): string {
  return `${Math.max(0, Math.ceil(ms / 100) / 10)}s`;
}

function resumeHint(): string {
  return `to resume, run the same command again (files already copied are skipped, none is sent twice):\n  ${resumeCommand()}`;
}
