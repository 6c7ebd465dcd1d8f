/**
 * The state folder shared by migrate and verify: open the journal for this source/destination
 * pair, record the run, and write report.json / report.md.
 */
import {
  accessSync,
  closeSync,
  constants,
  createReadStream,
  existsSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { once } from "node:events";
import { dirname, join } from "node:path";
import { absolutePath } from "../dirs.js";
import { lockDestination, type DestinationLock } from "../destinationLock.js";
import { PyregError } from "../errors.js";
import { Journal, JOURNAL_FILE, openReportSource, type RunStatus } from "../journal.js";
import { reportJsonPieces, reportMarkdownPieces, streamReport, type ReportStream } from "../report.js";
import { formatShard } from "../shard.js";
import { redactText } from "../../http/redact.js";
import { PYREG_VERSION } from "../../version.js";
import { DEFAULT_STATE_DIR, endpointOf, redactArgv, stateDirOf, type StateOptions } from "./options.js";

/** Where --report PATH puts its two files. */
export function reportPaths(path: string): { json: string; md: string } {
  if (/\.json$/i.test(path)) return { json: path, md: path.replace(/\.json$/i, ".md") };
  if (/\.md$/i.test(path)) return { md: path, json: path.replace(/\.md$/i, ".json") };
  return { json: `${path}.json`, md: `${path}.md` };
}

/**
 * Joins a report's pieces into batches of about 32 KiB, each redacted on its own (small, so that
 * they die in V8's young generation: see JSON_SLICE in src/core/jsonPieces.ts). A batch ends only
 * where a piece ends, and no piece splits a JSON string value, so no secret is cut in two.
 */
export function* redactedBatches(pieces: Iterable<string>, size = 32 << 10): Generator<string> {
  let batch: string[] = [];
  let length = 0;
  for (const piece of pieces) {
    batch.push(piece);
    length += piece.length;
    if (length >= size) {
      yield redactText(batch.join(""));
      batch = [];
      length = 0;
    }
  }
  if (length) yield redactText(batch.join(""));
}

/**
 * Writes pieces to a stream a batch at a time, waiting for the stream to drain when it says so
 * (https://nodejs.org/api/stream.html#writablewritechunk-encoding-callback): the text is never
 * held whole, whatever its length.
 */
export async function writePieces(stream: NodeJS.WritableStream, pieces: Iterable<string>): Promise<void> {
  for (const batch of redactedBatches(pieces)) {
    if (!stream.write(batch)) await once(stream, "drain");
  }
}

/**
 * Writes one text to each of `paths`, made once from its pieces: each file is written beside its
 * path and renamed when complete, so a reader (or a kill) never sees half a report. With `reread`,
 * returns a descriptor open for reading on the first file (opened before the rename, so it is
 * this text whatever replaces the file later); the caller closes it.
 */
function writeAtomic(paths: readonly string[], pieces: Iterable<string>, reread = false): number | undefined {
  const stamp = `${process.pid}.${Date.now()}`;
  const files = [...new Set(paths)].map((path, i) => ({
    path,
    tmp: join(dirname(path), `.${stamp}.${i}.tmp`),
    fd: -1,
  }));
  let readFd: number | undefined;
  try {
    for (const f of files) f.fd = openSync(f.tmp, "w");
    for (const batch of redactedBatches(pieces)) for (const f of files) writeSync(f.fd, batch);
    if (reread && files[0]) readFd = openSync(files[0].tmp, "r");
    for (const f of files) {
      closeSync(f.fd);
      f.fd = -1;
      renameSync(f.tmp, f.path);
    }
    return readFd;
  } catch (err) {
    if (readFd !== undefined) closeSync(readFd);
    for (const f of files) {
      if (f.fd >= 0) closeSync(f.fd);
      rmSync(f.tmp, { force: true });
    }
    throw err;
  }
}

/**
 * Prints a report file written by writeReports (its descriptor, closed at the end) to a stream,
 * waiting for the stream to drain when it says so. With `indent`, every line but the first is
 * indented by it and the file's final newline is left out (the file as a value inside an
 * enclosing JSON document, as jsonPieces writes a nested value; a JSON text holds no raw newline
 * inside a string, https://www.rfc-editor.org/rfc/rfc8259#section-7).
 */
export async function printReportFile(fd: number, stream: NodeJS.WritableStream, indent = ""): Promise<void> {
  // The file is already redacted (written through redactedBatches).
  const input = createReadStream("", { fd, encoding: "utf8", highWaterMark: 64 << 10 });
  let held = "";
  for await (const chunk of input as AsyncIterable<string>) {
    let text = held + chunk;
    held = "";
    if (indent) {
      if (text.endsWith("\n")) {
        held = "\n";
        text = text.slice(0, -1);
      }
      text = text.replace(/\n/g, `\n${indent}`);
    }
    if (text && !stream.write(text)) await once(stream, "drain");
  }
}

/** --report PATH: both files must be writable where they go (their folder exists and is a folder). */
export function checkReportPath(path: string): void {
  for (const file of Object.values(reportPaths(path))) {
    const abs = absolutePath(file);
    const dir = dirname(abs);
    let isDir = false;
    try {
      isDir = statSync(dir).isDirectory();
    } catch {
      isDir = false;
    }
    if (!isDir) {
      throw new PyregError("CONFIG", `--report ${path}: the folder ${dir} does not exist`, {
        hint: `create it first, or give --report a path in an existing folder`,
      });
    }
    try {
      accessSync(dir, constants.W_OK);
    } catch {
      throw new PyregError("CONFIG", `--report ${path}: the folder ${dir} is not writable`, {
        hint: "give --report a path in a folder you can write to",
      });
    }
    if (existsSync(abs) && !statSync(abs).isFile()) {
      throw new PyregError("CONFIG", `--report ${path}: ${abs} exists and is not a file`, {
        hint: "give --report a file path",
      });
    }
  }
}

/** Writes report.json and report.md, each read from the journals as it is written. */
export function writeReport(report: ReportStream, paths: { json: string; md: string }): void {
  writeReports(report, [paths]);
}

/**
 * Writes the report's JSON to every target's `json` path and its Markdown to every `md` path: each
 * text is made once, read from the journals as it is written, however many copies are written.
 * With `reread`, returns a descriptor open for reading on that text's first file (see
 * writeAtomic), to print it without reading the journals again.
 */
export function writeReports(
  report: ReportStream,
  targets: readonly { json: string; md: string }[],
  reread?: "json" | "md",
): number | undefined {
  if (!targets.length) return undefined;
  const json = writeAtomic(
    targets.map((t) => t.json),
    reportJsonPieces(report),
    reread === "json",
  );
  try {
    const md = writeAtomic(
      targets.map((t) => t.md),
      reportMarkdownPieces(report),
      reread === "md",
    );
    return json ?? md;
  } catch (err) {
    if (json !== undefined) closeSync(json);
    throw err;
  }
}

export interface RunState {
  journal: Journal;
  dir: string;
  /** Whether the journal is the state folder's (false: a temporary journal, nothing is kept in `dir`). */
  kept: boolean;
  /** Ends the run in the journal and writes the reports; returns where the Markdown report is, if any. */
  finish(status: RunStatus, message: string | undefined, counts: Record<string, number>): string | undefined;
  close(): void;
}

/** Opens the state folder for a migrate or verify run (fails with exit 2 when it is another pair's). */
export function openRunState(
  opts: StateOptions & {
    from: string;
    to: string;
    /** The command line recorded in the journal (redacted; default: the command and --from/--to). */
    argv?: readonly string[] | undefined;
    /** Called before a report is built (the CLI turns V8's incremental marking back on for it). */
    beforeReport?: (() => void) | undefined;
  },
  command: "migrate" | "verify",
): RunState {
  const dir = stateDirOf(opts, opts.from, opts.to);
  // Checked before anything is read or sent: a report that cannot be written is a configuration
  // error now, not a raw ENOENT after the whole run.
  if (opts.report) checkReportPath(opts.report);
  const journal = Journal.open(
    dir,
    {
      source: endpointOf(opts.from),
      destination: endpointOf(opts.to),
      shard: opts.shard ? formatShard(opts.shard) : undefined,
    },
    { reset: opts.resetState ?? false },
  );
  let destinationLock: DestinationLock | undefined;
  try {
    if (command === "migrate")
      destinationLock = lockDestination(journal.identity.destination, opts.shard, absolutePath(dir, "STATE"));
    journal.startRun({
      command,
      argv: opts.argv ? [...opts.argv] : redactArgv([command, "--from", opts.from, "--to", opts.to]),
      version: PYREG_VERSION,
      source: journal.identity.source.description,
      destination: journal.identity.destination.description,
    });
  } catch (err) {
    destinationLock?.release();
    journal.close();
    throw err;
  }
  return runState(journal, dir, true, opts, () => destinationLock?.release());
}

function runState(
  journal: Journal,
  dir: string,
  kept: boolean,
  opts: { report?: string | undefined; beforeReport?: (() => void) | undefined },
  release: () => void,
): RunState {
  let finished = false;
  return {
    journal,
    dir,
    kept,
    finish(status, message, counts) {
      if (!finished) journal.endRun(status, message === undefined ? undefined : redactText(message), counts);
      finished = true;
      opts.beforeReport?.();
      const report = streamReport([journal.reportSource()], PYREG_VERSION);
      writeReports(report, [
        ...(kept ? [{ json: join(dir, "report.json"), md: join(dir, "report.md") }] : []),
        ...(opts.report ? [reportPaths(opts.report)] : []),
      ]);
      return kept ? join(dir, "report.md") : opts.report ? reportPaths(opts.report).md : undefined;
    },
    close() {
      journal.close();
      release();
    },
  };
}

/**
 * The state of a verify run, which starts no state folder: the journal of its source/destination
 * pair when one is there (migrate's; the check is recorded in it and that folder's reports are
 * written again); else, with --report PATH, a temporary journal (Journal.temporary: nothing left
 * on disk) whose report goes only to PATH; else none (undefined), and nothing is written.
 */
export function openVerifyState(opts: Parameters<typeof openRunState>[0]): RunState | undefined {
  const dir = stateDirOf(opts, opts.from, opts.to);
  if (opts.report) checkReportPath(opts.report);
  if (existsSync(join(dir, JOURNAL_FILE))) return openRunState({ ...opts, resetState: false }, "verify");
  if (!opts.report) return undefined;
  const journal = Journal.temporary({
    source: endpointOf(opts.from),
    destination: endpointOf(opts.to),
    shard: opts.shard ? formatShard(opts.shard) : undefined,
  });
  journal.startRun({
    command: "verify",
    argv: opts.argv ? [...opts.argv] : redactArgv(["verify", "--from", opts.from, "--to", opts.to]),
    version: PYREG_VERSION,
    source: journal.identity.source.description,
    destination: journal.identity.destination.description,
  });
  return runState(journal, dir, false, opts, () => undefined);
}

/** Without --state: ./.pyreg itself, or its one per-pair folder; several → ask which. */
export function defaultReportDir(): string {
  if (existsSync(join(DEFAULT_STATE_DIR, JOURNAL_FILE))) return DEFAULT_STATE_DIR;
  const found = existsSync(DEFAULT_STATE_DIR)
    ? readdirSync(DEFAULT_STATE_DIR)
        .map((d) => join(DEFAULT_STATE_DIR, d))
        .filter((d) => existsSync(join(d, JOURNAL_FILE)))
        .sort()
    : [];
  if (found.length === 1) return found[0] as string;
  if (!found.length) {
    throw new PyregError("STATE", `no journal under ./${DEFAULT_STATE_DIR}/`, {
      hint: "run pyreg report in the folder migrate ran in, or give --state DIR",
    });
  }
  const lines = found.map((d) => {
    try {
      const j = openReportSource(d);
      j.close();
      const last = j.runs[j.runs.length - 1];
      return `${d}: from ${j.identity.source.description} to ${j.identity.destination.description}${j.identity.shard ? ` (shard ${j.identity.shard})` : ""}${last ? `, last run: ${last.command} ${last.status}` : ""}`;
    } catch {
      return `${d}: (unreadable journal)`;
    }
  });
  throw new PyregError("USAGE", `./${DEFAULT_STATE_DIR}/ holds the journals of ${found.length} migrations`, {
    hint: `pick one with --state DIR:\n  ${lines.join("\n  ")}\n(shards of one migration: --merge DIR...)`,
  });
}
