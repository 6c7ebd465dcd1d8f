/**
 * A fault-injecting reverse proxy for tests: pyreg talks to the proxy on 127.0.0.1:0,
 * the proxy forwards to a real local registry (`pyreg serve`) and, where a rule matches, breaks
 * the exchange the way real registries and networks do. Rules match per request (method, path,
 * skip/times counts, seeded probability), so a scenario is reproducible. A seeded choice is a function
 * of the seed and the request itself (method, path, the uploaded filename, and how many times that
 * same request came before), never of the order in which concurrent requests arrive: a failing seed
 * replays the same faults on any machine.
 *
 * Faults are written on the raw socket where HTTP framing matters (truncation, wrong
 * Content-Length, close-delimited bodies), so the client sees exactly the bytes a broken server
 * would send. The proxy counts every request and every upload that reached the backend.
 */
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage } from "node:http";
import type { ServerResponse, Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { requestRandom } from "../helpers/random.js";

export type Fault =
  /** Answer with this status without forwarding (5xx bursts, 429 with Retry-After). */
  | { kind: "status"; status: number; headers?: Record<string, string>; body?: string }
  /** Drop the connection at once, without forwarding (a reset before any answer). */
  | { kind: "reset" }
  /** Forward (the backend acts on it, e.g. stores an upload), then drop the connection. */
  | { kind: "reset-after-forward" }
  /** Forward, send the headers and `afterBytes` of the body, then drop the connection. */
  | { kind: "reset-mid-body"; afterBytes?: number }
  /** Say nothing for `ms`, then drop the connection (not forwarded). */
  | { kind: "stall"; ms: number }
  /** Forward, send headers and `afterBytes` of the body, then say nothing for `ms`, then drop. */
  | { kind: "stall-mid-body"; ms: number; afterBytes?: number }
  /**
   * Forward, then send only `keepBytes` of the body (default: half) and close. `contentLength`
   * "original" keeps the real length (the client can tell), "none" sends a close-delimited body
   * (HTTP/1.0 style: a client cannot tell from framing alone), "chunked" ends the chunked stream
   * without its terminating chunk.
   */
  | { kind: "truncate"; keepBytes?: number; contentLength: "original" | "none" | "chunked" }
  /** Forward, send the whole body with Content-Length off by `delta` (negative: too small). */
  | { kind: "wrong-length"; delta: number }
  /** Forward, then send the body `chunkBytes` at a time every `intervalMs`. */
  | { kind: "trickle"; chunkBytes: number; intervalMs: number };

export interface FaultRule {
  /** For messages and the request log. */
  name?: string;
  method?: string;
  /** Matches the request path (without the query). A string matches a prefix. */
  path?: string | RegExp;
  /** Matching requests to let through before the rule applies. */
  skip?: number;
  /** How many times the rule applies (default: always). */
  times?: number;
  /** Chance (seeded) that a matching request is faulted. Default 1. */
  probability?: number;
  /** One fault, or several to choose from at random (seeded). */
  fault: Fault | Fault[];
}

export interface ProxyOptions {
  /** The backend, e.g. `http://127.0.0.1:PORT/`. */
  target: string;
  rules?: FaultRule[];
  seed?: number;
  /**
   * Eventual consistency: after an upload of FILE is stored, the project's index page hides FILE
   * for this many reads of that page.
   */
  hideUploadsForReads?: number;
  /** Serve TLS with this key and certificate (PEM). */
  tls?: { key: string; cert: string };
}

export interface LoggedRequest {
  method: string;
  path: string;
  /** The rule name or fault kind applied, if any. */
  fault?: string;
  /** Authorization header as received (for credential assertions). */
  authorization?: string;
  /** When it arrived (Date.now()). */
  at: number;
  /** Via header as received: set by a forward proxy the request went through (RFC 9110 section 7.6.3). */
  via?: string;
}

export interface FaultProxy {
  url: string;
  /** `url + "simple/"` */
  indexUrl: string;
  log: LoggedRequest[];
  /** Uploads (POST) that reached the backend. */
  readonly uploadsForwarded: number;
  /** Uploads the backend answered with 2xx (stored). */
  readonly uploadsStored: number;
  /** Filenames of the uploads that reached the backend, in order (duplicates show twice). */
  uploadedNames: string[];
  /**
   * Every upload that reached the backend, in order, and whether the client was told it was
   * stored: a 2xx from the backend passed on without a fault and fully handed to the client's
   * connection (false when a fault cut it, or the client had gone, e.g. after its own timeout).
   */
  uploads: { name: string; status: number; toldStored: boolean }[];
  /** Requests that got a fault. */
  readonly faulted: number;
  /** Number of requests matching method (and path prefix/regexp). */
  count(method: string, path?: string | RegExp): number;
  setRules(rules: FaultRule[]): void;
  close(): Promise<void>;
}

/** CLI options with small pauses, so that retries and verification polls do not dominate tests. */
export const FAST_RETRY_ARGS: readonly string[] = [
  "--retry-delay",
  "10",
  "--retry-max-delay",
  "50",
  "--verify-delay",
  "50",
  "--timeout",
  "2",
  "--deadline",
  "30",
];

function pathMatches(path: string, want: string | RegExp | undefined): boolean {
  if (want === undefined) return true;
  return typeof want === "string" ? path.startsWith(want) : want.test(path);
}

interface Backend {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Pauses never keep the test process alive: a stall may outlast the test that set it up. */
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}

const HOP = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "host"]);

