import { Option, type Command } from "commander";
import { finish } from "./outcome.js";
import { preferSmallHeap } from "./gc.js";
import { selectionRows } from "../core/usecases/migrate.js";
export { selectionRows };
import { PyregError } from "../core/errors.js";
import type { Plan, PlanAction, ProjectPlan } from "../core/plan.js";
import { fileJson } from "./list.js";
import type { ResumeStep } from "../core/journal.js";
import { Streamed } from "../core/jsonPieces.js";
import { Spool } from "../core/spool.js";
import { formatShard, parseShard, type Shard } from "../core/shard.js";
import { formatTotal, plural } from "../core/units.js";
import { plan, type PlanData, type ResumeFile } from "../core/usecases/plan.js";
import type { Tagged } from "../core/usecases/result.js";
import {
  addConnectionOptions,
  addSelectionOptions,
  human,
  makeRuntime,
  HELP_GROUPS,
  printJsonStream,
  renderRuntimeEvent,
  selectionFrom,
  resolveRegistryArg,
  type CommonOptions,
} from "./common.js";
import { redactText } from "../http/redact.js";

export interface FromToOptions extends CommonOptions {
  from: string;
  to: string;
}

export function addFromTo(cmd: Command): Command {
  // Checked in a hook rather than with requiredOption, so that a mistyped flag ("--frm") is
  // reported as unknown instead of as "--from missing".
  return cmd
    .optionsGroup(HELP_GROUPS.registries)
    .option(
      "--from <source>",
      "where packages are read: a folder, a simple index URL, or KIND+https://... (required)",
    )
    .option(
      "--to <destination>",
      "where packages go: a folder, an upload URL (https://host/.../), or KIND+https://... (required)",
    )
    .hook("preAction", (command) => {
      const o = command.opts<{ from?: string; to?: string }>();
      for (const [flag, value] of [
        ["--from <source>", o.from],
        ["--to <destination>", o.to],
      ] as const) {
        if (!value) {
          throw new PyregError("USAGE", `${command.name()} needs ${flag}`, {
            hint: `see: pyreg ${command.name()} --help`,
          });
        }
      }
      // Repository names from the .pypirc become their URLs here, before anything uses them.
      const configFile = command.opts<{ configFile?: string }>().configFile;
      for (const side of ["from", "to"] as const) {
        const r = resolveRegistryArg(
          o[side] as string,
          { configFile },
          side === "from" ? "source" : "destination",
        );
        command.setOptionValue(side, r.spec);
        if (r.pypirc) command.setOptionValue(`${side}Pypirc`, r.pypirc);
      }
    });
}

export const REGISTRY_HELP = `
Registries (SOURCE / DESTINATION):
  ./dir, file:///dir              a folder of wheels and sdists
  https://host/.../simple/        any PEP 503/691 simple index (source)
  https://host/.../               a legacy upload endpoint, as twine uses (destination; index from --to-index
                                  or the URL + simple/, or known per registry)
  gitlab+https://host/group       GitLab group or project (also gitlab+http:// for local use)
  https://LOC-python.pkg.dev/P/R/ Google Artifact Registry (or gar+https://...)
  codeartifact+https://D-O.d.codeartifact.R.amazonaws.com/pypi/REPO/   AWS CodeArtifact

A bare word (--to NAME) is an existing folder or a repository of ~/.pypirc (--config-file), as
twine's -r NAME; write ./NAME for a new folder.

Credentials: user:password in the URL, PYREG_FROM_USERNAME/PYREG_FROM_PASSWORD and
PYREG_TO_USERNAME/PYREG_TO_PASSWORD, the .pypirc section, ~/.netrc, or the keyring command
(--keyring-provider subprocess). They are sent only to the host they belong to and never printed.
Proxies: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY (either case) or --proxy URL.

Exit codes: 0 all done; 1 some files failed, conflicted or are missing (or a --requirements pin is
missing or different at the source); 2 usage, configuration, authentication or connection error.`;

const MARKS: Record<PlanAction, string> = {
  copy: "+",
  skip: "=",
  conflict: "!",
  filtered: "-",
  invalid: "x",
  unsupported: "x",
};

/**
 * With --json and -q, stderr has only errors and the summary (as -q says): the document on stdout
 * has the source, the destination and every file, and a line per file on stderr as well cost about
 * a tenth of `pyreg plan --json`'s CPU at 100,000 files.
 */
