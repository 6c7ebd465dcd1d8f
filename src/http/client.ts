/**
 * The one HTTP client: keep-alive pool with bounded connections per host,
 * timeouts, user agent, credentials per origin, redirects that never carry credentials to
 * another host, retries as data, and errors that name method, URL (redacted) and what to do.
 */
import { EventEmitter } from "node:events";
import { Readable, Transform } from "node:stream";
import { createGunzip, createInflate, createBrotliDecompress } from "node:zlib";
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { Agent, Pool, ProxyAgent, type Dispatcher } from "./undici.js";
import { PyregError } from "../core/errors.js";
import { authHeader, type CredentialStore, CredentialStore as Store, originOf } from "./credentials.js";
import { redactText, redactUrl } from "./redact.js";
import type { PageStore } from "./conditional.js";
import { proxyAuthorization, proxyFor, showProxy, type ProxySettings } from "./proxy.js";
import {
  DEFAULT_RETRY,
  DEFAULT_TIMEOUTS,
  backoffDelay,
  isRetryableError,
  isRetryableStatus,
  networkErrorCode,
  retryAfterMs,
  type RetryPolicy,
  type Timeouts,
} from "./retry.js";
import { PYREG_VERSION } from "../version.js";

export interface HttpClientOptions {
  retry?: Partial<RetryPolicy>;
  timeouts?: Partial<Timeouts>;
  credentials?: CredentialStore;
  /** Connections per origin (keep-alive pool size). */
  connectionsPerHost?: number;
  insecure?: boolean;
  caFile?: string | undefined;
  userAgent?: string;
  /** Proxies (--proxy, HTTPS_PROXY, NO_PROXY...): see proxy.ts. */
  proxy?: ProxySettings | undefined;
  /** Called after each attempt (--verbose): the answer's status or the network error, its time. */
  onRequest?: (info: RequestLog) => void;
  /** Called before sleeping for a retry, for progress/log output. */
  onRetry?: (info: { method: string; url: string; attempt: number; delayMs: number; reason: string }) => void;
  /** Test hook: randomness of the jitter. */
  random?: () => number;
  /**
   * Test hook: the clock that retry pauses, 429 back-offs and request deadlines read, so that a
   * test decides when time passes instead of waiting for it. Default: real time.
   */
  clock?: Clock;
}

/** Time as the client sees it: now (epoch ms) and a pause. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/**
 * A pause before another attempt. Not unref'd: when the retry is the only work left, an unref'd
 * timer lets Node exit mid-run with status 0 and no report (seen under the fault proxy).
 */
const REAL_CLOCK: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** One attempt of one request, as --verbose shows it (URL redacted). */
export interface RequestLog {
  method: string;
  url: string;
  /** The status, or undefined when the attempt failed without an answer. */
  status?: number | undefined;
  /** The network error's code when there was no answer. */
  error?: string | undefined;
  /** Time to the answer's headers (or to the failure), in milliseconds. */
  ms: number;
  /** Retries before this attempt (0 for the first). */
  retry: number;
  /** The proxy it went through (redacted), if any. */
  proxy?: string | undefined;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  /** A function gives a fresh body for each attempt (a stream, or chunks undici pulls one by one). */
  body?: string | Buffer | (() => Readable | AsyncIterable<Buffer>);
  contentLength?: number;
  /** Largest body accepted, in bytes (after decompression). */
  maxBytes?: number;
  /** Follow redirects (GET/HEAD only). Default true. */
  followRedirects?: boolean;
  /** Who is asking, for messages: "source", "destination", "GitLab API"... */
  label?: string;
  /** Do not attach stored credentials (e.g. file URLs on a foreign host). */
  anonymous?: boolean;
  /** Statuses the caller handles itself (no error thrown for them). Default: all < 400. */
  accept?: (status: number) => boolean;
  /** Retry even though the method is not idempotent (never used for uploads). */
  forceRetry?: boolean;
}

export interface BufferedResponse {
  status: number;
  headers: Record<string, string>;
  url: string;
  body: Buffer;
  text(): string;
}

export interface StreamResponse {
  status: number;
  headers: Record<string, string>;
  url: string;
  body: Readable;
}

