/**
 * pylock.toml, PEP 751 (https://peps.python.org/pep-0751/, now the "pylock.toml specification"
 * at https://packaging.python.org/en/latest/specifications/pylock-toml/):
 * - `lock-version`, then `[[packages]]`, each with `name`, `version` (optional), `index` (the
 *   base URL of the index it came from), and exactly one source: `vcs`, `directory`, `archive`,
 *   or `sdist` and/or `wheels`;
 * - `[packages.sdist]` and each `[[packages.wheels]]`: `name` (the filename; when absent, taken
 *   from `url` or `path`), `url` and/or `path`, `size`, `upload-time`, and `hashes` (required: a
 *   table of algorithm → hex digest).
 */
import { PyregError } from "../errors.js";
import { normalizeName } from "../names.js";
import { filenameOfUrl } from "./hashes.js";
import { parseToml, Reader } from "./toml.js";
import type { LockedFile, LockedPackage, ParsedLock } from "./types.js";

function fileOf(r: Reader): LockedFile {
  const url = r.str("url");
  const path = r.str("path");
  const hashesR = r.table_("hashes");
  if (!hashesR) throw new PyregError("CONFIG", `${r.path}: ${r.where}: "hashes" is required (PEP 751)`);
  const hashes: Record<string, string> = {};
  for (const [k, v] of Object.entries(hashesR.table)) {
    if (typeof v !== "string")
      throw new PyregError("CONFIG", `${r.path}: ${hashesR.where}.${k} must be a string`);
    hashes[k.toLowerCase()] = v.toLowerCase();
  }
  return {
    filename: r.str("name") ?? (url ? filenameOfUrl(url) : path ? filenameOfUrl(path) : undefined),
    url,
    hashes,
    size: r.int("size"),
  };
}

export function parsePylock(text: string, path: string): ParsedLock {
  const root = new Reader(path, "pylock.toml", parseToml(text, path));
  const lockVersion = root.needStr("lock-version");
  const notes: string[] = [];
  if (!/^1(\.|$)/.test(lockVersion))
    throw new PyregError("CONFIG", `${path}: lock-version ${lockVersion} is not one pyreg reads (1.x)`, {
      hint: "PEP 751: tools must refuse a lock-version whose major number they do not know",
    });
  const indexes: string[] = [];
  const packages = root.tables("packages").map((p, i): LockedPackage => {
    const displayName = p.needStr("name");
    const where = `packages[${i}] (${displayName})`;
    const index = p.str("index");
    if (index && !indexes.includes(index)) indexes.push(index);
    const files: LockedFile[] = [];
    const sdist = p.table_("sdist");
    if (sdist) files.push(fileOf(sdist));
    for (const w of p.tables("wheels")) files.push(fileOf(w));
    const other = ["vcs", "directory", "archive"].find((k) => p.has(k));
    return {
      name: normalizeName(displayName),
      displayName,
      version: p.str("version"),
      index,
      files,
      uncheckable: other ? `from a ${other}, not an index` : undefined,
      where,
    };
  });
  return { format: "pylock", path, indexes, packages, notes };
}
