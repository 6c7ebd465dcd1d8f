/**
 * Parsers for the simple repository API (PEP 503 HTML, PEP 691 JSON, PEP 700 fields).
 * Source: packaging.python.org specifications/simple-repository-api.rst.
 * Every response is validated at the edge: malformed means an error naming the URL, never [].
 */
import * as z from "../../core/zod.js";
import { PyregError } from "../../core/errors.js";
import type { DistFile } from "../../core/model.js";
import { Parser as HtmlParser } from "htmlparser2";
import { isValidProjectName, normalizeName, parseFilename } from "../../core/names.js";
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

interface Anchor {
  attrs: Map<string, string>;
  text: string;
}

interface ScannedHtml {
  anchors: Anchor[];
  /** The first <base href>, as pip reads it. */
  base?: string | undefined;
  /** The PEP 629 <meta name="pypi:repository-version"> content, when present. */
  apiVersion?: string | undefined;
  /** Any element was seen (an empty or plain-text body has none). */
  elements: number;
}

/**
 * One pass of a real HTML tokenizer (htmlparser2) over a page, keeping what the simple API uses.
 * Like Python's html.parser (what pip's link collector builds on): comments and the content of
 * <script>/<style> are not links, entities are decoded in text and attribute values, tag and
 * attribute names are case-insensitive, attributes may come in any order and quoting.
 */
function scanHtml(html: string): ScannedHtml {
  const out: ScannedHtml = { anchors: [], elements: 0 };
  let open: Anchor | undefined;
  const parser = new HtmlParser(
    {
      onopentag(name, attribs) {
        out.elements++;
        const attrs = new Map(Object.entries(attribs));
        if (name === "a") {
          open = { attrs, text: "" };
          out.anchors.push(open);
        } else if (name === "base" && out.base === undefined && attrs.has("href")) {
          out.base = attrs.get("href");
        } else if (name === "meta" && attrs.get("name")?.toLowerCase() === "pypi:repository-version") {
          out.apiVersion ??= attrs.get("content") ?? "1.0";
        }
      },
      ontext(text) {
        if (open) open.text += text;
      },
      onclosetag(name) {
        if (name === "a" && open) {
          open.text = open.text.trim();
          open = undefined;
        }
      },
    },
    { decodeEntities: true, lowerCaseTags: true, lowerCaseAttributeNames: true },
  );
  parser.write(html);
  parser.end();
  if (open) open.text = open.text.trim();
  return out;
}