const MAX_REDIRECTS = 5;
/** Largest buffered answer (index page, API call) unless the caller says otherwise. */
export const DEFAULT_MAX_BYTES = 256 * 1024 * 1024;

/**
 * The deadline's signal to undici, which takes an AbortSignal or an EventEmitter with `aborted`,
 * `reason` and an "abort" event (nodejs/undici docs/api/Dispatcher.md, `signal`). An
 * EventEmitter: an AbortController and its EventTarget listener for every request cost more CPU
 * than the rest of the client's bookkeeping per request.
 */
class DeadlineSignal extends EventEmitter {
  aborted = false;
  reason: unknown;
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = new DOMException("This operation was aborted", "AbortError");
    this.emit("abort");
  }
}

/**
 * One request's budget: attempts used so far and the total deadline (all attempts and pauses).
 * The deadline aborts the attempt in flight through its signal.
 */
class Budget {
  attempt = 0;
  readonly started: number;
  readonly deadlineAt: number | undefined;
  readonly signal = new DeadlineSignal();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly deadlineMs: number,
    private readonly clock: Clock,
  ) {
    this.started = clock.now();
    if (deadlineMs > 0) {
      this.deadlineAt = this.started + deadlineMs;
      this.timer = setTimeout(() => this.signal.abort(), deadlineMs);
      this.timer.unref?.();
    }
  }
  get expired(): boolean {
    return this.signal.aborted || (this.deadlineAt !== undefined && this.clock.now() >= this.deadlineAt);
  }
  /** Sleeps before another attempt; false (without sleeping) when the pause would pass the deadline. */
  async pause(ms: number): Promise<boolean> {
    if (this.deadlineAt !== undefined && this.clock.now() + ms >= this.deadlineAt) return false;
    await this.clock.sleep(ms);
    // On a busy machine a timer fires late: no attempt is started once the deadline has passed.
    return !this.expired;
  }
  /** Stops the deadline (a streamed file body is not bound by it). */
  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

function flatHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k in h) {
    const v = h[k];
    if (v === undefined) continue;
    out[k.toLowerCase()] = typeof v === "string" ? v : v.join(", ");
  }
  return out;
}

/** Counts bytes through a stream and fails past a limit (guards against gzip bombs and huge pages). */
function limitStream(max: number, what: () => string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > max) cb(new PyregError("HTTP", `${what()} is larger than the limit of ${max} bytes`));
      else cb(null, chunk);
    },
  });
}

function decoded(
  body: Readable,
  encoding: string | undefined,
  max: number,
  /** Names the answer in an error (computed only then: redacting a URL costs per request). */
  what: () => string,
  contentLength?: string,
): Readable {
  const enc = (encoding ?? "").trim().toLowerCase();
  // An identity body with a Content-Length within the limit needs no counting layer: undici fails
  // a body that runs past its Content-Length. (One stream layer less per file chunk.)
  const declared =
    contentLength !== undefined && /^\d+$/.test(contentLength) ? Number(contentLength) : undefined;
  if ((enc === "" || enc === "identity") && declared !== undefined && declared <= max) return body;
  let out: Readable = body;
  if (enc === "gzip" || enc === "x-gzip") out = body.pipe(createGunzip());
  else if (enc === "deflate") out = body.pipe(createInflate());
  else if (enc === "br") out = body.pipe(createBrotliDecompress());
  if (out !== body) body.on("error", (e) => out.destroy(e));
  const limited = out.pipe(limitStream(max, what));
  out.on("error", (e) => limited.destroy(e));
  // The caller may not be reading yet when the body fails (the engine awaits a hasher between
  // opening a file and reading it): without a listener, the 'error' event would end the process.
  // The error is kept on the stream (`errored`), and a reader that comes later still gets it.
  limited.on("error", () => undefined);
  return limited;
}

export class HttpClient {
  readonly credentials: CredentialStore;
  /** Where index pages are kept between runs for conditional requests (see conditional.ts). */
  pages: PageStore | undefined;
  private readonly agent: Agent;
  private readonly policy: RetryPolicy;
  private readonly timeouts: Timeouts;
  private readonly userAgent: string;
  private readonly pausedUntil = new Map<string, number>();
  private readonly opts: HttpClientOptions;
  private readonly random: () => number;
  private readonly clock: Clock;

