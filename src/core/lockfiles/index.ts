/**
 * Lock-file parsers: requirements.txt (with == pins and --hash), pylock.toml (PEP 751), uv.lock,
 * poetry.lock and pdm.lock, each into one shape (ParsedLock): per pinned package its normalized
 * name, version, and the locked files (filename and URL where known, hashes).
 */
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { PyregError } from "../errors.js";
import { parsePdmLock } from "./pdm.js";
import { parsePoetryLock } from "./poetry.js";
import { parsePylock } from "./pylock.js";
import { parseRequirements } from "./requirements.js";
import { parseUvLock } from "./uvlock.js";
import { LOCK_FORMATS, type LockFormat, type ParsedLock } from "./types.js";

export * from "./types.js";
export { parseRequirements, parsePylock, parseUvLock, parsePoetryLock, parsePdmLock };

/**
 * The format of a lock file from its name: uv.lock, poetry.lock, pdm.lock, pylock.toml and
 * pylock.NAME.toml (PEP 751's names), *.txt / *.in / requirements* for pip requirements.
 */
export function formatOfName(path: string): LockFormat | undefined {
  const name = basename(path).toLowerCase();
  if (name === "uv.lock") return "uv";
  if (name === "poetry.lock") return "poetry";
  if (name === "pdm.lock") return "pdm";
  if (/^pylock\.([^.]+\.)?toml$/.test(name)) return "pylock";
  if (name.endsWith(".txt") || name.includes("requirements")) return "requirements";
  return undefined;
}

export function parseLockText(text: string, path: string, format?: LockFormat): ParsedLock {
  const f = format ?? formatOfName(path);
  switch (f) {
    case "requirements":
      return parseRequirements(text, path);
    case "pylock":
      return parsePylock(text, path);
    case "uv":
      return parseUvLock(text, path);
    case "poetry":
      return parsePoetryLock(text, path);
    case "pdm":
      return parsePdmLock(text, path);
    case undefined:
      throw new PyregError("USAGE", `cannot tell which kind of lock file ${path} is from its name`, {
        hint: `name it uv.lock, poetry.lock, pdm.lock, pylock.toml or *.txt, or pass --format (${LOCK_FORMATS.join(", ")})`,
      });
  }
}

export async function readLockFile(
  path: string,
  format?: LockFormat,
): Promise<{ text: string; lock: ParsedLock }> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new PyregError("USAGE", `cannot read lock file ${path}: ${(err as Error).message}`);
  }
  return { text, lock: parseLockText(text, path, format) };
}
