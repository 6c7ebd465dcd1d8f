/**
 * pyreg as a library: the use-cases the CLI is built on. Each resolves with a tagged result
 * (`status`: "ok" | "incomplete" | "interrupted" | "error"), reports progress through `onEvent`,
 * and stops through an AbortSignal (`signal`). Anything thrown that is not a PyregError is a bug.
 */
export { list, type ListData, type ListedProject, type ListOptions } from "./core/usecases/list.js";
export {
  plan,
  type PlanData,
  type PlanOptions,
  type ResumeFile,
  type ResumePreview,
} from "./core/usecases/plan.js";
export {
  migrate,
  type MigrateCounts,
  type MigrateData,
  type MigrateOptions,
} from "./core/usecases/migrate.js";
export { verify, type VerifyData, type VerifyOptions, type VerifyStatus } from "./core/usecases/verify.js";
export { report, type ReportData, type ReportOptions } from "./core/usecases/report.js";
export { serve, type ServeData, type ServeOptions } from "./core/usecases/serve.js";
export { openRegistry, type OpenedRegistry } from "./core/usecases/registry.js";
export type { PyregEvent, RunControl } from "./core/usecases/events.js";
export type { Status, Tagged } from "./core/usecases/result.js";
export type { RunOptions, SelectionFlags, StateOptions, WithDefaults } from "./core/usecases/options.js";
export type { Destination, DistFile, FileOutcome, Source } from "./core/model.js";
export type { Plan, PlanAction, PlanEntry, ProjectPlan } from "./core/plan.js";
export type { Report, ReportSummary } from "./core/report.js";
export type { Shard } from "./core/shard.js";
export { parseShard } from "./core/shard.js";
export { PyregError, exitCodeFor, type ErrorCode } from "./core/errors.js";
export { PYREG_VERSION } from "./version.js";
