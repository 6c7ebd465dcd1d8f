/**
 * --requirements FILE: the pins of lock files, read with the lock-file parsers of
 * ../lockfiles/ (requirements.txt with == pins and --hash, pylock.toml, uv.lock, poetry.lock,
 * pdm.lock), as selection pins: per `name==version`, the files the lock allows (filename and/or
 * sha256).
 */
import { readLockFile } from "../lockfiles/index.js";
import type { Pin } from "./rules.js";

export interface LockPins {
  pins: Pin[];
  /**
   * What the locks pin that no registry can give (editable or path projects, VCS checkouts,
   * direct URLs, requirements without one version) and what the parsers did not follow: said as
   * warnings, never dropped silently.
   */
  notes: string[];
}

export async function readPins(paths: readonly string[]): Promise<LockPins> {
  const pins: Pin[] = [];
  const notes: string[] = [];
  for (const path of paths) {
    const { lock } = await readLockFile(path);
    for (const n of lock.notes) notes.push(`--requirements ${path}: ${n}`);
    for (const p of lock.packages) {
      const origin = `${path} ${p.where}`;
      if (p.uncheckable || p.version === undefined) {
        notes.push(
          `--requirements ${path}: ${p.displayName} (${p.where}) is not moved: ${p.uncheckable ?? "no version pinned"}`,
        );
        continue;
      }
      pins.push({
        project: p.name,
        version: p.version,
        files: p.files
          .map((f) => ({ filename: f.filename, sha256: f.hashes["sha256"] }))
          .filter((f) => f.filename !== undefined || f.sha256 !== undefined),
        origin,
      });
    }
  }
  return { pins, notes };
}
