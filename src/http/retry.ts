/**
 * Retry policy as data. Idempotent methods only; 408/425/429/5xx and
 * connection failures (before the headers AND, for buffered reads, while reading the body);
 * exponential backoff with jitter, capped; Retry-After honoured and applied to the whole host;
 * never 401/403/404. Each request has an attempt budget (1 + retries) and a total deadline that
 * covers every attempt and every pause. Uploads (POST) are never retried here: the engine
 * re-uploads once, and only after the destination index shows the file absent
 * (docs/reliability.md has the table of what is retried and why).
 */
export interface RetryPolicy {
  /** Extra attempts after the first. */
  retries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this is capped to it. */
  maxRetryAfterMs: number;
  statuses: readonly number[];
  methods: readonly string[];
  /** Network error codes that are worth another attempt. */
  errorCodes: readonly string[];
}

export const DEFAULT_RETRY: RetryPolicy = {
  retries: 5,
  baseDelayMs: 250,
  maxDelayMs: 15_000,
  maxRetryAfterMs: 120_000,
  statuses: [408, 425, 429, 500, 502, 503, 504],
  methods: ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"],
  errorCodes: [
    "ECONNRESET",
    "ECONNREFUSED",
    "EPIPE",
    "ETIMEDOUT",
    "ENOTFOUND_RETRY",
    "EAI_AGAIN",
    "UND_ERR_SOCKET",
    "UND_ERR_CONNECT_TIMEOUT",
    "UND_ERR_HEADERS_TIMEOUT",
    "UND_ERR_BODY_TIMEOUT",
    "UND_ERR_CLOSED",
    "UND_ERR_RES_CONTENT_LENGTH_MISMATCH",
    "ECONNABORTED",
    "ERR_STREAM_PREMATURE_CLOSE",
    "UND_ERR_HTTP_PARSER",
    "PYREG_TRUNCATED",
  ],
};

export interface Timeouts {
  connectMs: number;
  /** Time to the response headers. */
  headersMs: number;
  /** Longest silence while reading a body. */
  bodyIdleMs: number;
  /**
   * Total time for one request: every attempt, every backoff pause and, for buffered reads (index
   * pages, API calls, upload answers), reading the whole body. For file downloads it covers the
   * time to the headers only (a large file legitimately takes long; bodyIdleMs still catches a
   * dead stream). 0 disables it.
   */
  deadlineMs: number;
}

export const DEFAULT_TIMEOUTS: Timeouts = {
  connectMs: 10_000,
  headersMs: 60_000,
  bodyIdleMs: 60_000,
  deadlineMs: 300_000,
};

/** Delay before attempt n (1-based retry number), full jitter. `random` is injectable for tests. */
export function backoffDelay(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Parses Retry-After (seconds or HTTP date) or RateLimit-Reset (seconds) into milliseconds. */
export function retryAfterMs(
  headers: Record<string, string | string[] | undefined>,
  now = Date.now(),
): number | undefined {
  const raw = headers["retry-after"] ?? headers["ratelimit-reset"];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) {
    const n = Number(value);
    // GitLab sends RateLimit-Reset as a Unix timestamp, Retry-After is a number of seconds.
    if (n > 1_000_000_000) return Math.max(0, Math.round(n * 1000 - now));
    return Math.round(n * 1000);
  }
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function isRetryableStatus(policy: RetryPolicy, method: string, status: number): boolean {
  return policy.methods.includes(method) && policy.statuses.includes(status);
}

export function isRetryableError(policy: RetryPolicy, method: string, err: unknown): boolean {
  if (!policy.methods.includes(method)) return false;
  const code = networkErrorCode(err);
  return code !== "" && policy.errorCodes.includes(code);
}

/** The error code of a network error, looking through `cause` (undici wraps socket errors). */
export function networkErrorCode(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown; cause?: { code?: unknown } } | undefined;
  if (typeof e?.code === "string") return e.code;
  if (typeof e?.cause?.code === "string") return e.cause.code;
  // undici's parser error has no code: a chunked body without its last chunk, garbage framing.
  if (e?.name === "HTTPParserError") return "UND_ERR_HTTP_PARSER";
  return "";
}
