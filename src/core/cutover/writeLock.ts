/** Writes a rewritten lock: the original kept beside it (never overwritten), the new text renamed into place. */
import { constants } from "node:fs";
import { copyFile, rename, writeFile, unlink } from "node:fs/promises";
import { PyregError } from "../errors.js";

/** Copies FILE to FILE.orig (or FILE.orig.2, .3... when taken), then replaces FILE atomically. */
export async function writeRewrittenLock(path: string, newText: string): Promise<string> {
  let backup: string | undefined;
  for (let n = 1; n < 100 && !backup; n++) {
    const candidate = n === 1 ? `${path}.orig` : `${path}.orig.${n}`;
    try {
      await copyFile(path, candidate, constants.COPYFILE_EXCL);
      backup = candidate;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST")
        throw new PyregError(
          "STATE",
          `cannot keep the original ${path} as ${candidate}: ${(err as Error).message}`,
        );
    }
  }
  if (!backup) throw new PyregError("STATE", `${path}.orig to ${path}.orig.99 all exist: move some away`);
  const tmp = `${path}.pyreg-tmp-${process.pid}`;
  try {
    await writeFile(tmp, newText, { flag: "wx" });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new PyregError("STATE", `cannot write ${path}: ${(err as Error).message}`, {
      hint: `the original is unchanged (and copied to ${backup})`,
    });
  }
  return backup;
}
