/**
 * Which distribution formats each kind of destination takes: decisions as data. A file in a format
 * its destination is known to refuse is not sent; it is planned as "unsupported" and reported with
 * the reason and its source. A kind without a row here is sent every format with the filetype
 * twine uses (src/core/names.ts uploadFileType), and a refusal is reported with the server's answer.
 */
import type { ParsedFilename } from "./names.js";

/** A file's format: the kind, and for sdists the archive. */
export type DistFormat =
  | "wheel"
  | "sdist .tar.gz"
  | "sdist .tgz"
  | "sdist .tar"
  | "sdist .zip"
  | "sdist .tar.bz2"
  | "sdist .tar.xz"
  | "egg"
  | "wininst"
  | "msi";

export function formatOf(p: ParsedFilename): DistFormat {
  if (p.kind === "sdist") return `sdist .${p.ext.toLowerCase()}` as DistFormat;
  return p.kind;
}

const FORMAT_NAMES: Record<DistFormat, string> = {
  wheel: "a wheel",
  "sdist .tar.gz": "a .tar.gz sdist",
  "sdist .tgz": "a .tgz sdist",
  "sdist .tar": "an uncompressed .tar sdist",
  "sdist .zip": "a .zip sdist",
  "sdist .tar.bz2": "a .tar.bz2 sdist",
  "sdist .tar.xz": "a .tar.xz sdist",
  egg: "an egg (bdist_egg)",
  wininst: "a Windows installer (bdist_wininst .exe)",
  msi: "an MSI installer (bdist_msi)",
};

export function describeFormat(f: DistFormat): string {
  return FORMAT_NAMES[f];
}

export interface FormatRule {
  /** The formats the destination kind refuses. */
  refuses: readonly DistFormat[];
  /** Why, for the person reading the report. */
  reason: string;
  /** Where this is documented or implemented. */
  source: string;
}

/**
 * Destination kinds and the formats they refuse. Kinds absent here take every format as far as
 * their documentation and source say:
 * - folder: bytes written as they are, any format.
 * - simple / upload (pyreg serve, any legacy upload endpoint), pypiserver, devpi: tried. pyreg
 *   serve takes every format (as pypiserver does: pypiserver's core.py `_archive_suffix_rx` names
 *   .zip, .tar.gz, .tgz, .tar.bz2, .egg and the win32/win-amd64 installers).
 * - gitlab: tried. GitLab's upload endpoint (gitlab lib/api/pypi_packages.rb, POST
 *   projects/:id/packages/pypi) declares no filetype parameter and checks no file extension.
 * - gar, codeartifact, azure, artifactory, nexus: tried; their documentation names wheels and
 *   sdists and says nothing of legacy formats, so the registry's own answer is reported.
 */
export const DESTINATION_FORMATS: Readonly<Record<string, FormatRule>> = {
  pypi: {
    refuses: ["sdist .tgz", "sdist .tar", "sdist .tar.bz2", "sdist .tar.xz", "egg", "wininst", "msi"],
    reason:
      "PyPI takes only .whl, .tar.gz and .zip files (PEP 527 deprecated eggs and Windows installers, PEP 715 confirms)",
    source: "pypi/warehouse warehouse/forklift/legacy.py (_dist_file_re: .tar.gz, .zip, .whl)",
  },
};

/** Why a destination kind does not take this file's format, or undefined when it does (or may). */
export function refusedFormat(kind: string, p: ParsedFilename): string | undefined {
  const rule = DESTINATION_FORMATS[kind];
  const f = formatOf(p);
  if (!rule?.refuses.includes(f)) return undefined;
  return `${describeFormat(f)}: ${rule.reason} (${rule.source}); not copied`;
}
