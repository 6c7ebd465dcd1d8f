/**
 * The simple repository API pages: PEP 503 HTML and PEP 691 JSON, API version 1.1 (PEP 700:
 * `versions`, `size`, `upload-time`), PEP 658/714 core metadata.
 * Source: packaging.python.org specifications/simple-repository-api.rst.
 */
import { compare, valid } from "@renovatebot/pep440";
import type { FileFacts, StoredFile } from "./store.js";
import { versionRuns } from "../core/versions.js";

export const API_VERSION = "1.1";
export const JSON_TYPE = "application/vnd.pypi.simple.v1+json";
export const HTML_TYPE = "application/vnd.pypi.simple.v1+html";
export const TEXT_HTML = "text/html";

export type SimpleFormat = typeof JSON_TYPE | typeof HTML_TYPE | typeof TEXT_HTML;

/** Offered types, in the order preferred when the client rates several equally. */
const OFFERED: { type: SimpleFormat; aliases: string[] }[] = [
  { type: JSON_TYPE, aliases: ["application/vnd.pypi.simple.latest+json"] },
  { type: HTML_TYPE, aliases: ["application/vnd.pypi.simple.latest+html"] },
  { type: TEXT_HTML, aliases: [] },
];

/**
 * Picks the response type from an Accept header (RFC 9110 §12.5.1: the most specific matching
 * range gives a type its q-value). No header means text/html. A type named explicitly wins a tie
 * against one matched only by a wildcard, so `*\/*` alone gets HTML. Undefined: nothing
 * acceptable (the caller answers 406).
 */
export function negotiate(accept: string | undefined, htmlOnly = false): SimpleFormat | undefined {
  const offered = htmlOnly ? OFFERED.filter((o) => o.type !== JSON_TYPE) : OFFERED;
  if (!accept || accept.trim() === "") return TEXT_HTML;
  const ranges: { type: string; q: number }[] = [];
  for (const raw of accept.split(",")) {
    const [mediaRange, ...params] = raw.split(";").map((s) => s.trim());
    if (!mediaRange) continue;
    let q = 1;
    for (const p of params) {
      const m = /^q\s*=\s*([0-9.]+)$/i.exec(p);
      if (m) {
        const n = Number(m[1]);
        q = Number.isFinite(n) ? Math.min(Math.max(n, 0), 1) : 0;
      }
    }
    ranges.push({ type: mediaRange.toLowerCase(), q });
  }
  let best: { type: SimpleFormat; q: number; explicit: boolean; order: number } | undefined;
  offered.forEach((o, order) => {
    const names = [o.type, ...o.aliases];
    const [major] = o.type.split("/");
    let match: { q: number; specificity: number } | undefined;
    for (const r of ranges) {
      const specificity = names.includes(r.type)
        ? 2
        : r.type === `${major}/*`
          ? 1
          : r.type === "*/*"
            ? 0
            : -1;
      if (specificity < 0) continue;
      if (!match || specificity > match.specificity) match = { q: r.q, specificity };
    }
    if (!match || match.q <= 0) return;
    const cand = { type: o.type, q: match.q, explicit: match.specificity === 2, order };
    if (
      !best ||
      cand.q > best.q ||
      (cand.q === best.q && cand.explicit && !best.explicit) ||
      (cand.q === best.q && cand.explicit === best.explicit && !best.explicit && cand.type === TEXT_HTML)
    ) {
      best = cand;
    }
  });
  return best?.type;
}

export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** `yyyy-mm-ddThh:mm:ss.ffffffZ` from a nanosecond timestamp (PEP 700 upload-time). */
export function uploadTime(mtimeNs: bigint): string {
  const ms = Number(mtimeNs / 1_000_000n);
  const micro = Number((mtimeNs / 1000n) % 1_000_000n);
  const base = new Date(ms).toISOString().slice(0, 19);
  return `${base}.${String((micro + 1_000_000) % 1_000_000).padStart(6, "0")}Z`;
}

export function fileUrl(filename: string): string {
  return `/files/${encodeURIComponent(filename)}`;
}

export interface FileRow {
  file: StoredFile;
  facts: FileFacts;
  /** PEP 592: true or the reason, from the file's yank marker (core/yank.ts). */
  yanked?: true | string | undefined;
}

