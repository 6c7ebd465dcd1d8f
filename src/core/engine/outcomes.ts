/** The outcome of a plan entry that needs no transfer (everything but "copy"). */
import type { FileOutcome } from "../model.js";
import { sha256Of } from "../model.js";
import type { PlanEntry } from "../plan.js";

export function entryOutcome(e: PlanEntry): FileOutcome | undefined {
  switch (e.action) {
    case "copy":
      return undefined;
    case "skip":
      return { kind: "skipped", file: e.file, reason: e.reason };
    case "conflict":
      return {
        kind: "conflict",
        file: e.file,
        reason: e.reason,
        destinationSha256: e.destination ? sha256Of(e.destination) : undefined,
      };
    case "filtered":
      return { kind: "filtered", file: e.file, reason: e.reason, ...(e.rule ? { rule: e.rule } : {}) };
    case "invalid":
      return {
        kind: "failed",
        file: e.file,
        reason: e.reason,
        code: e.code ?? "BAD_FILENAME",
        class: "lasting",
      };
    case "unsupported":
      return { kind: "failed", file: e.file, reason: e.reason, code: "UNSUPPORTED_FORMAT", class: "lasting" };
  }
}
