/**
 * The generic kind: any PEP 503/691 simple index as a source, and any legacy upload endpoint
 * (what `twine upload` talks to) with its simple index as a destination.
 */
import type { Readable } from "node:stream";
import { PyregError } from "../../core/errors.js";
import type {
  CoreMetadata,
  Destination,
  DistFile,
  LocalDist,
  Source,
  UploadResult,
} from "../../core/model.js";
import { describeFormat, formatOf } from "../../core/formats.js";
import { normalizeName, parseFilename } from "../../core/names.js";
import { buildUploadFields, multipartBody } from "../../core/uploadForm.js";
import { snippet, type HttpClient } from "../../http/client.js";
import { fetchPage, type PageResponse } from "../../http/conditional.js";
import { originOf } from "../../http/credentials.js";
import { backoffDelay } from "../../http/retry.js";
import { redactUrl } from "../../http/redact.js";
import { basicProvider, resolveBasicCredentials, stripCredentials } from "../auth.js";
import type { RegistryContext, RegistryKind, RegistrySpec } from "../types.js";
import {
  ACCEPT_SIMPLE,
  isJsonContentType,
  parseProjectListHtml,
  parseProjectListJson,
  parseProjectPageHtml,
  parseProjectPageJson,
  type ParsedProjectPage,
} from "./parse.js";

/** Largest distribution file read from a source that does not publish sizes (PyPI's own cap is lower). */
export const MAX_FILE_BYTES = 64 * 1024 ** 3;

export function withSlash(url: string): string {
  return url.endsWith("/") ? url : url + "/";
}

/** The path prefix credentials are scoped to: everything up to a "simple" segment, else the path. */
export function credentialPrefix(url: URL): string {
  const u = stripCredentials(url);
  const i = u.pathname.search(/\/(\+?simple)(\/|$)/);
  if (i >= 0) u.pathname = u.pathname.slice(0, i + 1);
  u.search = "";
  u.hash = "";
  return u.toString();
}

/** Registers Basic credentials (URL, environment, ~/.netrc) for a URL's origin and path prefix. */
export function registerBasicCredentials(
  url: URL,
  ctx: RegistryContext,
  prefix = credentialPrefix(url),
): string | undefined {
  const creds = resolveBasicCredentials(url, ctx.side, ctx.env, ctx.credentials);
  if (!creds) return undefined;
  ctx.http.credentials.add(prefix, basicProvider(creds));
  return creds.source;
}

export interface IndexReaderOptions {
  label: string;
  warn?: ((m: string) => void) | undefined;
  /** Files whose URL leaves the index's origin are refused unless this is set. */
  allowForeignFileHosts?: boolean | undefined;
  /**
   * A redirect means "this index does not hold it", never "look there": GitLab forwards names it
   * does not hold to pypi.org (see src/registries/gitlab/index.ts), and following that would make
   * pypi.org's files look like the registry's, as a source and as a destination.
   */
  redirectMeansAbsent?: boolean | undefined;
}

/** Reads one simple index (project list and project pages). */
export class SimpleIndexReader {
  constructor(
    readonly http: HttpClient,
    readonly indexUrl: string,
    readonly opts: IndexReaderOptions,
  ) {}

  /**
   * A page that does not parse may have been cut short without any sign in the HTTP framing (a
   * close-delimited body, a Content-Length too small): it is read again, within the same attempt
   * budget and backoff as any other transient failure, before it is declared malformed. A server
   * that really serves garbage answers the same every time and still fails, with the URL.
   */
  private async twice<T>(read: () => Promise<T>, url: string): Promise<T> {
    const policy = this.http.retryPolicy;
    for (let attempt = 0; ; attempt++) {
      try {
        return await read();
      } catch (err) {
        if (!(err instanceof PyregError && err.code === "MALFORMED_INDEX")) throw err;
        // Never kept, nor read from the store again: the next read asks for the whole page.
        this.http.pages?.drop(url);
        if (attempt >= policy.retries) throw err;
        await new Promise((r) => setTimeout(r, backoffDelay(policy, attempt + 1)));
      }
    }
  }

  async listProjects(): Promise<string[]> {
    try {
      return await this.twice(() => this.readProjectList(), this.indexUrl);
    } catch (err) {
      if (!(err instanceof PyregError && err.code === "NOT_AN_INDEX")) throw err;
      const better = await this.suggestIndex();
      if (!better) throw err;
      throw new PyregError(err.code, err.message, { url: err.url, hint: `did you mean ${better} ?` });
    }
  }

