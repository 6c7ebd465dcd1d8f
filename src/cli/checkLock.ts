import type { Command } from "commander";
import { finish } from "./outcome.js";
import { checkLocks } from "../core/cutover/checkLock.js";
import { readLockFile } from "../core/lockfiles/index.js";
import { endpointJson, human, makeRuntime, printJson, type CommonOptions } from "./common.js";
import { plural } from "../core/units.js";
import { redactText } from "../http/redact.js";
import { addLockOptions, openIndex, type LockFormatOption } from "./lockCommon.js";

export function registerCheckLock(program: Command): void {
  const cmd = program
    .command("check-lock")
    .argument("<file...>", "requirements.txt (with --hash), pylock.toml, uv.lock, poetry.lock or pdm.lock")
    .requiredOption(
      "--index <registry>",
      "the index the locks will be installed from: https://host/.../simple/, a KIND+https:// registry, or a folder",
    )
    .summary("check that every file a lock pins is served by an index with the locked sha256")
    .description(
      "Read each lock file and the index, and check every pinned file: the index must serve it, " +
        "with the sha256 the lock records (requirements.txt hashes are matched among the files of the " +
        "pinned version). Lists each missing, different or unverifiable file by package; packages not " +
        "taken from an index (paths, VCS, editable, unpinned) are listed as skipped. Exits 0 only when " +
        "every file checks, 1 otherwise, 2 when a lock or the index cannot be read.",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  pyreg check-lock uv.lock poetry.lock --index https://new.example/simple/\n" +
        "  pyreg check-lock requirements.txt --index ./mirror --json > check.json   # CI gate: exit code 0/1",
    );
  addLockOptions(cmd).action(
    async (files: string[], opts: CommonOptions & LockFormatOption & { index: string }) => {
      const locks = [];
      for (const f of files) locks.push((await readLockFile(f, opts.format)).lock);
      const rt = makeRuntime(opts);
      try {
        const index = await openIndex(opts.index, rt);
        const result = await checkLocks(locks, index, { concurrency: opts.concurrency });
        for (const l of result.locks) for (const n of l.notes) human(opts, `note: ${l.path}: ${n}`);
        const byPackage = new Map<string, typeof result.rows>();
        for (const r of result.rows) {
          if (r.status === "ok") continue;
          const key = `${r.lock}: ${r.package} ${r.version ?? ""}`.trim();
          byPackage.set(key, [...(byPackage.get(key) ?? []), r]);
        }
        for (const [key, rows] of byPackage) {
          human(opts, key);
          for (const r of rows)
            human(
              opts,
              `  ${r.status.padEnd(12)} ${r.filename ?? (r.lockedSha256 ? `sha256:${r.lockedSha256}` : "")}  (${r.detail})`,
            );
        }
        for (const e of result.errors)
          process.stderr.write(
            redactText(`failed: project ${e.package} could not be read: ${e.error}`) + "\n",
          );
        const c = result.counts;
        human(
          opts,
          `check-lock: ${c.ok} of ${plural(c.files, "locked file")} served by ${result.index} with the locked sha256` +
            (c.missing + c.different + c.unverifiable
              ? `; ${c.missing} missing, ${c.different} different, ${c.unverifiable} unverifiable`
              : "") +
            (c.skipped ? `; ${plural(c.skipped, "package")} skipped (not from an index)` : "") +
            (result.errors.length ? `; ${plural(result.errors.length, "package")} could not be read` : ""),
        );
        if (opts.json) {
          const { errors, index: _described, ...rest } = result;
          void _described;
          printJson("check-lock", {
            ...rest,
            index: endpointJson(index),
            projectErrors: errors.map((e) => ({ project: e.package, error: e.error })),
          });
        }
        finish(result.ok ? "ok" : "incomplete");
      } finally {
        await rt.close();
      }
    },
  );
}
