/**
 * `pyreg serve`: a local Python package registry on node:http.
 * - Simple API at /simple/ (PEP 503 HTML and PEP 691 JSON by Accept, API 1.1, PEP 658 metadata).
 * - Files at /files/<filename>, metadata at /files/<filename>.metadata.
 * - Legacy uploads at POST / (and POST /legacy/), what `twine upload` sends.
 * URLs name files by their filename only, looked up in a scan of the root: a request path is never
 * joined onto the root, so nothing outside it can be reached by a crafted path.
 */
import { createHash } from "node:crypto";
import { createReadStream, constants as fsConstants } from "node:fs";
import { open, readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";
import { errorMessage } from "../core/errors.js";
import { isSafeFilename, isValidProjectName, normalizeName } from "../core/names.js";
import { readYank } from "../core/yank.js";
import { credentialsMatch, parseBasicAuth, REALM, type BasicCredentials } from "./auth.js";
import {
  HTML_TYPE,
  JSON_TYPE,
  negotiate,
  projectListHtml,
  projectListJson,
  projectPageHtml,
  projectPageJson,
  TEXT_HTML,
  type FileRow,
} from "./simple.js";
import { realRoot, Store, TMP_DIR_NAME, type StoredFile } from "./store.js";
import { handleUpload } from "./upload.js";
import { readWheelMetadataBytes } from "./wheelMetadata.js";

/** "info": request lines and housekeeping; "alert": errors and warnings. */
export type LogLevel = "info" | "alert";

export interface ServerOptions {
  root: string;
  host?: string;
  port?: number;
  auth?: BasicCredentials;
  /** With `auth`: also require it for reading (by default only uploads need it). */
  authReads?: boolean;
  /** A line for the operator; `level` "alert" for errors and warnings (shown even when quiet). */
  log?: (line: string, level?: LogLevel) => void;
  /** Largest accepted distribution file, in bytes (default 4 GiB). */
  maxUploadBytes?: number;
  /** Serve HTML only, ignoring JSON in Accept (to exercise clients' HTML path). */
  htmlOnly?: boolean;
}

export interface RunningServer {
  /** `http://HOST:PORT/` */
  url: string;
  close(): Promise<void>;
  /** Successful new-file writes so far. */
  readonly uploads: number;
}

export const DEFAULT_MAX_UPLOAD_BYTES = 4 * 1024 ** 3;
/** Hashing of many files for one page runs this many at a time. */
const HASH_CONCURRENCY = 4;
/** A page of many files lets other requests run after this many stats of its files. */
const YIELD_EVERY = 1000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  bytes: number;
  note?: string;
}

function send(
  ex: Exchange,
  status: number,
  headers: Record<string, string | number>,
  body: string | Buffer,
): void {
  const buf = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  ex.res.writeHead(status, { ...headers, "Content-Length": buf.length });
  if (ex.req.method === "HEAD") {
    ex.res.end();
    return;
  }
  ex.bytes += buf.length;
  ex.res.end(buf);
}

/**
 * An index page with a strong ETag, the digest of its bytes (RFC 9110 §8.8.3): a client that
 * kept the page asks with If-None-Match and gets 304 Not Modified without a body when it is the
 * same (§13.1.2, §15.4.5), so re-reading an unchanged index costs headers only. A digest needs no
 * bookkeeping of changes and cannot go stale.
 */
function sendPage(ex: Exchange, headers: Record<string, string>, body: string): void {
  const buf = Buffer.from(body, "utf8");
  const etag = `"${createHash("sha256").update(buf).digest("base64url")}"`;
  if (etagMatches(ex.req.headers["if-none-match"], etag)) {
    // 304 carries the headers a 200 would have had for caching (ETag, Vary, Cache-Control).
    const { "Content-Type": _type, ...rest } = headers;
    ex.res.writeHead(304, { ...rest, ETag: etag });
    ex.res.end();
    return;
  }
  send(ex, 200, { ...headers, ETag: etag }, buf);
}

