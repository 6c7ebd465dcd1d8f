/**
 * The many-small-files run of `npm run bench` (`--small-files N`, default 100,000; `--small-size`,
 * default 300m): the floor and pyreg move the same corpus of small files, each into a fresh
 * `pyreg serve` destination, in the same run; then client CPU per file and per GB, next to the
 * floor's, and the CPU of the `pyreg serve` destination. The per-file cost dominates here (the
 * bytes are few), so this is where pyreg's own work per file shows. See bench/README.md.
 */
import { join } from "node:path";
import { makeBenchCorpus, type Corpus } from "./corpus.js";

/** What the per-file CPU table needs of a contender's result (run.ts's Row). */
export interface CpuRow {
  contender: string;
  files: number;
  bytes: number;
  seconds: number;
  cpuSeconds?: number | undefined;
  userSeconds?: number | undefined;
  systemSeconds?: number | undefined;
  sourceCpu?: number | undefined;
  destinationCpu?: number | undefined;
}

/** A source registry in its own process (run.ts's Server). */
export interface SourceServer {
  url: string;
  stop(): Promise<void>;
}

/** What run.ts lends this run: its processes, contenders and output. */
export interface SmallFilesDeps<R extends CpuRow, S extends SourceServer> {
  startSource(dir: string): Promise<S>;
  warm(indexUrl: string, projects: string[]): Promise<void>;
  runFloor(corpus: Corpus, src: S, manifest: string, profDir?: string): Promise<R>;
  runPyreg(corpus: Corpus, src: S, label: string, profDir?: string): Promise<R>;
  log(m: string): void;
  say(m: string): void;
  table(headers: string[], rows: string[][]): string;
  /** Prints the usual contender table (files, MB, wall s, ...). */
  printRows(rows: R[]): void;
}

export interface SmallFilesOptions {
  files: number;
  totalBytes: number;
  work: string;
  contenders: ReadonlySet<string>;
  /** With a folder: `node --cpu-prof` profiles of pyreg, the floor and the destinations go there. */
  profDir?: string | undefined;
}

export interface SmallFilesResult<R extends CpuRow> {
  corpus: { files: number; bytes: number; smallest: number; median: number; largest: number };
  rows: R[];
  cpu: CpuFigures[];
}

/** CPU per file and per GB of one contender, and of the registries it used. */
export interface CpuFigures {
  contender: string;
  files: number;
  clientCpuSeconds: number | undefined;
  /** The client's user and system CPU seconds. */
  clientUserSeconds: number | undefined;
  clientSystemSeconds: number | undefined;
  clientMsPerFile: number | undefined;
  clientSecondsPerGB: number | undefined;
  destinationCpuSeconds: number | undefined;
  destinationMsPerFile: number | undefined;
  sourceCpuSeconds: number | undefined;
}

export function cpuFigures(r: CpuRow): CpuFigures {
  const per = (s: number | undefined, n: number): number | undefined =>
    s === undefined || !Number.isFinite(s) || n <= 0 ? undefined : s / n;
  return {
    contender: r.contender,
    files: r.files,
    clientCpuSeconds: r.cpuSeconds,
    clientUserSeconds: r.userSeconds,
    clientSystemSeconds: r.systemSeconds,
    clientMsPerFile: per(r.cpuSeconds === undefined ? undefined : r.cpuSeconds * 1000, r.files),
    clientSecondsPerGB: per(r.cpuSeconds, r.bytes / 1e9),
    destinationCpuSeconds: r.destinationCpu,
    destinationMsPerFile: per(r.destinationCpu === undefined ? undefined : r.destinationCpu * 1000, r.files),
    sourceCpuSeconds: r.sourceCpu,
  };
}

function fmt(n: number | undefined, digits: number): string {
  return n === undefined || !Number.isFinite(n) ? "-" : n.toFixed(digits);
}

