/**
 * The many-small-files run of `npm run bench` (`--small-files N`, default 100,000; `--small-size`,
 * default 300m): the floor and pyreg move the same corpus of small files, each into a fresh
 * `pyreg serve` destination, in the same run; then client CPU per file and per GB, next to the
 * floor's, and the CPU of the `pyreg serve` destination. The per-file cost dominates here (the
 * bytes are few), so this is where pyreg's own work per file shows. See bench/README.md.
 *
 * Around it: the source `pyreg serve`, started on the corpus's folder, is timed to its first
 * index page and first project page, and its CPU read over a few seconds of idle; the CPU of the
 * three digests of the upload form (pyreg's own hasher) is measured in this process over the
 * corpus's bytes; and pyreg's run is the first run of the re-run figures (bench/rerun.ts).
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request } from "undici";
import { MultiHash } from "../src/core/hash.js";
import { makeBenchCorpus, type Corpus } from "./corpus.js";
import type { RerunResult } from "./rerun.js";

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
  /** Of which in the kernel (system time). */
  destinationSystemCpu?: number | undefined;
}

/** A source registry in its own process (run.ts's Server). */
export interface SourceServer {
  url: string;
  /** CPU seconds the process has used so far. */
  cpu(): number;
  stop(): Promise<void>;
}

/** What run.ts lends this run: its processes, contenders and output. */
export interface SmallFilesDeps<R extends CpuRow, S extends SourceServer> {
  startSource(dir: string): Promise<S>;
  warm(indexUrl: string, projects: string[]): Promise<void>;
  runFloor(corpus: Corpus, src: S, manifest: string, profDir?: string): Promise<R>;
  /** pyreg's run; with `rerun`, then the same command again over the unchanged registries. */
  runPyreg(
    corpus: Corpus,
    src: S,
    label: string,
    profDir: string | undefined,
    rerun: boolean,
  ): Promise<{ row: R; rerun?: RerunResult | undefined }>;
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
  /** Run pyreg's command a second time over the unchanged source (the re-run figures). */
  rerun: boolean;
  /** Seconds of idle over which the source's CPU is read (0: not measured). */
  idleSeconds: number;
  /**
   * Rounds of the floor and pyreg (when both run), their order alternated (floor first in odd
   * rounds): the client CPU target is judged on the median round's ratio (see `cpuRound`).
   */
  rounds: number;
}

/** The source `pyreg serve` on the corpus's folder: its first pages and its CPU when idle. */
export interface ServeFigures {
  files: number;
  /** From the server listening to the end of its first /simple/ (PEP 691 JSON). */
  firstIndexSeconds: number;
  /** Then the first project page. */
  firstProjectPageSeconds: number;
  idleSeconds: number;
  idleCpuSeconds: number;
}

/** CPU of the three digests of the upload form (sha256, md5, BLAKE2b-256) over the corpus's files. */
export interface DigestFigures {
  /** Files and bytes hashed (an even sample of the corpus). */
  files: number;
  bytes: number;
  cpuSeconds: number;
  msPerFile: number;
  secondsPerGB: number;
}

export interface SmallFilesResult<R extends CpuRow> {
  corpus: { files: number; bytes: number; smallest: number; median: number; largest: number };
  rows: R[];
  cpu: CpuFigures[];
  /** The floor and pyreg of each round, in order (empty unless both ran). */
  rounds: CpuRound[];
  serve: ServeFigures | undefined;
  digests: DigestFigures;
  rerun: RerunResult | undefined;
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
  /** Of which in the kernel: storing an upload creates a file, links it and removes the temporary name. */
  destinationSystemSeconds: number | undefined;
  destinationMsPerFile: number | undefined;
  sourceCpuSeconds: number | undefined;
}

/** One round of the floor and pyreg: client CPU per file, and pyreg's less the digests over the floor's. */
export interface CpuRound {
  round: number;
  floorMsPerFile: number;
  pyregMsPerFile: number;
  /** (pyreg - digests) / floor. */
  ratio: number;
}

/**
 * A round's ratio from its two rows and the digests' CPU per file (undefined when either CPU is
 * unknown). The machine's speed drifts over minutes (the floor alone moved between 0.61 and 0.74
 * ms per file across runs of one morning): pairs run back to back, in alternating order, and their
 * median, are less at its mercy than one pair.
 */
