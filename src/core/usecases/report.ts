/**
 * report as a use-case: a migration's report, built again from its journal (or several shards'
 * journals). The report is written (and printed) as it is read from the journals: its lists are
 * never held whole, whatever the number of files.
 */
import { closeSync } from "node:fs";
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
import {
  checkReportPath,
  defaultReportDir,
  printReportFile,
  reportPaths,
  writePieces,
  writeReports,
} from "./state.js";

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
      const targets = [
        ...(opts.merge
          ? []
          : [{ json: join(dirs[0] as string, "report.json"), md: join(dirs[0] as string, "report.md") }]),
        ...(opts.report ? [reportPaths(opts.report)] : []),
      ];
      const out = opts.output;
      // The text printed is the text of a file just written, read back from it: the journals are
      // read once for the JSON and once for the Markdown, whatever is printed.
      const written = writeReports(built, targets, out?.format);
      try {
        opts.onSummary?.(built.summary);
      } catch (err) {
        if (written !== undefined) closeSync(written);
        throw err;
      }
      if (out) {
        const envelope = out.format === "json" ? out.envelope?.(built.summary) : undefined;
        if (written === undefined)
          await writePieces(
            out.stream,
            out.format === "md"
              ? reportMarkdownPieces(built)
              : envelope
                ? enveloped(envelope, built)
                : reportJsonPieces(built),
          );
        else if (envelope) {
          await writePieces(out.stream, [envelopeHead(envelope)]);
          await printReportFile(written, out.stream, "  ");
          await writePieces(out.stream, [ENVELOPE_TAIL]);
        } else await printReportFile(written, out.stream);
      }
      // The same verdict the report states (report.result), so the result and the report agree.
      return { status: built.summary.result.complete ? "ok" : "incomplete", report: built.summary, dirs };
    } finally {
      for (const s of sources) s.close();
    }
  });
}

/** The text of an envelope object up to its `report` field's value (report.json, indented). */
function envelopeHead(envelope: Record<string, unknown>): string {
  const head = JSON.stringify({ ...envelope, report: null }, null, 2);
  return head.slice(0, head.lastIndexOf("null\n}"));
}

const ENVELOPE_TAIL = "\n}\n";

/** report.json inside an envelope object, as its `report` field, written piece by piece as report.json is. */
function* enveloped(envelope: Record<string, unknown>, built: ReportStream): Generator<string> {
  yield envelopeHead(envelope);
  yield* reportJsonPieces(built, "  ");
  yield ENVELOPE_TAIL;
}
