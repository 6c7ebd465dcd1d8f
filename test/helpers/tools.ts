/**
 * Which external programs the tests can use. The skip conditions of the tests are the same as
 * scripts/test.sh's checks: a program counts when it is on PATH, wherever it is installed.
 */
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