  /**
   * The index this URL probably meant, when the URL itself is not one: BASE/simple/ (PyPI,
   * pypiserver, pyreg serve, Nexus...), BASE/+simple/ (devpi), or the origin's /simple/. Each
   * candidate must answer a project list that parses; nothing else is guessed.
   */
  async suggestIndex(): Promise<string | undefined> {
    const base = withSlash(this.indexUrl);
    const candidates = [
      new URL("simple/", base).toString(),
      new URL("+simple/", base).toString(),
      new URL("/simple/", base).toString(),
    ].filter((c, i, all) => c !== base && all.indexOf(c) === i);
    for (const candidate of candidates) {
      try {
        const res = await this.http.fetch(candidate, {
          headers: { accept: ACCEPT_SIMPLE },
          label: this.opts.label,
          accept: (s: number) => s < 300,
          followRedirects: false,
        });
        const text = res.text();
        if (isJsonContentType(res.headers["content-type"])) parseProjectListJson(text, res.url);
        else parseProjectListHtml(text, res.url);
        return redactUrl(candidate);
      } catch {
        // Not this one.
      }
    }
    return undefined;
  }

  /**
   * One project's page. For a destination an unknown project (404) is an empty page: nothing of
   * it is there yet. For a source that listed the project itself (`listed`), a 404 is a project
   * error: its own list and its pages disagree, and "no files" would drop the project in silence.
   */
  projectPage(project: string, listed = false): Promise<ParsedProjectPage> {
    return this.twice(() => this.readProjectPage(project, listed), this.projectUrl(project));
  }

  private async readProjectList(): Promise<string[]> {
    const res = await fetchPage(this.http, this.indexUrl, {
      headers: { accept: ACCEPT_SIMPLE },
      label: this.opts.label,
      ...(this.opts.redirectMeansAbsent ? { followRedirects: false, accept: (s: number) => s < 300 } : {}),
    });
    const text = res.text();
    return isJsonContentType(res.headers["content-type"])
      ? parseProjectListJson(text, res.url, this.opts.warn)
      : parseProjectListHtml(text, res.url, this.opts.warn);
  }

  projectUrl(project: string): string {
    return new URL(encodeURIComponent(normalizeName(project)) + "/", withSlash(this.indexUrl)).toString();
  }

  private fetchProjectPage(url: string): Promise<PageResponse> {
    return fetchPage(this.http, url, {
      headers: { accept: ACCEPT_SIMPLE },
      label: this.opts.label,
      accept: (s) => s < 400 || s === 404,
      followRedirects: this.opts.redirectMeansAbsent !== true,
    });
  }

  /**
   * What the project's page says now, as a stamp ("STATUS:sha256 of the body"), read with a
   * conditional request when an earlier run kept the page; undefined without a page store, or
   * for an answer that is not a page (a redirect). The page is kept: listFiles reads it from the
   * store without asking again.
   */
  async pageStamp(project: string): Promise<string | undefined> {
    if (!this.http.pages) return undefined;
    const res = await this.fetchProjectPage(this.projectUrl(project));
    return res.status === 200 || res.status === 404 ? res.stamp : undefined;
  }

  /** The project's page may have changed (an upload): its next read asks for the whole page. */
  forget(project: string): void {
    this.http.pages?.stale(this.projectUrl(project));
  }

  private async readProjectPage(project: string, listed: boolean): Promise<ParsedProjectPage> {
    const url = this.projectUrl(project);
    const res = await this.fetchProjectPage(url);
    if (res.status === 404) {
      if (listed) {
        throw new PyregError(
          "NOT_FOUND",
          `project ${normalizeName(project)} is in the source's project list, but its page ${redactUrl(url)} answers 404`,
          {
            url: redactUrl(url),
            status: 404,
            hint: "the index's list and its pages disagree: check that the URL is the index itself (…/simple/; devpi: …/+simple/), or ask the registry's owner about this project",
          },
        );
      }
      return { apiVersion: "1.0", files: [] };
    }
    if (res.status >= 300) {
      this.opts.warn?.(
        `${redactUrl(url)} redirects to ${redactUrl(res.headers["location"] ?? "?")} (package forwarding): the index itself holds no ${normalizeName(project)}`,
      );
      return { apiVersion: "1.0", files: [] };
    }
    const text = res.text();
    if (!text.trim()) {
      throw new PyregError("MALFORMED_INDEX", `empty project page at ${redactUrl(url)}`, {
        url: redactUrl(url),
      });
    }
    const page = isJsonContentType(res.headers["content-type"])
      ? parseProjectPageJson(text, res.url, normalizeName(project), this.opts.warn)
      : parseProjectPageHtml(text, res.url, normalizeName(project), this.opts.warn);
    return page;
  }

