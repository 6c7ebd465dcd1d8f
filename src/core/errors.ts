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
  | "CONFLICT"
  | "NOT_LISTED"
  | "STATE"
  | "INTERRUPTED";

export interface PyregErrorInit {
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

  constructor(code: ErrorCode, message: string, init: PyregErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "PyregError";
    this.code = code;
    this.hint = init.hint;
    this.method = init.method;
    this.url = init.url;
    this.status = init.status;
    this.serverAnswer = init.serverAnswer;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
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
    return FATAL.has(err.code) || err.code === "NOT_FOUND" || err.code === "MALFORMED_INDEX" ? 2 : 1;
  }
  return 2;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
