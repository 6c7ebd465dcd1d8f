/**
 * Project names and distribution filenames.
 * Sources: packaging.python.org name-normalization.rst, binary-distribution-format.rst,
 * source-distribution-format.rst.
 */
import { PyregError } from "./errors.js";

const VALID_NAME = /^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$/i;

/** PEP 503 normalization: lowercase, runs of -, _ and . become one "-". */
export function normalizeName(name: string): string {
  return name.replace(/[-_.]+/g, "-").toLowerCase();
}

export function isValidProjectName(name: string): boolean {
  return VALID_NAME.test(name);
}

export type DistKind = "wheel" | "sdist";

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
  /** The archive format: whl, tar.gz, zip, tar.bz2, tar.xz, tgz, tar. */
  ext: string;
}

const SDIST_EXTS = [".tar.gz", ".tgz", ".zip", ".tar.bz2", ".tar.xz", ".tar"] as const;

/**
 * A filename must be a single path segment made of printable characters. Anything else could be
 * used to write outside a folder or to confuse an index, so it is refused outright.
 */
export function checkSafeFilename(filename: string): void {
  if (
    filename.length === 0 ||
    filename.length > 255 ||
    filename === "." ||
    filename === ".." ||
    /[/\\\0]/.test(filename) ||
    // eslint-disable-next-line no-control-regex
    /[\x00-\x1f\x7f]/.test(filename) ||
    filename.startsWith(".")
  ) {
    throw new PyregError(
      "BAD_FILENAME",
      `unsafe distribution filename ${JSON.stringify(filename.slice(0, 120))}${filename.length > 120 ? "…" : ""}`,
      { hint: "a distribution filename must be one plain path segment; this file is skipped" },
    );
  }
}

/** Parses a wheel or sdist filename, or returns undefined when it is neither. */
export function parseFilename(filename: string): ParsedFilename | undefined {
  if (filename.endsWith(".whl")) {
    const parts = filename.slice(0, -4).split("-");
    if (parts.length !== 5 && parts.length !== 6) return undefined;
    const [name, version] = parts as [string, string];
    const build = parts.length === 6 ? parts[2] : undefined;
    if (build !== undefined && !/^\d/.test(build)) return undefined;
    const [pythonTag, abiTag, platformTag] = parts.slice(-3) as [string, string, string];
    if (!name || !version || !pythonTag || !abiTag || !platformTag) return undefined;
    return {
      kind: "wheel",
      name,
      project: normalizeName(name),
      version,
      ...(build !== undefined ? { buildTag: build } : {}),
      pythonTag,
      abiTag,
      platformTag,
      ext: "whl",
    };
  }
  const ext = SDIST_EXTS.find((e) => filename.toLowerCase().endsWith(e));
  if (!ext) return undefined;
  const stem = filename.slice(0, -ext.length);
  // Older sdists have unnormalized names that may contain "-"; the version is the part after
  // the last "-" that starts with a digit (or "v" + digit).
  const m = /^(.+?)-((?:v|V)?\d[^-]*)$/.exec(stem);
  if (!m) return undefined;
  const name = m[1] as string;
  const version = m[2] as string;
  return { kind: "sdist", name, project: normalizeName(name), version, ext: ext.slice(1) };
}

/** What twine sends as `filetype` and `pyversion` for this file. */
export function uploadFileType(p: ParsedFilename): { filetype: string; pyversion: string } {
  if (p.kind === "wheel") return { filetype: "bdist_wheel", pyversion: p.pythonTag ?? "" };
  return { filetype: "sdist", pyversion: "source" };
}

/**
 * Formats older tools wrote that no current upload API takes (PyPI refuses eggs since August 2023
 * and bdist_wininst/bdist_msi since their removal from setuptools; PEP 527 deprecated them all).
 */
const LEGACY_FORMATS: readonly [RegExp, string][] = [
  [/\.egg$/i, "an egg (bdist_egg)"],
  [/\.exe$/i, "a Windows installer (bdist_wininst)"],
  [/\.msi$/i, "an MSI installer (bdist_msi)"],
];

/** Why a legacy distribution file is not copied, or undefined for any other name. */
export function legacyFormatReason(filename: string): string | undefined {
  const legacy = LEGACY_FORMATS.find(([re]) => re.test(filename));
  return legacy
    ? `legacy format: ${legacy[1]}; registries no longer take it (PEP 527), so it is not copied`
    : undefined;
}
