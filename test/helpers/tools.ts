/**
 * Which external programs the tests can use. The skip conditions of the tests are the same as
 * scripts/peers.sh's checks: a program counts when it is on PATH, wherever it is installed.
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** The full path of a program on PATH, or undefined. */
export function commandPath(name: string, path = process.env["PATH"] ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

let python: string | undefined;
/**
 * The interpreter that `python3` on PATH starts, resolved once per test process (its
 * sys.executable). Where python3 is a pyenv shim (a bash script that runs pyenv, which then starts
 * Python), each start through the shim cost about 0.13 s of CPU more than the interpreter itself,
 * in a suite that starts Python about a hundred times.
 */
export function python3(): string {
  if (python === undefined) {
    const r = spawnSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" });
    const path = r.status === 0 ? r.stdout.trim() : "";
    // When it cannot be told (no python3, or no sys.executable), "python3" fails as it would.
    python = path || "python3";
  }
  return python;
}