  constructor(opts: HttpClientOptions = {}) {
    this.opts = opts;
    this.credentials = opts.credentials ?? new Store();
    this.policy = { ...DEFAULT_RETRY, ...opts.retry };
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...opts.timeouts };
    this.userAgent = opts.userAgent ?? `pyreg/${PYREG_VERSION} (+node ${process.versions.node})`;
    this.random = opts.random ?? Math.random;
    this.clock = opts.clock ?? REAL_CLOCK;
    const connect: Record<string, unknown> = { timeout: this.timeouts.connectMs };
    if (opts.insecure) connect["rejectUnauthorized"] = false;
    // Node's `ca` REPLACES the trusted roots; keep the public ones so that a public source and a
    // self-managed destination (one client serves both) can be used in one run.
    if (opts.caFile) connect["ca"] = [...rootCertificates, readFileSync(opts.caFile, "utf8")];
    this.pool = {
      connections: opts.connectionsPerHost ?? 16,
      keepAliveTimeout: 30_000,
      headersTimeout: this.timeouts.headersMs,
      bodyTimeout: this.timeouts.bodyIdleMs,
    };
    this.tls = connect;
    this.agent = new Agent({ ...this.pool, connect });
  }

  private readonly pool: {
    connections: number;
    keepAliveTimeout: number;
    headersTimeout: number;
    bodyTimeout: number;
  };
  private readonly tls: Record<string, unknown>;
  /** One tunnelling agent per proxy URL (HTTPS targets go through CONNECT). */
  private readonly tunnels = new Map<string, ProxyAgent>();

  /** The proxy a request to this URL goes through, if any. */
  private routeOf(url: string | URL): { proxy: URL; source: string } | undefined {
    return this.opts.proxy
      ? proxyFor(this.opts.proxy, typeof url === "string" ? new URL(url) : url)
      : undefined;
  }

  /**
   * The agent for HTTPS through a proxy: a CONNECT tunnel (RFC 9110 section 9.3.6), then TLS to
   * the registry with the same trust (--ca-bundle, --insecure) as a direct connection. A proxy that
   * answers the CONNECT with anything but 200 fails the request with that status (ProxyRefusal).
   */
  private tunnelFor(proxy: URL, source: string): ProxyAgent {
    let agent = this.tunnels.get(proxy.href);
    if (!agent) {
      const token = proxyAuthorization(proxy);
      agent = new ProxyAgent({
        ...this.pool,
        uri: proxy.href,
        ...(token ? { token } : {}),
        requestTls: this.tls,
        proxyTls: this.tls,
        clientFactory: (origin: URL, options: object) => {
          const client = new Pool(origin, options);
          const connect = client.connect.bind(client) as (o: unknown) => Promise<Dispatcher.ConnectData>;
          const checked = async (o: unknown): Promise<Dispatcher.ConnectData> => {
            const data = await connect(o);
            if (data.statusCode !== 200) {
              data.socket.destroy();
              throw new ProxyRefusal(data.statusCode, proxy, source);
            }
            return data;
          };
          client.connect = checked as unknown as Pool["connect"];
          return client;
        },
      });
      this.tunnels.set(proxy.href, agent);
    }
    return agent;
  }

  get retryPolicy(): RetryPolicy {
    return this.policy;
  }

  private destroyed = false;

  async close(): Promise<void> {
    if (!this.destroyed)
      await Promise.all([this.agent.close(), ...[...this.tunnels.values()].map((t) => t.close())]);
  }

  /** Ends every connection at once, requests in flight included (after Ctrl-C). */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.all([this.agent.destroy(), ...[...this.tunnels.values()].map((t) => t.destroy())]);
  }

  /**
   * The longest one request (an upload included) can go on before this client gives up on it:
   * the total deadline, or without one (--deadline 0) the wait for an answer.
   */
  get requestDeadlineMs(): number {
    return this.timeouts.deadlineMs > 0 ? this.timeouts.deadlineMs : this.timeouts.headersMs;
  }

  /**
   * GET (or any method) and read the whole body (at most maxBytes after decompression). For
   * idempotent methods a body cut short (reset, premature close, idle timeout) is fetched again
   * within the same attempt budget and deadline.
   */
  async fetch(url: string, options: RequestOptions = {}): Promise<BufferedResponse> {
    const method = (options.method ?? "GET").toUpperCase();
    const canRetry = options.forceRetry || this.policy.methods.includes(method);
    const budget = new Budget(this.timeouts.deadlineMs, this.clock);
    try {
      for (;;) {
        const res = await this.attempts(url, method, options, budget);
        let body: Buffer;
        try {
          body = await readAll(res.body);
        } catch (err) {
          res.body.destroy();
          await this.retryOrThrow(
            err,
            canRetry,
            method,
            res.url,
            options,
            budget,
            " while reading the answer",
          );
          continue;
        }
        return {
          status: res.status,
          headers: res.headers,
          url: res.url,
          body,
          text: () => body.toString("utf8"),
        };
      }
    } finally {
      budget.clear();
    }
  }

  /** Like fetch, but parses JSON and raises MALFORMED_INDEX with the URL if it is not JSON. */
  async fetchJson(
    url: string,
    options: RequestOptions = {},
  ): Promise<{ data: unknown; res: BufferedResponse }> {
    const res = await this.fetch(url, {
      ...options,
      headers: { accept: "application/json", ...options.headers },
    });
    try {
      return { data: JSON.parse(res.text()) as unknown, res };
    } catch {
      throw new PyregError("MALFORMED_INDEX", `${options.label ?? "server"} answered with invalid JSON`, {
        method: options.method ?? "GET",
        url: redactUrl(res.url),
        status: res.status,
        serverAnswer: snippet(res.text()),
      });
    }
  }

  /**
   * A request whose body is returned as a stream once the headers arrived. Retries (idempotent
   * methods) happen before the body is handed over; after that, the caller retries a whole file.
   */
  async stream(url: string, options: RequestOptions = {}): Promise<StreamResponse> {
    const method = (options.method ?? "GET").toUpperCase();
    const budget = new Budget(this.timeouts.deadlineMs, this.clock);
    try {
      return await this.attempts(url, method, options, budget);
    } finally {
      // The deadline bounds the time to the headers of a streamed body, not the body itself.
      budget.clear();
    }
  }

  /**
   * After a network error: pauses and returns when another attempt is allowed (idempotent
   * method, retryable error, attempts and deadline left); otherwise throws the error to show.
   */
  private async retryOrThrow(
    err: unknown,
    canRetry: boolean,
    method: string,
    url: string,
    options: RequestOptions,
    budget: Budget,
    when: string,
  ): Promise<void> {
    if (budget.expired) throw this.deadlineError(method, url, options, budget);
    if (
      !canRetry ||
      budget.attempt >= this.policy.retries ||
      !isRetryableError({ ...this.policy, methods: [method] }, method, err)
    ) {
      throw this.wrapNetworkError(err, method, url, options.label);
    }
    budget.attempt++;
    const delay = backoffDelay(this.policy, budget.attempt, this.random);
    this.opts.onRetry?.({
      method,
      url: redactUrl(url),
      attempt: budget.attempt,
      delayMs: delay,
      reason: networkErrorCode(err) + when,
    });
    if (!(await budget.pause(delay))) throw this.deadlineError(method, url, options, budget);
  }

  private deadlineError(method: string, url: string, options: RequestOptions, budget: Budget): PyregError {
    const safeUrl = redactUrl(url);
    return new PyregError(
      "TIMEOUT",
      `${options.label ?? "server"}: no complete answer within the deadline of ${Math.round(budget.deadlineMs / 1000)} s for ${method} ${safeUrl} (${budget.attempt + 1} attempt${budget.attempt ? "s" : ""})`,
      {
        method,
        url: safeUrl,
        hint: "the registry is slow or keeps failing; raise --deadline or --timeout, or try again later",
      },
    );
  }

  private async attempts(
    url: string,
    method: string,
    options: RequestOptions,
    budget: Budget,
  ): Promise<StreamResponse> {
    const canRetry = options.forceRetry || this.policy.methods.includes(method);
    let current = url;
    let redirects = 0;
    for (;;) {
      if (!(await this.waitForHost(current, budget)))
        throw this.deadlineError(method, current, options, budget);
      let res: Dispatcher.ResponseData;
      const started = performance.now();
      const logAttempt = (status: number | undefined, error?: string): void => {
        if (!this.opts.onRequest) return;
        const route = this.routeOf(current);
        this.opts.onRequest({
          method,
          url: redactUrl(current),
          status,
          error,
          ms: performance.now() - started,
          retry: budget.attempt,
          proxy: route ? redactUrl(route.proxy).replace(/\/$/, "") : undefined,
        });
      };
      try {
        res = await this.send(current, method, options, budget.signal);
      } catch (err) {
        logAttempt(undefined, networkErrorCode(err) || (err instanceof Error ? err.name : "error"));
        await this.retryOrThrow(err, canRetry, method, current, options, budget, "");
        continue;
      }
      const headers = flatHeaders(res.headers as Record<string, string | string[] | undefined>);
      const status = res.statusCode;
      logAttempt(status);

      if (status >= 300 && status < 400 && headers["location"] && options.followRedirects !== false) {
        res.body.resume();
        if (method !== "GET" && method !== "HEAD") {
          throw new PyregError(
            "HTTP",
            `${options.label ?? "server"} redirected a ${method} to ${redactUrl(headers["location"])}`,
            {
              method,
              url: redactUrl(current),
              status,
              hint: "give the final URL directly (uploads are not re-sent across redirects)",
            },
          );
        }
        if (++redirects > MAX_REDIRECTS) {
          throw new PyregError("HTTP", `too many redirects (more than ${MAX_REDIRECTS})`, {
            method,
            url: redactUrl(url),
            hint: "the server redirects in a loop; check the URL",
          });
        }
        current = new URL(headers["location"], current).toString();
        continue;
      }

      if (status === 429) {
        // Back off the whole host, not just this request.
        const wait = Math.min(
          retryAfterMs(headers, this.clock.now()) ??
            backoffDelay(this.policy, budget.attempt + 1, this.random),
          this.policy.maxRetryAfterMs,
        );
        this.pausedUntil.set(originOf(current), this.clock.now() + wait);
      }

      if (
        canRetry &&
        budget.attempt < this.policy.retries &&
        isRetryableStatus({ ...this.policy, methods: [method] }, method, status) &&
        !budget.expired
      ) {
        const ra = retryAfterMs(headers, this.clock.now());
        const delay =
          ra !== undefined
            ? Math.min(ra, this.policy.maxRetryAfterMs)
            : backoffDelay(this.policy, budget.attempt + 1, this.random);
        // A pause past the deadline is not taken: the status error below says what happened.
        if (budget.deadlineAt === undefined || this.clock.now() + delay < budget.deadlineAt) {
          const text = await readSome(res.body, 4096);
          budget.attempt++;
          this.opts.onRetry?.({
            method,
            url: redactUrl(current),
            attempt: budget.attempt,
            delayMs: delay,
            reason: `HTTP ${status}`,
          });
          if (await budget.pause(delay)) continue;
          // The pause ended past the deadline (a late timer): this answer is the one to report.
          throw this.statusError(status, method, current, headers, text, options);
        }
      }

      if (status === 401) {
        const provider = options.anonymous ? undefined : this.credentials.providerFor(current);
        if (provider?.refresh && budget.attempt === 0 && (await provider.refresh())) {
          res.body.resume();
          budget.attempt++;
          continue;
        }
      }

      const accepted = options.accept ? options.accept(status) : status < 400;
      if (!accepted) {
        const text = await readSome(res.body, 4096);
        throw this.statusError(status, method, current, headers, text, options);
      }
      const max = options.maxBytes ?? DEFAULT_MAX_BYTES;
      return {
        status,
        headers,
        url: current,
        body: decoded(
          res.body,
          headers["content-encoding"],
          max,
          () => `response from ${redactUrl(current)}`,
          headers["content-length"],
        ),
      };
    }
  }

  private async send(
    url: string,
    method: string,
    options: RequestOptions,
    signal: DeadlineSignal,
  ): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = {
      "user-agent": this.userAgent,
      "accept-encoding": "gzip, deflate",
      ...lower(options.headers ?? {}),
    };
    // Parsed once here, for the credentials, the proxy and undici (which would parse it again).
    const target = new URL(url);
    if (!options.anonymous) {
      const provider = this.credentials.providerFor(target);
      const auth = provider ? await provider.get() : undefined;
      if (auth) {
        const [k, v] = authHeader(auth);
        headers[k] = v;
      }
    }
    let body: string | Buffer | Readable | AsyncIterable<Buffer> | undefined;
    if (typeof options.body === "function") body = options.body();
    else body = options.body;
    if (options.contentLength !== undefined) headers["content-length"] = String(options.contentLength);
    // The origin's own request (what undici's request(url) calls after parsing the URL again).
    const request: Dispatcher.RequestOptions = {
      origin: target.origin,
      path: target.search ? `${target.pathname}${target.search}` : target.pathname,
      method: method as Dispatcher.HttpMethod,
      headers,
      // undici documents (async) iterables as request bodies (docs/api/Dispatcher.md, "body"); its
      // type for request() lists only the other kinds.
      body: (body ?? null) as Readable | string | Buffer | null,
      signal,
    };
    const route = this.routeOf(target);
    if (!route) return await this.agent.request(request);
    // HTTPS through a proxy: the same request, inside its CONNECT tunnel (tunnelFor).
    if (target.protocol === "https:") return await this.tunnelFor(route.proxy, route.source).request(request);
    // Plain HTTP goes to the proxy in absolute form (RFC 9112 section 3.2.2), as pip and curl do.
    const token = proxyAuthorization(route.proxy);
    if (token) headers["proxy-authorization"] = token;
    headers["host"] = target.host;
    request.origin = route.proxy.origin;
    request.path = `${target.protocol}//${target.host}${target.pathname}${target.search}`;
    return await this.agent.request(request);
  }

  /** Waits while the host is paused after a 429; false when the pause outlasts the deadline. */
  private async waitForHost(url: string, budget: Budget): Promise<boolean> {
    if (this.pausedUntil.size === 0) return true;
    const until = this.pausedUntil.get(originOf(url));
    if (until !== undefined) {
      const wait = until - this.clock.now();
      if (wait > 0) return budget.pause(wait);
      this.pausedUntil.delete(originOf(url));
    }
    return true;
  }

  statusError(
    status: number,
    method: string,
    url: string,
    headers: Record<string, string>,
    text: string,
    options: RequestOptions,
  ): PyregError {
    const who = options.label ?? "server";
    const safeUrl = redactUrl(url);
    const answer = snippet(text);
    const provider = options.anonymous ? undefined : this.credentials.providerFor(url);
    const route = this.routeOf(url);
    if (status === 407 && route) return proxyLoginError(route.proxy, route.source, method, safeUrl);
    if (status === 401 || status === 403) {
      const used = provider ? `credentials from ${provider.source} were sent` : "no credentials were sent";
      // Through a forward proxy, the answer may be the proxy's own: tinyproxy 1.11 answers a wrong
      // proxy password with 401 (and only a missing one with 407).
      const through =
        route && new URL(url).protocol === "http:" ? ` through ${showProxy(route.proxy, route.source)}` : "";
      return new PyregError(
        "AUTH",
        `${who}: ${status} ${status === 401 ? "Unauthorized" : "Forbidden"} for ${method} ${safeUrl}${through} (${used})`,
        {
          method,
          url: safeUrl,
          status,
          serverAnswer: answer,
          hint:
            // A 403 is not proof that the credentials were right: pypiserver (and others) answer
            // 403 to a wrong password, so both causes are named.
            (status === 401
              ? "check the username and password/token for this registry (URL user:password, PYREG_FROM_*/PYREG_TO_* variables, a .pypirc section, ~/.netrc, or --keyring-provider subprocess)"
              : provider
                ? "the registry refused these credentials here: check the username and password/token, then that they may read/upload at this URL (the token's scopes, the repository's permissions)"
                : "the registry refused the request without credentials: give them (URL user:password, PYREG_FROM_*/PYREG_TO_* variables, a .pypirc section, ~/.netrc, or --keyring-provider subprocess)") +
            (through
              ? "; the proxy may be the one refusing: check its user and password (--proxy, HTTP_PROXY, ALL_PROXY)"
              : ""),
        },
      );
    }
    if (status === 404) {
      return new PyregError("NOT_FOUND", `${who}: 404 Not Found for ${method} ${safeUrl}`, {
        method,
        url: safeUrl,
        status,
        serverAnswer: answer,
        hint: "check the URL (a simple index usually ends in /simple/)",
      });
    }
    void headers;
    return new PyregError(
      "HTTP",
      `${who}: HTTP ${status} for ${method} ${safeUrl}${answer ? `: ${answer}` : ""}`,
      {
        method,
        url: safeUrl,
        status,
        serverAnswer: answer,
      },
    );
  }

  wrapNetworkError(err: unknown, method: string, url: string, label?: string): PyregError {
    if (err instanceof PyregError) return err;
    const code = errCode(err);
    const safeUrl = redactUrl(url);
    const who = label ?? "server";
    const msg = redactText(err instanceof Error ? err.message : String(err));
    const refusal = proxyRefusalIn(err);
    if (refusal) {
      // An answer to CONNECT is the proxy's own: 401 there is a refused login as well (tinyproxy 1.11).
      if (refusal.status === 407 || refusal.status === 401)
        return proxyLoginError(refusal.proxy, refusal.source, method, safeUrl, refusal.status);
      return new PyregError(
        "CONNECTION",
        `${showProxy(refusal.proxy, refusal.source)} refused to open a tunnel (HTTP ${refusal.status}) for ${method} ${safeUrl}`,
        {
          method,
          url: safeUrl,
          status: refusal.status,
          hint: "the proxy does not allow this host or port; ask its administrator, or list the host in NO_PROXY",
          cause: err,
        },
      );
    }
    const route = this.routeOf(url);
    if (route && (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "ECONNREFUSED")) {
      // A proxied request's first hop is the proxy: these errors are about the proxy, not the registry.
      return new PyregError(
        "CONNECTION",
        `${who}: ${showProxy(route.proxy, route.source)} ${code === "ECONNREFUSED" ? "refused the connection" : "was not found"} for ${method} ${safeUrl}`,
        {
          method,
          url: safeUrl,
          hint: "check the proxy's host and port (--proxy, HTTPS_PROXY/HTTP_PROXY/ALL_PROXY), or list the registry's host in NO_PROXY",
          cause: err,
        },
      );
    }
    if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
      return new PyregError("CONNECTION", `${who}: host not found for ${method} ${safeUrl}`, {
        method,
        url: safeUrl,
        hint: "check the host name in the URL and your DNS/proxy settings",
        cause: err,
      });
    }
    if (code === "ECONNREFUSED") {
      return new PyregError("CONNECTION", `${who}: connection refused for ${method} ${safeUrl}`, {
        method,
        url: safeUrl,
        hint: "is the registry running, and is the port right?",
        cause: err,
      });
    }
    // OpenSSL's answer when the other side's first bytes are not a TLS record: an HTTP server
    // answering in plain text (or a proxy port). No certificate was ever looked at.
    if (PLAIN_HTTP_CODES.has(code)) {
      const plain = new URL(url);
      plain.protocol = "http:";
      return new PyregError(
        "CONNECTION",
        `${who}: ${originOf(url)} does not speak TLS (it answered in plain HTTP) for ${method} ${safeUrl}`,
        {
          method,
          url: safeUrl,
          hint: `this server speaks plain http: use ${redactUrl(plain.toString())} (or check the port)`,
          cause: err,
        },
      );
    }
    if (/CERT|SSL|TLS|self[- ]signed|unable to verify/i.test(code + " " + msg)) {
      return new PyregError("CONNECTION", `${who}: TLS verification failed for ${safeUrl}: ${msg}`, {
        method,
        url: safeUrl,
        hint: "give the registry's CA with --ca-bundle FILE (or, for a throw-away test only, --insecure)",
        cause: err,
      });
    }
    if (RESET_CODES.has(code) || /other side closed|socket hang up|premature close/i.test(msg)) {
      // The registry was reached and then dropped the exchange: a failure of this request, not
      // proof that the registry is unreachable (so, unlike "refused" or TLS, not fatal to the run).
      return new PyregError(
        "HTTP",
        `${who}: connection dropped (${code || "closed"}) for ${method} ${safeUrl}`,
        {
          method,
          url: safeUrl,
          hint: "the registry or the network cut the connection; pyreg already retried what is safe to retry",
          cause: err,
        },
      );
    }
    if (/TIMEOUT/i.test(code)) {
      return new PyregError("TIMEOUT", `${who}: timed out (${code}) for ${method} ${safeUrl}`, {
        method,
        url: safeUrl,
        hint: "the registry is slow or unreachable; raise --timeout or try again later",
        cause: err,
      });
    }
    return new PyregError(
      "CONNECTION",
      `${who}: ${code || "network error"} for ${method} ${safeUrl}: ${msg}`,
      {
        method,
        url: safeUrl,
        hint: "check the network path to the registry; pyreg already retried",
        cause: err,
      },
    );
  }
}

