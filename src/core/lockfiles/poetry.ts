/**
 * poetry.lock (https://python-poetry.org/docs/basic-usage/#installing-with-poetrylock; the format
 * is Poetry's own, versioned by `[metadata] lock-version`):
 * - `[[package]]` with `name`, `version`, `files = [{file = FILENAME, hash = "sha256:HEX"}]`
 *   (lock-version 2.x; 1.x kept them in `[metadata.files]` under the package name);
 * - `[package.source]` with `type = "legacy"` and `url` for a package from a configured index
 *   (https://python-poetry.org/docs/repositories/); no source table means PyPI; `git`, `url`,
 *   `file` and `directory` sources are not indexes.
 */
import { PyregError } from "../errors.js";
import { normalizeName } from "../names.js";
import { splitHash } from "./hashes.js";
import { isTable, parseToml, Reader } from "./toml.js";
import type { LockedFile, LockedPackage, ParsedLock } from "./types.js";

/** `files` entries of poetry.lock and pdm.lock: {file|url, hash}. */
export function filesOf(list: Reader[]): LockedFile[] {
  return list.map((r) => {
    const url = r.str("url");
    const file = r.str("file");
    const hash = r.str("hash");
    const hashes: Record<string, string> = {};
    if (hash) {
      const [alg, hex] = splitHash(hash, r.where, r.path);
      hashes[alg] = hex;
    }
    const fromUrl = url ? decodeURIComponent(new URL(url, "file:///").pathname.split("/").pop() ?? "") : "";
    return { filename: file ?? (fromUrl || undefined), url, hashes };
  });
}

export function legacyFiles(root: Reader, key: string): Reader[] {
  const files = root.table_("metadata")?.table_("files");
  if (!files) return [];
  const v = files.table[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || !v.every(isTable))
    throw new PyregError("CONFIG", `${root.path}: metadata.files."${key}" must be an array of tables`);
  return v.map((t, i) => new Reader(root.path, `metadata.files."${key}"[${i}]`, t));
}

export function parsePoetryLock(text: string, path: string): ParsedLock {
  const root = new Reader(path, "poetry.lock", parseToml(text, path));
  const lockVersion = root.table_("metadata")?.str("lock-version");
  if (!lockVersion || !/^[12]\./.test(lockVersion))
    throw new PyregError(
      "CONFIG",
      `${path}: poetry.lock lock-version ${String(lockVersion)} is not one pyreg reads (1.x, 2.x)`,
    );
  const indexes: string[] = [];
  const packages = root.tables("package").map((p, i): LockedPackage => {
    const displayName = p.needStr("name");
    const where = `package[${i}] (${displayName})`;
    const source = p.table_("source");
    const type = source?.str("type");
    const url = source?.str("url");
    const index = type === "legacy" ? url : undefined;
    if (index && !indexes.includes(index)) indexes.push(index);
    const files = filesOf(p.has("files") ? p.tables("files") : legacyFiles(root, displayName));
    return {
      name: normalizeName(displayName),
      displayName,
      version: p.str("version"),
      // No source table: PyPI (Poetry's default source).
      index,
      files,
      uncheckable:
        source && type !== "legacy"
          ? `from a ${String(type)} source (${String(url)}), not an index`
          : undefined,
      where,
    };
  });
  return { format: "poetry", path, indexes, packages, notes: [] };
}
