/**
 * rewrite-lock: point the index and file URLs a lock embeds at a new registry, only after checking
 * that the new registry serves every one of those files with the locked sha256.
 *
 * The lock's text is edited in place (each URL replaced where it stands as a whole quoted TOML
 * string, or a whole option value in requirements.txt), so comments, order and layout stay the
 * tool's; the result is parsed again and compared with the original before it is offered.
 */
import { createTwoFilesPatch } from "diff";
import { PyregError } from "../errors.js";
import type { Source } from "../model.js";
import { parseLockText, type LockedPackage, type ParsedLock } from "../lockfiles/index.js";
import { redactUrl } from "../../http/redact.js";
import { checkLocks, type CheckLockResult, type LockCheckRow } from "./checkLock.js";

export interface Replacement {
  old: string;
  new: string;
  what: "index" | "file";
}

export interface RewritePlan {
  path: string;
  format: string;
  from: string;
  to: string;
  /** Packages whose URLs move to the new registry. */
  moved: string[];
  /** Packages left as they are, and why (another index, not from an index). */
  kept: { package: string; reason: string }[];
  replacements: Replacement[];
  /** Locked files the new registry does not serve with the locked sha256: nothing is rewritten. */
  problems: LockCheckRow[];
  errors: CheckLockResult["errors"];
  /** The rewritten text and its diff, when there are no problems. */
  newText?: string | undefined;
  diff?: string | undefined;
}

/** A URL as a comparable key: no credentials, query or fragment; lower-case host; no trailing slash. */
export function urlKey(raw: string): string | undefined {
  try {
    const u = new URL(raw);
    if (u.protocol !== "http:" && u.protocol !== "https:") return undefined;
    return `${u.protocol}//${u.host.toLowerCase()}${u.pathname.replace(/\/+$/, "")}`;
  } catch {
    return undefined;
  }
}

function originOf(raw: string): string | undefined {
  try {
    const u = new URL(raw);
    return `${u.protocol}//${u.host.toLowerCase()}`;
  } catch {
    return undefined;
  }
}

/** The new index URL as the lock will hold it: no credentials, the old one's trailing-slash style. */
function newIndexText(oldText: string, to: URL): string {
  const u = new URL(to.toString());
  u.username = "";
  u.password = "";
  const s = u.toString().replace(/\/+$/, "");
  return oldText.endsWith("/") ? s + "/" : s;
}