function linePerFile(opts: CommonOptions): boolean {
  return !(opts.json && opts.quiet);
}

/** One project's lines, printed as soon as it is planned. */
export function printProject(p: ProjectPlan, opts: CommonOptions): void {
  if (p.error) human(opts, `! ${p.project}: could not be listed: ${p.error}`);
  if (!linePerFile(opts)) return;
  for (const e of p.entries) {
    if (e.action === "skip" && opts.quiet) continue;
    human(
      opts,
      `${MARKS[e.action]} ${e.action.padEnd(8)} ${e.file.filename}${e.action === "copy" ? "" : `  (${e.reason})`}`,
    );
  }
}

/** What follows the projects: the projects and files left out, the notes, and the counts. */
export function printPlanEnd(plan: PlanData, opts: CommonOptions): void {
  for (const f of plan.filteredProjects) human(opts, `- project  ${f.project}  (${f.reason})`);
  for (const i of plan.ignored) human(opts, `- ignored  ${i.name}  (${i.reason})`);
  printSelectionNotes(plan);
  const c = plan.counts;
  human(
    opts,
    `plan: ${c.copy} to copy (${formatTotal(c.bytes, c.unknownSizes)}), ${c.skip} already there, ${plural(c.conflict, "conflict")}, ` +
      `${c.invalid} invalid, ${c.filtered} filtered; ${plural(plan.projects, "project")}` +
      (c.unsupported ? `; ${c.unsupported} in a format the destination does not take` : "") +
      (plan.filteredProjects.length ? ` (${plan.filteredProjects.length} more left out)` : "") +
      (plan.problems.length ? `; ${plural(plan.problems.length, "pinned file problem")}` : "") +
      (plan.projectErrors.length ? `, ${plan.projectErrors.length} could not be listed` : "") +
      (plan.ignored.length
        ? `; ${plural(plan.ignored.length, "file")} at the source ignored (not distributions)`
        : ""),
  );
}

/** Selection warnings and pinned-file problems, on stderr (stdout may be the JSON document). */
export function printSelectionNotes(plan: Pick<Plan, "warnings" | "problems">): void {
  for (const w of plan.warnings) process.stderr.write(redactText(`warning: ${w}`) + "\n");
  for (const p of plan.problems) process.stderr.write(redactText(`problem: ${p.reason}`) + "\n");
}

/** One project in the --json document. */
export function projectJson(p: ProjectPlan): Record<string, unknown> {
  return {
    project: p.project,
    ...(p.error ? { error: p.error } : {}),
    files: p.entries.map((e) => ({
      ...fileJson(e.file),
      action: e.action,
      reason: e.reason,
      ...(e.rule ? { rule: e.rule } : {}),
    })),
  };
}

/** The --json document; `projects` and the resume's `files` are read back from their spools as it is written. */
export function planJson(
  plan: PlanData,
  projects: Spool,
  resumeFiles: Spool | undefined,
): Record<string, unknown> {
  const resume = plan.resume;
  return {
    source: plan.source,
    destination: plan.destination,
    counts: plan.counts,
    projects: new Streamed(() => projects.items()),
    filteredProjects: plan.filteredProjects,
    warnings: plan.warnings,
    selectionProblems: plan.problems,
    projectErrors: plan.projectErrors,
    ignored: plan.ignored,
    ...(resume
      ? {
          resume: {
            state: resume.state,
            counts: resume.counts,
            files: new Streamed(() => resumeFiles?.items() ?? []),
          },
        }
      : {}),
  };
}

export function registerPlan(program: Command): void {
  const cmd = program
    .command("plan")
    .summary("show what migrate would copy, skip and refuse; changes nothing")
    .description(
      "Compare the source with the destination's index, file by file: what would be copied, what is " +
        "already there (same filename and digest: the strongest both indexes publish), and what conflicts " +
        "(same filename, other bytes). A file the two listings cannot decide (no digest in common, or " +
        "md5 only) is planned as a copy that migrate first compares with the bytes. A filename the " +
        "source lists twice with different digests is invalid; a file in a format the destination does not take " +
        "(PyPI: only .whl, .tar.gz and .zip) is unsupported. Nothing is downloaded or uploaded.",
    )
    .addHelpText("after", REGISTRY_HELP);
  addConnectionOptions(addSelectionOptions(addFromTo(cmd)), true)
    .optionsGroup(HELP_GROUPS.state)
    .option(
      "--shard <K/N>",
      "only the projects of shard K of N, as migrate --shard K/N would take them",
      parseShard,
    )
    .option(
      "--state <dir>",
      "also show what migrate would do on resuming from this state folder (read only: nothing is written)",
    )
    .option("--retry-failed", "with --state: as migrate --retry-failed would")
    // Taken so that a migrate command line works with its verb changed; plan writes neither.
    .addOption(new Option("--report <path>").hideHelp())
    .addOption(new Option("--reset-state").hideHelp())
    .action(runPlanCommand);
}

