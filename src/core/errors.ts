/**
 * Every error pyreg raises on purpose is a PyregError: a stable code, a message that says what
 * happened and where, and a hint that says what to do. The CLI's one error boundary maps the
 * code's class to an exit code (see exitCodeFor).
 */
export type ErrorCode =
  | "USAGE"
  | "CONFIG"
  | "AUTH"
  | "CONNECTION"
  | "TIMEOUT"
  | "NOT_FOUND"
  | "HTTP"
  | "MALFORMED_INDEX"
  /** The URL answers, but with something that is not a simple index (a web page, another API). */
  | "NOT_AN_INDEX"
  | "UNSUPPORTED_API_VERSION"
  | "HASH_MISMATCH"
  /** Fewer (or more) bytes than the index lists: most often a transfer cut short. */
  | "INCOMPLETE"
  | "BAD_ARCHIVE"
  | "BAD_METADATA"
  | "BAD_FILENAME"
  /** The source lists one filename more than once with different bytes. */
  | "DUPLICATE_LISTING"
  /** The destination serves other bytes than its index lists (or than were uploaded). */
  | "CONTENT_MISMATCH"
  | "UNSAFE_URL"
  | "UPLOAD_REFUSED"
  /** A distribution format the destination kind does not take (src/core/formats.ts). */
  | "UNSUPPORTED_FORMAT"
  | "CONFLICT"
  | "NOT_LISTED"
  | "STATE"
  | "INTERRUPTED";

/**
 * What a failure means for what comes next, decided where the error is created (never from its
 * message): the one policy that reads it is src/core/failure.ts.
 * - transient: the moment (a timeout, a reset, 5xx, 408/429): trying again may succeed.
 * - lasting: a fact about the file or the registry's rules (bad archive, 404, 400): the same
 *   answer every time.
 * - auth: the registry refused the credentials or their permission (401/403).
 * - conflict: the destination holds other bytes under the name.
 * - uncertain: an upload's effect is unknown (sent, never confirmed).
 */
export type FailureClass = "transient" | "lasting" | "auth" | "conflict" | "uncertain";

/** The class an HTTP status means (RFC 9110 section 15; 408 and 429 ask to come back later). */
export function classOfStatus(status: number): FailureClass {
  if (status === 401 || status === 403) return "auth";
  if (status === 408 || status === 429 || status >= 500) return "transient";
  if (status === 409) return "conflict";
  return "lasting";
}

/** The class of an error created without one: what its code means when nothing more is known. */
const CLASS_OF_CODE: Record<ErrorCode, FailureClass> = {
  USAGE: "lasting",
  CONFIG: "lasting",
  AUTH: "auth",
  CONNECTION: "transient",
  TIMEOUT: "transient",
  NOT_FOUND: "lasting",
  HTTP: "transient",
  MALFORMED_INDEX: "lasting",
  NOT_AN_INDEX: "lasting",
  UNSUPPORTED_API_VERSION: "lasting",
  HASH_MISMATCH: "lasting",
  INCOMPLETE: "transient",
  BAD_ARCHIVE: "lasting",
  BAD_METADATA: "lasting",
  BAD_FILENAME: "lasting",
  UNSAFE_URL: "lasting",
  UPLOAD_REFUSED: "lasting",
  UNSUPPORTED_FORMAT: "lasting",
  CONFLICT: "conflict",
  NOT_LISTED: "uncertain",
  DUPLICATE_LISTING: "lasting",
  CONTENT_MISMATCH: "uncertain",
  STATE: "lasting",
  INTERRUPTED: "transient",
};

export interface PyregErrorInit {
  /** Defaults to what the HTTP status means, else to what the code means (CLASS_OF_CODE). */
  class?: FailureClass | undefined;
  hint?: string | undefined;
  method?: string | undefined;
  url?: string | undefined;
  status?: number | undefined;
  /** What the server answered (already truncated and redacted). */
  serverAnswer?: string | undefined;
  cause?: unknown;
}

export class PyregError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly method: string | undefined;
  readonly url: string | undefined;
  readonly status: number | undefined;
  readonly serverAnswer: string | undefined;
  readonly class: FailureClass;

  constructor(code: ErrorCode, message: string, init: PyregErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "PyregError";
    this.code = code;
    this.hint = init.hint;
    this.method = init.method;
    this.url = init.url;
    this.status = init.status;
    this.serverAnswer = init.serverAnswer;
    this.class = init.class ?? (init.status !== undefined ? classOfStatus(init.status) : CLASS_OF_CODE[code]);
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      class: this.class,
      message: this.message,
      ...(this.hint ? { hint: this.hint } : {}),
      ...(this.method ? { method: this.method } : {}),
      ...(this.url ? { url: this.url } : {}),
      ...(this.status ? { status: this.status } : {}),
      ...(this.serverAnswer ? { serverAnswer: this.serverAnswer } : {}),
    };
  }
}

/** Errors that mean "the whole run cannot go on" rather than "this one file failed". */
const FATAL: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  "USAGE",
  "CONFIG",
  "AUTH",
  "CONNECTION",
  "UNSUPPORTED_API_VERSION",
  "STATE",
]);

export function isFatal(err: unknown): boolean {
  return err instanceof PyregError && FATAL.has(err.code);
}

/** Exit codes: 0 all done, 1 some files failed/conflicted/missing, 2 usage/config/auth/connection. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof PyregError) {
    if (err.code === "INTERRUPTED") return 130;
    return FATAL.has(err.code) ||
      err.code === "NOT_FOUND" ||
      err.code === "MALFORMED_INDEX" ||
      err.code === "NOT_AN_INDEX"
      ? 2
      : 1;
  }
  return 2;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** The class of any thrown value: a PyregError's own, else transient (an unexpected accident). */
export function classOf(err: unknown): FailureClass {
  return err instanceof PyregError ? err.class : "transient";
}