function versionCompare(a: string, b: string): number {
  const va = valid(a);
  const vb = valid(b);
  if (va && vb) return compare(a, b);
  if (va) return -1;
  if (vb) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Each distinct version's place in PEP 440 order: the versions are compared once, not the rows (a
 * project page sorted its 40 rows with about 200 comparisons, each parsing both versions twice; in
 * a 100,000-file run, 3 % of the destination's CPU). Versions PEP 440 holds equal (1.0 and 1.0.0)
 * share a place: their rows go by filename.
 */
function versionRanks(rows: readonly FileRow[]): Map<string, number> {
  const ranks = new Map<string, number>();
  versionRuns(
    rows.map((r) => r.file.version),
    versionCompare,
  ).forEach((run, rank) => {
    for (const v of run) ranks.set(v, rank);
  });
  return ranks;
}

/** Files sorted by version (PEP 440), then filename. */
export function sortRows(rows: FileRow[]): FileRow[] {
  const rank = versionRanks(rows);
  return [...rows].sort(
    (x, y) =>
      (rank.get(x.file.version) as number) - (rank.get(y.file.version) as number) ||
      (x.file.filename < y.file.filename ? -1 : x.file.filename > y.file.filename ? 1 : 0),
  );
}

export function versionsOf(rows: readonly FileRow[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) seen.add(r.file.version);
  return [...seen].sort(versionCompare);
}

export function projectListJson(projects: string[]): string {
  return JSON.stringify({
    meta: { "api-version": API_VERSION },
    projects: projects.map((name) => ({ name })),
  });
}

export function projectListHtml(projects: string[]): string {
  const links = projects.map(
    (p) => `    <a href="/simple/${encodeURIComponent(p)}/">${escapeHtml(p)}</a><br>`,
  );
  return [
    "<!DOCTYPE html>",
    "<html>",
    "  <head>",
    `    <meta name="pypi:repository-version" content="${API_VERSION}">`,
    "    <title>Simple index</title>",
    "  </head>",
    "  <body>",
    ...links,
    "  </body>",
    "</html>",
    "",
  ].join("\n");
}

export function projectPageJson(project: string, rows: FileRow[]): string {
  const sorted = sortRows(rows);
  return JSON.stringify({
    meta: { "api-version": API_VERSION },
    name: project,
    // The versions as the sorted files first show them: already in PEP 440 order (what
    // versionsOf(sorted) gives, without comparing them again).
    versions: [...new Set(sorted.map((r) => r.file.version))],
    files: sorted.map(({ file, facts, yanked }) => {
      const core = facts.metadataSha256 ? { sha256: facts.metadataSha256 } : false;
      return {
        filename: file.filename,
        url: fileUrl(file.filename),
        hashes: { sha256: facts.sha256 },
        ...(facts.requiresPython !== undefined ? { "requires-python": facts.requiresPython } : {}),
        // PEP 714: the new key only. pip 22.3 to 23.1 read the old `dist-info-metadata` key
        // wrongly (TypeError: unhashable type: 'dict'); without it they fetch the wheel itself.
        "core-metadata": core,
        yanked: yanked ?? false,
        size: file.size,
        "upload-time": uploadTime(file.mtimeNs),
      };
    }),
  });
}

export function projectPageHtml(project: string, rows: FileRow[]): string {
  const links = sortRows(rows).map(({ file, facts, yanked }) => {
    const attrs = [`href="${escapeHtml(`${fileUrl(file.filename)}#sha256=${facts.sha256}`)}"`];
    if (yanked !== undefined) attrs.push(`data-yanked="${yanked === true ? "" : escapeHtml(yanked)}"`);
    if (facts.requiresPython !== undefined) {
      attrs.push(`data-requires-python="${escapeHtml(facts.requiresPython)}"`);
    }
    if (facts.metadataSha256) {
      // PEP 714: the new attribute only. pip before 23.2 reads only the old
      // `data-dist-info-metadata` and then refuses a wheel whose METADATA Name is spelled
      // otherwise than the requirement (https://github.com/pypa/pip/issues/12038): without the
      // old name those pips fetch the wheel itself, which they judge correctly.
      attrs.push(`data-core-metadata="sha256=${facts.metadataSha256}"`);
    }
    return `    <a ${attrs.join(" ")}>${escapeHtml(file.filename)}</a><br>`;
  });
  return [
    "<!DOCTYPE html>",
    "<html>",
    "  <head>",
    `    <meta name="pypi:repository-version" content="${API_VERSION}">`,
    `    <title>Links for ${escapeHtml(project)}</title>`,
    "  </head>",
    "  <body>",
    `    <h1>Links for ${escapeHtml(project)}</h1>`,
    ...links,
    "  </body>",
    "</html>",
    "",
  ].join("\n");
}
