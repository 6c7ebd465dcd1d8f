/**
 * The re-run benchmark (`npm run bench`, contender "rerun"): `pyreg migrate` from a `pyreg serve`
 * source into an empty `pyreg serve` destination with a state folder, then the same command again
 * over the unchanged source. Both registries run in their own process and count the requests
 * they answer, by method and status (serveChild.ts prints the counts on SIGUSR2): the figures are
 * the servers', not pyreg's own.
 */
import { spawn } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";

export interface RerunMeasure {
  code: number | null;
  seconds: number;
  peakRssMiB: number | undefined;
  cpuSeconds: number | undefined;
  stdout: string;
  stderr: string;
}

export interface RerunContext {
  /** bin/pyreg, and dist/bench/serveChild.js. */
  pyreg: string;
  serveChild: string;
  corpusDir: string;
  projects: string[];
  files: number;
  work: string;
  concurrency: number | undefined;
  measure: (cmd: string, args: string[], env?: NodeJS.ProcessEnv, cwd?: string) => Promise<RerunMeasure>;
  /** Reads every project page once, so that the source has hashed every file before timing. */
  warm: (indexUrl: string, projects: string[]) => Promise<void>;
  log: (m: string) => void;
}

export interface RerunRow {
  run: "first" | "re-run";
  seconds: number;
  cpuSeconds: number | undefined;
  peakRssMiB: number | undefined;
  copied: number;
  unchangedProjects: number;
  unchangedFiles: number;
  /** Requests each registry answered during the run: "GET 304" → count. */
  sourceRequests: Record<string, number>;
  destinationRequests: Record<string, number>;
}

export interface RerunResult {
  rows: RerunRow[];
  /** The re-run's wall time over the first run's. */
  ratio: number;
}

interface CountingServer {
  url: string;
  counts(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

async function startCounting(serveChild: string, root: string): Promise<CountingServer> {
  const child = spawn(process.execPath, [serveChild, "serve", root], { stdio: ["pipe", "pipe", "inherit"] });
  const waiting: ((c: Record<string, number>) => void)[] = [];
  let buf = "";
  const url = await new Promise<string>((res, rej) => {
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = JSON.parse(buf.slice(0, nl)) as { url?: string; requests?: Record<string, number> };
        buf = buf.slice(nl + 1);
        if (line.url) res(line.url);
        if (line.requests) waiting.shift()?.(line.requests);
      }
    });
    child.once("exit", (c) => rej(new Error(`serveChild serve ${root} exited (${c})`)));
  });
  return {
    url,
    counts: () =>
      new Promise((res) => {
        waiting.push(res);
        child.kill("SIGUSR2");
      }),
    stop: () =>
      new Promise<void>((res) => {
        child.once("exit", () => res());
        child.kill("SIGTERM");
      }),
  };
}

function delta(after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) > 0) out[k] = v - (before[k] ?? 0);
  return out;
}

export function formatRequests(r: Record<string, number>): string {
  const total = Object.values(r).reduce((a, b) => a + b, 0);
  const parts = Object.entries(r)
    .sort(([, a], [, b]) => b - a)
    .map(([k, v]) => `${v} ${k}`);
  return `${total}${parts.length ? ` (${parts.join(", ")})` : ""}`;
}

export async function runRerun(ctx: RerunContext): Promise<RerunResult> {
  const dir = join(ctx.work, "rerun-dst");
  const cwd = join(ctx.work, "rerun-cwd");
  await rm(dir, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  await mkdir(cwd, { recursive: true });
  const src = await startCounting(ctx.serveChild, ctx.corpusDir);
  const dst = await startCounting(ctx.serveChild, dir);
  try {
    ctx.log("rerun: warming the source's index");
    await ctx.warm(`${src.url}simple/`, ctx.projects);
    const args = [ctx.pyreg, "migrate", "--from", `${src.url}simple/`, "--to", dst.url, "--json", "-q"];
    if (ctx.concurrency !== undefined) args.push("--concurrency", String(ctx.concurrency));
    const rows: RerunRow[] = [];
    for (const run of ["first", "re-run"] as const) {
      const s0 = await src.counts();
      const d0 = await dst.counts();
      ctx.log(`rerun: ${run} run`);
      const m = await ctx.measure(process.execPath, args, { TMPDIR: join(ctx.work, "tmp") }, cwd);
      const sourceRequests = delta(await src.counts(), s0);
      const destinationRequests = delta(await dst.counts(), d0);
      let copied = 0;
      let unchanged = { projects: 0, files: 0 };
      try {
        const j = JSON.parse(m.stdout) as {
          counts: { copied: number };
          unchanged?: { projects: number; files: number };
        };
        copied = j.counts.copied;
        unchanged = j.unchanged ?? unchanged;
      } catch {
        ctx.log(`rerun: pyreg printed no JSON (exit ${m.code}): ${m.stderr.slice(-2000)}`);
      }
      rows.push({
        run,
        seconds: m.seconds,
        cpuSeconds: m.cpuSeconds,
        peakRssMiB: m.peakRssMiB,
        copied,
        unchangedProjects: unchanged.projects,
        unchangedFiles: unchanged.files,
        sourceRequests,
        destinationRequests,
      });
      ctx.log(
        `rerun: ${run}: ${m.seconds.toFixed(2)} s, exit ${m.code}, ${copied} copied, ${unchanged.projects} projects unchanged; source ${formatRequests(sourceRequests)}; destination ${formatRequests(destinationRequests)}`,
      );
    }
    const [first, again] = rows as [RerunRow, RerunRow];
    return { rows, ratio: again.seconds / first.seconds };
  } finally {
    await src.stop();
    await dst.stop();
    await rm(dir, { recursive: true, force: true });
    await rm(cwd, { recursive: true, force: true });
  }
}
