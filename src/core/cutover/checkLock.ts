/**
 * check-lock: is every file a lock pins served by an index with the sha256 the lock records?
 * The index is read as pip reads it (its simple pages); each locked file is found by filename
 * (or, for requirements.txt hashes, which name no file, by sha256 among the files of the pinned
 * version) and its sha256 compared.
 */
import { plural } from "../units.js";
import { compareVersions } from "../versions.js";
import { errorMessage, isFatal } from "../errors.js";
import type { DistFile, Source } from "../model.js";
import { mapLimit } from "../pool.js";
import type { LockedFile, LockedPackage, ParsedLock } from "../lockfiles/index.js";

export type LockCheckStatus = "ok" | "missing" | "different" | "unverifiable" | "skipped";

export interface LockCheckRow {
  lock: string;
  package: string;
  version: string | undefined;
  /** The file's name (from the lock, or from the index when found by sha256). */
  filename: string | undefined;
  lockedUrl: string | undefined;
  lockedSha256: string | undefined;
  status: LockCheckStatus;
  detail: string;
  /** The index's file, where it has one under that name (or with that sha256). */
  indexUrl?: string | undefined;
  indexSha256?: string | undefined;
}

export interface CheckLockResult {
  ok: boolean;
  index: string;
  locks: { path: string; format: string; packages: number; files: number; notes: string[] }[];
  counts: Record<LockCheckStatus, number> & { files: number };
  rows: LockCheckRow[];
  /** Projects whose index page could not be read (the error, redacted by the caller). */
  errors: { package: string; error: string }[];
}

/** Two PEP 440 versions are the same release ("1.0" = "1.0.0"); invalid ones compare as text. */
function sameVersion(a: string, b: string): boolean {
  return compareVersions(a, b) === 0;
}

function checkFile(lock: ParsedLock, pkg: LockedPackage, file: LockedFile, served: DistFile[]): LockCheckRow {
  const want = file.hashes["sha256"];
  const row: LockCheckRow = {
    lock: lock.path,
    package: pkg.name,
    version: pkg.version,
    filename: file.filename,
    lockedUrl: file.url,
    lockedSha256: want,
    status: "ok",
    detail: "",
  };
  let there: DistFile | undefined;
  if (file.filename !== undefined) {
    there = served.find((f) => f.filename === file.filename);
    if (!there) return { ...row, status: "missing", detail: "the index does not serve this file" };
  } else {
    if (!want)
      return { ...row, status: "unverifiable", detail: "the lock records no sha256 and no filename" };
    const ofVersion = served.filter((f) => pkg.version !== undefined && sameVersion(f.version, pkg.version));
    there = ofVersion.find((f) => f.hashes["sha256"] === want);
    if (!there)
      return {
        ...row,
        status: "missing",
        detail:
          `no file of ${pkg.name} ${pkg.version ?? "?"} at the index has this sha256` +
          (ofVersion.length
            ? ` (it serves ${ofVersion.map((f) => f.filename).join(", ")})`
            : " (it serves no file of that version)"),
      };
    row.filename = there.filename;
  }
  const have = there.hashes["sha256"];
  row.indexUrl = there.url;
  row.indexSha256 = have;
  if (!want) return { ...row, status: "unverifiable", detail: "the lock records no sha256 for this file" };
  if (!have) return { ...row, status: "unverifiable", detail: "the index publishes no sha256 for this file" };
  if (have !== want)
    return { ...row, status: "different", detail: `the index serves sha256 ${have}, the lock pins ${want}` };
  return row;
}

/**
 * Checks the locks against an index. Packages a lock does not take from an index (paths, VCS,
 * editable, unpinned) are rows with status "skipped" and the reason; they do not fail the check.
 */
export async function checkLocks(
  locks: ParsedLock[],
  index: Source,
  opts: { concurrency: number },
): Promise<CheckLockResult> {
  const names = [
    ...new Set(locks.flatMap((l) => l.packages.filter((p) => !p.uncheckable).map((p) => p.name))),
  ].sort();
  const served = new Map<string, DistFile[]>();
  const errors: { package: string; error: string }[] = [];
  await mapLimit(names, opts.concurrency, async (name) => {
    try {
      served.set(name, await index.listFiles(name));
    } catch (err) {
      if (isFatal(err)) throw err;
      errors.push({ package: name, error: errorMessage(err) });
    }
  });
  const rows: LockCheckRow[] = [];
  for (const lock of locks) {
    for (const pkg of lock.packages) {
      const base = {
        lock: lock.path,
        package: pkg.name,
        version: pkg.version,
        lockedUrl: undefined,
        lockedSha256: undefined,
      };
      if (pkg.uncheckable) {
        rows.push({ ...base, filename: undefined, status: "skipped", detail: pkg.uncheckable });
        continue;
      }
      const files = served.get(pkg.name);
      if (!files) continue; // its index page could not be read: listed in errors
      if (pkg.files.length === 0) {
        const ofVersion = files.filter(
          (f) => pkg.version !== undefined && sameVersion(f.version, pkg.version),
        );
        rows.push({
          ...base,
          filename: undefined,
          status: ofVersion.length ? "unverifiable" : "missing",
          detail: ofVersion.length
            ? `the lock records no file hashes for ${pkg.name} ${pkg.version ?? ""}; the index serves ${plural(ofVersion.length, "file")} of that version`
            : `the lock records no file hashes, and the index serves no file of ${pkg.name} ${pkg.version ?? ""}`,
        });
        continue;
      }
      for (const f of pkg.files) rows.push(checkFile(lock, pkg, f, files));
    }
  }
  const counts = { files: 0, ok: 0, missing: 0, different: 0, unverifiable: 0, skipped: 0 };
  for (const r of rows) {
    counts[r.status]++;
    if (r.status !== "skipped") counts.files++;
  }
  errors.sort((a, b) => a.package.localeCompare(b.package));
  return {
    ok: counts.missing + counts.different + counts.unverifiable === 0 && errors.length === 0,
    index: index.describe(),
    locks: locks.map((l) => ({
      path: l.path,
      format: l.format,
      packages: l.packages.length,
      files: l.packages.reduce((n, p) => n + p.files.length, 0),
      notes: l.notes,
    })),
    counts,
    rows,
    errors,
  };
}
