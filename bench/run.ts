/**
 * `npm run bench`: pyreg against the naive pip-download-and-twine pipeline and against the floor
 * (plain GET → plain POST of the same bytes), on one generated corpus and loopback registries,
 * then planning at scale and memory with a 2 GiB file. See bench/README.md.
 *
 * Processes: the source registry, the destination registry (fresh for each contender) and the
 * contender each run in their own process (pyreg serve's startServer for both registries; the
 * source's index and file digests are warmed before anything is timed).
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, statfs, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { DEFAULT_CONCURRENCY } from "../src/cli/common.js";
import { writeStoredZip } from "./archive.js";
import { makeBenchCorpus, type Corpus } from "./corpus.js";
import { RSS_COMMANDS, RSS_SIZES, rssCurve, rssOption, rssTable, type RssOptions } from "./memory.js";
import { commitOf, cpuOf, cpuPartsOf, load1, treeCpu } from "./proc.js";
import { delta, formatRequests, rerunResult, rerunRow, RERUN_TARGET, type RerunResult } from "./rerun.js";
import { printCpu, runSmallFiles, type SmallFilesResult } from "./smallFiles.js";
import { printSummary, summarize, type SectionTime } from "./summary.js";

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
const ROOT = resolve(HERE, "..", "..");
/** The CLI measured: this checkout's, or another build's (--pyreg, e.g. an older commit's). */
let PYREG = join(ROOT, "bin", "pyreg");
const SERVE_CHILD = join(HERE, "serveChild.js");
const FLOOR = join(HERE, "floor.js");
const TIME = "/usr/bin/time";
/** Runs of `pyreg --version` (and of node alone) in the startup section. */
const STARTUP_RUNS = 15;

/** The parts of a run, in the order they run (--sections). */
const SECTIONS = ["startup", "corpus", "small", "rerun", "big", "rss"] as const;
type Section = (typeof SECTIONS)[number];

interface Args {
  files: number;
  size: number;
  concurrency: number;
  concurrencyGiven: boolean;
  naiveVersions: number | "all";
  json: boolean;
  out: string | undefined;
  work: string;
  only: Set<string>;
  sweep: number[];
  sections: Set<Section>;
  bigGiB: number;
  /** The memory curve (bench/memory.ts). */
  rss: Partial<RssOptions>;
  /** Files of the many-small-files run. */
  smallFiles: number;
  smallSize: number;
  /** Rounds of the floor and pyreg in the small section (bench/smallFiles.ts). */
  smallRounds: number;
  cpuProf: string | undefined;
}

function parseSize(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(v.trim());
  if (!m) throw new Error(`--size: cannot read "${v}" (e.g. 1g, 500m)`);
  const mult = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()] ?? 1;
  return Math.round(Number(m[1]) * mult);
}

/**
 * Rounds of the floor and pyreg in the small section. Three: a median that one slow stretch of the
 * machine cannot move, for about 11 minutes more than one round.
 */
const SMALL_ROUNDS = 3;

const USAGE = `usage: npm run bench -- [options]
Sections, in this order (all by default; each prints its time, and a summary of the targets ends the run):
  startup  CPU to start pyreg (pyreg --version) against node alone, median of ${STARTUP_RUNS} runs each
  corpus   the default corpus: pyreg, the floor and the naive pip+twine pipeline
  small    many small files (100,000): the floor and pyreg, client CPU per file and per GB,
           the destination pyreg serve's CPU, the source pyreg serve's first pages and idle CPU
  rerun    pyreg's small-files run again over the unchanged source, with request counts
  big      one 2 GiB wheel (peak RSS)
  rss      the memory curve: plan, migrate, verify, report at 10k, 100k, 1M files (synthetic registry)
Options:
  --sections LIST      run only these sections, e.g. small,rerun or rss
  --files N            corpus files (default 2000; 3 wheels + 1 sdist per version)
  --size SIZE          corpus total size (default 1g; e.g. 200m)
  --concurrency N      floor's concurrency, also passed to pyreg (default: pyreg's default, ${DEFAULT_CONCURRENCY})
  --naive-versions N   versions run through pip+twine, extrapolated to all (default 40; "all")
  --only LIST          contenders: pyreg,floor,naive,rerun (default all; without rerun, no rerun section)
  --sweep LIST         also run pyreg at these concurrencies on the default corpus, e.g. 1,2,4,8,16
  --small-files N      files of the many-small-files run (default 100000; 0: no small or rerun section)
  --small-size SIZE    total size of that corpus (default 300m)
  --small-rounds N     rounds of the floor and pyreg on it, in alternating order (default ${SMALL_ROUNDS});
                       the client CPU target is judged on the median round
  --no-small-files     no small or rerun section
  --small-only         only the small and rerun sections
  --big-gib N          size of the big file in GiB (default 2)
  --no-scale           no big or rss section
  --scale-only         only the big and rss sections
  --rss-sizes LIST     sizes of the memory curve (default ${RSS_SIZES.join(",")})
  --rss-max N          leave the sizes above N out of the curve (e.g. 100000 for a shorter run)
  --rss-commands LIST  commands of the memory curve (default ${RSS_COMMANDS.join(",")})
  --migrate-max N      memory curve: migrate only up to N files (report then reads an SQL-built journal)
  --cpu-prof DIR       write node --cpu-prof profiles of pyreg, the floor and the destinations to DIR
  --pyreg PATH         the pyreg CLI to measure (default this checkout's bin/pyreg; e.g. an older build's)
  --json               print the results as JSON on stdout
  --out FILE           write the results JSON to FILE (default WORK/bench-results.json)
  --work DIR           working folder (default /tmp/pyreg-bench; the corpora are kept and reused)`;