/** If-None-Match's weak comparison (RFC 9110 §13.1.2): "*" or any listed tag, W/ ignored. */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === "*") return true;
  const bare = (t: string): string => t.trim().replace(/^W\//, "");
  return header.split(",").some((t) => bare(t) === bare(etag));
}

/** After an error the rest of a request may be unread: the connection is not reused. */
const CLOSE = { Connection: "close" };

function sendText(ex: Exchange, status: number, message: string, headers: Record<string, string> = {}): void {
  const type = { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff" };
  send(ex, status, { ...type, ...headers }, message + "\n");
}

/** Path segments of the request, decoded once, or an HttpError for anything odd. */
function pathSegments(rawUrl: string): string[] {
  const q = rawUrl.indexOf("?");
  const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
  if (!rawPath.startsWith("/") || rawPath.includes("\\") || rawPath.length > 2048) {
    throw new HttpError(400, "Bad request path");
  }
  const segments = rawPath.slice(1).split("/");
  return segments.map((seg) => {
    let s: string;
    try {
      s = decodeURIComponent(seg);
    } catch {
      throw new HttpError(400, "Bad request path (invalid percent-encoding)");
    }
    // eslint-disable-next-line no-control-regex
    if (s === "." || s === ".." || /[/\\\x00-\x1f\x7f]/.test(s)) throw new HttpError(400, "Bad request path");
    return s;
  });
}

function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f"\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/**
 * Temp files left by a server that was killed mid-upload. Only old ones: another server process
 * may be serving the same folder and writing its own right now.
 */
async function removeStaleTemp(
  root: string,
  log: (line: string) => void,
  maxAgeMs = 24 * 3600_000,
): Promise<void> {
  const dir = join(root, TMP_DIR_NAME);
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.endsWith(".part")) continue;
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st?.isFile() && Date.now() - st.mtimeMs > maxAgeMs) {
      await unlink(join(dir, name)).catch(() => undefined);
      log(`removed stale temporary file ${name}`);
    }
  }
}

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log ?? ((line: string): void => void process.stderr.write(line + "\n"));
  const root = await realRoot(opts.root);
  const store = new Store(root, log);
  await removeStaleTemp(root, log);
  const maxUploadBytes = opts.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const auth = opts.auth;
  let uploads = 0;

  const authorized = (req: IncomingMessage): boolean =>
    !auth || credentialsMatch(parseBasicAuth(req.headers.authorization), auth);

  const requireAuth = (ex: Exchange): void => {
    // Drain what the client is still sending so it reads the 401 instead of a reset connection;
    // a large body is not read: the connection closes after the answer.
    ex.req.resume();
    const large = Number(ex.req.headers["content-length"] ?? 0) > 1024 * 1024;
    throw new HttpError(401, "Unauthorized: this registry needs a username and password", {
      "WWW-Authenticate": `Basic realm="${REALM}"`,
      ...(large ? { Connection: "close" } : {}),
    });
  };

  const simpleHeaders = (type: string): Record<string, string> => ({
    "Content-Type": type === TEXT_HTML || type === HTML_TYPE ? `${type}; charset=utf-8` : type,
    Vary: "Accept",
    "Cache-Control": "max-age=0, must-revalidate",
  });

  const chooseFormat = (ex: Exchange): string => {
    const format = negotiate(ex.req.headers.accept, opts.htmlOnly);
    if (!format) {
      throw new HttpError(
        406,
        `Not acceptable: this index serves ${JSON_TYPE}, ${HTML_TYPE} and ${TEXT_HTML}`,
        {
          Vary: "Accept",
        },
      );
    }
    return format;
  };

  const rowsOf = (files: StoredFile[]): Promise<FileRow[]> =>
    mapLimit(files, HASH_CONCURRENCY, async (file) => ({
      file,
      facts: await store.factsOf(file),
      yanked: store.mayBeYanked(file) ? await readYank(file.path) : undefined,
    }));

  const serveProjectList = async (ex: Exchange): Promise<void> => {
    const format = chooseFormat(ex);
    const names = [...(await store.projects()).keys()].sort();
    const body = format === JSON_TYPE ? projectListJson(names) : projectListHtml(names);
    ex.note = format === JSON_TYPE ? "json" : "html";
    sendPage(ex, simpleHeaders(format), body);
  };

  const serveProject = async (ex: Exchange, name: string): Promise<void> => {
    if (!isValidProjectName(name)) throw new HttpError(404, "Not found: invalid project name");
    const normalized = normalizeName(name);
    if (normalized !== name) {
      send(
        ex,
        301,
        { Location: `/simple/${encodeURIComponent(normalized)}/`, "Content-Type": "text/plain" },
        "",
      );
      return;
    }
    const listed = (await store.projects()).get(normalized);
    if (!listed) throw new HttpError(404, `Not found: no project ${normalized}`);
    const format = chooseFormat(ex);
    const files: StoredFile[] = [];
    for (let i = 0; i < listed.length; i++) {
      const now = store.current(listed[i] as StoredFile);
      if (now) files.push(now);
      // One synchronous stat per file (see Store.current): other requests get a turn now and then.
      if ((i + 1) % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
    }
    const rows = await rowsOf(files);
    const body = format === JSON_TYPE ? projectPageJson(normalized, rows) : projectPageHtml(normalized, rows);
    ex.note = format === JSON_TYPE ? "json" : "html";
    sendPage(ex, simpleHeaders(format), body);
  };

  const serveFile = async (ex: Exchange, name: string): Promise<void> => {
    if (!isSafeFilename(name)) throw new HttpError(404, "Not found");
    const files = await store.files();
    const scanned = files.get(name);
    const direct = scanned && store.current(scanned);
    if (direct) {
      const facts = await store.factsOf(direct);
      // O_NOFOLLOW: the scanned path is real; a symlink swapped in since then is not followed.
      const handle = await open(direct.path, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
      try {
        const st = await handle.stat();
        ex.res.writeHead(200, {
          "Content-Type": "application/octet-stream",
          "Content-Length": st.size,
          ETag: `"${facts.sha256}"`,
          "Last-Modified": st.mtime.toUTCString(),
        });
        if (ex.req.method === "HEAD") {
          ex.res.end();
          return;
        }
        const stream = createReadStream("", { fd: handle, autoClose: false });
        stream.on("data", (c: Buffer | string) => {
          ex.bytes += c.length;
        });
        await pipeline(stream, ex.res);
      } finally {
        await handle.close();
      }
      return;
    }
    if (name.endsWith(".metadata")) {
      const wheel = files.get(name.slice(0, -".metadata".length));
      if (wheel && wheel.filename.endsWith(".whl")) {
        const bytes = await readWheelMetadataBytes(wheel.path, wheel.project, wheel.version);
        if (bytes) {
          send(ex, 200, { "Content-Type": "application/octet-stream" }, bytes);
          return;
        }
      }
    }
    throw new HttpError(404, "Not found");
  };

  const serveHome = (ex: Exchange): void => {
    const body = [
      "<!DOCTYPE html>",
      "<html><head><title>pyreg serve</title></head><body>",
      "<h1>pyreg local registry</h1>",
      `<p>Index: <a href="/simple/">/simple/</a> (pip --index-url). Uploads: POST to / (twine --repository-url).</p>`,
      "</body></html>",
      "",
    ].join("\n");
    send(ex, 200, { "Content-Type": "text/html; charset=utf-8" }, body);
  };

  const route = async (ex: Exchange): Promise<void> => {
    const { req } = ex;
    const method = req.method ?? "GET";
    const segs = pathSegments(req.url ?? "/");
    const isRead = method === "GET" || method === "HEAD";
    const isUploadPath =
      (segs.length === 1 && segs[0] === "") || (segs[0] === "legacy" && segs.length <= 2 && !segs[1]);

    if (method === "POST" && isUploadPath) {
      if (!authorized(req)) requireAuth(ex);
      const answer = await handleUpload(req, { store, maxUploadBytes });
      if (answer.stored) uploads++;
      if (answer.filename) ex.note = answer.filename;
      const headers: Record<string, string> = {};
      // An answer sent before the body was read: close instead of reading a huge rest.
      if (!req.complete) headers["Connection"] = "close";
      sendText(ex, answer.status, answer.message, headers);
      return;
    }
    if (!isRead) {
      req.resume();
      throw new HttpError(405, "Method not allowed", {
        Allow: isUploadPath ? "GET, HEAD, POST" : "GET, HEAD",
      });
    }
    req.resume();
    if (opts.authReads && !authorized(req)) requireAuth(ex);

    if (segs.length === 1 && segs[0] === "") return serveHome(ex);
    if (segs[0] === "simple") {
      if (segs.length === 1) {
        send(ex, 301, { Location: "/simple/", "Content-Type": "text/plain" }, "");
        return;
      }
      if (segs.length === 2 && segs[1] === "") return serveProjectList(ex);
      const name = segs[1] as string;
      if (segs.length === 2 || (segs.length === 3 && segs[2] === "")) {
        if (segs.length === 2 && isValidProjectName(name)) {
          send(
            ex,
            301,
            { Location: `/simple/${encodeURIComponent(normalizeName(name))}/`, "Content-Type": "text/plain" },
            "",
          );
          return;
        }
        return serveProject(ex, name);
      }
    }
    if (segs[0] === "files" && segs.length === 2 && segs[1]) return serveFile(ex, segs[1]);
    throw new HttpError(404, "Not found");
  };

  const server = createServer(
    {
      maxHeaderSize: 16 * 1024,
      headersTimeout: 30_000,
      // The whole request, large uploads included.
      requestTimeout: 60 * 60_000,
      keepAliveTimeout: 5_000,
    },
    (req, res) => {
      const started = process.hrtime.bigint();
      const ex: Exchange = { req, res, bytes: 0 };
      let logged = false;
      const logLine = (): void => {
        if (logged) return;
        logged = true;
        const ms = Number((process.hrtime.bigint() - started) / 1_000_000n);
        const rawPath = (req.url ?? "").split("?")[0] ?? "";
        const status = res.headersSent ? String(res.statusCode) : "---";
        const aborted = !res.writableFinished ? " (connection closed early)" : "";
        const note = ex.note ? ` ${printable(ex.note)}` : "";
        log(
          `${req.method ?? "?"} ${printable(rawPath.slice(0, 300))} ${status} ${ex.bytes}B ${ms}ms${note}${aborted}`,
        );
      };
      res.on("close", logLine);
      route(ex).catch((err: unknown) => {
        if (err instanceof HttpError) {
          if (!res.headersSent) sendText(ex, err.status, err.message, err.headers);
          return;
        }
        // Nobody to answer: the connection is gone (a request whose body was read to its end is
        // "destroyed" too once iterated, while its connection still waits for the answer).
        if (res.destroyed || !res.socket || res.socket.destroyed) {
          ex.note = ex.note ? `${ex.note}: ${errorMessage(err)}` : errorMessage(err);
          return;
        }
        log(
          `error: ${req.method ?? "?"} ${printable((req.url ?? "").split("?")[0] ?? "")}: ${errorMessage(err)}`,
          "alert",
        );
        if (!res.headersSent) {
          const code = (err as NodeJS.ErrnoException).code;
          // A full disk is 507 (RFC 4918): the client learns the file was not stored.
          if (code === "ENOSPC") sendText(ex, 507, "Insufficient storage: the file was not stored", CLOSE);
          else sendText(ex, 500, "Internal server error", CLOSE);
        } else res.destroy();
      });
    },
  );
  server.on("clientError", (err, socket) => {
    const code = (err as NodeJS.ErrnoException).code;
    if (socket.writable) {
      const status =
        code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : "400 Bad Request";
      socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    } else socket.destroy();
  });

  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once("error", onError);
    server.listen(opts.port ?? 0, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.address.includes(":") ? `[${address.address}]` : address.address;
  let closed: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}/`,
    get uploads() {
      return uploads;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