function hashFromFragment(url: URL): Record<string, string> {
  const frag = url.hash.replace(/^#/, "");
  const m = /^([a-z0-9_]+)=([0-9a-fA-F]+)$/.exec(frag);
  return m ? { [(m[1] as string).toLowerCase()]: (m[2] as string).toLowerCase() } : {};
}

/** The last non-empty segment of a URL's path, decoded. */
function lastSegment(url: URL): string {
  const segs = url.pathname.split("/").filter(Boolean);
  const last = segs[segs.length - 1] ?? "";
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/**
 * Why a page is not a PEP 503 project list, or undefined when it is one. PEP 503: each anchor's
 * text is a project name and its href the project's page (…/<name>/). PyPI, pypiserver, GitLab,
 * Artifact Registry and pyreg serve all link BASE/<normalized>/ (GitLab without the slash).
 */
function notAProjectList(page: ScannedHtml, url: string): string | undefined {
  for (const a of page.anchors) {
    const href = a.attrs.get("href");
    if (!href) continue;
    if (!isValidProjectName(a.text)) return `its link "${a.text.slice(0, 60)}" is not a project name`;
    if (parseFilename(a.text) && !href.endsWith("/"))
      return `its link ${a.text.slice(0, 80)} is a distribution file, not a project page (a file listing)`;
    let target: URL;
    try {
      target = new URL(href, url);
    } catch {
      return `its link "${a.text.slice(0, 60)}" has an invalid URL`;
    }
    if (normalizeName(lastSegment(target)) !== normalizeName(a.text))
      return `its link "${a.text.slice(0, 60)}" points to ${redactUrl(target.toString())}, not to a project page named after it`;
  }
  return undefined;
}

export function parseProjectListHtml(html: string, url: string, warn?: (m: string) => void): string[] {
  const page = scanHtml(html);
  if (!page.elements && html.trim()) throw malformed(url, "the project list is not HTML");
  checkApiVersion(page.apiVersion ?? "1.0", url, warn);
  // With the PEP 629 meta the server says it is an index; without it, the PEP 503 structure must.
  const why = page.apiVersion === undefined ? notAProjectList(page, url) : undefined;
  if (why) throw notAnIndex(url, why);
  const names = new Set<string>();
  for (const a of page.anchors) if (a.text) names.add(normalizeName(a.text));
  return [...names];
}

export function parseProjectPageHtml(
  html: string,
  pageUrl: string,
  project: string,
  warn?: (m: string) => void,
): ParsedProjectPage {
  const page = scanHtml(html);
  if (!page.elements) throw malformed(pageUrl, "the project page is not HTML");
  const apiVersion = page.apiVersion ?? "1.0";
  checkApiVersion(apiVersion, pageUrl, warn);
  const base = page.base ? new URL(page.base, pageUrl).toString() : pageUrl;
  const files: DistFile[] = [];
  for (const a of page.anchors) {
    const href = a.attrs.get("href");
    if (!href) continue;
    let abs: URL;
    try {
      abs = new URL(href, base);
    } catch {
      warn?.(`skipping a link with an invalid URL on ${redactUrl(pageUrl)}`);
      continue;
    }
    const filename = a.text || lastSegment(abs);
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

const jsonMeta = z.looseObject({ "api-version": z.string() });

const hashesSchema = z.record(z.string(), z.string());

const jsonFile = z.looseObject({
  filename: z.string().check(z.minLength(1)),
  url: z.string().check(z.minLength(1)),
  hashes: hashesSchema,
  "requires-python": z.nullish(z.string()),
  "core-metadata": z.nullish(z.union([z.boolean(), hashesSchema])),
  "dist-info-metadata": z.nullish(z.union([z.boolean(), hashesSchema])),
  yanked: z.nullish(z.union([z.boolean(), z.string()])),
  size: z.nullish(z.int().check(z.nonnegative())),
  "upload-time": z.nullish(z.string()),
});

const jsonProjectPage = z.looseObject({
  meta: jsonMeta,
  name: z.string(),
  files: z.array(jsonFile),
  versions: z.optional(z.array(z.string())),
});

type JsonProjectPage = z.infer<typeof jsonProjectPage>;

type Plain = Record<string, unknown>;

function isPlain(v: unknown): v is Plain {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isStringRecord(v: unknown): boolean {
  if (!isPlain(v)) return false;
  for (const k of Object.keys(v)) if (typeof v[k] !== "string") return false;
  return true;
}

function nullish(v: unknown): boolean {
  return v === undefined || v === null;
}

/** PEP 691/714 core-metadata (and its old name): absent, a boolean, or the file's hashes. */
function plainCoreMetadata(v: unknown): boolean {
  return nullish(v) || typeof v === "boolean" || isStringRecord(v);
}

function plainFile(f: unknown): boolean {
  if (!isPlain(f)) return false;
  const size = f["size"];
  return (
    typeof f["filename"] === "string" &&
    f["filename"].length > 0 &&
    typeof f["url"] === "string" &&
    f["url"].length > 0 &&
    isStringRecord(f["hashes"]) &&
    (nullish(f["requires-python"]) || typeof f["requires-python"] === "string") &&
    plainCoreMetadata(f["core-metadata"]) &&
    plainCoreMetadata(f["dist-info-metadata"]) &&
    (nullish(f["yanked"]) || typeof f["yanked"] === "boolean" || typeof f["yanked"] === "string") &&
    (nullish(size) || (Number.isSafeInteger(size) && (size as number) >= 0)) &&
    (nullish(f["upload-time"]) || typeof f["upload-time"] === "string")
  );
}

/**
 * The page as it was parsed, when it plainly has the shape jsonProjectPage asks for (every check
 * here is one of the schema's, or stricter); undefined otherwise, and the schema then decides and
 * names the problem. zod's parse copies every file entry: on a 100,000-file run that copy and its
 * garbage were about 1 % of pyreg's CPU (a --cpu-prof profile), for pages that are nearly always
 * well formed.
 */
function plainProjectPage(data: unknown): JsonProjectPage | undefined {
  if (!isPlain(data) || !isPlain(data["meta"]) || typeof data["meta"]["api-version"] !== "string")
    return undefined;
  if (typeof data["name"] !== "string" || !Array.isArray(data["files"])) return undefined;
  const versions = data["versions"];
  if (versions !== undefined && !(Array.isArray(versions) && versions.every((v) => typeof v === "string")))
    return undefined;
  for (const f of data["files"] as unknown[]) if (!plainFile(f)) return undefined;
  return data as JsonProjectPage;
}

export function parseProjectListJson(text: string, url: string, warn?: (m: string) => void): string[] {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw malformed(url, "the project list is not valid JSON");
  }
  const version = (data as { meta?: { "api-version"?: unknown } } | null)?.meta?.["api-version"];
  // devpi-server answers GET /USER/INDEX/ with its JSON API ({"type": "indexconfig", "result":
  // {"projects": [...], ...}}; devpi docs, "JSON API" / "Getting index information"), not with the
  // simple API, which it serves under /USER/INDEX/+simple/ only.
  const devpi = (data as { result?: { projects?: unknown } } | null)?.result?.projects;
  if (typeof version !== "string" && devpi !== undefined) {
    throw notAnIndex(url, "it is devpi's JSON API for an index, whose simple index is under +simple/", {
      hint: `give devpi's simple index ${redactUrl(new URL("+simple/", url.endsWith("/") ? url : url + "/").toString())}, or the devpi+ form devpi+${redactUrl(url)}`,
    });
  }
  // PEP 691: a JSON index says so in meta.api-version; JSON without it is some other API.
  if (typeof version !== "string") throw notAnIndex(url, "its JSON has no PEP 691 meta.api-version");
  checkApiVersion(version, url, warn);
  const meta = jsonMeta.safeParse((data as { meta?: unknown }).meta);
  if (!meta.success) throw malformed(url, `unexpected project list (meta.${z.problems(meta.error)})`);
  // The entries are checked here rather than by a zod schema: zod's parse copies every entry,
  // and a million-file index lists 100,000 projects, read whole before anything else (the copy
  // set pyreg plan's peak memory at that size; bench/README.md, "Memory curve").
  const projects = (data as { projects?: unknown }).projects;
  if (!Array.isArray(projects)) throw malformed(url, "unexpected project list (projects: expected an array)");
  const names = new Set<string>();
  for (let i = 0; i < projects.length; i++) {
    const name = (projects[i] as { name?: unknown } | null)?.name;
    if (typeof name !== "string")
      throw malformed(url, `unexpected project list (projects.${i}.name: expected a string)`);
    names.add(normalizeName(name));
  }
  return [...names];
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
  let page = plainProjectPage(data);
  if (!page) {
    const parsed = jsonProjectPage.safeParse(data);
    if (!parsed.success) throw malformed(pageUrl, `unexpected project page (${z.problems(parsed.error)})`);
    page = parsed.data;
  }
  const files: DistFile[] = [];
  for (const f of page.files) {
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
  return { apiVersion: page.meta["api-version"], files, versions: page.versions };
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

/** A page that is not a simple index at all (a web page, a file listing, another API). */
export function notAnIndex(url: string, why: string, opts: { hint?: string } = {}): PyregError {
  return new PyregError("NOT_AN_INDEX", `${redactUrl(url)} is not a simple index: ${why}`, {
    url: redactUrl(url),
    hint:
      opts.hint ??
      "give the URL of a PEP 503/691 simple index (usually ending in /simple/; devpi: /USER/INDEX/+simple/)",
  });
}

function malformed(url: string, what: string): PyregError {
  return new PyregError("MALFORMED_INDEX", `malformed index at ${redactUrl(url)}: ${what}`, {
    url: redactUrl(url),
    hint: "check that the URL points at a PEP 503/691 simple index (usually ending in /simple/)",
  });
}
