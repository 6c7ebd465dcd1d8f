/**
 * How a command ended. Commands only say it (finish); main.ts alone turns it into an exit code
 * (0 ok; 1 incomplete: some files failed, conflicted or are missing; 130 interrupted).
 */
import type { Status } from "../core/usecases/result.js";

let outcome: Exclude<Status, "error"> | undefined;

/** Records the command's outcome (the last call wins). */
export function finish(status: Exclude<Status, "error">): void {
  outcome = status;
}

/** The outcome recorded so far, left in place. */
export function peekOutcome(): Exclude<Status, "error"> | undefined {
  return outcome;
}

/** The outcome recorded by the command that ran (undefined when it recorded none). */
export function takeOutcome(): Exclude<Status, "error"> | undefined {
  const o = outcome;
  outcome = undefined;
  return o;
}

let hardExit: (code: number) => never = () => {
  throw new Error("the CLI's exit is not set (main.ts sets it)");
};

/** main.ts gives the one way out of the process at once (a second Ctrl-C). */
export function setHardExit(exit: (code: number) => never): void {
  hardExit = exit;
}

/**
 * Ctrl-C (SIGINT, SIGTERM) aborts the returned signal after printing `first()`; a second one prints
 * `second()` and ends the process at once (exit 130). `release()` removes the handlers.
 */
export function onInterrupt(messages: { first(): string; second(): string }): {
  signal: AbortSignal;
  release(): void;
} {
  const abort = new AbortController();
  const onSignal = (): void => {
    if (abort.signal.aborted) {
      process.stderr.write(messages.second());
      hardExit(130);
    }
    process.stderr.write(messages.first());
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    signal: abort.signal,
    release: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}
