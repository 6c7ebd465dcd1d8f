/**
 * The memory curve (section "rss" of `npm run bench`): peak RSS, wall and CPU time of the pyreg
 * process for plan, migrate, verify and report at growing numbers of files (default 10,000,
 * 100,000, 1,000,000; --rss-max N leaves out the sizes above N), against the synthetic registry
 * of bench/synthetic.ts (its own process: its memory is not counted, its CPU is recorded). Alone:
 * `node dist/bench/memory.js [--rss-sizes 10000,100000] [--rss-max N]
 * [--rss-commands plan,migrate,verify,report] [--migrate-max N] [--work DIR]`.
 *
 * report reads the journal migrate wrote at that size; above --migrate-max (migrate not run), a
 * journal of that many files written directly by SQL (as test/e2e/reportMemory.test.ts does).
 */
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { Journal } from "../src/core/journal.js";
import { cpuOf, load1 } from "./proc.js";

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench
const ROOT = resolve(HERE, "..", "..");
/** The CLI measured by default: this checkout's (RssOptions.pyreg: another build's). */
const PYREG = join(ROOT, "bin", "pyreg");
const SYNTHETIC = join(HERE, "synthetic.js");
const TIME = "/usr/bin/time";
const PER_PROJECT = 10;

export type RssCommand = "plan" | "migrate" | "verify" | "report";
export const RSS_COMMANDS: readonly RssCommand[] = ["plan", "migrate", "verify", "report"];
/** The curve's sizes by default (the issue's: 10k, 100k, 1M files). */
export const RSS_SIZES: readonly number[] = [10_000, 100_000, 1_000_000];

export interface RssOptions {
  sizes: number[];
  /** Sizes above this are left out of the curve (--rss-max). */
  max?: number | undefined;
  commands: readonly RssCommand[];
  /** migrate only up to this many files (it transfers every file; report then uses an SQL-built journal). */
  migrateMax: number;
  work: string;
  log: (m: string) => void;
  /** The pyreg CLI to run (default this checkout's bin/pyreg). */
  pyreg?: string | undefined;
}

export interface RssPoint {
  command: RssCommand;
  files: number;
  seconds: number;
  peakRssMiB: number | undefined;
  /** pyreg's CPU seconds (user + system, from GNU time; undefined without it). */
  cpuSeconds: number | undefined;
  /** CPU seconds the synthetic registry spent meanwhile (its /proc/PID/stat). */
  registryCpuSeconds: number | undefined;
  exit: number | null;
  /**
   * The command did its work: exit 0, or for a report of the SQL-built journal (every 50th file
   * failed there) exit 1, the code of a migration with failures (README.md, "Exit codes").
   */
  ok: boolean;
  /** How the journal of a report was made. */
  journal?: "migrate" | "sql";
}

/** Runs pyreg to its end (stdout discarded), measuring wall time and peak RSS (GNU time, else /proc VmHWM). */
async function measurePyreg(
  pyreg: string,
  args: string[],
  cwd: string,
): Promise<Omit<RssPoint, "command" | "files" | "registryCpuSeconds" | "ok">> {
  const timeFile = join(cwd, `time-${Math.random().toString(36).slice(2)}.txt`);
  const haveTime = existsSync(TIME);
  const [file, argv] = haveTime
    ? [TIME, ["-v", "-o", timeFile, process.execPath, pyreg, ...args]]
    : [process.execPath, [pyreg, ...args]];
  const started = process.hrtime.bigint();
  const child = spawn(file, argv, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  let hwm = 0;
  const poll = haveTime
    ? undefined
    : setInterval(() => {
        void readFile(`/proc/${child.pid}/status`, "utf8")
          .then((s) => {
            const m = /VmHWM:\s+(\d+) kB/.exec(s);
            if (m) hwm = Math.max(hwm, Number(m[1]));
          })
          .catch(() => undefined);
      }, 50);
  const exit = await new Promise<number | null>((r) => child.on("close", (c) => r(c)));
  if (poll) clearInterval(poll);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  let peakRssMiB = hwm ? hwm / 1024 : undefined;
  let cpuSeconds: number | undefined;
  if (haveTime) {
    const t = await readFile(timeFile, "utf8").catch(() => "");
    await rm(timeFile, { force: true });
    const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(t);
    if (m) peakRssMiB = Number(m[1]) / 1024;
    const u = /User time \(seconds\): ([\d.]+)/.exec(t);
    const s = /System time \(seconds\): ([\d.]+)/.exec(t);
    if (u && s) cpuSeconds = Number(u[1]) + Number(s[1]);
  }
  if (exit !== 0 && exit !== 1) process.stderr.write(`[bench] pyreg ${args[0]} exited ${exit}: ${stderr}\n`);
  return { seconds, peakRssMiB, cpuSeconds, exit };
}

async function startSynthetic(files: number): Promise<{ url: string; cpu(): number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [SYNTHETIC, String(files), String(PER_PROJECT), "1"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const url = await new Promise<string>((res, rej) => {
    let buf = "";
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      const nl = buf.indexOf("\n");
      if (nl >= 0) res((JSON.parse(buf.slice(0, nl)) as { url: string }).url);
    });
    child.on("exit", (c) => rej(new Error(`synthetic registry exited (${c})`)));
  });
  return {
    url,
    cpu: () => cpuOf(child.pid),
    stop: () =>
      new Promise<void>((r) => {
        child.once("exit", () => r());
        child.kill("SIGTERM");
      }),
  };
}