  async listFiles(project: string, listed = false): Promise<DistFile[]> {
    return (await this.projectPage(project, listed)).files;
  }

  private indexOrigin: string | undefined;

  /** Whether `url` is on the index's origin (without parsing it when it starts with that origin). */
  private sameOrigin(url: string): boolean {
    const origin = (this.indexOrigin ??= originOf(this.indexUrl));
    if (url.startsWith(origin + "/")) return true;
    return originOf(url) === origin;
  }

  /** Opens a file URL; foreign hosts never get credentials and are refused unless allowed. */
  async open(file: DistFile): Promise<Readable> {
    const foreign = !this.sameOrigin(file.url);
    if (foreign && !this.opts.allowForeignFileHosts) {
      throw new PyregError(
        "UNSAFE_URL",
        `${file.filename}: its URL ${redactUrl(file.url)} is on another host than the index ${originOf(this.indexUrl)}`,
        {
          url: redactUrl(file.url),
          hint: "a file on a foreign host may not be what the registry holds; pass --allow-foreign-file-hosts to fetch it (without credentials)",
        },
      );
    }
    const res = await this.http.stream(file.url, {
      label: this.opts.label,
      anonymous: foreign,
      // A file is not an index page: the default cap of buffered answers would refuse large wheels.
      // With a known size, a byte more than promised is already wrong (and stops a decompression
      // bomb early); the engine's size and sha256 checks name the problem.
      maxBytes: file.size !== undefined ? file.size : MAX_FILE_BYTES,
    });
    return res.body;
  }
}

export class SimpleSource implements Source {
  readonly kind: string;
  constructor(
    readonly reader: SimpleIndexReader,
    kind = "simple",
  ) {
    this.kind = kind;
  }
  describe(): string {
    return `${this.kind} index ${redactUrl(this.reader.indexUrl)}`;
  }
  listProjects(): Promise<string[]> {
    return this.reader.listProjects();
  }
  /** Called for the projects this source listed: a page that answers 404 is a project error. */
  listFiles(project: string): Promise<DistFile[]> {
    return this.reader.listFiles(project, true);
  }
  open(file: DistFile): Promise<Readable> {
    return this.reader.open(file);
  }
  suggestIndex(): Promise<string | undefined> {
    return this.reader.suggestIndex();
  }
  pageStamp(project: string): Promise<string | undefined> {
    return this.reader.pageStamp(project);
  }
}

export interface UploadDestinationOptions {
  kind?: string;
  label?: string;
  /** Text of this server's "already exists" answers (a hint only: the engine re-reads the index). */
  existsAnswer?: RegExp;
  /** Digests this registry's index lists (besides sha256), see Destination.indexDigests. */
  indexDigests?: readonly string[];
  /** Extra form fields or changes a registry needs. */
  adjustFields?: (fields: [string, string][], meta: CoreMetadata, file: LocalDist) => [string, string][];
}

/**
 * Successful answers (2xx) that nevertheless say nothing was stored because the server already held
 * these very bytes: counted as "already there", not "copied" (the engine then confirms it from the
 * index). devpi-server answers a repeated upload of the same file to a non-volatile index with
 * `abort_submit(request, 200, "Upload of identical file to non volatile index.")`
 * (devpi/devpi, server/devpi_server/views.py): a Pyramid HTTPException whose status line and body
 * carry that title ("200 Upload of identical file..."), while a fresh upload gets an empty 200.
 * PyPI's 200 for a repeated identical upload (pypi/warehouse, warehouse/forklift/legacy.py) has the
 * same body as a fresh one: it cannot be told apart, so such a file reads as copied.
 */
export const IDENTICAL_ANSWERS: readonly { server: string; status: number; body: RegExp }[] = [
  { server: "devpi", status: 200, body: /Upload of identical file/i },
];

const GENERIC_EXISTS =
  /already exists|already been taken|not allow updating|cannot be updated|overwrite|identical file/i;

/** How many projects' destination listings are kept (far more than are ever in flight at once). */
const LISTINGS_KEPT = 256;

