/**
 * pdm.lock (https://pdm-project.org/latest/usage/lockfile/; PDM's own format, versioned by
 * `[metadata] lock_version`): `[[package]]` with `name` and `version`; the files with their
 * hashes either in `[metadata.files]` under "NAME VERSION" (lock_version 4.0) or in the
 * package's `files` (4.1 and later), each `{url = ..., hash = "sha256:HEX"}` or
 * `{file = FILENAME, hash = ...}`. Packages with `path`, `url`, `git` or `editable` are not
 * from an index.
 */
import { PyregError } from "../errors.js";
import { normalizeName } from "../names.js";
import { filesOf, legacyFiles } from "./poetry.js";
import { parseToml, Reader } from "./toml.js";
import type { LockedPackage, ParsedLock } from "./types.js";

export function parsePdmLock(text: string, path: string): ParsedLock {
  const root = new Reader(path, "pdm.lock", parseToml(text, path));
  const lockVersion = root.table_("metadata")?.str("lock_version");
  if (!lockVersion || !/^4\./.test(lockVersion))
    throw new PyregError(
      "CONFIG",
      `${path}: pdm.lock lock_version ${String(lockVersion)} is not one pyreg reads (4.x)`,
    );
  const packages = root.tables("package").map((p, i): LockedPackage => {
    const displayName = p.needStr("name");
    const version = p.str("version");
    const where = `package[${i}] (${displayName})`;
    const other = ["path", "url", "git", "editable"].find((k) => p.has(k));
    const files = filesOf(
      p.has("files") ? p.tables("files") : legacyFiles(root, `${displayName} ${version ?? ""}`),
    );
    return {
      name: normalizeName(displayName),
      displayName,
      version,
      index: undefined,
      files,
      uncheckable: other ? `from a ${other} (${String(p.table[other])}), not an index` : undefined,
      where,
    };
  });
  return { format: "pdm", path, indexes: [], packages, notes: [] };
}
