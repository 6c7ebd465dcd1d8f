/**
 * Conditional GETs of index pages (RFC 9110 §13.1.2 If-None-Match, §13.1.3 If-Modified-Since,
 * §15.4.5 304 Not Modified): a page read by an earlier run is kept with its validators (ETag,
 * Last-Modified) in a store the caller gives the HTTP client (the state folder's page cache, see
 * src/core/pageCache.ts). Asked again, the server answers 304 without a body when nothing changed,
 * and the kept body is used.
 *
 * Last-Modified has one-second granularity: a page changed twice within the second it was read
 * would look unchanged. It is sent as If-Modified-Since only when the answer it came with had a
 * Date at least one second after it (RFC 9110 §8.8.2.2: then the validator is strong).
 */
import { createHash } from "node:crypto";
import type { BufferedResponse, HttpClient, RequestOptions } from "./client.js";

/** A page as kept in the store. */
export interface StoredPage {
  /** The URL asked for (the key). */
  url: string;
  /** Where the answer came from after redirects (relative links resolve against it). */
  finalUrl: string;
  /** 200, or 404 (an absent project page is a fact worth keeping too). */
  status: number;
  etag: string | null;
  lastModified: string | null;
  /** The Date header of the answer that carried lastModified. */
  date: string | null;
  contentType: string | null;
  body: Buffer;
  /** "STATUS:sha256 of the body": what the page said, whatever the server's validators. */
  stamp: string;
}

export interface PageStore {
  get(url: string): (StoredPage & { fresh: boolean }) | undefined;
  /** Keeps a page read now (it is fresh: read again in this process without asking). */
  put(page: StoredPage): void;
  /** The server said the kept page is still current (304): fresh again. */
  touch(url: string): void;
  /**
   * The page may have changed by our own doing (an upload was sent): the next read asks for the
   * whole page, without a condition. A read made to see a change is never answered from the
   * store: a cache or proxy that serves an older page under the newer validator (or the reverse)
   * would hide the change behind a 304.
   */
  stale(url: string): void;
  /** The kept page is wrong (it does not parse): forgotten. */
  drop(url: string): void;
  /** One count per read, for the output and the benchmark. */
  count(kind: "cached" | "not-modified" | "changed" | "unconditional"): void;
}

export interface PageResponse extends BufferedResponse {
  /** See StoredPage.stamp. */
  stamp: string;
  /** The server answered 304 (or the page was already read in this process). */
  unchanged: boolean;
}

export function pageStamp(status: number, body: Buffer): string {
  return `${status}:${createHash("sha256").update(body).digest("hex")}`;
}

/** The If-Modified-Since a kept page may be asked with (see the note at the top), if any. */
export function ifModifiedSince(page: Pick<StoredPage, "lastModified" | "date">): string | undefined {
  if (!page.lastModified || !page.date) return undefined;
  const lm = Date.parse(page.lastModified);
  const date = Date.parse(page.date);
  if (!Number.isFinite(lm) || !Number.isFinite(date) || date - lm < 1000) return undefined;
  return page.lastModified;
}

function fromStore(page: StoredPage): PageResponse {
  const headers: Record<string, string> = {};
  if (page.contentType) headers["content-type"] = page.contentType;
  return {
    status: page.status,
    headers,
    url: page.finalUrl,
    body: page.body,
    text: () => page.body.toString("utf8"),
    stamp: page.stamp,
    unchanged: true,
  };
}

/**
 * GET of an index page through the client's page store, when it has one: conditional when a kept
 * copy has validators, answered from the store when the page was read in this process already.
 * Without a store it is a plain GET.
 */
export async function fetchPage(
  http: HttpClient,
  url: string,
  options: RequestOptions = {},
): Promise<PageResponse> {
  const store = http.pages;
  const kept = store?.get(url);
  if (store && kept?.fresh) {
    store.count("cached");
    return fromStore(kept);
  }
  const conditions: Record<string, string> = {};
  if (kept?.etag) conditions["if-none-match"] = kept.etag;
  const since = kept ? ifModifiedSince(kept) : undefined;
  if (since) conditions["if-modified-since"] = since;
  const conditional = Object.keys(conditions).length > 0;
  const accept = options.accept ?? ((s: number) => s < 400);
  const res = await http.fetch(url, {
    ...options,
    headers: { ...options.headers, ...conditions },
    accept: (s) => (conditional && s === 304) || accept(s),
  });
  if (conditional && res.status === 304 && kept && store) {
    store.touch(url);
    store.count("not-modified");
    return fromStore(kept);
  }
  const stamp = pageStamp(res.status, res.body);
  if (store && (res.status === 200 || res.status === 404)) {
    store.put({
      url,
      finalUrl: res.url,
      status: res.status,
      etag: res.headers["etag"] ?? null,
      lastModified: res.headers["last-modified"] ?? null,
      date: res.headers["date"] ?? null,
      contentType: res.headers["content-type"] ?? null,
      body: res.body,
      stamp,
    });
    store.count(conditional ? "changed" : "unconditional");
  }
  return { ...res, stamp, unchanged: false };
}