/** A journal of `files` copied files (every 50th failed), written directly by SQL. */
export function sqlJournal(dir: string, files: number): void {
  const j = Journal.open(dir, {
    source: { key: "simple:http://synthetic/simple/", description: "http://synthetic/simple/" },
    destination: { key: "simple:http://synthetic/upload/", description: "http://synthetic/upload/" },
  });
  j.startRun({ command: "migrate", argv: ["migrate"], version: "bench", source: "s", destination: "d" });
  j.endRun("done", undefined, {});
  j.close();
  const db = new Database(join(dir, "journal.sqlite"));
  db.exec(`
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${files})
    INSERT INTO files (project, filename, version, size, sha256, state, reason, code, class, run_id,
      first_run_id, upload_attempts, bytes, seconds, updated_at, verification)
    SELECT printf('synth-%07d', i / ${PER_PROJECT}), printf('synth_%07d-1.%d.0-py3-none-any.whl', i / ${PER_PROJECT}, i % ${PER_PROJECT}),
      printf('1.%d.0', i % ${PER_PROJECT}), 800, printf('%064x', i),
      CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'verified' END,
      CASE WHEN i % 50 = 0 THEN 'destination refused: HTTP 400' ELSE 'copied' END,
      CASE WHEN i % 50 = 0 THEN 'UPLOAD_REFUSED' END, CASE WHEN i % 50 = 0 THEN 'lasting' END,
      1, 1, 1, 800, 0.01, '2026-01-01T00:00:00Z', CASE WHEN i % 50 = 0 THEN NULL ELSE 'index:sha256' END
    FROM n;
    INSERT INTO projects (project, error, run_id) SELECT DISTINCT project, NULL, 1 FROM files;`);
  db.close();
}

