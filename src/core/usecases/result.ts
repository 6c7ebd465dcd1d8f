/**
 * Every use-case resolves with a tagged result: `status` says how it ended, and the rest depends on
 * it. "ok": all done (or all checked). "incomplete": some files failed, conflicted or are missing
 * (the data says which). "interrupted": stopped through the AbortSignal. "error": a PyregError
 * stopped it (usage, configuration, authentication, connection, state...). Anything else thrown is
 * a bug and is thrown as it is.
 */
import { PyregError } from "../errors.js";

export type Status = "ok" | "incomplete" | "interrupted" | "error";

export type Tagged<T> =
  | ({ status: "ok" | "incomplete" } & T)
  | ({ status: "interrupted"; message: string; hint?: string | undefined } & Partial<T>)
  | ({ status: "error"; error: PyregError } & Partial<T>);

/** Runs `work`; a PyregError becomes an "error" result, anything else is thrown. */
export async function tagged<T>(work: () => Promise<Tagged<T>>): Promise<Tagged<T>> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof PyregError && err.code === "INTERRUPTED")
      return { status: "interrupted", message: err.message, hint: err.hint } as Tagged<T>;
    if (err instanceof PyregError) return { status: "error", error: err } as Tagged<T>;
    throw err;
  }
}