function parseArgs(argv: string[]): Args {
  const a: Args = {
    files: 2000,
    size: 1024 ** 3,
    concurrency: DEFAULT_CONCURRENCY,
    concurrencyGiven: false,
    naiveVersions: 40,
    json: false,
    out: undefined,
    work: "/tmp/pyreg-bench",
    only: new Set(["pyreg", "floor", "naive", "rerun"]),
    sweep: [],
    sections: new Set(SECTIONS),
    bigGiB: 2,
    rss: {},
    smallFiles: 100_000,
    smallSize: 300 * 1024 ** 2,
    smallRounds: SMALL_ROUNDS,
    cpuProf: undefined,
  };
  const drop = new Set<Section>();
  let only: Set<Section> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]!;
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${k} needs a value`);
      return x;
    };
    const int = (): number => {
      const s = v();
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${k} takes a positive whole number, not "${s}"`);
      return n;
    };
    const list = (): number[] =>
      v()
        .split(",")
        .map((s) => Number(s.trim()))
        .filter((n) => Number.isInteger(n) && n > 0);
    if (k === "--sections") {
      const names = v().split(",");
      const unknown = names.filter((n) => !(SECTIONS as readonly string[]).includes(n));
      if (unknown.length)
        throw new Error(`--sections: no section ${unknown.join(", ")} (sections: ${SECTIONS.join(", ")})`);
      only = new Set(names as Section[]);
    } else if (k === "--files") a.files = int();
    else if (k === "--size") a.size = parseSize(v());
    else if (k === "--concurrency") {
      a.concurrency = int();
      a.concurrencyGiven = true;
    } else if (k === "--naive-versions") {
      const s = v();
      a.naiveVersions = s === "all" ? "all" : Number(s);
      if (a.naiveVersions !== "all" && (!Number.isInteger(a.naiveVersions) || a.naiveVersions < 1))
        throw new Error(`--naive-versions takes a positive number or "all"`);
    } else if (k === "--only") a.only = new Set(v().split(","));
    else if (k === "--sweep") a.sweep = list();
    else if (k === "--no-scale") drop.add("big").add("rss");
    else if (k === "--scale-only") only = new Set(["big", "rss"]);
    else if (k === "--big-gib") a.bigGiB = Number(v());
    else if (rssOption(k, v, a.rss)) continue;
    else if (k === "--small-files") {
      const s = v();
      a.smallFiles = Number(s);
      if (!Number.isInteger(a.smallFiles) || a.smallFiles < 0)
        throw new Error(`--small-files takes a whole number (0: no such run), not "${s}"`);
      if (a.smallFiles === 0) drop.add("small").add("rerun");
    } else if (k === "--small-size") a.smallSize = parseSize(v());
    else if (k === "--small-rounds") {
      const s = v();
      a.smallRounds = Number(s);
      if (!Number.isInteger(a.smallRounds) || a.smallRounds < 1)
        throw new Error(`--small-rounds takes a whole number of at least 1, not "${s}"`);
    } else if (k === "--no-small-files") drop.add("small").add("rerun");
    else if (k === "--small-only") only = new Set(["small", "rerun"]);
    else if (k === "--cpu-prof") a.cpuProf = resolve(v());
    else if (k === "--pyreg") PYREG = resolve(v());
    else if (k === "--json") a.json = true;
    else if (k === "--out") a.out = v();
    else if (k === "--work") a.work = resolve(v());
    else if (k === "-h" || k === "--help") {
      process.stdout.write(USAGE + "\n");
      process.exit(0);
    } else throw new Error(`unknown option ${k}\n${USAGE}`);
  }
  if (!a.only.has("rerun")) drop.add("rerun");
  a.sections = new Set(SECTIONS.filter((s) => (only ?? a.sections).has(s) && !drop.has(s)));
  return a;
}

let jsonMode = false;
const log = (m: string): void => {
  process.stderr.write(`[bench] ${m}\n`);
};
const say = (m: string): void => {
  (jsonMode ? process.stderr : process.stdout).write(m + "\n");
};

// ---------- processes ----------

interface Measured {
  code: number | null;
  seconds: number;
  /** Peak resident set of the measured process, in MiB (from /usr/bin/time -v, else VmHWM). */
  peakRssMiB: number | undefined;
  cpuSeconds: number | undefined;
  /** The user and system parts of cpuSeconds. */
  userSeconds?: number | undefined;
  systemSeconds?: number | undefined;
  stdout: string;
  stderr: string;
}

const haveTime = existsSync(TIME);