export async function rssCurve(o: RssOptions): Promise<RssPoint[]> {
  const points: RssPoint[] = [];
  for (const n of o.sizes.filter((s) => s <= (o.max ?? Infinity))) {
    const dir = join(o.work, `rss-${n}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const reg = await startSynthetic(n);
    try {
      const from = `${reg.url}simple/`;
      const to = `${reg.url}upload/`;
      const run = async (
        command: RssCommand,
        args: string[],
        extra: Partial<RssPoint> = {},
      ): Promise<void> => {
        o.log(`rss: ${command} at ${n} files (load average ${load1()})`);
        const c0 = reg.cpu();
        const m = await measurePyreg(o.pyreg ?? PYREG, args, dir);
        const registryCpuSeconds = reg.cpu() - c0;
        const ok = m.exit === 0 || (extra.journal === "sql" && m.exit === 1);
        if (!ok) o.log(`rss: ${command} at ${n} files exited ${m.exit}: the point does not count`);
        points.push({ command, files: n, ...m, registryCpuSeconds, ok, ...extra });
        o.log(
          `rss: ${command} at ${n} files: ${m.seconds.toFixed(1)} s, ${m.cpuSeconds?.toFixed(1) ?? "?"} CPU s ` +
            `(registry ${registryCpuSeconds.toFixed(1)}), peak RSS ${m.peakRssMiB?.toFixed(0) ?? "?"} MiB`,
        );
      };
      /** A command against the synthetic pair, with --json and -q (and a state folder). */
      const against = (command: string, index: string, state?: string): string[] => [
        command,
        "--from",
        from,
        "--to",
        to,
        "--to-index",
        `${reg.url}${index}`,
        ...(state ? ["--state", state] : []),
        "--json",
        "-q",
      ];
      if (o.commands.includes("plan")) await run("plan", against("plan", "dst/simple/"));
      const migrated = o.commands.includes("migrate") && n <= o.migrateMax;
      if (migrated) await run("migrate", against("migrate", "dst/simple/", join(dir, "state")));
      if (o.commands.includes("verify"))
        await run("verify", against("verify", "full/simple/", join(dir, "verify-state")));
      if (o.commands.includes("report")) {
        let state = join(dir, "state");
        if (!migrated) {
          state = join(dir, "sql-state");
          sqlJournal(state, n);
        }
        await run("report", ["report", "--state", state, "--format", "json"], {
          journal: migrated ? "migrate" : "sql",
        });
      }
    } finally {
      await reg.stop();
      // A journal of a million files is about a GB: not kept once measured.
      await rm(dir, { recursive: true, force: true });
    }
  }
  return points;
}

/** The curve as a table: one row per command, a column per size, and the largest over the smallest. */
export function rssTable(points: readonly RssPoint[]): { headers: string[]; rows: string[][] } {
  const sizes = [...new Set(points.map((p) => p.files))].sort((a, b) => a - b);
  const headers = [
    "command",
    ...sizes.map((s) => `${s.toLocaleString("en")} files: MiB (wall s, CPU s)`),
    "largest / smallest",
  ];
  const rows = RSS_COMMANDS.filter((c) => points.some((p) => p.command === c)).map((c) => {
    const of = (s: number): RssPoint | undefined => points.find((p) => p.command === c && p.files === s);
    const t = rssTarget(points, c);
    return [
      c,
      ...sizes.map((s) => {
        const p = of(s);
        if (!p) return "—";
        const failed = p.ok ? "" : ` exit ${p.exit}`;
        return (
          `${p.peakRssMiB?.toFixed(0) ?? "?"} (${p.seconds.toFixed(0)}, ${p.cpuSeconds?.toFixed(0) ?? "?"})` +
          `${p.journal === "sql" ? " sql" : ""}${failed}`
        );
      }),
      t ? `${t.ratio.toFixed(2)}×` : "—",
    ];
  });
  return { headers, rows };
}

/** The memory target: peak RSS at the largest size at most 1.2× the smallest's, and under 300 MB. */
export const RSS_TARGET = { ratio: 1.2, maxBytes: 300e6 } as const;

export interface RssTargetFigure {
  command: RssCommand;
  smallest: RssPoint;
  largest: RssPoint;
  ratio: number;
  /** Both parts of the target, for the sizes measured. */
  met: boolean;
}

/** The target's figures for one command (undefined with fewer than two sizes measured). */
export function rssTarget(points: readonly RssPoint[], command: RssCommand): RssTargetFigure | undefined {
  const have = points
    .filter((p) => p.command === command && p.peakRssMiB !== undefined && p.ok)
    .sort((a, b) => a.files - b.files);
  const smallest = have[0];
  const largest = have[have.length - 1];
  if (!smallest || !largest || smallest === largest) return undefined;
  const ratio = largest.peakRssMiB! / smallest.peakRssMiB!;
  const met = ratio <= RSS_TARGET.ratio && largest.peakRssMiB! * 1024 * 1024 < RSS_TARGET.maxBytes;
  return { command, smallest, largest, ratio, met };
}

function parseList(v: string | undefined): number[] {
  return (v ?? "")
    .split(",")
    .map((s) => Number(s.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** A whole number of at least `min` given to option `k`, or an error saying so. */
function whole(k: string, s: string, min: number): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${k} takes a whole number of at least ${min}, not "${s}"`);
  return n;
}

/** Options of the memory curve, shared with bench/run.ts. */
export function rssOption(k: string, v: () => string, o: Partial<RssOptions>): boolean {
  if (k === "--rss-sizes") o.sizes = parseList(v());
  else if (k === "--rss-commands") o.commands = v().split(",") as RssCommand[];
  else if (k === "--migrate-max") o.migrateMax = whole(k, v(), 0);
  else if (k === "--rss-max") o.max = whole(k, v(), 1);
  else return false;
  return true;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const o: Partial<RssOptions> = {};
  const argv = process.argv.slice(2);
  let work = "/tmp/pyreg-bench";
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i] as string;
    const v = (): string => argv[++i] ?? "";
    if (k === "--work") work = resolve(v());
    else if (!rssOption(k, v, o)) throw new Error(`unknown option ${k}`);
  }
  const points = await rssCurve({
    sizes: o.sizes?.length ? o.sizes : [...RSS_SIZES],
    max: o.max,
    commands: o.commands ?? RSS_COMMANDS,
    migrateMax: o.migrateMax ?? Infinity,
    work,
    log: (m) => process.stderr.write(`[bench] ${m}\n`),
  });
  const t = rssTable(points);
  process.stdout.write(
    [t.headers, ...t.rows].map((r) => `| ${r.join(" | ")} |`).join("\n") +
      "\n" +
      JSON.stringify(points) +
      "\n",
  );
}