/** A legacy upload endpoint plus its simple index. */
export class UploadDestination implements Destination {
  readonly kind: string;
  readonly needsMetadata = true;
  readonly indexDigests: readonly string[] | undefined;
  private readonly cache = new Map<string, Promise<Map<string, DistFile>>>();

  constructor(
    readonly http: HttpClient,
    readonly uploadUrl: string,
    readonly reader: SimpleIndexReader,
    readonly opts: UploadDestinationOptions = {},
  ) {
    this.kind = opts.kind ?? "upload";
    this.indexDigests = opts.indexDigests;
  }

  describe(): string {
    return `${this.kind} endpoint ${redactUrl(this.uploadUrl)} (index ${redactUrl(this.reader.indexUrl)})`;
  }

  listFiles(project: string): Promise<Map<string, DistFile>> {
    let p = this.cache.get(project);
    if (!p) {
      p = this.reader.listFiles(project).then((files) => new Map(files.map((f) => [f.filename, f])));
      p.catch(() => this.cache.delete(project));
      this.cache.set(project, p);
      // The listings of the projects in flight are what is read again; older ones are let go, so
      // that memory does not grow with the destination's files (a Map keeps insertion order).
      if (this.cache.size > LISTINGS_KEPT) this.cache.delete(this.cache.keys().next().value as string);
    }
    return p;
  }

  invalidate(project: string): void {
    this.cache.delete(project);
    this.reader.forget(project);
  }

  pageStamp(project: string): Promise<string | undefined> {
    return this.reader.pageStamp(project);
  }

  /** Reads a file back from the destination, as its index links it (content verification). */
  open(file: DistFile): Promise<Readable> {
    return this.reader.open(file);
  }

  async upload(file: LocalDist, meta: CoreMetadata): Promise<UploadResult> {
    let fields = buildUploadFields(meta, file);
    if (this.opts.adjustFields) fields = this.opts.adjustFields(fields, meta, file);
    const body = multipartBody(fields, file);
    const res = await this.http.fetch(this.uploadUrl, {
      method: "POST",
      headers: { "content-type": body.contentType },
      body: body.bytes() ?? (() => body.open()),
      contentLength: body.contentLength,
      label: this.opts.label ?? "destination",
      followRedirects: false,
      accept: () => true,
      maxBytes: 1024 * 1024,
    });
    const location = res.headers["location"];
    if (res.status >= 300 && res.status < 400 && location) {
      // An upload is never sent on to another address: the file and the credentials would go
      // there. A 307/308 keeps the method and body (RFC 9110 §15.4.8-9), so the server means
      // "upload there": the person decides whether to trust it. Every file would get the same
      // answer, so the run stops (exit 2).
      let target = location;
      try {
        target = new URL(location, this.uploadUrl).toString();
      } catch {
        // Shown as sent.
      }
      throw new PyregError(
        "CONFIG",
        `the destination redirects uploads (HTTP ${res.status}) from ${redactUrl(this.uploadUrl)} to ${redactUrl(target)}`,
        {
          method: "POST",
          url: redactUrl(this.uploadUrl),
          status: res.status,
          hint:
            "pyreg does not send an upload on to another address. If that is the registry's real upload URL " +
            "(often only a missing or extra trailing slash, or http instead of https), give it as --to",
        },
      );
    }
    if (res.status >= 200 && res.status < 300) {
      // A success is read further only where a known server answers "exists" with this status:
      // the redacted one-line snippet is work no other upload needs.
      if (!IDENTICAL_ANSWERS.some((a) => a.status === res.status)) return { status: "uploaded" };
      const answer = snippet(res.text());
      return IDENTICAL_ANSWERS.some((a) => a.status === res.status && a.body.test(answer))
        ? { status: "exists", serverAnswer: answer, httpStatus: res.status }
        : { status: "uploaded" };
    }
    const answer = snippet(res.text());
    if (res.status === 401 || res.status === 403) {
      if (res.status === 403 && (this.opts.existsAnswer ?? GENERIC_EXISTS).test(answer)) {
        return { status: "exists", serverAnswer: answer, httpStatus: res.status };
      }
      throw this.http.statusError(res.status, "POST", this.uploadUrl, res.headers, res.text(), {
        label: this.opts.label ?? "destination",
      });
    }
    if ([400, 403, 409].includes(res.status) && (this.opts.existsAnswer ?? GENERIC_EXISTS).test(answer)) {
      return { status: "exists", serverAnswer: answer, httpStatus: res.status };
    }
    if (res.status === 409) return { status: "exists", serverAnswer: answer, httpStatus: res.status };
    // A refused legacy format says so in the reason itself (a file's failure keeps its message only).
    const legacy = res.status < 500 ? legacyHint(file.filename) : undefined;
    throw new PyregError(
      "UPLOAD_REFUSED",
      `destination refused ${file.filename}: HTTP ${res.status} ${answer}${legacy ? ` (${legacy})` : ""}`,
      {
        method: "POST",
        url: redactUrl(this.uploadUrl),
        status: res.status,
        serverAnswer: answer,
        hint:
          res.status >= 500
            ? "the registry failed; run migrate again later (nothing is uploaded twice)"
            : legacy,
      },
    );
  }
}

