import type { Command } from "commander";
import { finish } from "./outcome.js";
import { planRewrite } from "../core/cutover/rewriteLock.js";
import { writeRewrittenLock } from "../core/cutover/writeLock.js";
import { readLockFile } from "../core/lockfiles/index.js";
import { redactText } from "../http/redact.js";
import { endpointJson, makeRuntime, printJson, type CommonOptions } from "./common.js";
import { plural } from "../core/units.js";
import { addLockOptions, openIndex, type LockFormatOption } from "./lockCommon.js";

export function registerRewriteLock(program: Command): void {
  const cmd = program
    .command("rewrite-lock")
    .argument("<file>", "uv.lock, poetry.lock, pylock.toml, pdm.lock or requirements.txt")
    .requiredOption("--from <url>", "the old index URL, as the lock names it")
    .requiredOption("--to <url>", "the new index URL consumers will use (https://host/.../simple/)")
    .option(
      "--write",
      "write the rewritten lock (the original is kept as FILE.orig); without it, only show the diff",
    )
    .summary("point a lock's index and file URLs at the new registry, after checking it serves every file")
    .description(
      "Check that the new index serves every file the lock takes from the old one, with the locked " +
        "sha256, then rewrite the index and file URLs the lock embeds. By default nothing is written: " +
        "the diff is printed (a dry run). With --write the original is kept as FILE.orig (or FILE.orig.2...) " +
        "and FILE is replaced. Nothing is rewritten when one file is missing or different (exit 1). " +
        "Credentials in --to are never written into the lock.",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  pyreg rewrite-lock uv.lock --from https://old.example/simple --to https://new.example/simple/\n" +
        "  pyreg rewrite-lock uv.lock --from https://old.example/simple --to https://new.example/simple/ --write",
    );
  addLockOptions(cmd).action(
    async (
      file: string,
      opts: CommonOptions & LockFormatOption & { from: string; to: string; write?: boolean },
    ) => {
      const { text, lock } = await readLockFile(file, opts.format);
      const rt = makeRuntime(opts);
      // stdout carries the diff (or the JSON): every message goes to stderr.
      const human = (_o: unknown, line: string): void => void process.stderr.write(redactText(line) + "\n");
      try {
        const index = await openIndex(opts.to, rt);
        const plan = await planRewrite(text, lock, opts.from, opts.to, index, {
          concurrency: opts.concurrency,
        });
        for (const k of plan.kept) human(opts, `kept         ${k.package}  (${k.reason})`);
        for (const p of plan.problems)
          human(
            opts,
            `${p.status.padEnd(12)} ${p.package} ${p.version ?? ""}: ${p.filename ?? (p.lockedSha256 ? `sha256:${p.lockedSha256}` : "")}  (${p.detail})`,
          );
        for (const e of plan.errors)
          human(opts, `failed: project ${e.package} could not be read: ${e.error}`);
        let backup: string | undefined;
        if (plan.newText === undefined) {
          human(
            opts,
            `rewrite-lock: ${file} not rewritten: ${plan.problems.length + plan.errors.length} of its files are not served by ${plan.to} with the locked sha256`,
          );
        } else {
          if (!opts.json) process.stdout.write(plan.diff ?? "");
          if (opts.write) backup = await writeRewrittenLock(file, plan.newText);
          human(
            opts,
            `rewrite-lock: ${plural(plan.moved.length, "package")}, ${plural(plan.replacements.length, "URL")} from ${plan.from} to ${plan.to}` +
              (opts.write
                ? `; written to ${file} (the original is kept as ${backup ?? ""})`
                : "; dry run, nothing written: run again with --write to apply"),
          );
        }
        if (opts.json) {
          const { newText: _omit, problems, errors, ...rest } = plan;
          void _omit;
          printJson("rewrite-lock", {
            ...rest,
            index: endpointJson(index),
            notVerified: problems,
            projectErrors: errors.map((e) => ({ project: e.package, error: e.error })),
            ok: plan.newText !== undefined,
            written: backup !== undefined,
            backup,
          });
        }
        finish(plan.newText === undefined ? "incomplete" : "ok");
      } finally {
        await rt.close();
      }
    },
  );
}
