import type { Command } from "commander";
import { finish } from "./outcome.js";
import { PyregError } from "../core/errors.js";
import type { DistFile } from "../core/model.js";
import { list, type ListData } from "../core/usecases/list.js";
import type { Tagged } from "../core/usecases/result.js";
import {
  addConnectionOptions,
  addSelectionOptions,
  human,
  makeRuntime,
  printJsonStream,
  streamed,
  renderRuntimeEvent,
  selectionFrom,
  resolveRegistryArg,
  type CommonOptions,
} from "./common.js";
import { printSelectionNotes } from "./plan.js";
import { compareVersions } from "../core/versions.js";
import { formatTotal, plural } from "../core/units.js";
import { redactText } from "../http/redact.js";

export function registerList(program: Command): void {
  const cmd = program
    .command("list")
    .argument(
      "<source>",
      "a folder, a simple index URL (https://host/.../simple/), or a KIND+https:// registry",
    )
    .summary("show the projects, versions and files (sha256, size) of a registry")
    .description(
      "List every project, version and file of a registry, with each file's sha256 and size as the " +
        "registry publishes them (computed for folders). Says which kind of registry was detected and " +
        "which index was read.",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  pyreg list ./dist\n  pyreg list https://pypi.example.com/simple/ --include 'acme-*' --json",
    );
  addConnectionOptions(addSelectionOptions(cmd), false).action(
    async (source: string, opts: CommonOptions) => {
      const selection = await selectionFrom(opts);
      const named = resolveRegistryArg(source, opts, "source");
      if (named.pypirc) opts.fromPypirc = named.pypirc;
      const rt = makeRuntime(opts);
      let result: Tagged<ListData>;
      try {
        result = await list(named.spec, {
          ...opts,
          selection,
          runtime: rt,
          onEvent: (e) => renderRuntimeEvent(opts, e),
        });
      } finally {
        await rt.close();
      }
      if (result.status === "error") throw result.error;
      if (result.status === "interrupted") throw new PyregError("INTERRUPTED", result.message);
      const { projects: listed, filteredProjects, problems, errors, ignored } = result;
      // With --json the listing is the JSON document alone (stdout); stderr keeps only errors.
      const show = (text: string): void => {
        if (!opts.json) human(opts, text);
      };
      show(`# ${result.source.description}`);
      let files = 0;
      let bytes = 0;
      let unknown = 0;
      let left = 0;
      for (const { project, files: fl, filtered } of listed) {
        const byVersion = new Map<string, DistFile[]>();
        for (const f of fl) byVersion.set(f.version, [...(byVersion.get(f.version) ?? []), f]);
        left += filtered.length;
        show(`${project}`);
        for (const v of [...byVersion.keys()].sort(compareVersions)) {
          show(`  ${v || "(unknown version)"}`);
          for (const f of (byVersion.get(v) ?? []).sort((a, b) => a.filename.localeCompare(b.filename))) {
            files++;
            bytes += f.size ?? 0;
            if (f.size === undefined) unknown++;
            const notes = f.notes
              ? "  " +
                Object.entries(f.notes)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(" ")
              : "";
            show(
              `    ${f.filename}  sha256=${f.hashes["sha256"] ?? "(none)"}  size=${f.size ?? "unknown"}${f.yanked ? "  yanked" : ""}${notes}`,
            );
          }
        }
        for (const x of filtered.sort((a, b) => a.file.filename.localeCompare(b.file.filename)))
          if (!opts.quiet) show(`  - ${x.file.filename}  (${x.reason})`);
      }
      for (const p of filteredProjects) if (!opts.quiet) show(`- project ${p.project}  (${p.reason})`);
      for (const i of ignored) show(`ignored: ${i.name}  (${i.reason})`);
      for (const e of errors)
        process.stderr.write(
          redactText(`failed: project ${e.project} could not be listed: ${e.error}`) + "\n",
        );
      printSelectionNotes({ warnings: result.warnings, problems });
      show(
        `${plural(listed.length, "project")}, ${plural(files, "file")}, ${formatTotal(bytes, unknown)}` +
          (left || filteredProjects.length
            ? `; left out by the selection: ${plural(left, "file")}, ${plural(filteredProjects.length, "project")}`
            : "") +
          (errors.length ? `; ${plural(errors.length, "project")} could not be listed` : "") +
          (ignored.length ? `; ${plural(ignored.length, "file")} ignored (not distributions)` : ""),
      );
      if (opts.json) {
        await printJsonStream("list", {
          source: result.source,
          projects: streamed(listed, (l) => ({
            project: l.project,
            files: l.files.map(fileJson),
            filtered: l.filtered.map((x) => ({ ...fileJson(x.file), rule: x.rule, reason: x.reason })),
          })),
          filteredProjects,
          warnings: result.warnings,
          selectionProblems: problems,
          projectErrors: errors,
          ignored,
        });
      }
      finish(result.status);
    },
  );
}

export function fileJson(f: DistFile): Record<string, unknown> {
  return {
    project: f.project,
    version: f.version,
    filename: f.filename,
    sha256: f.hashes["sha256"] ?? null,
    size: f.size ?? null,
    ...(f.requiresPython ? { requiresPython: f.requiresPython } : {}),
    ...(f.yanked ? { yanked: f.yanked } : {}),
    ...(f.uploadTime ? { uploadTime: f.uploadTime } : {}),
    ...(f.notes ? { notes: f.notes } : {}),
  };
}
