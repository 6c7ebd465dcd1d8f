/** What check-lock and rewrite-lock share on the command line. */
import { Option, type Command } from "commander";
import type { Source } from "../core/model.js";
import { LOCK_FORMATS, type LockFormat } from "../core/lockfiles/index.js";
import { openSource } from "../registries/index.js";
import { parseSpec } from "../registries/spec.js";
import { addConnectionOptions, context, type Runtime } from "./common.js";

export function addLockOptions(cmd: Command): Command {
  cmd
    .addOption(
      new Option("--format <format>", "the lock's format when its name does not say it").choices([
        ...LOCK_FORMATS,
      ]),
    )
    .option("--json", "print a machine-readable result on stdout (human text goes to stderr)")
    .option("-q, --quiet", "only errors and the final summary on stderr");
  return addConnectionOptions(cmd, false);
}

export type LockFormatOption = { format?: LockFormat };

/** The index consumers will read, opened as pip reads it; credentials from PYREG_TO_* or ~/.netrc. */
export function openIndex(spec: string, rt: Runtime): Promise<Source> {
  return openSource(parseSpec(spec), context(rt, "destination"));
}
