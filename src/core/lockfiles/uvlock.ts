/**
 * uv.lock (https://docs.astral.sh/uv/concepts/projects/layout/#the-lockfile; its format is
 * uv's own, versioned by the top-level `version`): `[[package]]` tables with `name`, `version`,
 * `source` (an inline table: `registry = INDEX-URL` for packages from an index; `editable`,
 * `virtual`, `path`, `directory`, `git` or `url` otherwise), `sdist = { url, hash, size }` and
 * `wheels = [{ url, hash, size }, ...]`, where `hash` is `sha256:HEX`
 * (https://docs.astral.sh/uv/concepts/resolution/#lockfile-versioning).
 */
import { PyregError } from "../errors.js";
import { normalizeName } from "../names.js";
import { filenameOfUrl, splitHash } from "./hashes.js";
import { parseToml, Reader } from "./toml.js";
import type { LockedFile, LockedPackage, ParsedLock } from "./types.js";

function fileOf(r: Reader): LockedFile {
  const url = r.str("url");
  const path = r.str("path") ?? r.str("filename");
  const hash = r.str("hash");
  const hashes: Record<string, string> = {};
  if (hash) {
    const [alg, hex] = splitHash(hash, r.where, r.path);
    hashes[alg] = hex;
  }
  return {
    filename: r.str("filename") ?? (url ? filenameOfUrl(url) : path ? filenameOfUrl(path) : undefined),
    url,
    hashes,
    size: r.int("size"),
  };
}

export function parseUvLock(text: string, path: string): ParsedLock {
  const root = new Reader(path, "uv.lock", parseToml(text, path));
  const version = root.int("version");
  if (version === undefined || version !== 1)
    throw new PyregError("CONFIG", `${path}: uv.lock version ${String(version)} is not one pyreg reads (1)`);
  const indexes: string[] = [];
  const packages = root.tables("package").map((p, i): LockedPackage => {
    const displayName = p.needStr("name");
    const where = `package[${i}] (${displayName})`;
    const source = p.table_("source");
    const registry = source?.str("registry");
    if (registry && !indexes.includes(registry)) indexes.push(registry);
    const files: LockedFile[] = [];
    const sdist = p.table_("sdist");
    if (sdist) files.push(fileOf(sdist));
    for (const w of p.tables("wheels")) files.push(fileOf(w));
    const kind = source ? Object.keys(source.table)[0] : undefined;
    return {
      name: normalizeName(displayName),
      displayName,
      version: p.str("version"),
      index: registry,
      files,
      uncheckable: registry
        ? undefined
        : kind
          ? `from ${kind} ${String(source?.table[kind])}, not an index`
          : "no source recorded",
      where,
    };
  });
  return { format: "uv", path, indexes, packages, notes: [] };
}
