/**
 * report as a use-case: a migration's report, built again from its journal (or several shards'
 * journals). The report is written (and printed) as it is read from the journals: its lists are
 * never held whole, whatever the number of files.
 */
import { join } from "node:path";
import { PyregError } from "../errors.js";
import { openReportSource, type OpenedSource } from "../journal.js";
import {
  reportJsonPieces,
  reportMarkdownPieces,
  streamReport,
  type ReportStream,
  type ReportSummary,
} from "../report.js";
import { PYREG_VERSION } from "../../version.js";
import { tagged, type Tagged } from "./result.js";
import { checkReportPath, defaultReportDir, reportPaths, writePieces, writeReport } from "./state.js";

export interface ReportOptions {
  /** The state folder (default: ./.pyreg, or its only per-pair folder). */
  state?: string | undefined;
  /** Merge these shards' state folders (nothing is rewritten in them). */
  merge?: readonly string[] | undefined;
  /** Also write the report to PATH.json and PATH.md. */
  report?: string | undefined;
  /**
   * Also write the report to this stream (e.g. process.stdout), as JSON or Markdown. With
   * `envelope`, the JSON is an object of the envelope's fields and `report` (report.json).
   */
  output?:
    | {
        format: "json" | "md";
        stream: NodeJS.WritableStream;
        envelope?: ((summary: ReportSummary) => Record<string, unknown>) | undefined;
      }
    | undefined;
  /** Called with the summary once it is known, before the report is written to `output`. */
  onSummary?: ((summary: ReportSummary) => void) | undefined;
  /** Called before the report is built (the CLI turns V8's incremental marking back on for it). */
  beforeReport?: (() => void) | undefined;
}

export interface ReportData {
  /**
   * The report without its per-file lists (counted in it): those are in the files written (the
   * state folder's report.json, --report's, or `output`), read from the journal as they are written.
   */
  report: ReportSummary;
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
    const sources: OpenedSource[] = [];
    try {
      for (const d of dirs) sources.push(openReportSource(d));
      const built = streamReport(sources, PYREG_VERSION);
      if (!opts.merge) {
        const dir = dirs[0] as string;
        writeReport(built, { json: join(dir, "report.json"), md: join(dir, "report.md") });
      }
      if (opts.report) writeReport(built, reportPaths(opts.report));
      opts.onSummary?.(built.summary);
      const out = opts.output;
      if (out)
        await writePieces(
          out.stream,
          out.format === "md"
            ? reportMarkdownPieces(built)
            : out.envelope
              ? enveloped(out.envelope(built.summary), built)
              : reportJsonPieces(built),
        );
      // The same verdict the report states (report.result), so the result and the report agree.
      return { status: built.summary.result.complete ? "ok" : "incomplete", report: built.summary, dirs };
    } finally {
      for (const s of sources) s.close();
    }
  });
}

/** report.json inside an envelope object, as its `report` field, written piece by piece as report.json is. */
function* enveloped(envelope: Record<string, unknown>, built: ReportStream): Generator<string> {
  const head = JSON.stringify({ ...envelope, report: null }, null, 2);
  yield head.slice(0, head.lastIndexOf("null\n}"));
  yield* reportJsonPieces(built, "  ");
  yield "\n}\n";
}
