/**
 * The CLI: one file per command, one error boundary here that maps errors to exit codes
 * (0 done; 1 some files failed/conflicted/missing; 2 usage, configuration, auth, connection).
 */
import { Command, CommanderError } from "commander";
import { absolutePath } from "../core/dirs.js";
import { exitCodeFor, PyregError } from "../core/errors.js";
import { redactText, registerUrlSecrets } from "../http/redact.js";
import { printJson } from "./common.js";
import { peekOutcome, setHardExit, takeOutcome } from "./outcome.js";
import { PYREG_VERSION } from "../version.js";
import { registerList } from "./list.js";
import { registerMigrate } from "./migrate.js";
import { registerPlan } from "./plan.js";
import { registerReport } from "./report.js";
import { registerVerify } from "./verify.js";
import { registerServe } from "./serve.js";
import { registerCheckLock } from "./checkLock.js";
import { registerRewriteLock } from "./rewriteLock.js";
import { registerPrintSettings } from "./printSettings.js";

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("pyreg")
    .description(
      "Move Python packages from one package registry to another: every file of every version, " +
        "sha256-verified end to end, never overwriting, safe to run again.",
    )
    .version(PYREG_VERSION, "-V, --version")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    // One error prefix for every message: commander's own ("error: unknown option ...") included.
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      outputError: (s, write) => write(s.startsWith("error: ") ? `pyreg: ${s}` : s),
    });
  registerList(program);
  registerPlan(program);
  registerMigrate(program);
  registerVerify(program);
  registerReport(program);
  registerServe(program);
  registerCheckLock(program);
  registerRewriteLock(program);
  registerPrintSettings(program);
  program.addHelpText(
    "after",
    "\nStart with:  pyreg plan --from SOURCE --to DESTINATION   (then migrate, then verify)\nEach command has --help.",
  );
  for (const c of program.commands) c.exitOverride();
  return program;
}

/** The command a command line runs (its first word that is not an option), for --json errors. */
function commandOf(argv: string[]): string {
  return argv.slice(2).find((a) => !a.startsWith("-")) ?? "pyreg";
}

function printError(err: unknown, json: boolean, command: string): void {
  if (err instanceof PyregError) {
    process.stderr.write(redactText(`pyreg: error: ${err.message}\n`));
    if (err.hint) process.stderr.write(redactText(`  hint: ${err.hint}\n`));
    if (json) printJson(command, { error: err.toJSON() });
  } else {
    const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(redactText(`pyreg: error: unexpected: ${msg}\n`));
    if (json) printJson(command, { error: { code: "INTERNAL", message: String(err) } });
  }
}

/** The exit code of a command that ended without an error: the one mapping of outcomes. */
export function exitCodeOfOutcome(outcome: "ok" | "incomplete" | "interrupted"): number {
  return outcome === "ok" ? 0 : outcome === "incomplete" ? 1 : 130;
}

export async function main(argv: string[]): Promise<void> {
  // Credentials typed in URLs are known as secrets before anything is printed or recorded.
  registerUrlSecrets(argv);
  // `pyreg list ... | head` closes our stdout early: that is not an error.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "EPIPE") {
        // What the command recorded so far (a report knows its verdict before it is printed).
        const recorded = peekOutcome();
        process.exit(process.exitCode ?? (recorded ? exitCodeOfOutcome(recorded) : 0));
      }
      throw err;
    });
  }
  setHardExit((code) => process.exit(code));
  takeOutcome();
  const program = buildProgram();
  const json = argv.includes("--json");
  try {
    // A deleted working folder: every relative path (the default ./.pyreg state folder, a folder
    // registry) is unreachable. Said once, clearly, before anything is opened.
    if (!argv.some((a) => /^(-h|--help|-V|--version|help)$/.test(a))) absolutePath(".");
    await program.parseAsync(argv);
    const outcome = takeOutcome();
    if (outcome) process.exitCode = exitCodeOfOutcome(outcome);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors were already printed on stderr,
      // and under --json they are also a JSON document on stdout.
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      if (err.exitCode !== 0 && json)
        printJson(commandOf(argv), {
          error: { code: "USAGE", message: err.message.replace(/^error: /, "") },
        });
      return;
    }
    printError(err, json, commandOf(argv));
    process.exitCode = exitCodeFor(err);
  }
}
