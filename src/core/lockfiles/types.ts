/** The common shape every lock-file parser returns. */

export type LockFormat = "requirements" | "pylock" | "uv" | "poetry" | "pdm";

export const LOCK_FORMATS: readonly LockFormat[] = ["requirements", "pylock", "uv", "poetry", "pdm"];

/** One file a lock pins: a wheel or an sdist, as far as the lock says. */
export interface LockedFile {
  /** The distribution's filename, where the lock gives it (or its URL ends with it). */
  filename: string | undefined;
  /** The URL the lock records for it, exactly as written (rewrite-lock replaces this text). */
  url: string | undefined;
  /** Hash name → lowercase hex digest (sha256 where the lock has it). */
  hashes: Record<string, string>;
  size?: number | undefined;
}

export interface LockedPackage {
  /** Normalized project name (PEP 503). */
  name: string;
  /** The name as the lock writes it. */
  displayName: string;
  /** The pinned version; undefined when the lock does not pin one (e.g. `pkg>=1` in requirements). */
  version: string | undefined;
  /** The index the lock says the package comes from (as written), where it says so. */
  index: string | undefined;
  files: LockedFile[];
  /**
   * Set when the package does not come from an index (a path, a VCS checkout, a direct URL, an
   * editable project, an unpinned requirement...): it cannot be checked against a registry, and
   * this says why. Such packages are listed, never silently dropped.
   */
  uncheckable?: string | undefined;
  /** Where in the lock it is: "line 12", "package 3 (name = 'x')". */
  where: string;
}

export interface ParsedLock {
  format: LockFormat;
  path: string;
  /** Every index URL the lock names (as written), in order of first appearance. */
  indexes: string[];
  packages: LockedPackage[];
  /** Things in the lock that pyreg does not follow (nested -r files, options), said once each. */
  notes: string[];
}
