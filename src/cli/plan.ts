import type { Command } from "commander";
import { PyregError } from "../core/errors.js";
import { makePlan, planCounts, type Plan } from "../core/plan.js";
import { fileJson } from "./list.js";
import {
  addConnectionOptions,
  addSelectionOptions,
  formatBytes,
  human,
  makeRuntime,
  openFrom,
  openTo,
  printJson,
  selectionFrom,
  type CommonOptions,
} from "./common.js";
import { redactText } from "../http/redact.js";
import type { SelectionRow } from "../core/journal.js";

export interface FromToOptions extends CommonOptions {
  from: string;
  to: string;
}

export function addFromTo(cmd: Command): Command {
  // Checked in a hook rather than with requiredOption, so that a mistyped flag ("--frm") is
  // reported as unknown instead of as "--from missing".
  return cmd
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

Credentials: user:password in the URL, PYREG_FROM_USERNAME/PYREG_FROM_PASSWORD and
PYREG_TO_USERNAME/PYREG_TO_PASSWORD, or ~/.netrc. They are sent only to the host they belong to
and never printed.

Exit codes: 0 all done; 1 some files failed, conflicted or are missing (or a --requirements pin is
missing or different at the source); 2 usage, configuration, authentication or connection error.`;

export function printPlan(plan: Plan, opts: CommonOptions): void {
  human(opts, `# from ${plan.source}\n# to   ${plan.destination}`);
  for (const p of plan.projects) {
    if (p.error) human(opts, `! ${p.project}: could not be listed: ${p.error}`);
    for (const e of p.entries) {
      const mark = { copy: "+", skip: "=", conflict: "!", filtered: "-", invalid: "x" }[e.action];
      if (e.action === "skip" && opts.quiet) continue;
      human(
        opts,
        `${mark} ${e.action.padEnd(8)} ${e.file.filename}${e.action === "copy" ? "" : `  (${e.reason})`}`,
      );
    }
  }
  for (const f of plan.filteredProjects) human(opts, `- project  ${f.project}  (${f.reason})`);
  for (const i of plan.ignored ?? []) human(opts, `- ignored  ${i.name}  (${i.reason})`);
  printSelectionNotes(plan);
  const c = planCounts(plan);
  human(
    opts,
    `plan: ${c.copy} to copy (${formatBytes(c.bytes)}), ${c.skip} already there, ${c.conflict} conflicts, ` +
      `${c.invalid} invalid, ${c.filtered} filtered; ${plan.projects.length} projects` +
      (plan.filteredProjects.length ? ` (${plan.filteredProjects.length} more left out)` : "") +
      (plan.problems.length ? `; ${plan.problems.length} pinned file problems` : "") +
      (plan.projects.some((p) => p.error)
        ? `, ${plan.projects.filter((p) => p.error).length} could not be listed`
        : "") +
      (plan.ignored?.length
        ? `; ${plan.ignored.length} files at the source ignored (not distributions)`
        : ""),
  );
}

/** Selection warnings and pinned-file problems, on stderr (stdout may be the JSON document). */
export function printSelectionNotes(plan: Pick<Plan, "warnings" | "problems">): void {
  for (const w of plan.warnings) process.stderr.write(redactText(`warning: ${w}`) + "\n");
  for (const p of plan.problems) process.stderr.write(redactText(`problem: ${p.reason}`) + "\n");
}

/** The plan's selection notes as the journal keeps them for the report. */
export function selectionRows(
  plan: Pick<Plan, "warnings" | "problems" | "filteredProjects">,
): Omit<SelectionRow, "runId">[] {
  return [
    ...plan.warnings.map((text) => ({ kind: "warning" as const, project: null, filename: null, text })),
    ...plan.problems.map((p) => ({
      kind: "problem" as const,
      project: p.project,
      filename: p.filename ?? null,
      text: p.reason,
    })),
    ...plan.filteredProjects.map((p) => ({
      kind: "filtered-project" as const,
      project: p.project,
      filename: null,
      text: p.reason,
    })),
  ];
}

export function planJson(plan: Plan): Record<string, unknown> {
  return {
    source: plan.source,
    destination: plan.destination,
    counts: planCounts(plan),
    projects: plan.projects.map((p) => ({
      project: p.project,
      ...(p.error ? { error: p.error } : {}),
      files: p.entries.map((e) => ({
        ...fileJson(e.file),
        action: e.action,
        reason: e.reason,
        ...(e.rule ? { rule: e.rule } : {}),
      })),
    })),
    filteredProjects: plan.filteredProjects,
    warnings: plan.warnings,
    problems: plan.problems,
    ignored: plan.ignored ?? [],
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
        "source lists twice with different digests is invalid. Nothing is downloaded or uploaded.",
    )
    .addHelpText("after", REGISTRY_HELP);
  addConnectionOptions(addSelectionOptions(addFromTo(cmd)), true).action(async (opts: FromToOptions) => {
    const selection = await selectionFrom(opts);
    const rt = makeRuntime(opts);
    try {
      const src = await openFrom(opts.from, rt);
      const dst = await openTo(opts.to, rt);
      const plan = await makePlan(src, dst, { selection, listConcurrency: opts.concurrency });
      printPlan(plan, opts);
      if (opts.json) printJson(planJson(plan));
      const c = planCounts(plan);
      process.exitCode =
        c.conflict || c.invalid || plan.problems.length || plan.projects.some((p) => p.error) ? 1 : 0;
    } finally {
      await rt.close();
    }
  });
}
