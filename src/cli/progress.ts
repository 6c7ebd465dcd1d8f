/**
 * Progress for `migrate`. On a terminal: one status line on stderr, redrawn in place;
 * anything else written to stderr/stdout meanwhile first clears the line and then redraws it, so
 * messages are never mixed into it. Elsewhere (CI, a pipe, --quiet, NO_COLOR, TERM=dumb): plain
 * lines every few seconds, which read well in a CI log.
 */
import type { EngineEvent } from "../core/engine.js";
import { formatBytes } from "./common.js";
import { formatTotal } from "../core/units.js";

export type ProgressMode = "live" | "plain";

export interface ProgressOptions {
  quiet: boolean;
  mode: ProgressMode;
  /** Plain mode: seconds between lines. */
  intervalMs?: number;
  stream?: NodeJS.WriteStream;
  /** Also protect this stream's writes from the live line (stdout on the same terminal). */
  other?: NodeJS.WriteStream;
  now?: () => number;
}

/** Live only on an interactive terminal and when nothing asks for plain output. */
export function chooseMode(
  opts: { quiet: boolean },
  stream: { isTTY?: boolean } = process.stderr,
  env: NodeJS.ProcessEnv = process.env,
): ProgressMode {
  if (opts.quiet || !stream.isTTY) return "plain";
  if (env["CI"] && env["CI"] !== "false" && env["CI"] !== "0") return "plain";
  if (env["NO_COLOR"] !== undefined && env["NO_COLOR"] !== "") return "plain";
  if (env["TERM"] === "dumb") return "plain";
  return "live";
}

export interface Counters {
  total: number;
  totalBytes: number;
  /** Files to copy whose size the index does not give (PEP 503 gives none; PEP 691's is optional). */
  unknownSizes: number;
  done: number;
  bytes: number;
  failed: number;
  conflicts: number;
  inFlight: number;
}

/** Seconds of transfers before an ETA is shown: a rate over less says little. */
export const ETA_AFTER_SECONDS = 2;

/**
 * The status line. `elapsedSeconds` counts from the start of the transfers (not from the command's
 * start: reading the indexes moves no file bytes, and counting it made the first ETA ten times too
 * long). The ETA needs a rate measured over ETA_AFTER_SECONDS and at least one file done.
 */
export function statusText(c: Counters, elapsedSeconds: number): string {
  const seconds = Math.max(elapsedSeconds, 0.001);
  const rate = c.bytes / seconds;
  // With sizes unknown, the bytes left are unknown too: the ETA then goes by files done.
  const secondsLeft = c.unknownSizes
    ? ((c.total - c.done) * seconds) / Math.max(c.done, 1)
    : (c.totalBytes - c.bytes) / rate;
  const eta =
    c.done < c.total &&
    c.done > 0 &&
    secondsLeft > 0 &&
    Number.isFinite(secondsLeft) &&
    elapsedSeconds >= ETA_AFTER_SECONDS
      ? `, ETA ${formatEta(secondsLeft)}`
      : "";
  const bytes =
    c.unknownSizes === c.total && c.total > 0
      ? `${formatBytes(c.bytes)} (total size unknown)`
      : `${formatBytes(c.bytes)}/${formatTotal(c.totalBytes, c.unknownSizes)}`;
  return (
    `${c.done}/${c.total} files, ${bytes}, ${formatBytes(rate)}/s${eta}` +
    (c.inFlight ? `, ${c.inFlight} in flight` : "") +
    (c.failed ? `, ${c.failed} failed` : "") +
    (c.conflicts ? `, ${c.conflicts} conflicts` : "")
  );
}

