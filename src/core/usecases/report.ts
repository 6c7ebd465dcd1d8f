/** report as a use-case: a migration's report, built again from its journal (or several shards' journals). */
import { join } from "node:path";
import { PyregError } from "../errors.js";
import { Journal, type JournalData } from "../journal.js";
import { buildReport, type Report } from "../report.js";
import { PYREG_VERSION } from "../../version.js";
import { tagged, type Tagged } from "./result.js";
import { checkReportPath, defaultReportDir, reportPaths, writeReport } from "./state.js";

export interface ReportOptions {
  /** The state folder (default: ./.pyreg, or its only per-pair folder). */
  state?: string | undefined;
  /** Merge these shards' state folders (nothing is rewritten in them). */
  merge?: readonly string[] | undefined;
  /** Also write the report to PATH.json and PATH.md. */
  report?: string | undefined;
  /** Called before the report is built (the CLI lets V8's young generation grow for it). */
  beforeReport?: (() => void) | undefined;
}

export interface ReportData {
  report: Report;
  /** The state folders read. */
  dirs: string[];
}

/** "incomplete" when the report says the migration is not complete (report.result). */
export async function report(opts: ReportOptions = {}): Promise<Tagged<ReportData>> {
  return tagged<ReportData>(async () => {
    if (opts.merge && opts.state) {
      throw new PyregError("USAGE", "give either --state DIR or --merge DIR..., not both");
    }
    if (opts.report) checkReportPath(opts.report);
    opts.beforeReport?.();
    const dirs = opts.merge ? [...opts.merge] : [opts.state ?? defaultReportDir()];
    const journals: JournalData[] = dirs.map((d) => Journal.read(d));
    const built = buildReport(journals, PYREG_VERSION);
    if (!opts.merge) {
      const dir = dirs[0] as string;
      writeReport(built, { json: join(dir, "report.json"), md: join(dir, "report.md") });
    }
    if (opts.report) writeReport(built, reportPaths(opts.report));
    // The same verdict the report states (report.result), so the result and the report agree.
    return { status: built.result.complete ? "ok" : "incomplete", report: built, dirs };
  });
}