function cpuRound(
  round: number,
  floor: CpuRow,
  pyreg: CpuRow,
  digestMsPerFile: number,
): CpuRound | undefined {
  const floorMs = cpuFigures(floor).clientMsPerFile;
  const pyregMs = cpuFigures(pyreg).clientMsPerFile;
  if (!floorMs || !pyregMs) return undefined;
  return {
    round,
    floorMsPerFile: floorMs,
    pyregMsPerFile: pyregMs,
    ratio: (pyregMs - digestMsPerFile) / floorMs,
  };
}

/** The item whose key is the median (the lower middle one of an even number). */
export function medianBy<T>(items: readonly T[], key: (t: T) => number): T | undefined {
  const sorted = [...items].sort((a, b) => key(a) - key(b));
  return sorted[Math.floor((sorted.length - 1) / 2)];
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
    destinationSystemSeconds: r.destinationSystemCpu,
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
      "dst (pyreg serve) CPU s (user+sys)",
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
        `${fmt(pyreg.clientCpuSeconds, 1)} s: ${pyreg.destinationCpuSeconds < pyreg.clientCpuSeconds ? "below" : "ABOVE"}` +
        (pyreg.destinationSystemSeconds === undefined
          ? ""
          : ` (system time: the server ${fmt(pyreg.destinationSystemSeconds, 1)} s, the client ${fmt(pyreg.clientSystemSeconds, 1)} s)`),
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
      f.destinationSystemSeconds === undefined || f.destinationCpuSeconds === undefined
        ? fmt(f.destinationCpuSeconds, 1)
        : `${fmt(f.destinationCpuSeconds, 1)} (${fmt(f.destinationCpuSeconds - f.destinationSystemSeconds, 1)}+${fmt(f.destinationSystemSeconds, 1)})`,
      fmt(f.destinationMsPerFile, 2),
      fmt(f.sourceCpuSeconds, 1),
    ]),
  );
}

const JSON_INDEX = "application/vnd.pypi.simple.v1+json";