/** Runs a command to its end, measuring wall time, peak RSS and CPU time. */
async function measure(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = {},
  cwd?: string,
): Promise<Measured> {
  const timeFile = join(tmpBase, `time-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  const [file, argv] = haveTime ? [TIME, ["-v", "-o", timeFile, cmd, ...args]] : [cmd, args];
  const started = process.hrtime.bigint();
  const child = spawn(file, argv, {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    ...(cwd ? { cwd } : {}),
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (d: Buffer) => out.push(d));
  child.stderr.on("data", (d: Buffer) => err.push(d));
  let hwm = 0;
  // Without GNU time: poll VmHWM (the kernel's high-water mark) of the process.
  const poll = haveTime
    ? undefined
    : setInterval(() => {
        const r = spawnSync("cat", [`/proc/${child.pid}/status`], { encoding: "utf8" });
        const m = /VmHWM:\s+(\d+) kB/.exec(r.stdout ?? "");
        if (m) hwm = Math.max(hwm, Number(m[1]));
      }, 50);
  const code = await new Promise<number | null>((res) => child.on("close", (c) => res(c)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (poll) clearInterval(poll);
  let peakRssMiB: number | undefined = hwm ? hwm / 1024 : undefined;
  let cpuSeconds: number | undefined;
  let userSeconds: number | undefined;
  let systemSeconds: number | undefined;
  if (haveTime) {
    const t = await readFile(timeFile, "utf8").catch(() => "");
    await rm(timeFile, { force: true });
    const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(t);
    if (rss) peakRssMiB = Number(rss[1]) / 1024;
    const u = /User time \(seconds\): ([\d.]+)/.exec(t);
    const s = /System time \(seconds\): ([\d.]+)/.exec(t);
    if (u && s) {
      userSeconds = Number(u[1]);
      systemSeconds = Number(s[1]);
      cpuSeconds = userSeconds + systemSeconds;
    }
  }
  return {
    code,
    seconds,
    peakRssMiB,
    cpuSeconds,
    userSeconds,
    systemSeconds,
    stdout: Buffer.concat(out).toString(),
    stderr: Buffer.concat(err).toString(),
  };
}

interface Server {
  url: string;
  /** CPU seconds the server process has used so far (user + system, from /proc). */
  cpu(): number;
  /** The same, as user and system seconds (one reading of /proc). */
  cpuParts(): { user: number; system: number };
  /** The requests it answered so far, by method and status ("GET 304"; serveChild.ts). */
  counts(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

const children = new Set<ReturnType<typeof spawn>>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGTERM");
});

/** Starts a registry in its own process (see serveChild.ts). */
async function startChild(args: string[], nodeFlags: string[] = []): Promise<Server> {
  const child = spawn(process.execPath, [...nodeFlags, SERVE_CHILD, ...args], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  children.add(child);
  // Lines on its stdout: {"url"} once listening, then {"requests"} for each SIGUSR2.
  const waiting: ((c: Record<string, number>) => void)[] = [];
  const url = await new Promise<string>((res, rej) => {
    let buf = "";
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = JSON.parse(buf.slice(0, nl)) as { url?: string; requests?: Record<string, number> };
        buf = buf.slice(nl + 1);
        if (line.url) res(line.url);
        if (line.requests) waiting.shift()?.(line.requests);
      }
    });
    child.on("exit", (c) => rej(new Error(`server ${args.join(" ")} exited (${c})`)));
  });
  return {
    url,
    cpu: () => cpuOf(child.pid),
    cpuParts: () => cpuPartsOf(child.pid),
    counts: () =>
      new Promise((res) => {
        waiting.push(res);
        child.kill("SIGUSR2");
      }),
    stop: () =>
      new Promise<void>((res) => {
        child.once("exit", () => {
          children.delete(child);
          res();
        });
        child.kill("SIGTERM");
      }),
  };
}

/** Reads the index and every project page once, so the source has hashed every file before timing. */
async function warm(indexUrl: string, projects: string[]): Promise<void> {
  const agent = new Agent({ connections: 4 });
  const accept = "application/vnd.pypi.simple.v1+json";
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < projects.length) {
        const p = projects[next++]!;
        const r = await request(`${indexUrl}${p}/`, { dispatcher: agent, headers: { accept } });
        await r.body.text();
      }
    }),
  );
  await agent.close();
}

/** What a destination folder holds: files and bytes (hidden upload temp folder left out). */
async function folderContents(dir: string): Promise<{ files: number; bytes: number; names: Set<string> }> {
  const names = new Set<string>();
  let bytes = 0;
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    if (!e.isFile() || e.name.startsWith(".")) continue;
    names.add(e.name);
    bytes += (await stat(join(dir, e.name))).size;
  }
  return { files: names.size, bytes, names };
}

// ---------- contenders ----------

interface Row {
  contender: string;
  files: number;
  bytes: number;
  seconds: number;
  peakRssMiB?: number | undefined;
  cpuSeconds?: number | undefined;
  userSeconds?: number | undefined;
  systemSeconds?: number | undefined;
  /** CPU seconds the source and destination registries spent during the run. */
  sourceCpu?: number | undefined;
  destinationCpu?: number | undefined;
  /** Of which in the kernel (system time). */
  destinationSystemCpu?: number | undefined;
  note?: string;
}

/** The columns of a row that come from the destination's folder and the process measured. */
function measuredRow(
  there: { files: number; bytes: number },
  m: Pick<Row, "seconds" | "peakRssMiB" | "cpuSeconds" | "userSeconds" | "systemSeconds">,
): Omit<Row, "contender"> {
  return {
    files: there.files,
    bytes: there.bytes,
    seconds: m.seconds,
    peakRssMiB: m.peakRssMiB,
    cpuSeconds: m.cpuSeconds,
    userSeconds: m.userSeconds,
    systemSeconds: m.systemSeconds,
  };
}

let tmpBase = "/tmp";
let dstCounter = 0;

/**
 * Destination folders whose runs are over, removed when their section ends rather than right
 * after their run. On ext4 without a journal (as on this project's CI machines), the inode
 * allocator skips inodes freed in the last 30 seconds or so, reading each one's inode table entry
 * (`recently_deleted()`, called by `find_inode_bit()` only when there is no journal, Linux
 * fs/ext4/ialloc.c). Removing one run's 100,000 files right before the next run made the next
 * destination's file creations pay for skipping them: its system time doubled from round to round
 * (seen with `perf record -g`: most of its kernel time under `ext4_create` → `recently_deleted`).
 */
const spentDestinations: string[] = [];

async function removeSpentDestinations(): Promise<void> {
  for (const dir of spentDestinations.splice(0)) await rm(dir, { recursive: true, force: true });
}

type Usage = () => { sourceCpu: number; destinationCpu: number; destinationSystemCpu: number };

/** `node --cpu-prof` flags writing into `dir`/`what` (none without a folder). */
function profFlags(dir: string | undefined, what: string): string[] {
  return dir ? ["--cpu-prof", "--cpu-prof-dir", join(dir, what)] : [];
}

async function withDestination<T>(
  work: string,
  src: Server,
  fn: (dst: Server, dir: string, usage: Usage) => Promise<T>,
  profDir?: string,
): Promise<T> {
  const dir = join(work, `dst-${++dstCounter}`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const dst = await startChild(["serve", dir], profFlags(profDir, "serve"));
  try {
    const s0 = src.cpu();
    // The destination's total and system time from the same reading, at each end.
    const d0 = dst.cpuParts();
    return await fn(dst, dir, () => {
      const d = dst.cpuParts();
      return {
        sourceCpu: src.cpu() - s0,
        destinationCpu: d.user + d.system - (d0.user + d0.system),
        destinationSystemCpu: d.system - d0.system,
      };
    });
  } finally {
    await dst.stop();
    spentDestinations.push(dir);
  }
}

/**
 * `pyreg migrate` into a fresh destination. With `rerun`: the same command again afterwards, in
 * the same folder (its state), over the unchanged source and destination, with the requests each
 * registry answered during each run (bench/rerun.ts).
 */
async function runPyreg(
  corpus: Corpus,
  src: Server,
  work: string,
  concurrency: number | undefined,
  label: string,
  profDir?: string,
  rerun = false,
): Promise<{ row: Row; rerun?: RerunResult | undefined }> {
  return withDestination(
    work,
    src,
    async (dst, dir, usage) => {
      const args = [PYREG, "migrate", "--from", `${src.url}simple/`, "--to", dst.url, "--json", "-q"];
      if (concurrency !== undefined) args.push("--concurrency", String(concurrency));
      const env = { TMPDIR: join(work, "tmp") };
      // A fresh working folder: pyreg keeps its state (journal) in the current folder by default.
      const cwd = join(dir, "..", `${dir.split("/").pop()}-cwd`);
      await mkdir(cwd, { recursive: true });
      try {
        const requests = async (): Promise<[Record<string, number>, Record<string, number>]> =>
          rerun ? [await src.counts(), await dst.counts()] : [{}, {}];
        const [s0, d0] = await requests();
        const m = await measure(process.execPath, [...profFlags(profDir, "pyreg"), ...args], env, cwd);
        const used = usage();
        const [s1, d1] = await requests();
        let copied = 0;
        let failed = 0;
        try {
          const j = JSON.parse(m.stdout) as { counts: { copied: number; failed: number } };
          copied = j.counts.copied;
          failed = j.counts.failed;
        } catch {
          log(`pyreg printed no JSON (exit ${m.code}): ${m.stderr.slice(-2000)}`);
        }
        const there = await folderContents(dir);
        if (there.files !== corpus.files.length || failed)
          log(`${label}: destination holds ${there.files}/${corpus.files.length} files; ${failed} failed`);
        const row: Row = {
          contender: label,
          ...measuredRow(there, m),
          ...used,
          note: `exit ${m.code}, ${copied} copied`,
        };
        if (!rerun) return { row };
        const first = rerunRow("first", m, delta(s1, s0), delta(d1, d0), log);
        log(`rerun: the same command again over the unchanged source (load average ${load1()})`);
        const again = await measure(process.execPath, args, env, cwd);
        const [s2, d2] = await requests();
        const second = rerunRow("re-run", again, delta(s2, s1), delta(d2, d1), log);
        return { row, rerun: rerunResult(corpus.files.length, first, second) };
      } finally {
        await rm(cwd, { recursive: true, force: true });
      }
    },
    profDir,
  );
}

async function runFloor(
  corpus: Corpus,
  src: Server,
  work: string,
  concurrency: number,
  manifest: string,
  profDir?: string,
): Promise<Row> {
  return withDestination(
    work,
    src,
    async (dst, dir, usage) => {
      const m = await measure(process.execPath, [
        ...profFlags(profDir, "floor"),
        FLOOR,
        manifest,
        src.url,
        dst.url,
        String(concurrency),
      ]);
      const used = usage();
      if (m.code !== 0) log(`floor exited ${m.code}: ${m.stderr.slice(-2000)}`);
      const there = await folderContents(dir);
      if (there.files !== corpus.files.length)
        log(`floor: destination holds ${there.files}/${corpus.files.length}`);
      return {
        contender: `floor (node undici GET→POST, c=${concurrency})`,
        ...used,
        ...measuredRow(there, m),
      };
    },
    profDir,
  );
}

function toolMissing(): string | undefined {
  const pip = spawnSync("python3", ["-m", "pip", "--version"], { encoding: "utf8" });
  if (pip.status !== 0) return "python3 -m pip is not available (install python3-pip)";
  const tw = spawnSync("twine", ["--version"], { encoding: "utf8" });
  if (tw.status !== 0) return "twine is not installed (apt-get install -y twine)";
  return undefined;
}

/** pip download per version (one file each: pip picks it), then one twine upload of them all. */
async function runNaive(
  corpus: Corpus,
  src: Server,
  work: string,
  subset: number | "all",
): Promise<{ measured: Row; extrapolated: Row; perVersionSeconds: number } | undefined> {
  const missing = toolMissing();
  if (missing) {
    log(`naive pipeline skipped: ${missing}`);
    return undefined;
  }
  const all = corpus.versions;
  const n = subset === "all" ? all.length : Math.min(subset, all.length);
  // Evenly spread over the corpus so the subset has its mix of sizes.
  const picked = Array.from({ length: n }, (_, i) => all[Math.floor((i * all.length) / n)]!);
  return withDestination(work, src, async (dst, dir, usage) => {
    const dl = join(work, "naive-dl");
    await rm(dl, { recursive: true, force: true });
    await mkdir(dl, { recursive: true });
    let pipSeconds = 0;
    let cpu = 0;
    let peak = 0;
    for (const v of picked) {
      const m = await measure(
        "python3",
        [
          "-m",
          "pip",
          "download",
          `${v.name}==${v.version}`,
          "--no-deps",
          "-d",
          dl,
          "--index-url",
          `${src.url}simple/`,
          "--no-cache-dir",
          "--disable-pip-version-check",
          "-q",
        ],
        { PIP_NO_INPUT: "1" },
      );
      if (m.code !== 0) log(`pip download ${v.name}==${v.version} failed: ${m.stderr.slice(-500)}`);
      pipSeconds += m.seconds;
      cpu += m.cpuSeconds ?? 0;
      peak = Math.max(peak, m.peakRssMiB ?? 0);
    }
    const downloaded = (await readdir(dl)).map((f) => join(dl, f));
    const t = await measure("twine", [
      "upload",
      "--repository-url",
      dst.url,
      "-u",
      "u",
      "-p",
      "p",
      "--disable-progress-bar",
      "--non-interactive",
      ...downloaded,
    ]);
    const used = usage();
    if (t.code !== 0) log(`twine upload failed: ${t.stderr.slice(-1000)}`);
    const there = await folderContents(dir);
    await rm(dl, { recursive: true, force: true });
    const seconds = pipSeconds + t.seconds;
    const factor = all.length / n;
    const measured: Row = {
      contender: `naive pip+twine, ${n} of ${all.length} versions (measured)`,
      files: there.files,
      bytes: there.bytes,
      seconds,
      peakRssMiB: Math.max(peak, t.peakRssMiB ?? 0),
      cpuSeconds: cpu + (t.cpuSeconds ?? 0),
      ...used,
      note: `pip ${pipSeconds.toFixed(1)} s + twine ${t.seconds.toFixed(1)} s`,
    };
    const extrapolated: Row = {
      contender:
        n === all.length
          ? `naive pip+twine, all ${all.length} versions`
          : `naive pip+twine, all ${all.length} versions (EXTRAPOLATED ×${factor.toFixed(1)})`,
      files: Math.round(there.files * factor),
      bytes: Math.round(there.bytes * factor),
      seconds: seconds * factor,
      note: "one file per version (the one pip picks), not every file",
    };
    return { measured, extrapolated, perVersionSeconds: seconds / n };
  });
}

// ---------- the big file ----------

interface BigRow {
  sourceCpu?: number | undefined;
  destinationCpu?: number | undefined;
  bytes: number;
  seconds: number;
  peakRssMiB: number | undefined;
  ok: boolean;
  note?: string;
}

/** One wheel of `gib` GiB (a sparse zip: its data entry is a hole of zeros) migrated by pyreg. */
async function bigFile(work: string, gib: number): Promise<BigRow | undefined> {
  const size = Math.round(gib * 1024 ** 3);
  const fs = await statfs(work);
  const free = fs.bavail * fs.bsize;
  // pyreg's temporary copy and the destination's copy are real bytes; the source is sparse.
  if (free < 2.5 * size) {
    log(
      `big file skipped: ${(free / 1024 ** 3).toFixed(1)} GiB free in ${work}, need ${((2.5 * size) / 1024 ** 3).toFixed(1)}`,
    );
    return undefined;
  }
  const dir = join(work, "big-src");
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const name = "bigpkg";
  const version = "1.0.0";
  const distInfo = `${name}-${version}.dist-info`;
  const meta = `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nSummary: one big wheel\n`;
  const path = join(dir, `${name}-${version}-py3-none-any.whl`);
  const t0 = Date.now();
  await writeStoredZip(path, [
    { name: `${name}/big.bin`, zeros: size - 2048 },
    { name: `${name}/__init__.py`, data: Buffer.from("") },
    { name: `${distInfo}/METADATA`, data: Buffer.from(meta) },
    {
      name: `${distInfo}/WHEEL`,
      data: Buffer.from(
        "Wheel-Version: 1.0\nGenerator: pyreg-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
      ),
    },
    { name: `${distInfo}/RECORD`, data: Buffer.from(`${distInfo}/RECORD,,\n`) },
  ]);
  const bytes = (await stat(path)).size;
  log(
    `big file: ${(bytes / 1024 ** 3).toFixed(2)} GiB sparse wheel written in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  const src = await startChild(["serve", dir]);
  try {
    log("big file: source hashing it once (warm-up)");
    await warm(`${src.url}simple/`, [name]);
    return await withDestination(work, src, async (dst, dstDir, usage) => {
      const cwd = `${dstDir}-cwd`;
      await mkdir(cwd, { recursive: true });
      const m = await measure(
        process.execPath,
        [PYREG, "migrate", "--from", `${src.url}simple/`, "--to", dst.url, "--json", "-q"],
        { TMPDIR: join(work, "tmp") },
        cwd,
      );
      await rm(cwd, { recursive: true, force: true });
      const used = usage();
      const there = await folderContents(dstDir);
      const ok = m.code === 0 && there.bytes === bytes;
      if (!ok)
        log(`big file: exit ${m.code}, destination has ${there.bytes} bytes: ${m.stderr.slice(-1000)}`);
      return { bytes, seconds: m.seconds, peakRssMiB: m.peakRssMiB, ok, ...used };
    });
  } finally {
    await src.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------- output ----------

function fmt(n: number | undefined, digits = 1): string {
  return n === undefined || !Number.isFinite(n) ? "-" : n.toFixed(digits);
}

/** A Markdown table: the first `leftColumns` columns aligned left (text), the others right (figures). */
function table(headers: string[], rows: string[][], leftColumns = 1): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const left = (i: number): boolean => i < leftColumns;
  const line = (r: string[]): string =>
    "| " + r.map((c, i) => (left(i) ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(" | ") + " |";
  return [
    line(headers),
    "|" + w.map((n, i) => (left(i) ? ":" + "-".repeat(n + 1) : "-".repeat(n + 1) + ":")).join("|") + "|",
    ...rows.map(line),
  ].join("\n");
}

function printRerun(rerun: RerunResult): void {
  say(
    `\nRe-run (the small-files pyreg migrate, ${rerun.files} files into an empty pyreg serve, then the same command again over the unchanged source):`,
  );
  say(
    table(
      [
        "run",
        "wall s",
        "CPU s",
        "peak RSS MiB",
        "copied",
        "unchanged projects",
        "source requests",
        "destination requests",
      ],
      rerun.rows.map((r) => [
        r.run,
        fmt(r.seconds, 2),
        fmt(r.cpuSeconds),
        fmt(r.peakRssMiB, 0),
        String(r.copied),
        `${r.unchangedProjects} (${r.unchangedFiles} files)`,
        formatRequests(r.sourceRequests),
        formatRequests(r.destinationRequests),
      ]),
    ),
  );
  say(
    `re-run / first run: ${(100 * rerun.ratio).toFixed(1)} % of the wall time` +
      `${rerun.cpuRatio === undefined ? "" : `, ${(100 * rerun.cpuRatio).toFixed(1)} % of the CPU time`}` +
      ` (target: under ${100 * RERUN_TARGET} % of the wall time)`,
  );
}

/** The columns of a contender's row (see rowCells). */
const ROW_HEADERS = [
  "contender",
  "files",
  "MB",
  "wall s",
  "files/s",
  "MB/s",
  "peak RSS MiB",
  "CPU s",
  "src CPU s",
  "dst CPU s",
];

function rowCells(r: Row): string[] {
  const mb = r.bytes / 1e6;
  return [
    r.contender,
    String(r.files),
    fmt(mb, 0),
    fmt(r.seconds, 2),
    fmt(r.files / r.seconds, 1),
    fmt(mb / r.seconds, 1),
    fmt(r.peakRssMiB, 0),
    fmt(r.cpuSeconds, 1),
    fmt(r.sourceCpu, 1),
    fmt(r.destinationCpu, 1),
  ];
}

// ---------- main ----------

/** The default corpus: floor, pyreg, the concurrency sweep and the naive pipeline, per --only. */
async function corpusSection(args: Args, results: Record<string, unknown>): Promise<Row[]> {
  const rows: Row[] = [];
  const corpusDir = join(args.work, `corpus-${args.files}-${args.size}`);
  const corpus = await makeBenchCorpus(corpusDir, { files: args.files, totalBytes: args.size, log });
  const manifest = join(args.work, `corpus-${args.files}-${args.size}.manifest.json`);
  log(
    `corpus: ${corpus.files.length} files, ${corpus.versions.length} versions, ${(corpus.totalBytes / 1e6).toFixed(0)} MB in ${corpusDir}`,
  );
  const sizes = corpus.files.map((f) => f.size).sort((a, b) => a - b);
  results["corpus"] = {
    files: corpus.files.length,
    versions: corpus.versions.length,
    projects: new Set(corpus.files.map((f) => f.project)).size,
    bytes: corpus.totalBytes,
    smallest: sizes[0],
    median: sizes[Math.floor(sizes.length / 2)],
    largest: sizes[sizes.length - 1],
  };
  const src = await startChild(["serve", corpusDir]);
  try {
    log("source: warming its index (every file hashed once, before timing)");
    await warm(`${src.url}simple/`, [...new Set(corpus.files.map((f) => f.project))]);
    const conc = args.concurrencyGiven ? args.concurrency : undefined;
    let pyreg: Row | undefined;
    let floor: Row | undefined;
    let naive: Awaited<ReturnType<typeof runNaive>>;
    if (args.only.has("floor")) {
      log(`floor: ${corpus.files.length} files at concurrency ${args.concurrency}`);
      floor = await runFloor(corpus, src, args.work, args.concurrency, manifest, args.cpuProf);
      rows.push(floor);
      log(`floor: ${floor.seconds.toFixed(2)} s`);
    }
    if (args.only.has("pyreg")) {
      log(
        `pyreg migrate (${conc ? `--concurrency ${conc}` : `defaults: concurrency ${DEFAULT_CONCURRENCY}`})`,
      );
      pyreg = (
        await runPyreg(
          corpus,
          src,
          args.work,
          conc,
          `pyreg migrate (${conc ? `--concurrency ${conc}` : "defaults"})`,
          args.cpuProf,
        )
      ).row;
      rows.push(pyreg);
      log(`pyreg: ${pyreg.seconds.toFixed(2)} s`);
    }
    const sweep: Row[] = [];
    for (const c of args.sweep) {
      log(`sweep: pyreg --concurrency ${c}`);
      const r = (await runPyreg(corpus, src, args.work, c, `pyreg --concurrency ${c}`)).row;
      sweep.push(r);
      log(`sweep: c=${c} ${r.seconds.toFixed(2)} s`);
    }
    if (args.only.has("naive")) {
      log(`naive: pip download ×${args.naiveVersions} versions, then twine upload`);
      naive = await runNaive(corpus, src, args.work, args.naiveVersions);
      if (naive) {
        rows.push(naive.measured, naive.extrapolated);
        log(`naive: ${naive.measured.seconds.toFixed(1)} s for ${naive.measured.files} files`);
      }
    }
    const ratios: Record<string, number> = {};
    if (pyreg && naive) {
      ratios["naive_wall_over_pyreg_wall"] = naive.extrapolated.seconds / pyreg.seconds;
      ratios["pyreg_files_per_s_over_naive"] =
        pyreg.files / pyreg.seconds / (naive.measured.files / naive.measured.seconds);
    }
    if (pyreg && floor) ratios["pyreg_wall_over_floor_wall"] = pyreg.seconds / floor.seconds;
    results["rows"] = rows;
    results["sweep"] = sweep;
    results["ratios"] = ratios;

    say(
      `\nCorpus: ${corpus.files.length} files (${corpus.versions.length} versions × 3 wheels + sdist), ` +
        `${(corpus.totalBytes / 1e6).toFixed(0)} MB, sizes ${(sizes[0]! / 1024).toFixed(0)} KiB … ` +
        `${(sizes[sizes.length - 1]! / 1024 ** 2).toFixed(1)} MiB (median ${(sizes[Math.floor(sizes.length / 2)]! / 1024).toFixed(0)} KiB)\n`,
    );
    say(table(ROW_HEADERS, rows.map(rowCells)));
    if (sweep.length) {
      say("\nConcurrency sweep (pyreg migrate, fresh destination each):");
      say(table(ROW_HEADERS, sweep.map(rowCells)));
    }
    say("");
    if (ratios["naive_wall_over_pyreg_wall"] !== undefined)
      say(
        `pyreg vs naive: ${ratios["naive_wall_over_pyreg_wall"].toFixed(1)}× less wall time for the corpus's versions ` +
          `(naive moving one file per version), ${ratios["pyreg_files_per_s_over_naive"]!.toFixed(1)}× the files/s`,
      );
    if (ratios["pyreg_wall_over_floor_wall"] !== undefined)
      say(`pyreg vs floor: ${ratios["pyreg_wall_over_floor_wall"].toFixed(2)}× the floor's wall time`);
    const measured = rows.filter((r) => r.cpuSeconds !== undefined);
    if (measured.length) {
      say("\nCPU per file and per GB (default corpus):");
      results["cpu"] = printCpu(measured, { say, table });
    }
  } finally {
    await src.stop();
  }
  return rows;
}

/** Seconds the source's CPU is read while it is idle (small section). */
const IDLE_SECONDS = 5;

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    // A usage error: the message alone, exit code 2.
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  jsonMode = args.json;
  await mkdir(args.work, { recursive: true });
  tmpBase = join(args.work, "tmp");
  await mkdir(tmpBase, { recursive: true });
  if (!haveTime)
    log(`${TIME} not found (apt-get install -y time): peak RSS is polled from /proc VmHWM instead`);
  const measuredRoot = resolve(dirname(PYREG), "..");
  const commit = commitOf(measuredRoot);
  const started = new Date();
  const results: Record<string, unknown> = {
    machine: { cpus: cpus().length, node: process.version },
    pyreg: { cli: PYREG, commit },
    bench: { commit: commitOf(ROOT) },
    started: started.toISOString(),
    options: { ...args, only: [...args.only], sections: [...args.sections] },
  };
  say(
    `pyreg bench, ${started.toISOString()}: measuring ${PYREG} at commit ${commit}; ${cpus().length} CPUs, ` +
      `node ${process.version}, load average ${load1()}; sections ${[...args.sections].join(", ") || "none"}`,
  );
  const times: SectionTime[] = [];
  const section = async <T>(name: Section, fn: () => Promise<T>): Promise<T> => {
    const loadStart = load1();
    const c0 = treeCpu();
    const t0 = process.hrtime.bigint();
    log(`section ${name}: start (load average ${loadStart})`);
    try {
      return await fn();
    } finally {
      await removeSpentDestinations();
      const t: SectionTime = {
        section: name,
        seconds: Number(process.hrtime.bigint() - t0) / 1e9,
        cpuSeconds: treeCpu() - c0,
        loadStart,
        loadEnd: load1(),
      };
      times.push(t);
      log(
        `section ${name}: ${t.seconds.toFixed(0)} s wall, ${t.cpuSeconds.toFixed(0)} CPU s (load average ${t.loadEnd})`,
      );
    }
  };

  let corpusRows: Row[] | undefined;
  if (args.sections.has("startup"))
    await section("startup", async () => {
      // Every pyreg command pays this before its work: most of it is loading the CLI's code.
      const median = async (cmd: string[]): Promise<{ cpuMs: number; wallMs: number }> => {
        const cpu: number[] = [];
        const wall: number[] = [];
        for (let i = 0; i < STARTUP_RUNS; i++) {
          const m = await measure(process.execPath, cmd);
          if (m.code !== 0) throw new Error(`${cmd.join(" ")} exited with ${m.code}: ${m.stderr}`);
          cpu.push((m.cpuSeconds ?? NaN) * 1000);
          wall.push(m.seconds * 1000);
        }
        const mid = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
        return { cpuMs: mid(cpu), wallMs: mid(wall) };
      };
      const pyreg = await median([PYREG, "--version"]);
      const node = await median(["-e", "0"]);
      results["startup"] = { runs: STARTUP_RUNS, pyreg, node };
      say(
        `\nStart-up (median of ${STARTUP_RUNS}): pyreg --version ${fmt(pyreg.cpuMs, 0)} ms CPU, ${fmt(pyreg.wallMs, 0)} ms wall; ` +
          `node -e 0 ${fmt(node.cpuMs, 0)} ms CPU, ${fmt(node.wallMs, 0)} ms wall`,
      );
    });

  if (args.sections.has("corpus") && (args.only.size || args.sweep.length))
    corpusRows = await section("corpus", () => corpusSection(args, results));

  let small: SmallFilesResult<Row> | undefined;
  const rerun = args.sections.has("rerun");
  // The re-run's first run is the small section's pyreg run: without the small section, that run alone.
  const smallContenders = new Set(
    args.sections.has("small") ? [...args.only].filter((c) => c === "pyreg" || c === "floor") : [],
  );
  if (rerun) smallContenders.add("pyreg");
  if (args.sections.has("small") && !smallContenders.size)
    log("small files: skipped (--only names neither pyreg nor floor)");
  if (smallContenders.size) {
    const contenders = smallContenders;
    const conc = args.concurrencyGiven ? args.concurrency : undefined;
    log(`small files: ${args.smallFiles} files, ${(args.smallSize / 1e6).toFixed(0)} MB`);
    small = await section(args.sections.has("small") ? "small" : "rerun", () =>
      runSmallFiles(
        {
          startSource: (dir) => startChild(["serve", dir]),
          warm,
          runFloor: (corpus, src, manifest, prof) =>
            runFloor(corpus, src, args.work, args.concurrency, manifest, prof),
          runPyreg: (corpus, src, label, prof, again) =>
            runPyreg(corpus, src, args.work, conc, label, prof, again),
          log,
          say,
          table,
          printRows: (r) => say(table(ROW_HEADERS, r.map(rowCells))),
        },
        {
          files: args.smallFiles,
          totalBytes: args.smallSize,
          work: args.work,
          contenders,
          profDir: args.cpuProf,
          rerun,
          idleSeconds: IDLE_SECONDS,
          rounds: args.smallRounds,
        },
      ),
    );
    results["smallFiles"] = small;
    if (small.rerun) {
      results["rerun"] = small.rerun;
      printRerun(small.rerun);
      // Its own line in the times: the second run, inside the small section.
      const again = small.rerun.rows[1];
      if (again && args.sections.has("small"))
        times.push({
          section: "rerun",
          seconds: again.seconds,
          cpuSeconds: again.cpuSeconds ?? NaN,
          loadStart: NaN,
          loadEnd: NaN,
          note: "the second run alone, inside small; CPU: pyreg's only",
        });
    }
  }

  let big: BigRow | undefined;
  if (args.sections.has("big") && args.bigGiB > 0)
    big = await section("big", async () => {
      log(`big file: ${args.bigGiB} GiB`);
      const r = await bigFile(args.work, args.bigGiB);
      results["bigFile"] = r;
      if (r)
        say(
          `\nOne ${(r.bytes / 1024 ** 3).toFixed(2)} GiB wheel: pyreg migrate ${fmt(r.seconds, 1)} s, ` +
            `peak RSS ${fmt(r.peakRssMiB, 0)} MiB${r.ok ? "" : " (FAILED, see above)"}`,
        );
      return r;
    });

  let rss: Awaited<ReturnType<typeof rssCurve>> | undefined;
  if (args.sections.has("rss"))
    rss = await section("rss", async () => {
      const points = await rssCurve({
        sizes: args.rss.sizes?.length ? args.rss.sizes : [...RSS_SIZES],
        max: args.rss.max,
        commands: args.rss.commands ?? RSS_COMMANDS,
        migrateMax: args.rss.migrateMax ?? Infinity,
        work: args.work,
        log,
        pyreg: PYREG,
      });
      results["rss"] = points;
      const t = rssTable(points);
      say(
        "\nMemory curve (peak RSS of the pyreg process; synthetic registry, 10 files per project; MiB, then wall and CPU seconds):",
      );
      say(table(t.headers, t.rows));
      return points;
    });

  const finished = new Date();
  results["sections"] = times;
  results["finished"] = finished.toISOString();
  const summary = summarize({
    corpusRows,
    ratios: results["ratios"] as Record<string, number> | undefined,
    small,
    big,
    rss,
  });
  results["summary"] = summary;
  printSummary(summary, times, {
    say,
    table,
    header:
      `Measured: ${PYREG} at commit ${commit}, ${started.toISOString()} to ${finished.toISOString()} ` +
      `(${((finished.getTime() - started.getTime()) / 60000).toFixed(1)} min), load average at the end ${load1()}`,
  });

  const out = args.out ?? join(args.work, "bench-results.json");
  await writeFile(out, JSON.stringify(results, null, 2) + "\n");
  log(`results: ${out}`);
  if (args.json) process.stdout.write(JSON.stringify(results, null, 2) + "\n");
  await rm(tmpBase, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
