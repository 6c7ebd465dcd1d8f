/**
 * requirements.txt as pip reads it, with `==` pins and `--hash` options (what `pip-compile
 * --generate-hashes`, `pdm export` and `uv pip compile --generate-hashes` write).
 *
 * The format (https://pip.pypa.io/en/stable/reference/requirements-file-format/):
 * - a line ending in a backslash continues on the next line;
 * - `#` at the start of a line, or after whitespace, starts a comment;
 * - lines starting with `-` are options (`-i/--index-url`, `--extra-index-url`, `-r`, `-c`,
 *   `-f/--find-links`, `--trusted-host`, `-e`...);
 * - other lines are a requirement (PEP 508) followed by per-requirement options such as
 *   `--hash=sha256:HEX` (https://pip.pypa.io/en/stable/topics/secure-installs/).
 */
import { PyregError } from "../errors.js";
import { normalizeName } from "../names.js";
import { splitHash } from "./hashes.js";
import type { LockedPackage, ParsedLock } from "./types.js";

/** Options that take a value, long and short forms (pip's req_file.py SUPPORTED_OPTIONS). */
const VALUE_OPTIONS = new Set([
  "-i",
  "--index-url",
  "--extra-index-url",
  "-r",
  "--requirement",
  "-c",
  "--constraint",
  "-f",
  "--find-links",
  "--trusted-host",
  "-e",
  "--editable",
  "--no-binary",
  "--only-binary",
  "--use-feature",
  "--config-settings",
  "--global-option",
]);

interface LogicalLine {
  text: string;
  line: number;
}

/** Physical lines → logical lines: comments removed, backslash continuations joined. */
function logicalLines(text: string): LogicalLine[] {
  const out: LogicalLine[] = [];
  let buf = "";
  let start = 0;
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    // pip drops `(^|\s+)#.*$` from each line.
    const line = raw.replace(/(^|\s+)#.*$/, "");
    if (buf === "") start = i + 1;
    if (line.endsWith("\\")) {
      buf += line.slice(0, -1) + " ";
      return;
    }
    buf += line;
    if (buf.trim()) out.push({ text: buf.trim(), line: start });
    buf = "";
  });
  if (buf.trim()) out.push({ text: buf.trim(), line: start });
  return out;
}

/** Splits on whitespace; `--opt=value` and `--opt value` both kept as [opt, value]. */
function tokens(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

const NAME = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$/s;

export function parseRequirements(text: string, path: string): ParsedLock {
  const lock: ParsedLock = { format: "requirements", path, indexes: [], packages: [], notes: [] };
  const note = (m: string): void => {
    if (!lock.notes.includes(m)) lock.notes.push(m);
  };
  for (const { text: line, line: no } of logicalLines(text)) {
    const where = `line ${no}`;
    if (line.startsWith("-")) {
      const t = tokens(line);
      const first = t[0] as string;
      const eq = first.indexOf("=");
      const [opt, value] = eq > 0 ? [first.slice(0, eq), first.slice(eq + 1)] : [first, t[1]];
      // `-ihttps://...`: short options glued to their value.
      const glued =
        /^-[irecf]./.exec(opt) && !opt.startsWith("--") ? [opt.slice(0, 2), opt.slice(2)] : undefined;
      const name = glued ? (glued[0] as string) : opt;
      const val = glued ? glued[1] : value;
      if (name === "-i" || name === "--index-url" || name === "--extra-index-url") {
        if (!val) throw new PyregError("CONFIG", `${path}: ${where}: ${name} needs a URL`);
        if (!lock.indexes.includes(val)) lock.indexes.push(val);
        if (name === "--extra-index-url")
          note(
            `${where}: --extra-index-url: pip takes each package from whichever index has the best version`,
          );
      } else if (name === "-e" || name === "--editable") {
        lock.packages.push({
          name: val ?? "",
          displayName: val ?? "",
          version: undefined,
          index: undefined,
          files: [],
          uncheckable: `an editable requirement (${val ?? ""})`,
          where,
        });
      } else if (name === "-r" || name === "--requirement" || name === "-c" || name === "--constraint") {
        note(`${where}: ${name} ${val ?? ""} is not followed: pass that file too`);
      } else if (!VALUE_OPTIONS.has(name) && !name.startsWith("--")) {
        throw new PyregError("CONFIG", `${path}: ${where}: unknown option ${name}`);
      }
      continue;
    }
    lock.packages.push(parseRequirementLine(line, where, path));
  }
  return lock;
}

function parseRequirementLine(line: string, where: string, path: string): LockedPackage {
  // The requirement ends where its first per-requirement option (` --xxx`) starts.
  const optAt = line.search(/\s--[a-z]/);
  const spec = (optAt >= 0 ? line.slice(0, optAt) : line).trim();
  const options = optAt >= 0 ? tokens(line.slice(optAt)) : [];
  const hashes: string[] = [];
  for (let i = 0; i < options.length; i++) {
    const o = options[i] as string;
    if (o === "--hash") {
      const v = options[++i];
      if (!v) throw new PyregError("CONFIG", `${path}: ${where}: --hash needs a value`);
      hashes.push(v);
    } else if (o.startsWith("--hash=")) hashes.push(o.slice("--hash=".length));
  }
  const m = NAME.exec(spec);
  if (!m || /^[a-z][a-z0-9+.-]*:\/\//i.test(spec) || spec.startsWith(".") || spec.startsWith("/")) {
    return {
      name: spec,
      displayName: spec,
      version: undefined,
      index: undefined,
      files: [],
      uncheckable: `not a named requirement (${spec})`,
      where,
    };
  }
  const displayName = m[1] as string;
  const rest = (m[3] ?? "").split(";")[0]?.trim() ?? "";
  const pkg: LockedPackage = {
    name: normalizeName(displayName),
    displayName,
    version: undefined,
    index: undefined,
    files: hashes.map((h) => {
      const [alg, hex] = splitHash(h, where, path);
      return { filename: undefined, url: undefined, hashes: { [alg]: hex } };
    }),
    where,
  };
  if (rest.startsWith("@")) {
    pkg.uncheckable = `a direct reference (${rest})`;
    return pkg;
  }
  // Only `==V` / `===V` (no wildcard, nothing else) pins one version (PEP 440 version matching).
  const pin = /^===?\s*([^\s,*]+)$/.exec(rest);
  if (pin) pkg.version = pin[1];
  else pkg.uncheckable = rest ? `not pinned to one version (${rest})` : "not pinned to a version";
  return pkg;
}