/**
 * For a refused file in a format PEP 527 deprecated or an sdist archive other than .tar.gz/.zip:
 * the registry may not take the format at all (many take only wheels and sdists).
 */
function legacyHint(filename: string): string | undefined {
  const parsed = parseFilename(filename);
  if (!parsed) return undefined;
  const f = formatOf(parsed);
  if (f === "wheel" || f === "sdist .tar.gz" || f === "sdist .zip") return undefined;
  return `the registry may not take ${describeFormat(f)} at all; a folder destination or pyreg serve keeps such files`;
}

/** --to-index as a URL (credentials kept: they are registered, then stripped from the URL). */
export function parseToIndex(raw: string): URL {
  try {
    return new URL(raw);
  } catch {
    throw new PyregError("USAGE", `--to-index: not a valid URL: ${redactUrl(raw)}`, {
      hint: "give the destination's simple index as https://host/path/simple/",
    });
  }
}

export function looksLikeIndex(url: URL): boolean {
  return /\/\+?simple\/?$/.test(url.pathname);
}

export const simpleKind: RegistryKind = {
  name: "simple",
  help: "http(s)://.../simple/ — any PEP 503/691 index (source) or legacy upload URL (destination, with --to-index)",
  matches: (spec) => spec.url !== undefined,
  async openSource(spec: RegistrySpec, ctx: RegistryContext) {
    const url = spec.url as URL;
    registerBasicCredentials(url, ctx);
    const indexUrl = withSlash(stripCredentials(url).toString());
    return new SimpleSource(
      new SimpleIndexReader(ctx.http, indexUrl, {
        label: "source",
        warn: ctx.log,
        allowForeignFileHosts: ctx.options.allowForeignFileHosts,
      }),
    );
  },
  async openDestination(spec: RegistrySpec, ctx: RegistryContext) {
    const url = spec.url as URL;
    const clean = stripCredentials(url);
    if (looksLikeIndex(clean) && !ctx.options.toIndex) {
      throw new PyregError("USAGE", `${spec.display} looks like a simple index, not an upload URL`, {
        hint: "give the upload URL as --to (for pypiserver: http://host:port/) and its index with --to-index",
      });
    }
    const uploadUrl = clean.toString();
    const given = ctx.options.toIndex ? parseToIndex(ctx.options.toIndex) : undefined;
    const indexUrl = withSlash(
      given ? stripCredentials(given).toString() : new URL("simple/", withSlash(uploadUrl)).toString(),
    );
    registerBasicCredentials(url, ctx, credentialPrefix(new URL(uploadUrl)));
    // --to-index https://user:pass@host/simple/: those credentials are used for the index, and for
    // the upload too when --to carries none (one registry, one account).
    if (given && (given.username || given.password)) {
      registerBasicCredentials(given, ctx);
      if (!url.username && !url.password)
        registerBasicCredentials(given, ctx, credentialPrefix(new URL(uploadUrl)));
    } else if (originOf(indexUrl) !== originOf(uploadUrl)) registerBasicCredentials(new URL(indexUrl), ctx);
    const reader = new SimpleIndexReader(ctx.http, indexUrl, { label: "destination index", warn: ctx.log });
    return new UploadDestination(ctx.http, uploadUrl, reader, {
      // PyPI's own rules apply to what it takes (see DESTINATION_FORMATS in core/formats.ts).
      ...(WAREHOUSE_UPLOAD_HOSTS.has(new URL(uploadUrl).hostname.toLowerCase()) ? { kind: "pypi" } : {}),
    });
  },
};

/** The upload hosts of PyPI and TestPyPI (the repository URLs twine uses by default). */
const WAREHOUSE_UPLOAD_HOSTS: ReadonlySet<string> = new Set(["upload.pypi.org", "test.pypi.org"]);
