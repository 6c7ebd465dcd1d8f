/**
 * Selection rules as data: what the user asked to move, one object per rule, each named after the
 * option that made it (the name is what plans, reports and warnings show). Built here from the
 * options, checked once (bad input is a usage error naming the option), applied in ./index.ts.
 *
 * Project names are PEP 503 normalized on both sides; versions and specifiers are PEP 440, read
 * with @renovatebot/pep440.
 */
import { validRange } from "@renovatebot/pep440";
import { PyregError } from "../errors.js";
import { normalizeName } from "../names.js";
import { PACKAGE_TYPES, PLATFORM_FAMILIES, type PackageType } from "./tags.js";

/** A file pinned by a lock file: by filename and/or sha256 (both when the lock gives both). */
export interface PinnedFile {
  filename?: string | undefined;
  sha256?: string | undefined;
}

/** One `name==version` of a lock, with the files it allows (none listed: every file of it). */
export interface Pin {
  /** Normalized project name. */
  project: string;
  version: string;
  files: PinnedFile[];
  /** Where the pin comes from, for messages: "requirements.txt:12", "uv.lock". */
  origin: string;
}

export type Rule =
  /** Keeps the files of matching projects (whose version is in the specifier set, when given). */
  | { kind: "include"; name: string; glob: string; specifier?: string | undefined }
  /** Leaves out matching projects (only the versions in the specifier set, when given). */
  | { kind: "exclude"; name: string; glob: string; specifier?: string | undefined }
  /** Leaves out pre-releases (PEP 440: a, b, rc and dev releases). */
  | { kind: "prereleases"; name: string }
  | { kind: "package-types"; name: string; types: PackageType[] }
  /** Wheels: keep (or leave out) by platform tag; patterns are family names or tag globs. */
  | { kind: "platforms"; name: string; keep: boolean; patterns: string[] }
  | { kind: "python-tags"; name: string; keep: boolean; patterns: string[] }
  /** at: microseconds since 1970 (PEP 700 upload times have microseconds; Date has milliseconds). */
  | { kind: "uploaded"; name: string; bound: "since" | "before"; at: number }
  | { kind: "max-file-size"; name: string; bytes: number }
  /** Keeps exactly the files the lock files pin. */
  | { kind: "requirements"; name: string; pins: Pin[]; notes: string[] }
  /** Per project, keeps the files of the N highest versions (PEP 440 order) left by the other rules. */
  | { kind: "latest"; name: string; count: number };

/** What a library caller or the CLI asks for. Every field is optional: none means "everything". */
export interface SelectionOptions {
  include?: readonly string[];
  exclude?: readonly string[];
  prereleases?: "include" | "exclude";
  packageTypes?: readonly string[];
  platforms?: readonly string[];
  excludePlatforms?: readonly string[];
  pythonTags?: readonly string[];
  excludePythonTags?: readonly string[];
  latest?: number;
  uploadedSince?: string;
  uploadedBefore?: string;
  maxFileSize?: string | number;
  /** Pins already read from lock files (see ../locks for reading them). */
  pins?: readonly Pin[];
  /** The lock files' paths, for the rule's name. */
  requirements?: readonly string[];
  /** What the locks pin that cannot be moved (shown as warnings). */
  lockNotes?: readonly string[];
}

function usage(message: string, hint?: string): PyregError {
  return new PyregError("USAGE", message, hint ? { hint } : {});
}

/** Splits "a,b c" lists given once or repeated. */
export function listOf(values: readonly string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(/[\s,]+/)).filter((v) => v.length > 0);
}

const SPEC_START = /[<>=!~]/;

/**
 * `acme-utils`, `acme-*`, `acme-utils>=2,<3`, `Acme_Utils ~= 1.4`: a project glob (PEP 503
 * normalized) optionally followed by a PEP 440 specifier set.
 */
export function parseProjectSpec(option: string, raw: string): { glob: string; specifier?: string } {
  const text = raw.trim();
  const at = text.search(SPEC_START);
  const namePart = (at < 0 ? text : text.slice(0, at)).trim();
  const spec = at < 0 ? undefined : text.slice(at).trim();
  if (!namePart || !/^[A-Za-z0-9._*?[\]!-]+$/.test(namePart)) {
    throw usage(
      `${option} "${raw}": expected a project name or glob, optionally followed by a version specifier`,
      `e.g. ${option} 'acme-*' or ${option} 'acme-utils>=2,<3'`,
    );
  }
  if (spec !== undefined && !validRange(spec)) {
    throw usage(
      `${option} "${raw}": "${spec}" is not a PEP 440 version specifier set`,
      "specifiers are comma-separated clauses such as >=2,<3 or ==2.* or ~=1.4",
    );
  }
  // Runs of "-", "_" and "." are one "-" (PEP 503); glob characters are kept as they are.
  const glob = namePart.replace(/[-_.]+/g, "-").toLowerCase();
  return spec === undefined ? { glob } : { glob, specifier: spec };
}

const TAG_GLOB = /^[a-z0-9_.*?[\]!-]+$/;

function tagPatterns(option: string, values: readonly string[], families: boolean): string[] {
  const list = listOf(values).map((v) => v.toLowerCase());
  for (const v of list) {
    if (!TAG_GLOB.test(v)) {
      throw usage(
        `${option}: "${v}" is not a ${families ? "platform name or wheel platform tag glob" : "wheel python tag glob"}`,
        families
          ? `use ${PLATFORM_FAMILIES.join(", ")} or a glob of platform tags such as '*musllinux*' or 'manylinux*_x86_64'`
          : "use python tags or globs such as cp27, py2, 'cp3*'",
      );
    }
  }
  if (!list.length) throw usage(`${option} needs at least one value`);
  return list;
}

const DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * An ISO 8601 time as microseconds since 1970, or undefined. Without a zone it is UTC; a date
 * alone is midnight UTC. Days that do not exist (2023-02-29) are undefined.
 */
export function isoMicros(raw: string): number | undefined {
  const m = DATE.exec(raw.trim());
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Date.parse would roll 2023-02-29 over to March 1st.
  if (mo < 1 || mo > 12 || d < 1 || d > new Date(Date.UTC(y, mo, 0)).getUTCDate()) return undefined;
  const zone = m[8] ?? "Z";
  const offset = zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone;
  const ms = Date.parse(
    m[4]
      ? `${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? "00"}${offset}`
      : `${m[1]}-${m[2]}-${m[3]}T00:00:00Z`,
  );
  if (Number.isNaN(ms)) return undefined;
  // Date keeps milliseconds; PEP 700 upload times have microseconds: keep them.
  return ms * 1000 + Number((m[7] ?? "").padEnd(6, "0").slice(0, 6));
}

/** YYYY-MM-DD (midnight UTC) or an ISO 8601 date-time; without a zone it is UTC. */
export function parseDate(option: string, raw: string): number {
  const t = isoMicros(raw);
  if (t !== undefined) return t;
  throw usage(
    `${option} "${raw}" is not a date`,
    "use YYYY-MM-DD (midnight UTC) or an ISO 8601 date-time such as 2024-05-01T12:00:00Z",
  );
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** 500000, 500kB, 50MB, 1.5GiB: SI units are powers of 1000, IEC units (KiB...) of 1024. */
export function parseSize(option: string, raw: string | number): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(String(raw).trim());
  const factor = m ? SIZE_UNITS[(m[2] || "b").toLowerCase()] : undefined;
  if (!m || factor === undefined) {
    throw usage(
      `${option} "${raw}" is not a size`,
      "use bytes or a number with B, kB, MB, GB, TB (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024)",
    );
  }
  return Math.floor(Number(m[1]) * factor);
}

/** The rules asked for, in the order they are applied (--latest last: it ranks what is left). */
export function rulesFrom(opts: SelectionOptions): Rule[] {
  const rules: Rule[] = [];
  for (const raw of opts.include ?? []) {
    rules.push({ kind: "include", name: `--include ${raw}`, ...parseProjectSpec("--include", raw) });
  }
  for (const raw of opts.exclude ?? []) {
    rules.push({ kind: "exclude", name: `--exclude ${raw}`, ...parseProjectSpec("--exclude", raw) });
  }
  if (opts.prereleases !== undefined && opts.prereleases !== "include") {
    if (opts.prereleases !== "exclude")
      throw usage(`--prereleases takes include or exclude, not "${String(opts.prereleases)}"`);
    rules.push({ kind: "prereleases", name: "--prereleases exclude" });
  }
  if (opts.packageTypes !== undefined) {
    const types = listOf(opts.packageTypes).map((t) => t.toLowerCase());
    const bad = types.filter((t) => !(PACKAGE_TYPES as readonly string[]).includes(t));
    if (bad.length || !types.length) {
      throw usage(
        `--package-types: ${bad.length ? `unknown type ${bad.map((b) => `"${b}"`).join(", ")}` : "no type given"}`,
        `choose among ${PACKAGE_TYPES.join(", ")} (comma-separated); "other" is any file that is neither a wheel nor an sdist (.egg, .exe...)`,
      );
    }
    rules.push({
      kind: "package-types",
      name: `--package-types ${types.join(",")}`,
      types: types as PackageType[],
    });
  }
  for (const [option, values, keep, families] of [
    ["--platforms", opts.platforms, true, true],
    ["--exclude-platforms", opts.excludePlatforms, false, true],
    ["--python-tags", opts.pythonTags, true, false],
    ["--exclude-python-tags", opts.excludePythonTags, false, false],
  ] as const) {
    if (values === undefined || !values.length) continue;
    const patterns = tagPatterns(option, values, families);
    rules.push({
      kind: families ? "platforms" : "python-tags",
      name: `${option} ${patterns.join(",")}`,
      keep,
      patterns,
    });
  }
  if (opts.uploadedSince !== undefined)
    rules.push({
      kind: "uploaded",
      name: `--uploaded-since ${opts.uploadedSince}`,
      bound: "since",
      at: parseDate("--uploaded-since", opts.uploadedSince),
    });
  if (opts.uploadedBefore !== undefined)
    rules.push({
      kind: "uploaded",
      name: `--uploaded-before ${opts.uploadedBefore}`,
      bound: "before",
      at: parseDate("--uploaded-before", opts.uploadedBefore),
    });
  if (opts.maxFileSize !== undefined)
    rules.push({
      kind: "max-file-size",
      name: `--max-file-size ${opts.maxFileSize}`,
      bytes: parseSize("--max-file-size", opts.maxFileSize),
    });
  if (opts.pins !== undefined) {
    const files = opts.requirements?.length ? opts.requirements.join(" ") : "(lock files)";
    rules.push({
      kind: "requirements",
      name: `--requirements ${files}`,
      pins: opts.pins.map((p) => ({ ...p, project: normalizeName(p.project) })),
      notes: [...(opts.lockNotes ?? [])],
    });
  }
  if (opts.latest !== undefined) {
    if (!Number.isInteger(opts.latest) || opts.latest < 1)
      throw usage(`--latest takes a whole number of versions from 1, not "${opts.latest}"`);
    rules.push({ kind: "latest", name: `--latest ${opts.latest}`, count: opts.latest });
  }
  return rules;
}