function formatEta(s: number): string {
  if (s < 60) return `${Math.ceil(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.ceil(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

type Write = NodeJS.WriteStream["write"];

function key(f: { project: string; filename: string }): string {
  return `${f.project}/${f.filename}`;
}

export class Progress {
  readonly counters: Counters = {
    total: 0,
    totalBytes: 0,
    unknownSizes: 0,
    done: 0,
    bytes: 0,
    failed: 0,
    conflicts: 0,
    inFlight: 0,
  };
  /** Files being downloaded or uploaded (at most --concurrency), and those awaiting verification. */
  private readonly started = new Set<string>();
  /** Bytes of the current download attempt per file: a download fetched again starts from 0. */
  private readonly attemptBytes = new Map<string, number>();
  private readonly verifying = new Set<string>();
  /** When the transfers started (the engine's "start"), for the rate and the ETA. */
  private transferStart: number | undefined;
  private readonly stream: NodeJS.WriteStream;
  private readonly now: () => number;
  private readonly t0: number;
  private timer: NodeJS.Timeout | undefined;
  private shown = false;
  private restore: (() => void)[] = [];
  private origWrite: Write;
  private stopped = false;
  /** The engine has started (the plan is known). */
  private planned = false;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.now = opts.now ?? Date.now;
    this.t0 = this.now();
    this.origWrite = this.stream.write.bind(this.stream) as Write;
    if (opts.mode === "live") {
      this.hook(this.stream);
      if (opts.other && opts.other !== this.stream && opts.other.isTTY) this.hook(opts.other);
      this.timer = setInterval(() => this.draw(), 200);
    } else {
      this.timer = setInterval(() => this.line(), opts.intervalMs ?? (opts.quiet ? 30_000 : 5_000));
    }
    this.timer.unref();
  }

  /** Every write to `s` clears the status line first and redraws it after a complete line. */
  private hook(s: NodeJS.WriteStream): void {
    const orig = s.write;
    const before = (): void => this.clear();
    const after = (chunk: unknown): void => {
      if (!this.stopped && String(chunk).endsWith("\n")) this.draw();
    };
    const patched = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      before();
      const ok = (orig as (...a: unknown[]) => boolean).call(s, chunk, ...rest);
      after(chunk);
      return ok;
    } as Write;
    s.write = patched;
    this.restore.push(() => {
      s.write = orig;
    });
  }

  private elapsed(): number {
    return (this.now() - this.t0) / 1000;
  }

  private transferSeconds(): number {
    return (this.now() - (this.transferStart ?? this.t0)) / 1000;
  }

  private clear(): void {
    if (!this.shown) return;
    this.origWrite("\r\x1b[2K");
    this.shown = false;
  }

  private draw(): void {
    if (this.stopped) return;
    const cols = this.stream.columns || 80;
    let text = this.planned
      ? `pyreg: ${statusText(this.counters, this.transferSeconds())}`
      : `pyreg: reading the indexes… (${Math.floor(this.elapsed())}s)`;
    if (text.length > cols - 1) text = text.slice(0, cols - 2) + "…";
    this.origWrite(`\r\x1b[2K${text}`);
    this.shown = true;
  }

  private line(): void {
    if (this.stopped || !this.planned) return;
    this.origWrite(`progress: ${statusText(this.counters, this.transferSeconds())}\n`);
  }

  /** Messages for people: in live mode they go above the status line. */
  private say(text: string): void {
    this.stream.write(text + "\n");
  }

  onEvent(e: EngineEvent): void {
    const c = this.counters;
    switch (e.type) {
      case "start":
        this.planned = true;
        this.transferStart = this.now();
        c.total = e.files;
        c.totalBytes = e.bytes;
        c.unknownSizes = e.unknownSizes;
        return;
      case "file-start":
        this.started.add(key(e.file));
        c.inFlight++;
        return;
      case "uploaded":
        // Its slot is free: the file now waits for its project's verification, which moves no bytes.
        if (this.started.delete(key(e.file))) {
          c.inFlight = Math.max(0, c.inFlight - 1);
          this.verifying.add(key(e.file));
        }
        return;
      case "bytes":
        c.bytes += e.bytes;
        this.attemptBytes.set(key(e.file), (this.attemptBytes.get(key(e.file)) ?? 0) + e.bytes);
        return;
      case "downloaded":
        this.attemptBytes.delete(key(e.file));
        return;
      case "unsent":
        // The run stopped on this file (credentials refused): it holds no slot any more.
        if (this.started.delete(key(e.file))) c.inFlight = Math.max(0, c.inFlight - 1);
        return;
      case "retry":
        if (e.stage === "download") {
          // The bytes of the attempt cut short are fetched again: counted once.
          c.bytes -= this.attemptBytes.get(key(e.file)) ?? 0;
          this.attemptBytes.delete(key(e.file));
        }
        if (!this.opts.quiet) this.say(`retrying ${e.stage} of ${e.file.filename}: ${e.reason}`);
        return;
      case "outcome": {
        const o = e.outcome;
        this.attemptBytes.delete(key(o.file));
        if (this.started.delete(key(o.file))) {
          c.done++;
          c.inFlight = Math.max(0, c.inFlight - 1);
        } else if (this.verifying.delete(key(o.file))) c.done++;
        if (o.kind === "failed") {
          c.failed++;
          this.say(`failed: ${o.file.filename}: ${o.reason}`);
        } else if (o.kind === "conflict") {
          c.conflicts++;
          this.say(`conflict: ${o.file.filename}: ${o.reason}`);
        } else if (o.kind === "copied" && !this.opts.quiet && this.opts.mode === "plain") {
          this.say(`copied: ${o.file.filename}`);
        }
        return;
      }
      default:
        return;
    }
  }

  /** Removes the live line (or prints a last plain line) and gives the streams back. */
  stop(finalLine = false): void {
    if (this.stopped) return;
    if (this.timer) clearInterval(this.timer);
    this.clear();
    if (finalLine && this.opts.mode === "plain" && !this.opts.quiet) this.line();
    this.stopped = true;
    for (const r of this.restore.reverse()) r();
    this.restore = [];
  }
}
