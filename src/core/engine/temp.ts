/**
 * The engine's temporary files: one folder per run (pyreg-run-PID-XXXXXX in the temporary folder),
 * removed at the end, and the folders of runs that died without cleaning up removed at the start.
 * Small files are kept in memory instead (see keptInMemory).
 */
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorMessage, PyregError } from "../errors.js";
import type { DistFile } from "../model.js";

/** Temporary folders are named pyreg-run-PID-XXXXXX: the owner's pid says when one is left over. */
const TMP_PREFIX = "pyreg-run-";

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the temporary folders of runs that died without cleaning up (kill -9, OOM, power cut):
 * those whose owner process no longer exists. A live pid (even a reused one) keeps its folder.
 */
export async function removeDeadRunsTemp(base: string): Promise<void> {
  const names = await readdir(base).catch(() => [] as string[]);
  for (const name of names) {
    const m = /^pyreg-run-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    await rm(join(base, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * Files no larger than this (divided among the files in flight, see runPlan) are kept in memory
 * instead of a temporary file: most registry files are small, and for them the temporary file's
 * open/write/close/read/unlink cost more than the transfer. Memory stays bounded: at most
 * MEMORY_BUDGET bytes are held at once, whatever the concurrency.
 */
export const MEMORY_BUDGET = 16 * 1024 * 1024;
export const MEMORY_FILE_MAX = 1024 * 1024;

/** The local disk, not the transfer: the whole run stops (every other file would fail alike). */
export function tempFileError(path: string, err: unknown): PyregError {
  return new PyregError("STATE", `cannot write the temporary file ${path}: ${errorMessage(err)}`, {
    hint: "free some space there, or point TMPDIR to a folder with room for the largest files in flight",
    cause: err,
  });
}

export function keptInMemory(file: DistFile, inMemoryMax: number): boolean {
  return file.size !== undefined && file.size <= inMemoryMax;
}

/** The run's temporary folder (in `base`, default the system's), after removing dead runs' folders. */
export async function makeRunTemp(base: string = tmpdir()): Promise<string> {
  await removeDeadRunsTemp(base);
  return mkdtemp(join(base, `${TMP_PREFIX}${process.pid}-`)).catch((err: unknown) => {
    throw new PyregError("STATE", `cannot create a temporary folder in ${base}: ${errorMessage(err)}`, {
      hint: "point TMPDIR to a writable folder with room for the largest files in flight",
      cause: err,
    });
  });
}

export async function removeRunTemp(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