/** Raw response head; framing headers are the caller's. */
function head(
  status: number,
  headers: Record<string, string | string[] | undefined>,
  extra: string[],
): string {
  const lines = [`HTTP/1.1 ${status} X`];
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined || HOP.has(k.toLowerCase())) continue;
    for (const one of Array.isArray(v) ? v : [v]) lines.push(`${k}: ${one}`);
  }
  return [...lines, ...extra, "", ""].join("\r\n");
}

/** Filename of the `content` part of a multipart upload (what `twine upload` sends). */
function uploadFilename(body: Buffer): string | undefined {
  const text = body.subarray(0, Math.min(body.length, 1 << 20)).toString("latin1");
  const m = /name="content"; filename="([^"]+)"/.exec(text);
  return m?.[1];
}

export async function startFaultProxy(opts: ProxyOptions): Promise<FaultProxy> {
  const target = new URL(opts.target);
  const seed = opts.seed ?? 1;
  /** How many times each request (method, path, uploaded filename) has been seen. */
  const seen = new Map<string, number>();
  let rules = opts.rules ?? [];
  let hits = new Map<FaultRule, number>();
  const log: LoggedRequest[] = [];
  const uploadedNames: string[] = [];
  const uploads: FaultProxy["uploads"] = [];
  let uploadsForwarded = 0;
  let uploadsStored = 0;
  let faulted = 0;
  /** filename → index reads still to hide it from. */
  const hidden = new Map<string, { project: string; reads: number }>();
  const sockets = new Set<Socket>();

  const choose = (
    method: string,
    path: string,
    filename: string | undefined,
  ): { rule: FaultRule; fault: Fault } | undefined => {
    const key = `${method} ${path} ${filename ?? ""}`;
    const attempt = (seen.get(key) ?? 0) + 1;
    seen.set(key, attempt);
    const random = (ruleIndex: number, what: string): number =>
      requestRandom(seed, `${key}|${attempt}|${ruleIndex}|${what}`);
    for (const [ruleIndex, rule] of rules.entries()) {
      if (rule.method && rule.method !== method) continue;
      if (!pathMatches(path, rule.path)) continue;
      const n = (hits.get(rule) ?? 0) + 1;
      hits.set(rule, n);
      if (n <= (rule.skip ?? 0)) continue;
      if (rule.times !== undefined && n > (rule.skip ?? 0) + rule.times) continue;
      if (rule.probability !== undefined && random(ruleIndex, "p") >= rule.probability) continue;
      const fault = Array.isArray(rule.fault)
        ? (rule.fault[Math.floor(random(ruleIndex, "f") * rule.fault.length)] as Fault)
        : rule.fault;
      return { rule, fault };
    }
    return undefined;
  };

  const forward = async (req: IncomingMessage, body: Buffer): Promise<Backend> => {
    const headers = { ...req.headers, host: target.host };
    // The proxy rewrites index pages: ask for plain bytes.
    delete headers["accept-encoding"];
    return new Promise<Backend>((resolve, reject) => {
      const r = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...headers, "content-length": String(body.length) },
          agent: false,
        },
        (res) => {
          readAll(res).then(
            (b) => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: b }),
            reject,
          );
        },
      );
      r.on("error", reject);
      r.end(body);
    });
  };

  /** Hides recently uploaded files from the project page (eventual consistency). */
  const rewriteIndex = (path: string, b: Backend): Backend => {
    const m = /^\/simple\/([^/]+)\/$/.exec(path);
    if (!m || hidden.size === 0) return b;
    const project = decodeURIComponent(m[1] as string);
    const hide = [...hidden.entries()].filter(([, h]) => h.project === project);
    if (hide.length === 0) return b;
    let text = b.body.toString("utf8");
    const type = String(b.headers["content-type"] ?? "");
    for (const [filename, h] of hide) {
      if (type.includes("json")) {
        const doc = JSON.parse(text) as { files: { filename: string }[] };
        doc.files = doc.files.filter((f) => f.filename !== filename);
        text = JSON.stringify(doc);
      } else {
        const esc = filename.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        text = text.replace(new RegExp(`<a [^>]*>${esc}</a>(<br>)?`, "g"), "");
      }
      h.reads--;
      if (h.reads <= 0) hidden.delete(filename);
    }
    return { ...b, body: Buffer.from(text, "utf8") };
  };

  const sendNormal = (res: ServerResponse, b: Backend): void => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(b.headers)) {
      if (v !== undefined && !HOP.has(k.toLowerCase())) headers[k] = v;
    }
    res.writeHead(b.status, { ...headers, "content-length": String(b.body.length) });
    res.end(b.body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? "GET";
    const path = (req.url ?? "/").split("?")[0] as string;
    // An upload is told apart by its file: its body is read before the fault is chosen (the
    // faults an upload gets, a reset, a stall or a status, still leave it unanswered or refused).
    const early = method === "POST" ? await readAll(req) : undefined;
    const picked = choose(method, path, early ? uploadFilename(early) : undefined);
    const entry: LoggedRequest = {
      method,
      path,
      at: Date.now(),
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(req.headers.via ? { via: req.headers.via } : {}),
    };
    log.push(entry);
    const socket = req.socket;
    if (picked) {
      faulted++;
      entry.fault = picked.rule.name ?? picked.fault.kind;
    }
    const fault = picked?.fault;

    // Faults decided before the request body is read.
    if (fault?.kind === "reset") {
      socket.destroy();
      return;
    }
    if (fault?.kind === "stall") {
      if (!early) req.resume();
      await sleep(fault.ms);
      socket.destroy();
      return;
    }
    const body = early ?? (await readAll(req));
    if (fault?.kind === "status") {
      const text = fault.body ?? `fault: ${fault.status}\n`;
      res.writeHead(fault.status, {
        "content-type": "text/plain",
        "content-length": String(Buffer.byteLength(text)),
        ...fault.headers,
      });
      res.end(text);
      return;
    }

    const isUpload = method === "POST";
    let upload: FaultProxy["uploads"][number] | undefined;
    if (isUpload) {
      uploadsForwarded++;
      const name = uploadFilename(body);
      if (name) {
        uploadedNames.push(name);
        upload = { name, status: 0, toldStored: false };
        uploads.push(upload);
      }
    }
    let b = await forward(req, body);
    if (upload) upload.status = b.status;
    if (isUpload && b.status >= 200 && b.status < 300) {
      uploadsStored++;
      const name = uploadFilename(body);
      if (name && opts.hideUploadsForReads) {
        const project = name
          .replace(/-\d.*$/, "")
          .replace(/[-_.]+/g, "-")
          .toLowerCase();
        hidden.set(name, { project, reads: opts.hideUploadsForReads });
      }
    }
    if (method === "GET") b = rewriteIndex(path, b);

    if (!fault) {
      const told = upload;
      if (told && b.status >= 200 && b.status < 300) res.on("finish", () => (told.toldStored = true));
      sendNormal(res, b);
      return;
    }
    const half = Math.floor(b.body.length / 2);
    switch (fault.kind) {
      case "reset-after-forward":
        socket.destroy();
        return;
      case "reset-mid-body": {
        socket.write(head(b.status, b.headers, [`content-length: ${b.body.length}`]));
        socket.write(b.body.subarray(0, fault.afterBytes ?? half));
        await sleep(20);
        socket.destroy();
        return;
      }
      case "stall-mid-body": {
        socket.write(head(b.status, b.headers, [`content-length: ${b.body.length}`]));
        socket.write(b.body.subarray(0, fault.afterBytes ?? half));
        await sleep(fault.ms);
        socket.destroy();
        return;
      }
      case "truncate": {
        const keep = b.body.subarray(0, fault.keepBytes ?? half);
        if (fault.contentLength === "original") {
          socket.write(head(b.status, b.headers, [`content-length: ${b.body.length}`, "connection: close"]));
          socket.end(keep);
        } else if (fault.contentLength === "none") {
          socket.write(head(b.status, b.headers, ["connection: close"]));
          socket.end(keep);
        } else {
          socket.write(head(b.status, b.headers, ["transfer-encoding: chunked", "connection: close"]));
          socket.end(`${keep.length.toString(16)}\r\n${keep.toString("latin1")}\r\n`, "latin1");
        }
        return;
      }
      case "wrong-length": {
        socket.write(
          head(b.status, b.headers, [`content-length: ${b.body.length + fault.delta}`, "connection: close"]),
        );
        socket.end(b.body);
        return;
      }
      case "trickle": {
        socket.write(head(b.status, b.headers, [`content-length: ${b.body.length}`]));
        for (let i = 0; i < b.body.length && !socket.destroyed; i += fault.chunkBytes) {
          socket.write(b.body.subarray(i, i + fault.chunkBytes));
          await sleep(fault.intervalMs);
        }
        return;
      }
    }
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch(() => {
      req.socket.destroy();
    });
  };
  const server: Server = opts.tls
    ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, onRequest)
    : createHttpServer(onRequest);
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("secureConnection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}/`;
  return {
    url,
    indexUrl: `${url}simple/`,
    log,
    uploadedNames,
    uploads,
    get uploadsForwarded() {
      return uploadsForwarded;
    },
    get uploadsStored() {
      return uploadsStored;
    },
    get faulted() {
      return faulted;
    },
    count(method, path) {
      return log.filter((l) => l.method === method && pathMatches(l.path, path)).length;
    },
    setRules(next) {
      rules = next;
      hits = new Map();
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
