/**
 * Project names and distribution filenames.
 * Sources: packaging.python.org name-normalization.rst, binary-distribution-format.rst,
 * source-distribution-format.rst.
 */
import { PyregError } from "./errors.js";

const VALID_NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;

/** A name PEP 503 normalization leaves as it is: lowercase letters and digits, single "-" between. */
const NORMALIZED = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/**
 * PEP 503 normalization: lowercase, runs of -, _ and . become one "-". A name already in that form
 * is returned as it is, without the replace and the lowercase copy: a million-file source lists
 * about 100,000 projects at once, and normalizing them all through the regular-expression replace
 * raised `pyreg plan`'s peak RSS from about 125 to about 133 MiB (bench/README.md, "Memory curve").
 */
export function normalizeName(name: string): string {
  if (name === lastName) return lastNormalized;
  const normalized = NORMALIZED.test(name) ? name : name.replace(/[-_.]+/g, "-").toLowerCase();
  lastName = name;
  lastNormalized = normalized;
  return normalized;
}

/**
 * The last name normalized, and its normal form. Names come in runs: a folder's files in name
 * order (`pyreg serve` parses every name of its folder before its first page, 40 files to a
 * project in the benchmark's), a project's files one after the other.
 */
let lastName = "";
let lastNormalized = "";

export function isValidProjectName(name: string): boolean {
  return VALID_NAME.test(name);
}

/**
 * wheel and sdist are today's formats; egg (setuptools' bdist_egg), wininst (distutils'
 * bdist_wininst .exe) and msi (distutils' bdist_msi) are the legacy binary formats PEP 527
 * deprecated, still found in old registries and folders.
 */
export type DistKind = "wheel" | "sdist" | "egg" | "wininst" | "msi";

export interface ParsedFilename {
  kind: DistKind;
  /** The name part exactly as written in the filename. */
  name: string;
  project: string;
  version: string;
  /** Wheel only. */
  buildTag?: string;
  pythonTag?: string;
  abiTag?: string;
  platformTag?: string;
  /** The archive format: whl, tar.gz, zip, tar.bz2, tar.xz, tgz, tar, egg, exe, msi. */
  ext: string;
}

const SDIST_EXTS = [".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar"] as const;

/**
 * A filename must be a single path segment made of printable characters. Anything else could be
 * used to write outside a folder or to confuse an index, so it is refused outright.
 */
export function isSafeFilename(filename: string): boolean {
  return (
    filename.length > 0 &&
    filename.length <= 255 &&
    // A leading "." also rules out "." and "..".
    !filename.startsWith(".") &&
    // eslint-disable-next-line no-control-regex
    !/[/\\\x00-\x1f\x7f]/.test(filename)
  );
}

/** `isSafeFilename`, as an error that says what to do. */
export function checkSafeFilename(filename: string): void {
  if (!isSafeFilename(filename)) {
    throw new PyregError(
      "BAD_FILENAME",
      `unsafe distribution filename ${JSON.stringify(filename.slice(0, 120))}${filename.length > 120 ? "…" : ""}`,
      { hint: "a distribution filename must be one plain path segment; this file is skipped" },
    );
  }
}

/**
 * An egg's name, as setuptools' bdist_egg writes it (pkg_resources to_filename: "-" in the name
 * and version become "_"): NAME-VERSION[-pyX.Y[-PLATFORM]].egg.
 */
const EGG = /^([^-]+)-([^-]+?)(?:-py(\d+(?:\.\d+)?)(?:-(.+))?)?\.egg$/i;
/**
 * A Windows installer, as distutils' bdist_wininst (.exe) and bdist_msi (.msi) write it:
 * NAME-VERSION.PLATFORM[-pyX.Y].exe, PLATFORM being one distutils' get_platform() gives on Windows.
 */
const WININST =
  /^(.+?)-((?:v|V)?\d[^-]*?)\.(win32|win-amd64|win-arm32|win-arm64|win-ia64)(?:-py(\d+\.\d+))?\.(exe|msi)$/i;

function parseLegacy(filename: string): ParsedFilename | undefined {
  // Most names that reach here are no distribution at all (a project list's link texts): the
  // extension decides before any pattern runs.
  if (!/\.(egg|exe|msi)$/i.test(filename)) return undefined;
  const egg = EGG.exec(filename);
  if (egg) {
    const name = egg[1] as string;
    return {
      kind: "egg",
      name,
      project: normalizeName(name),
      version: egg[2] as string,
      ...(egg[3] !== undefined ? { pythonTag: egg[3] } : {}),
      ...(egg[4] !== undefined ? { platformTag: egg[4] } : {}),
      ext: "egg",
    };
  }
  const win = WININST.exec(filename);
  if (win) {
    const name = win[1] as string;
    const ext = (win[5] as string).toLowerCase();
    return {
      kind: ext === "exe" ? "wininst" : "msi",
      name,
      project: normalizeName(name),
      version: win[2] as string,
      platformTag: win[3] as string,
      ...(win[4] !== undefined ? { pythonTag: win[4] } : {}),
      ext,
    };
  }
  return undefined;
}

