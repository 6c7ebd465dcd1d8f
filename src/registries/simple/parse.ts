/**
 * Parsers for the simple repository API (PEP 503 HTML, PEP 691 JSON, PEP 700 fields).
 * Source: packaging.python.org specifications/simple-repository-api.rst.
 * Every response is validated at the edge: malformed means an error naming the URL, never [].
 */
import { z } from "zod";
import { PyregError } from "../../core/errors.js";
import type { DistFile } from "../../core/model.js";
import { normalizeName, parseFilename } from "../../core/names.js";
import { redactUrl } from "../../http/redact.js";

export const ACCEPT_SIMPLE =
  "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01";

export interface ParsedProjectPage {
  apiVersion: string;
  files: DistFile[];
  /** Versions the index lists (1.1+), may include versions without files. */
  versions?: string[] | undefined;
}

/** Major "1" is all we speak; a higher minor is fine (warn); another major is a hard failure. */
export function checkApiVersion(version: string, url: string, warn?: (m: string) => void): void {
  const m = /^(\d+)\.(\d+)/.exec(version.trim());
  if (!m) {
    throw new PyregError(
      "MALFORMED_INDEX",
      `index at ${redactUrl(url)} announces an unreadable api-version "${version}"`,
    );
  }
  if (m[1] !== "1") {
    throw new PyregError(
      "UNSUPPORTED_API_VERSION",
      `index at ${redactUrl(url)} speaks simple API version ${version}; pyreg understands 1.x`,
      { hint: "upgrade pyreg, or point it at an index that serves API version 1" },
    );
  }
  if (Number(m[2]) > 1)
    warn?.(`index at ${redactUrl(url)} announces api-version ${version} (newer than 1.1); reading it as 1.1`);
}

export function isJsonContentType(ct: string | undefined): boolean {
  return /application\/vnd\.pypi\.simple\.v\d+\+json|application\/json/i.test(ct ?? "");
}

// ---------- HTML ----------

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", "#39": "'" };

export function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, ent: string) => {
    if (ent[0] === "#") {
      const cp = ent[1] === "x" || ent[1] === "X" ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      return Number.isFinite(cp) && cp >= 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : whole;
    }
    return ENTITIES[ent.toLowerCase()] ?? whole;
  });
}

function parseAttributes(tag: string): Map<string, string> {
  const attrs = new Map<string, string>();
  const re = /([^\s=/>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+)))?/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(tag))) {
    const name = (m[1] as string).toLowerCase();
    const value = m[2] ?? m[3] ?? m[4];
    attrs.set(name, value === undefined ? "" : decodeEntities(value));
  }
  return attrs;
}

interface Anchor {
  attrs: Map<string, string>;
  text: string;
}

function anchors(html: string): Anchor[] {
  const out: Anchor[] = [];
  const re = /<a\b([^>]*)>([\s\S]*?)<\/a\s*>/gi;
  let m: RegExpExecArray | null;
  while ((m = re.exec(html))) {
    out.push({
      attrs: parseAttributes(m[1] as string),
      text: decodeEntities((m[2] as string).replace(/<[^>]*>/g, "")).trim(),
    });
  }
  return out;
}