function fromOld(pkg: LockedPackage, lock: ParsedLock, oldKey: string, oldOrigin: string): boolean {
  if (pkg.uncheckable) return false;
  if (pkg.index !== undefined) return urlKey(pkg.index) === oldKey;
  if (pkg.files.some((f) => f.url !== undefined))
    return pkg.files.every((f) => f.url !== undefined && originOf(f.url) === oldOrigin);
  // requirements.txt: the packages come from the lock's --index-url.
  return lock.format === "requirements" && lock.indexes.some((i) => urlKey(i) === oldKey);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Replaces each old string where it stands whole; throws when one is not found. */
function applyReplacements(text: string, lock: ParsedLock, reps: Replacement[]): string {
  let out = text;
  for (const r of reps) {
    if (/["'\\\s]/.test(r.new))
      throw new PyregError(
        "MALFORMED_INDEX",
        `the new registry gave a URL pyreg will not write into a lock: ${redactUrl(r.new)}`,
      );
    const re =
      lock.format === "requirements"
        ? new RegExp(`(^|[\\s=])${escapeRe(r.old)}(?=\\s|$)`, "gm")
        : new RegExp(`(["'])${escapeRe(r.old)}\\1`, "g");
    let n = 0;
    out = out.replace(re, (_m, lead: string) => {
      n++;
      return lock.format === "requirements" ? lead + r.new : lead + r.new + lead;
    });
    if (n === 0)
      throw new PyregError(
        "CONFIG",
        `${lock.path}: cannot find ${redactUrl(r.old)} written as a plain string to replace`,
        {
          hint: "the lock writes this URL with escapes; rewrite it with the tool that made the lock",
        },
      );
  }
  return out;
}

/** The same packages, versions and hashes; URLs changed only as planned. */
function sameLock(before: ParsedLock, after: ParsedLock, reps: Map<string, string>): boolean {
  if (before.packages.length !== after.packages.length) return false;
  return before.packages.every((p, i) => {
    const q = after.packages[i] as LockedPackage;
    if (p.name !== q.name || p.version !== q.version || p.files.length !== q.files.length) return false;
    if ((p.index === undefined) !== (q.index === undefined)) return false;
    if (p.index !== undefined && (reps.get(p.index) ?? p.index) !== q.index) return false;
    return p.files.every((f, j) => {
      const g = q.files[j];
      if (!g || JSON.stringify(f.hashes) !== JSON.stringify(g.hashes) || f.filename !== g.filename)
        return false;
      return f.url === undefined ? g.url === undefined : (reps.get(f.url) ?? f.url) === g.url;
    });
  });
}

export async function planRewrite(
  text: string,
  lock: ParsedLock,
  from: string,
  to: string,
  index: Source,
  opts: { concurrency: number },
): Promise<RewritePlan> {
  const oldKey = urlKey(from);
  const oldOrigin = originOf(from);
  let toUrl: URL | undefined;
  try {
    toUrl = new URL(to);
  } catch {
    toUrl = undefined;
  }
  if (!oldKey || !oldOrigin)
    throw new PyregError(
      "USAGE",
      `--from must be the old index's http(s) URL as the lock names it, not "${redactUrl(from)}"`,
    );
  if (!toUrl || (toUrl.protocol !== "http:" && toUrl.protocol !== "https:"))
    throw new PyregError(
      "USAGE",
      `--to must be the new index's http(s) URL (https://host/.../simple/), not "${redactUrl(to)}"`,
      {
        hint: "a lock names URLs its installer will fetch: a folder cannot be written into it",
      },
    );
  const moved = lock.packages.filter((p) => fromOld(p, lock, oldKey, oldOrigin));
  const kept = lock.packages
    .filter((p) => !moved.includes(p))
    .map((p) => ({
      package: p.name,
      reason:
        p.uncheckable ?? `from ${p.index ? redactUrl(p.index) : "another index"}, not ${redactUrl(from)}`,
    }));
  const indexStrings = [
    ...new Set([...lock.indexes, ...moved.flatMap((p) => (p.index ? [p.index] : []))]),
  ].filter((i) => urlKey(i) === oldKey);
  if (moved.length === 0 && indexStrings.length === 0) {
    const named = [
      ...new Set([
        ...lock.indexes,
        ...lock.packages.flatMap((p) => p.files.map((f) => f.url && originOf(f.url))),
      ]),
    ]
      .filter((x): x is string => !!x)
      .map((x) => redactUrl(x));
    throw new PyregError("USAGE", `${lock.path} names nothing on ${redactUrl(from)}`, {
      hint: named.length ? `the lock names: ${named.join(", ")}` : "this lock records no index or file URLs",
    });
  }
  const sub: ParsedLock = { ...lock, packages: moved };
  const check = await checkLocks([sub], index, opts);
  const problems = check.rows.filter((r) => r.status !== "ok" && r.status !== "skipped");
  const plan: RewritePlan = {
    path: lock.path,
    format: lock.format,
    from: redactUrl(from),
    to: redactUrl(to),
    moved: moved.map((p) => p.name),
    kept,
    replacements: [],
    problems,
    errors: check.errors,
  };
  if (problems.length || check.errors.length) return plan;
  const reps = new Map<string, Replacement>();
  for (const i of indexStrings) reps.set(i, { old: i, new: newIndexText(i, toUrl), what: "index" });
  // Rows come in the order of the packages' files: pair them up to learn each file's new URL.
  let k = 0;
  for (const p of moved) {
    for (const f of p.files) {
      const row = check.rows[k++];
      if (f.url === undefined) continue;
      if (!row?.indexUrl) throw new PyregError("STATE", `no new URL found for ${f.filename ?? f.url}`);
      if (f.url !== row.indexUrl) reps.set(f.url, { old: f.url, new: row.indexUrl, what: "file" });
    }
  }
  plan.replacements = [...reps.values()];
  const newText = applyReplacements(text, lock, plan.replacements);
  const again = parseLockText(newText, lock.path, lock.format);
  if (!sameLock(lock, again, new Map(plan.replacements.map((r) => [r.old, r.new]))))
    throw new PyregError(
      "STATE",
      `${lock.path}: the rewritten lock does not read back as the same packages and hashes; nothing written`,
    );
  plan.newText = newText;
  plan.diff = createTwoFilesPatch(lock.path, lock.path, text, newText, "as it is", "rewritten");
  return plan;
}