/** A proxy's answer other than 200 to CONNECT. */
export class ProxyRefusal extends Error {
  constructor(
    readonly status: number,
    readonly proxy: URL,
    readonly source: string,
  ) {
    super(`proxy answered ${status} to CONNECT`);
    this.name = "ProxyRefusal";
  }
}

function proxyRefusalIn(err: unknown): ProxyRefusal | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    if (e instanceof ProxyRefusal) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function proxyLoginError(
  proxy: URL,
  source: string,
  method: string,
  safeUrl: string,
  status = 407,
): PyregError {
  const sent =
    proxy.username || proxy.password
      ? "the proxy's credentials were refused"
      : "no proxy credentials were given";
  return new PyregError(
    "AUTH",
    `${showProxy(proxy, source)} requires a login: ${status} ${status === 407 ? "Proxy Authentication Required" : "Unauthorized"} for ${method} ${safeUrl} (${sent})`,
    {
      method,
      url: safeUrl,
      status,
      hint: "give the proxy's user and password in its URL: --proxy http://USER:PASSWORD@HOST:PORT (or in HTTPS_PROXY/HTTP_PROXY)",
    },
  );
}

function lower(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = v;
  return out;
}

const errCode = networkErrorCode;

/** Node's codes for a TLS handshake that got non-TLS bytes back (OpenSSL "wrong version number"). */
const PLAIN_HTTP_CODES: ReadonlySet<string> = new Set([
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ERR_SSL_PACKET_LENGTH_TOO_LONG",
  "ERR_SSL_HTTP_REQUEST",
]);

