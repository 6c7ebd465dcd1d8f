/**
 * Facts about one distribution file that selection rules look at: its kind, its wheel tags, its
 * PEP 440 version. Sources: packaging.python.org binary-distribution-format.rst ("compressed tag
 * sets": each of the python, abi and platform parts may hold several tags joined with "."),
 * platform-compatibility-tags.rst (manylinux/musllinux/macosx/win tags), and PEP 440 for versions
 * (read with @renovatebot/pep440, never compared as strings).
 */
import { explain } from "@renovatebot/pep440";
import { parseFilename } from "../names.js";

export type PackageType = "wheel" | "sdist" | "other";
export const PACKAGE_TYPES: readonly PackageType[] = ["wheel", "sdist", "other"];

/** The platform families a user may name instead of a tag glob. */
export type PlatformFamily = "linux" | "macos" | "windows" | "any";
export const PLATFORM_FAMILIES: readonly PlatformFamily[] = ["linux", "macos", "windows", "any"];

export interface FileFacts {
  type: PackageType;
  /** Wheels only: every tag of the compressed sets, lowercase. */
  pythonTags?: string[];
  platformTags?: string[];
}

export function factsOf(filename: string): FileFacts {
  const p = parseFilename(filename);
  if (!p) return { type: "other" };
  if (p.kind === "sdist") return { type: "sdist" };
  // Eggs and Windows installers: the "other" type (their tags are not a wheel's).
  if (p.kind !== "wheel") return { type: "other" };
  return {
    type: "wheel",
    pythonTags: splitTagSet(p.pythonTag ?? ""),
    platformTags: splitTagSet(p.platformTag ?? ""),
  };
}

/** `py2.py3` → [py2, py3]; `manylinux_2_17_x86_64.manylinux2014_x86_64` → both tags. */
export function splitTagSet(set: string): string[] {
  return set
    .toLowerCase()
    .split(".")
    .filter((t) => t.length > 0);
}

/**
 * The family of one platform tag: manylinux1/2010/2014, manylinux_X_Y (PEP 600), musllinux_X_Y
 * (PEP 656) and plain linux_* are Linux; macosx_* is macOS; win32, win_amd64, win_arm64 are
 * Windows; "any" is a pure wheel. Anything else (ios_*, android_*, emscripten...) has no family:
 * name it with a glob.
 */
export function platformFamily(tag: string): PlatformFamily | undefined {
  const t = tag.toLowerCase();
  if (t === "any") return "any";
  if (/^(many|musl)?linux/.test(t)) return "linux";
  if (t.startsWith("macosx")) return "macos";
  if (t === "win32" || t.startsWith("win_")) return "windows";
  return undefined;
}

export interface VersionFacts {
  valid: boolean;
  prerelease: boolean;
}

/** PEP 440: a pre-release has an a/b/rc segment or is a dev release; post releases are final. */
export function versionFacts(version: string): VersionFacts {
  const v = explain(version);
  if (!v) return { valid: false, prerelease: false };
  return { valid: true, prerelease: v.is_prerelease };
}