const RESUME_TEXT: Record<Exclude<ResumeStep, "as-planned">, string> = {
  carried: "failed earlier with a lasting error: not tried again (--retry-failed tries it)",
  uncertain:
    "an interrupted run may have sent it (its upload was not confirmed): the index is read again, then it is sent if still missing",
  landed: "uploaded by an interrupted run, now listed with the source's sha256: recorded as copied",
  again: "copied earlier, but the destination no longer lists it: copied again",
};

/** `pyreg plan`, and `pyreg migrate --dry-run`: reads both indexes, changes nothing. */
export async function runPlanCommand(
  opts: FromToOptions & {
    shard?: Shard | undefined;
    state?: string | undefined;
    retryFailed?: boolean | undefined;
    report?: string | undefined;
    resetState?: boolean | undefined;
    createRepository?: boolean | undefined;
    verifyContent?: boolean | undefined;
  },
): Promise<void> {
  // Nothing is left out without a word: what a migrate line asks and a plan does not do.
  const notDone = [
    opts.report !== undefined ? `--report ${opts.report}` : "",
    opts.resetState ? "--reset-state" : "",
    opts.createRepository ? "--create-repository" : "",
    opts.verifyContent ? "--verify-content" : "",
  ].filter(Boolean);
  if (notDone.length)
    process.stderr.write(
      redactText(`note: plan changes nothing and writes no report: ${notDone.join(", ")} not done`) + "\n",
    );
  // A plan streams no file bytes (what --no-incremental-marking is for), and holds a few projects
  // at a time: the old generation is kept near what is live (see gc.ts).
  preferSmallHeap();
  const selection = await selectionFrom(opts);
  const rt = makeRuntime(opts);
  // Each project is printed as it is planned; what the document and the resume lines need of it
  // is kept on disk (spools), so that memory does not grow with the number of files.
  const projects = new Spool();
  const resumeFiles = new Spool<ResumeFile>();
  try {
    let result: Tagged<PlanData>;
    try {
      result = await plan(opts.from, opts.to, {
        ...opts,
        selection,
        runtime: rt,
        onEvent: (e) => {
          if (e.type === "plan-start") {
            if (!linePerFile(opts)) return;
            if (opts.shard) human(opts, `# shard ${formatShard(opts.shard)}`);
            human(opts, `# from ${e.source.description}\n# to   ${e.destination.description}`);
          } else if (e.type === "planned") {
            printProject(e.project, opts);
            if (opts.json) projects.push(projectJson(e.project));
            for (const f of e.resume ?? []) resumeFiles.push(f);
          } else renderRuntimeEvent(opts, e);
        },
      });
    } finally {
      await rt.close();
    }
    if (result.status === "interrupted") throw new PyregError("INTERRUPTED", result.message);
    if (result.status === "error") throw result.error;
    printPlanEnd(result, opts);
    const resume = result.resume;
    if (resume) {
      if (linePerFile(opts))
        for (const f of resumeFiles.items()) human(opts, `resume: ${f.filename}: ${RESUME_TEXT[f.step]}`);
      const last = resume.lastRun;
      const counts = resume.counts;
      human(
        opts,
        `resume from ${resume.state}` +
          (last ? ` (last run ${last.id}: ${last.command}, ${last.status})` : "") +
          `: ${plural(counts.uncertain, "unconfirmed upload")} to re-check, ${counts.landed} landed, ` +
          `${counts.carried} not tried again, ${counts.again} to copy again`,
      );
    }
    if (opts.json)
      await printJsonStream("plan", planJson(result, projects, resume ? resumeFiles : undefined));
    finish(result.status);
  } finally {
    projects.close();
    resumeFiles.close();
  }
}
