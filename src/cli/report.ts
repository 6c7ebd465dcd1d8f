/**
 * `pyreg report` and the state folder's bookkeeping shared by migrate and verify: open the
 * journal for this source/destination pair, record the run, and write report.json / report.md.
 */
import { finish } from "./outcome.js";
import { report } from "../core/usecases/report.js";
import type { Command } from "commander";
import { PyregError } from "../core/errors.js";
import { shellQuote } from "../core/report.js";
import { preferBoundedHeap } from "./gc.js";
import { invokedAs } from "./invocation.js";
import { JSON_VERSION, redactArgv } from "./common.js";
import {
  openRunState as openState,
  redactedBatches,
  reportPaths,
  writeReport,
  checkReportPath,
  type RunState,
} from "../core/usecases/state.js";

export { redactedBatches, reportPaths, writeReport, checkReportPath, type RunState };

/** Opens the state folder as the CLI does: this command line recorded, the heap let grow for reports. */
export function openRunState(opts: Parameters<typeof openState>[0], command: "migrate" | "verify"): RunState {
  return openState({ ...opts, argv: recordedArgv(), beforeReport: preferBoundedHeap }, command);
}

/** The command line of this process, as recorded (secrets redacted). */
export function recordedArgv(): string[] {
  return redactArgv(process.argv.slice(2));
}

/** The command that runs this one again, started the way the user started it (see invokedAs). */
export function resumeCommand(): string {
  return [...invokedAs(), ...recordedArgv()].map(shellQuote).join(" ");
}

interface ReportCliOptions {
  state?: string;
  merge?: string[];
  format: "md" | "json";
  report?: string;
  json?: boolean;
}

export function registerReport(program: Command): void {
  program
    .command("report")
    .summary("print the report of a migration from its journal (also several shards' journals merged)")
    .description(
      "Build the report of a migration again from the journal in its state folder: counts and bytes " +
        "by outcome, per project and version, every file not copied with the reason and the server's " +
        "answer, what the upload protocol could not carry over, runs with their commands and durations, " +
        "and the last verify. Rewrites report.json and report.md in the state folder and prints one " +
        "of them. With --merge, combines the journals of the shards of one migration.",
    )
    .option("--state <dir>", "the state folder (default: the only one under ./.pyreg/)")
    .option(
      "--merge <dir...>",
      "merge these shards' state folders into one report (nothing is rewritten in them)",
    )
    .option(
      "--format <format>",
      "what to print on stdout: md or json",
      (v: string) => {
        if (v !== "md" && v !== "json")
          throw new PyregError("USAGE", `--format takes md or json, not "${v}"`);
        return v;
      },
      "md",
    )
    .option("--report <path>", "also write the report to PATH.json and PATH.md")
    .option(
      "--json",
      'print {"version", "command": "report", "complete", "report": report.json} on stdout, as the other commands\' --json (docs/json-schema.json)',
    )
    .addHelpText(
      "after",
      "\nExamples:\n  pyreg report --state .pyreg\n  pyreg report --merge shard-1 shard-2 shard-3 --report merged",
    )
    .action(async (opts: ReportCliOptions) => {
      const result = await report({
        ...opts,
        output: {
          format: opts.json ? "json" : opts.format,
          stream: process.stdout,
          // report --json: the shared envelope around report.json.
          envelope: opts.json
            ? (s) => ({ version: JSON_VERSION, command: "report", complete: s.result.complete })
            : undefined,
        },
        // Known before the report is printed: a reader that stops early (| head) gets the same exit code.
        onSummary: (s) => finish(s.result.complete ? "ok" : "incomplete"),
        beforeReport: preferBoundedHeap,
      });
      if (result.status === "error") throw result.error;
      if (result.status === "interrupted") throw new PyregError("INTERRUPTED", result.message);
      const built = result.report;
      if (built.missingShards.length) {
        process.stderr.write(
          `warning: no journal for shard ${built.missingShards.join(", ")}: the report covers only part of the migration\n`,
        );
      }
      finish(result.status);
    });
}