/** Codes of a connection the registry accepted and then dropped. */
const RESET_CODES: ReadonlySet<string> = new Set([
  "ECONNRESET",
  "EPIPE",
  "ECONNABORTED",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_HTTP_PARSER",
]);

/**
 * A whole answer. undici's own body reader (`bytes()`, docs/api/Dispatcher.md "Body Mixins") when
 * the body is undici's: it gathers the chunks from the stream's events, without the async
 * iterator (a promise per chunk and its end-of-stream listeners) most answers, a few KiB, cost.
 */
async function readAll(body: Readable): Promise<Buffer> {
  const own = body as Readable & { bytes?: () => Promise<Uint8Array> };
  if (typeof own.bytes === "function") {
    const u = await own.bytes();
    return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function readSome(body: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of body) {
      const b = c as Buffer;
      chunks.push(b);
      n += b.length;
      if (n >= max) break;
    }
  } catch {
    // the answer is only for the message
  }
  body.destroy();
  return Buffer.concat(chunks).subarray(0, max).toString("utf8");
}

/** A short, single-line, redacted excerpt of a server answer. */
export function snippet(text: string, max = 300): string {
  const one = redactText(text)
    .replace(/<[^>]*>/g, " ")
    .replace(/\s+/g, " ")
    .trim();
  return one.length > max ? one.slice(0, max) + "…" : one;
}