/** The CPU table: client CPU per file and per GB next to the floor's, and the registries' CPU. */
export function printCpu(
  rows: CpuRow[],
  out: { say(m: string): void; table(h: string[], r: string[][]): string },
): CpuFigures[] {
  const figures = rows.map(cpuFigures);
  out.say(
    table(out, figures, [
      "client CPU s (user+sys)",
      "client ms/file",
      "client CPU s/GB",
      "dst (pyreg serve) CPU s",
      "dst ms/file",
      "src CPU s",
    ]),
  );
  const floor = figures.find((f) => f.contender.startsWith("floor"));
  const pyreg = figures.find((f) => f.contender.startsWith("pyreg"));
  if (floor?.clientMsPerFile && pyreg?.clientMsPerFile)
    out.say(
      `pyreg's client CPU per file: ${pyreg.clientMsPerFile.toFixed(2)} ms, ` +
        `${(pyreg.clientMsPerFile / floor.clientMsPerFile).toFixed(2)}× the floor's ${floor.clientMsPerFile.toFixed(2)} ms` +
        ` (${fmt(pyreg.clientMsPerFile - floor.clientMsPerFile, 2)} ms more per file)`,
    );
  if (pyreg?.destinationCpuSeconds !== undefined && pyreg.clientCpuSeconds !== undefined)
    out.say(
      `pyreg serve (destination) CPU ${fmt(pyreg.destinationCpuSeconds, 1)} s against the pyreg client's ` +
        `${fmt(pyreg.clientCpuSeconds, 1)} s: ${pyreg.destinationCpuSeconds < pyreg.clientCpuSeconds ? "below" : "ABOVE"}`,
    );
  return figures;
}

function table(
  out: { table(h: string[], r: string[][]): string },
  figures: CpuFigures[],
  headers: string[],
): string {
  return out.table(
    ["contender", "files", ...headers],
    figures.map((f) => [
      f.contender,
      String(f.files),
      `${fmt(f.clientCpuSeconds, 1)} (${fmt(f.clientUserSeconds, 1)}+${fmt(f.clientSystemSeconds, 1)})`,
      fmt(f.clientMsPerFile, 2),
      fmt(f.clientSecondsPerGB, 1),
      fmt(f.destinationCpuSeconds, 1),
      fmt(f.destinationMsPerFile, 2),
      fmt(f.sourceCpuSeconds, 1),
    ]),
  );
}

/** The many-small-files run: corpus (kept and reused), source, floor then pyreg, and the tables. */
export async function runSmallFiles<R extends CpuRow, S extends SourceServer>(
  deps: SmallFilesDeps<R, S>,
  opts: SmallFilesOptions,
): Promise<SmallFilesResult<R>> {
  const name = `corpus-${opts.files}-${opts.totalBytes}`;
  const corpusDir = join(opts.work, name);
  const manifest = join(opts.work, `${name}.manifest.json`);
  const corpus = await makeBenchCorpus(corpusDir, {
    files: opts.files,
    totalBytes: opts.totalBytes,
    log: deps.log,
  });
  const sizes = corpus.files.map((f) => f.size).sort((a, b) => a - b);
  const summary = {
    files: corpus.files.length,
    bytes: corpus.totalBytes,
    smallest: sizes[0] ?? 0,
    median: sizes[Math.floor(sizes.length / 2)] ?? 0,
    largest: sizes[sizes.length - 1] ?? 0,
  };
  const rows: R[] = [];
  const src = await deps.startSource(corpusDir);
  try {
    deps.log("small files: source warming its index (every file hashed once, before timing)");
    await deps.warm(`${src.url}simple/`, [...new Set(corpus.files.map((f) => f.project))]);
    if (opts.contenders.has("floor")) {
      deps.log(`small files: floor, ${corpus.files.length} files`);
      const r = await deps.runFloor(corpus, src, manifest, opts.profDir && join(opts.profDir, "small"));
      rows.push(r);
      deps.log(`small files: floor ${r.seconds.toFixed(1)} s`);
    }
    if (opts.contenders.has("pyreg")) {
      deps.log(`small files: pyreg migrate, ${corpus.files.length} files`);
      const r = await deps.runPyreg(
        corpus,
        src,
        "pyreg migrate (defaults)",
        opts.profDir && join(opts.profDir, "small"),
      );
      rows.push(r);
      deps.log(`small files: pyreg ${r.seconds.toFixed(1)} s`);
    }
  } finally {
    await src.stop();
  }
  deps.say(
    `\nMany small files: ${summary.files} files, ${(summary.bytes / 1e6).toFixed(0)} MB, sizes ` +
      `${(summary.smallest / 1024).toFixed(0)} KiB … ${(summary.largest / 1024).toFixed(0)} KiB ` +
      `(median ${(summary.median / 1024).toFixed(0)} KiB), each contender into a fresh pyreg serve\n`,
  );
  deps.printRows(rows);
  deps.say("\nCPU per file (many small files):");
  const cpu = printCpu(rows, deps);
  return { corpus: summary, rows, cpu };
}
