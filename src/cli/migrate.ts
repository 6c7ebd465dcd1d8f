import type { Command } from "commander";
import type { EngineEvent } from "../core/engine.js";
import { PyregError } from "../core/errors.js";
import type { FileOutcome } from "../core/model.js";
import { plural } from "../core/units.js";
import type { PyregEvent } from "../core/usecases/events.js";
import { migrate, type MigrateData } from "../core/usecases/migrate.js";
import type { Tagged } from "../core/usecases/result.js";
import { redactText } from "../http/redact.js";
import { preferBoundedHeap } from "./gc.js";
import { fileJson } from "./list.js";
import { finish, onInterrupt } from "./outcome.js";
import { addFromTo, REGISTRY_HELP, runPlanCommand, type FromToOptions } from "./plan.js";
import { chooseMode, Progress } from "./progress.js";
import { Spool } from "../core/spool.js";
import { recordedArgv, resumeCommand } from "./report.js";
import {
  addConnectionOptions,
  addCreateOptions,
  addSelectionOptions,
  addStateOptions,
  formatBytes,
  human,
  makeRuntime,
  printJsonStream,
  streamed,
  renderRuntimeEvent,
  selectionFrom,
  type StateOptions,
} from "./common.js";

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
      let transferring = false;
      const interrupts = onInterrupt({
        // Before the transfers start there is nothing in flight to finish.
        first: () =>
          transferring
            ? "\ninterrupted: finishing the files in flight (Ctrl-C again to quit at once)\n"
            : "\ninterrupted\n",
        // The journal is committed after every step: files in flight stay "uploading" (uncertain)
        // and the next run re-checks them against the destination before sending anything.
        second: () => `\nstopped at once; to resume, run the same command again:\n  ${resumeCommand()}\n`,
      });
      const progress = new Progress({ quiet: opts.quiet, mode: chooseMode(opts), other: process.stdout });
      // --json's outcomes, kept on disk as they come (never the whole list in memory).
      const outcomes = opts.json ? new Spool<Record<string, unknown>>() : undefined;
      let result: Tagged<MigrateData>;
      try {
        result = await migrate(opts.from, opts.to, {
          ...opts,
          selection,
          runtime: rt,
          signal: interrupts.signal,
          argv: recordedArgv(),
          beforeReport: preferBoundedHeap,
          resumeHint: resumeHint(),
          onEvent: (e) => {
            if (e.type === "phase") transferring = e.phase === "transferring";
            else if (e.type === "problem") process.stderr.write(redactText(`problem: ${e.message}`) + "\n");
            else if (isEngineEvent(e)) {
              if (e.type === "outcome") outcomes?.push(outcomeJson(e.outcome));
              progress.onEvent(e);
            } else renderRuntimeEvent(opts, e);
          },
        });
      } catch (err) {
        progress.stop();
        outcomes?.close();
        throw err;
      } finally {
        interrupts.release();
        await rt.close();
      }
      if (!("report" in result)) {
        // Stopped before the transfers (an error, or an interruption while planning).
        progress.stop();
        if (result.status === "error") throw result.error;
        if (result.status === "interrupted")
          throw new PyregError("INTERRUPTED", result.message, { hint: result.hint });
      }
      progress.stop(true);
      const d = result as MigrateData;
      const { counts: c, projectErrors } = d;
      for (const p of projectErrors)
        process.stderr.write(
          redactText(`failed: project ${p.project} could not be listed: ${p.error}`) + "\n",
        );
      human(
        opts,
        `migrate: ${c.copied} copied (${formatBytes(c.bytes)}), ${c.skipped} already there, ${plural(c.conflict, "conflict")}, ${c.failed} failed, ${c.filtered} filtered` +
          (d.notAttempted ? `, ${d.notAttempted} not attempted` : "") +
          (d.unchanged.projects
            ? `, ${plural(d.unchanged.projects, "project")} unchanged (${plural(d.unchanged.files, "file")}, not read again)`
            : "") +
          (d.ignored.length ? `, ${d.ignored.length} ignored (not distributions)` : "") +
          (projectErrors.length ? `, ${plural(projectErrors.length, "project")} not listed` : "") +
          (d.filteredProjects.length ? `, ${plural(d.filteredProjects.length, "project")} left out` : "") +
          (d.selectionProblems.length
            ? `; ${plural(d.selectionProblems.length, "pinned file problem")}`
            : ""),
      );
      renderRuntimeEvent(opts, {
        type: "log",
        message: redactText(`report: ${d.report} (and report.json)`),
      });
      if (opts.json) {
        await printJsonStream("migrate", {
          source: d.source,
          destination: d.destination,
          state: d.state,
          counts: { ...c, notAttempted: d.notAttempted },
          unchanged: d.unchanged,
          outcomes: streamed((outcomes as Spool<Record<string, unknown>>).items(), (o) => o),
          projectErrors,
          filteredProjects: d.filteredProjects,
          warnings: [...d.warnings, ...d.lateWarnings],
          selectionProblems: d.selectionProblems,
          ignored: d.ignored,
          ...(d.stopped ? { stopped: d.stopped } : {}),
        });
      }
      outcomes?.close();
      if (result.status === "error") throw result.error;
      if (result.status === "interrupted")
        throw new PyregError("INTERRUPTED", result.message, { hint: resumeHint() });
      finish(result.status);
    });
}

function isEngineEvent(e: PyregEvent): e is EngineEvent {
  return ![
    "log",
    "warning",
    "problem",
    "http-retry",
    "http-request",
    "phase",
    "plan-start",
    "planned",
    "checked",
    "filtered",
  ].includes(e.type);
}

function resumeHint(): string {
  return `to resume, run the same command again (files already copied are skipped, none is sent twice):\n  ${resumeCommand()}`;
}
