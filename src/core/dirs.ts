/**
 * Making folders without ever looping. Node's `mkdir(..., { recursive: true })` climbs to the parent
 * on ENOENT and comes back down; where a parent exists but refuses children with ENOENT (`/proc`,
 * other pseudo file systems, a deleted working folder) it went round that loop forever at full CPU,
 * with the event loop blocked (so Ctrl-C and SIGTERM were not seen). This walks down once, one
 * plain `mkdir` per missing folder, and turns any refusal into a clear error.
 */
import { mkdirSync, statSync, type Stats } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { PyregError, type ErrorCode } from "./errors.js";

/** The absolute path, or a clear error when the working folder itself is gone. */
export function absolutePath(path: string, code: ErrorCode = "CONFIG"): string {
  if (isAbsolute(path)) return resolve(path);
  let cwd: string;
  try {
    cwd = process.cwd();
  } catch (err) {
    throw new PyregError(code, `the current folder no longer exists, so "${path}" cannot be found or made`, {
      hint: "cd into an existing folder (it was deleted or moved while the shell was in it), or give absolute paths",
      cause: err,
    });
  }
  return resolve(cwd, path);
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Makes `path` and its missing parents, top down, each once. Errors: `code` (STATE for the state
 * folder, CONFIG for a destination or served folder) naming the folder that could not be made.
 */
export function makeDirSync(path: string, what: string, code: ErrorCode = "CONFIG", mode?: number): string {
  const abs = absolutePath(path, code);
  const missing: string[] = [];
  let p = abs;
  let st = statOrUndefined(p);
  while (!st) {
    missing.push(p);
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
    st = statOrUndefined(p);
  }
  if (st && !st.isDirectory()) {
    throw new PyregError(code, `cannot use ${abs} as ${what}: ${p} is a file, not a folder`, {
      hint: `give ${what} a folder path`,
    });
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, mode === undefined ? undefined : { mode });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === "EEXIST" && statOrUndefined(dir)?.isDirectory()) continue;
      const why =
        e.code === "ENOENT"
          ? `${dirname(dir)} does not accept new folders (a system folder such as /proc, or it was just deleted)`
          : e.code === "EACCES" || e.code === "EPERM"
            ? `no permission to create it in ${dirname(dir)}`
            : e.code === "EROFS"
              ? "the file system is read-only"
              : (e.code ?? e.message);
      throw new PyregError(code, `cannot create ${what} ${abs}: ${why}`, {
        hint: `give ${what} a path in a writable folder`,
        cause: err,
      });
    }
  }
  return abs;
}