function htmlApiVersion(html: string): string {
  const m = /<meta\b[^>]*name\s*=\s*["']pypi:repository-version["'][^>]*>/i.exec(html);
  if (!m) return "1.0";
  return parseAttributes(m[0]).get("content") ?? "1.0";
}

function baseHref(html: string, pageUrl: string): string {
  const m = /<base\b[^>]*>/i.exec(html);
  const href = m ? parseAttributes(m[0]).get("href") : undefined;
  return href ? new URL(href, pageUrl).toString() : pageUrl;
}

function looksLikeHtml(text: string): boolean {
  return /<(!doctype|html|body|a\b|meta)/i.test(text) || text.trim() === "";
}

function hashFromFragment(url: URL): Record<string, string> {
  const frag = url.hash.replace(/^#/, "");
  const m = /^([a-z0-9_]+)=([0-9a-fA-F]+)$/.exec(frag);
  return m ? { [(m[1] as string).toLowerCase()]: (m[2] as string).toLowerCase() } : {};
}

export function parseProjectListHtml(html: string, url: string, warn?: (m: string) => void): string[] {
  if (!looksLikeHtml(html)) throw malformed(url, "the project list is not HTML");
  checkApiVersion(htmlApiVersion(html), url, warn);
  const names = new Set<string>();
  for (const a of anchors(html)) if (a.text) names.add(normalizeName(a.text));
  return [...names];
}

export function parseProjectPageHtml(
  html: string,
  pageUrl: string,
  project: string,
  warn?: (m: string) => void,
): ParsedProjectPage {
  if (!looksLikeHtml(html)) throw malformed(pageUrl, "the project page is not HTML");
  const apiVersion = htmlApiVersion(html);
  checkApiVersion(apiVersion, pageUrl, warn);
  const base = baseHref(html, pageUrl);
  const files: DistFile[] = [];
  for (const a of anchors(html)) {
    const href = a.attrs.get("href");
    if (!href) continue;
    let abs: URL;
    try {
      abs = new URL(href, base);
    } catch {
      warn?.(`skipping a link with an invalid URL on ${redactUrl(pageUrl)}`);
      continue;
    }
    const filename = a.text || decodeURIComponent(abs.pathname.split("/").pop() ?? "");
    const hashes = hashFromFragment(abs);
    abs.hash = "";
    const yankedAttr = a.attrs.get("data-yanked");
    const cm = a.attrs.get("data-core-metadata") ?? a.attrs.get("data-dist-info-metadata");
    files.push(
      toDistFile(project, filename, abs.toString(), hashes, {
        requiresPython: a.attrs.get("data-requires-python") || undefined,
        yanked: yankedAttr === undefined ? undefined : yankedAttr === "" ? true : yankedAttr,
        coreMetadataUrl: cm !== undefined && cm !== "false" ? abs.toString() + ".metadata" : undefined,
      }),
    );
  }
  return { apiVersion, files };
}

// ---------- JSON ----------

const jsonMeta = z.object({ "api-version": z.string() }).passthrough();

const jsonProjectList = z
  .object({
    meta: jsonMeta,
    projects: z.array(z.object({ name: z.string() }).passthrough()),
  })
  .passthrough();

const hashesSchema = z.record(z.string(), z.string());

const jsonFile = z
  .object({
    filename: z.string().min(1),
    url: z.string().min(1),
    hashes: hashesSchema,
    "requires-python": z.string().nullish(),
    "core-metadata": z.union([z.boolean(), hashesSchema]).nullish(),
    "dist-info-metadata": z.union([z.boolean(), hashesSchema]).nullish(),
    yanked: z.union([z.boolean(), z.string()]).nullish(),
    size: z.number().int().nonnegative().nullish(),
    "upload-time": z.string().nullish(),
  })
  .passthrough();

const jsonProjectPage = z
  .object({
    meta: jsonMeta,
    name: z.string(),
    files: z.array(jsonFile),
    versions: z.array(z.string()).optional(),
  })
  .passthrough();

function zodProblem(err: z.ZodError): string {
  const first = err.issues[0];
  return first ? `${first.path.join(".") || "(root)"}: ${first.message}` : "invalid";
}

export function parseProjectListJson(text: string, url: string, warn?: (m: string) => void): string[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw malformed(url, "the project list is not valid JSON");
  }
  const version = (data as { meta?: { "api-version"?: unknown } } | null)?.meta?.["api-version"];
  if (typeof version === "string") checkApiVersion(version, url, warn);
  const parsed = jsonProjectList.safeParse(data);
  if (!parsed.success) throw malformed(url, `unexpected project list (${zodProblem(parsed.error)})`);
  return [...new Set(parsed.data.projects.map((p) => normalizeName(p.name)))];
}

export function parseProjectPageJson(
  text: string,
  pageUrl: string,
  project: string,
  warn?: (m: string) => void,
): ParsedProjectPage {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw malformed(pageUrl, "the project page is not valid JSON");
  }
  const version = (data as { meta?: { "api-version"?: unknown } } | null)?.meta?.["api-version"];
  if (typeof version === "string") checkApiVersion(version, pageUrl, warn);
  const parsed = jsonProjectPage.safeParse(data);
  if (!parsed.success) throw malformed(pageUrl, `unexpected project page (${zodProblem(parsed.error)})`);
  const files: DistFile[] = [];
  for (const f of parsed.data.files) {
    let abs: URL;
    try {
      abs = new URL(f.url, pageUrl);
    } catch {
      warn?.(`skipping ${f.filename}: invalid URL on ${redactUrl(pageUrl)}`);
      continue;
    }
    abs.hash = "";
    const hashes: Record<string, string> = {};
    for (const [k, v] of Object.entries(f.hashes)) hashes[k.toLowerCase()] = v.toLowerCase();
    const cm = f["core-metadata"] ?? f["dist-info-metadata"];
    files.push(
      toDistFile(project, f.filename, abs.toString(), hashes, {
        requiresPython: f["requires-python"] ?? undefined,
        yanked: f.yanked ?? undefined,
        size: f.size ?? undefined,
        uploadTime: f["upload-time"] ?? undefined,
        coreMetadataUrl: cm ? abs.toString() + ".metadata" : undefined,
      }),
    );
  }
  return { apiVersion: parsed.data.meta["api-version"], files, versions: parsed.data.versions };
}

function toDistFile(
  project: string,
  filename: string,
  url: string,
  hashes: Record<string, string>,
  extra: Partial<DistFile>,
): DistFile {
  const parsed = parseFilename(filename);
  const f: DistFile = {
    project,
    displayName: parsed?.name,
    version: parsed?.version ?? "",
    filename,
    url,
    hashes,
  };
  for (const [k, v] of Object.entries(extra))
    if (v !== undefined) (f as unknown as Record<string, unknown>)[k] = v;
  return f;
}

function malformed(url: string, what: string): PyregError {
  return new PyregError("MALFORMED_INDEX", `malformed index at ${redactUrl(url)}: ${what}`, {
    url: redactUrl(url),
    hint: "check that the URL points at a PEP 503/691 simple index (usually ending in /simple/)",
  });
}