/**
 * Parses a distribution filename (wheel, sdist, or one of the legacy egg/exe/msi formats), or
 * returns undefined when it is none of them.
 */
export function parseFilename(filename: string): ParsedFilename | undefined {
  // Written for speed: `pyreg serve` parses every name of its folder before its first page (the
  // benchmark's 100,000 names, a first pass: 104 ms with an object spread and a lower-cased copy
  // of the name per extension tried, 89 ms without).
  if (filename.endsWith(".whl")) {
    const parts = filename.slice(0, -4).split("-");
    const n = parts.length;
    if (n !== 5 && n !== 6) return undefined;
    const name = parts[0] as string;
    const version = parts[1] as string;
    const pythonTag = parts[n - 3] as string;
    const abiTag = parts[n - 2] as string;
    const platformTag = parts[n - 1] as string;
    if (!name || !version || !pythonTag || !abiTag || !platformTag) return undefined;
    const project = normalizeName(name);
    if (n === 5) return { kind: "wheel", name, project, version, pythonTag, abiTag, platformTag, ext: "whl" };
    // The build tag starts with a digit (PEP 427).
    const buildTag = parts[2] as string;
    const first = buildTag.charCodeAt(0);
    if (!(first >= 48 && first <= 57)) return undefined;
    return { kind: "wheel", name, project, version, buildTag, pythonTag, abiTag, platformTag, ext: "whl" };
  }
  const lower = filename.toLowerCase();
  const ext = SDIST_EXTS.find((e) => lower.endsWith(e));
  if (!ext) return parseLegacy(filename);
  const stem = filename.slice(0, -ext.length);
  // Older sdists have unnormalized names that may contain "-"; the version is the part after
  // the last "-" that starts with a digit (or "v" + digit).
  const m = /^(.+?)-((?:v|V)?\d[^-]*)$/.exec(stem);
  if (!m) return undefined;
  const name = m[1] as string;
  const version = m[2] as string;
  return { kind: "sdist", name, project: normalizeName(name), version, ext: ext.slice(1) };
}

/**
 * What twine sends as `filetype` and `pyversion` for this file. twine ≤ 4 (package.py
 * DIST_EXTENSIONS) also uploaded .egg as bdist_egg and .exe as bdist_wininst (WinInst.py_version:
 * the -pyX.Y of the name, else "any"); distutils' upload sent bdist_msi the same way. Current twine
 * uploads none of them (its DIST_EXTENSIONS keeps .whl, .tar.gz, .tar.bz2, .zip). For an egg,
 * twine 4 sends the release's version as pyversion (a bug); pyreg sends the egg's Python tag, as
 * setuptools' own upload command did.
 */
export function uploadFileType(p: ParsedFilename): { filetype: string; pyversion: string } {
  switch (p.kind) {
    case "wheel":
      return { filetype: "bdist_wheel", pyversion: p.pythonTag ?? "" };
    case "sdist":
      return { filetype: "sdist", pyversion: "source" };
    case "egg":
      return { filetype: "bdist_egg", pyversion: p.pythonTag ?? "" };
    case "wininst":
      return { filetype: "bdist_wininst", pyversion: p.pythonTag ?? "any" };
    case "msi":
      return { filetype: "bdist_msi", pyversion: p.pythonTag ?? "any" };
  }
}

/** Formats older tools wrote (PEP 527 deprecated them), for files whose name pyreg cannot read. */
const LEGACY_FORMATS: readonly [RegExp, string, string][] = [
  [/\.egg$/i, "an egg (bdist_egg)", "NAME-VERSION[-pyX.Y[-PLATFORM]].egg"],
  [/\.exe$/i, "a Windows installer (bdist_wininst)", "NAME-VERSION.PLATFORM[-pyX.Y].exe"],
  [/\.msi$/i, "an MSI installer (bdist_msi)", "NAME-VERSION.PLATFORM[-pyX.Y].msi"],
];

/**
 * Why a file with a legacy extension is not taken as a distribution: its name is not the one its
 * tool writes, so its project and version are unknown. Undefined for any other name.
 */
export function legacyFormatReason(filename: string): string | undefined {
  const legacy = LEGACY_FORMATS.find(([re]) => re.test(filename));
  return legacy
    ? `${legacy[1]} whose name is not ${legacy[2]}: its project and version cannot be read, so it is not copied`
    : undefined;
}
