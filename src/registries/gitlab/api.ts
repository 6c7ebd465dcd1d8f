/**
 * The GitLab REST facts pyreg relies on, validated at the edge (zod), and the walk over offset
 * pagination.
 *
 * Sources (gitlabhq/gitlabhq): doc/api/packages.md (list packages of a group/project, list package
 * files), lib/api/group_packages.rb (`exclude_subgroups`, `package_type`, `status`),
 * lib/api/entities/package.rb and package_file.rb (fields), doc/api/rest/_index.md "Pagination"
 * (`page` from 1, `per_page` max 100, `x-next-page`/`Link rel="next"`, and: past 10,000 records
 * `x-total`, `x-total-pages` and `rel="last"` are not returned).
 */
import * as z from "../../core/zod.js";
import { PyregError } from "../../core/errors.js";
import type { BufferedResponse, HttpClient } from "../../http/client.js";
import { originOf } from "../../http/credentials.js";
import { redactUrl } from "../../http/redact.js";

export const PER_PAGE = 100;

export const groupSchema = z.object({ id: z.int(), full_path: z.string() });
export const projectSchema = z.object({ id: z.int(), path_with_namespace: z.string() });

/** One row per package name + version (lib/api/entities/package.rb). */
export const packageRowSchema = z.object({
  id: z.int(),
  name: z.string().check(z.minLength(1)),
  /** Versionless packages exist for other formats; PyPI packages always have one. */
  version: z.nullish(z.string()),
  package_type: z.string(),
  /** Absent before GitLab 13.x: such rows are "default". */
  status: z.nullish(z.string()),
  created_at: z.nullish(z.string()),
  /** Group listings only. */
  project_id: z.nullish(z.int()),
  project_path: z.nullish(z.string()),
});
export type PackageRow = z.infer<typeof packageRowSchema>;

/** lib/api/entities/package_file.rb */
export const packageFileSchema = z.object({
  id: z.int(),
  package_id: z.nullish(z.int()),
  created_at: z.nullish(z.string()),
  file_name: z.string().check(z.minLength(1)),
  size: z.nullish(z.int().check(z.nonnegative())),
  file_md5: z.nullish(z.string()),
  file_sha1: z.nullish(z.string()),
  file_sha256: z.nullish(z.string()),
});
export type PackageFileRow = z.infer<typeof packageFileSchema>;

export function malformed(url: string, what: string, res?: BufferedResponse): PyregError {
  return new PyregError("MALFORMED_INDEX", `GitLab API: ${what} at ${redactUrl(url)}`, {
    method: "GET",
    url: redactUrl(url),
    status: res?.status,
    hint: "is this a GitLab instance (and the API root right)? pyreg never reads a malformed answer as an empty list",
  });
}

export function parseWith<T>(schema: z.ZodMiniType<T>, data: unknown, url: string, what: string): T {
  const r = schema.safeParse(data);
  if (!r.success) {
    throw malformed(url, `${what} is not what GitLab returns (${z.problems(r.error)})`);
  }
  return r.data;
}

/** The `rel="next"` URL of an RFC 8288 Link header, if any. */
export function linkNext(link: string | undefined): string | undefined {
  if (!link) return undefined;
  for (const part of link.split(/,(?=\s*<)/)) {
    const m = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (!m) continue;
    for (const param of (m[2] as string).split(";")) {
      const p = /^\s*rel\s*=\s*"?([^"]*)"?\s*$/i.exec(param);
      if (p && (p[1] as string).toLowerCase().split(/\s+/).includes("next")) return m[1];
    }
  }
  return undefined;
}

/**
 * Every page of an offset-paginated GitLab list, one page at a time (nothing is kept here).
 * Follows `x-next-page`; else `Link rel="next"`; when a server sends no pagination headers at all,
 * asks for the next page until one comes back empty — never stops on a missing `x-total`.
 */
export async function* paginate<T>(
  http: HttpClient,
  first: string,
  schema: z.ZodMiniType<T>,
  opts: { label: string; what: string },
): AsyncGenerator<T[]> {
  let url = new URL(first);
  url.searchParams.set("per_page", String(PER_PAGE));
  if (!url.searchParams.has("page")) url.searchParams.set("page", "1");
  const seen = new Set<string>();
  for (;;) {
    const here = url.toString();
    if (seen.has(here)) throw malformed(here, `pagination loops back to a page already read (${opts.what})`);
    seen.add(here);
    const { data, res } = await http.fetchJson(here, { label: opts.label });
    const rows = parseWith(z.array(schema), data, here, opts.what);
    yield rows;
    const next = res.headers["x-next-page"];
    if (next !== undefined) {
      if (next.trim() === "") return;
      if (!/^\d+$/.test(next.trim())) throw malformed(here, `x-next-page is "${next}"`, res);
      url = new URL(here);
      url.searchParams.set("page", next.trim());
      continue;
    }
    const link = linkNext(res.headers["link"]);
    if (link) {
      const nextUrl = new URL(link, here);
      if (originOf(nextUrl) !== originOf(here))
        throw malformed(here, `Link rel="next" leaves the host (${redactUrl(nextUrl)})`);
      url = nextUrl;
      continue;
    }
    // Headers present but no next page: the end. No headers at all: read on until an empty page.
    if (res.headers["x-page"] !== undefined || res.headers["link"] !== undefined) return;
    if (rows.length === 0) return;
    url = new URL(here);
    url.searchParams.set("page", String(Number(url.searchParams.get("page") ?? "1") + 1));
  }
}

/** `GET` that hands every status back to the caller (probes decide what 401/404 mean). */
export async function probe(http: HttpClient, url: string, label: string): Promise<BufferedResponse> {
  return await http.fetch(url, {
    label,
    accept: () => true,
    followRedirects: false,
    headers: { accept: "application/json, text/html;q=0.5" },
    maxBytes: 8 * 1024 * 1024,
  });
}

export function isJson(res: BufferedResponse): boolean {
  return /json/i.test(res.headers["content-type"] ?? "");
}

export function jsonOf(res: BufferedResponse, url: string): unknown {
  try {
    return JSON.parse(res.text()) as unknown;
  } catch {
    throw malformed(url, "the answer is not JSON", res);
  }
}