/** Seconds to read one page in full. */
async function timeGet(url: string, agent: Agent): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await request(url, { dispatcher: agent, headers: { accept: JSON_INDEX } });
  await r.body.arrayBuffer();
  if (r.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${r.statusCode}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/**
 * The digests' CPU: pyreg's own hasher (src/core/hash.ts) over an even sample of at most
 * `maxFiles` of the corpus's files, read first (the reads are not counted), CPU from
 * process.cpuUsage; per file and per GB of the sample.
 */
export async function digestCost(corpus: Corpus, maxFiles = 20_000): Promise<DigestFigures> {
  const step = Math.max(1, Math.ceil(corpus.files.length / maxFiles));
  let files = 0;
  let bytes = 0;
  let micros = 0;
  for (let i = 0; i < corpus.files.length; i += step) {
    const data = await readFile(join(corpus.dir, corpus.files[i]!.filename));
    const c0 = process.cpuUsage();
    const h = await MultiHash.create();
    h.update(data);
    h.digest();
    const c = process.cpuUsage(c0);
    micros += c.user + c.system;
    files++;
    bytes += data.length;
  }
  const cpuSeconds = micros / 1e6;
  return {
    files,
    bytes,
    cpuSeconds,
    msPerFile: (cpuSeconds * 1000) / files,
    secondsPerGB: cpuSeconds / (bytes / 1e9),
  };
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
  const projects = [...new Set(corpus.files.map((f) => f.project))];
  const rows: R[] = [];
  /** Each round's two rows, for its ratio (see `cpuRound`). */
  const pairs: { floor?: R; pyreg?: R }[] = [];
  let serve: ServeFigures | undefined;
  let rerun: RerunResult | undefined;
  const src = await deps.startSource(corpusDir);
  try {
    const agent = new Agent({ connections: 1 });
    try {
      const firstIndexSeconds = await timeGet(`${src.url}simple/`, agent);
      const firstProjectPageSeconds = await timeGet(`${src.url}simple/${projects[0]}/`, agent);
      deps.log(
        `small files: source's first /simple/ ${firstIndexSeconds.toFixed(2)} s, first project page ${firstProjectPageSeconds.toFixed(2)} s`,
      );
      deps.log("small files: source warming its index (every file hashed once, before timing)");
      await deps.warm(`${src.url}simple/`, projects);
      let idleCpuSeconds = NaN;
      if (opts.idleSeconds > 0) {
        const c0 = src.cpu();
        await sleep(opts.idleSeconds * 1000);
        idleCpuSeconds = src.cpu() - c0;
        deps.log(`small files: source idle for ${opts.idleSeconds} s: ${idleCpuSeconds.toFixed(2)} CPU s`);
      }
      serve = {
        files: corpus.files.length,
        firstIndexSeconds,
        firstProjectPageSeconds,
        idleSeconds: opts.idleSeconds,
        idleCpuSeconds,
      };
    } finally {
      await agent.close();
    }
    const both = opts.contenders.has("floor") && opts.contenders.has("pyreg");
    const rounds = both ? Math.max(1, opts.rounds) : 1;
    for (let round = 1; round <= rounds; round++) {
      const label = (contender: string): string => (round === 1 ? contender : `${contender}, round ${round}`);
      const of = rounds > 1 ? ` (round ${round} of ${rounds})` : "";
      const order = round % 2 === 1 ? ["floor", "pyreg"] : ["pyreg", "floor"];
      const pair: { floor?: R; pyreg?: R } = {};
      pairs.push(pair);
      for (const who of order) {
        if (!opts.contenders.has(who)) continue;
        if (who === "floor") {
          deps.log(`small files: floor, ${corpus.files.length} files${of}`);
          const r = await deps.runFloor(corpus, src, manifest, opts.profDir && join(opts.profDir, "small"));
          pair.floor = { ...r, contender: label(r.contender) };
          rows.push(pair.floor);
          deps.log(`small files: floor ${r.seconds.toFixed(1)} s`);
          continue;
        }
        // The re-run figures come from the first round's pyreg run only.
        const again = opts.rerun && round === 1;
        deps.log(
          `small files: pyreg migrate, ${corpus.files.length} files${of}${again ? ", then again (re-run)" : ""}`,
        );
        const r = await deps.runPyreg(
          corpus,
          src,
          label("pyreg migrate (defaults)"),
          opts.profDir && join(opts.profDir, "small"),
          again,
        );
        pair.pyreg = r.row;
        rows.push(r.row);
        if (again) rerun = r.rerun;
        deps.log(`small files: pyreg ${r.row.seconds.toFixed(1)} s`);
      }
    }
  } finally {
    await src.stop();
  }
  deps.log("small files: the digests' CPU, measured in this process");
  const digests = await digestCost(corpus);
  deps.say(
    `\nMany small files: ${summary.files} files, ${(summary.bytes / 1e6).toFixed(0)} MB, sizes ` +
      `${(summary.smallest / 1024).toFixed(0)} KiB … ${(summary.largest / 1024).toFixed(0)} KiB ` +
      `(median ${(summary.median / 1024).toFixed(0)} KiB), each contender into a fresh pyreg serve\n`,
  );
  deps.printRows(rows);
  deps.say("\nCPU per file (many small files):");
  const cpu = printCpu(rows, deps);
  const rounds = pairs.flatMap((p, i) => {
    const r = p.floor && p.pyreg && cpuRound(i + 1, p.floor, p.pyreg, digests.msPerFile);
    return r ? [r] : [];
  });
  if (rounds.length > 1) {
    const median = medianBy(rounds, (r) => r.ratio);
    deps.say(
      `Rounds (pyreg's client CPU per file less the digests, over the floor's): ` +
        rounds
          .map(
            (r) =>
              `round ${r.round} ${r.ratio.toFixed(2)}× (pyreg ${r.pyregMsPerFile.toFixed(2)}, floor ${r.floorMsPerFile.toFixed(2)} ms)`,
          )
          .join("; ") +
        (median ? `; median ${median.ratio.toFixed(2)}× (round ${median.round})` : ""),
    );
  }
  deps.say(
    `The upload form's three digests (pyreg's hasher, in-process, ${digests.files} of the files): ` +
      `${digests.msPerFile.toFixed(3)} ms per file, ${digests.secondsPerGB.toFixed(2)} CPU s per GB`,
  );
  if (serve)
    deps.say(
      `Source pyreg serve on the ${serve.files}-file folder: first /simple/ ${serve.firstIndexSeconds.toFixed(2)} s ` +
        `after it listened, first project page ${serve.firstProjectPageSeconds.toFixed(2)} s, ` +
        `${Number.isFinite(serve.idleCpuSeconds) ? `${serve.idleCpuSeconds.toFixed(2)} CPU s over ${serve.idleSeconds} s idle` : "idle not measured"}`,
    );
  return { corpus: summary, rows, cpu, rounds, serve, digests, rerun };
}
