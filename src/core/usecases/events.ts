/** What a use-case reports while it runs (the CLI renders these; a library user may too). */
import type { EngineEvent } from "../engine.js";
import type { RequestLog } from "../../http/client.js";
import type { ProjectPlan } from "../plan.js";
import type { DistFile } from "../model.js";
import type { Verification } from "../digests.js";
import type { ResumeFile } from "./plan.js";

export type PyregEvent =
  /** A line for people: what is being read, resume decisions, the plan's counts, where the report is. */
  | { type: "log"; message: string }
  /** Something the user should know about even with --quiet. */
  | { type: "warning"; message: string }
  /** A pinned file (--requirements) missing at the source or with another sha256. */
  | { type: "problem"; message: string }
  /** An HTTP request is tried again after a pause. */
  | { type: "http-retry"; method: string; url: string; delayMs: number; reason: string; attempt: number }
  /** With `verbose`: one HTTP request answered (or failed), URL not yet redacted. */
  | { type: "http-request"; request: RequestLog }
  /** migrate's phase: reading the indexes, re-checking an interrupted run's files, transferring. */
  | { type: "phase"; phase: "planning" | "rechecking" | "transferring" }
  /** plan: both registries are open; the projects' `planned` events follow. */
  | {
      type: "plan-start";
      source: { kind: string; description: string };
      destination: { kind: string; description: string };
    }
  /**
   * plan: one project's entries, as soon as it is planned (the result holds counts, not entries,
   * so that memory does not grow with the number of files). With a state folder, `resume` lists
   * the project's files a migrate resuming from it would treat otherwise than the plan says.
   */
  | {
      type: "planned";
      project: ProjectPlan;
      resume?: ResumeFile[] | undefined;
    }
  /** verify: one file checked at the destination (the result holds counts, not rows). */
  | {
      type: "checked";
      file: DistFile;
      status: "ok" | "missing" | "different" | "unverifiable";
      detail: string;
      verification?: Verification | undefined;
    }
  /** verify: one source file the selection left out (not checked), with the rule that did. */
  | { type: "filtered"; file: DistFile; rule: string; reason: string }
  /** The engine's events: start, file-start, bytes, downloaded, uploaded, outcome, retry. */
  | EngineEvent;

export interface RunControl {
  /** Progress and messages. */
  onEvent?: ((e: PyregEvent) => void) | undefined;
  /** Stops the run: migrate finishes the files in flight, records the run and resolves "interrupted". */
  signal?: AbortSignal | undefined;
}
