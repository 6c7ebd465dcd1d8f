/**
 * `pyreg serve` on a big folder: `node dist/bench/serveScale.js [FILES] [PROJECTS] [READS]`
 * (default 100,000 files across 2,000 projects, 2,000 page reads).
 *
 * Makes FILES small wheels (a few bytes each: listing does not look inside them) named correctly
 * across PROJECTS projects, flat in one folder as `pyreg migrate` writes it, starts the real CLI
 * (`bin/pyreg serve DIR --port 0`) and prints, as JSON: the time to the first /simple/ and to a
 * first project page, the server's CPU (/proc/PID/stat utime+stime) over 10 s of idle after them,
 * and its CPU for READS project-page reads spread over every project (one connection at a time,
 * keep-alive, 4 in flight), then the same reads again.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const PYREG = join(HERE, "..", "..", "bin", "pyreg");

function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = 100; // USER_HZ on Linux
  return (Number(fields[11]) + Number(fields[12])) / ticks;
}

function projectName(p: number): string {
  return `scalepkg-${String(p).padStart(5, "0")}`;
}

async function makeFolder(dir: string, files: number, projects: number): Promise<void> {
  const perProject = Math.ceil(files / projects);
  let made = 0;
  const batch: Promise<void>[] = [];
  for (let p = 0; p < projects && made < files; p++) {
    const mod = projectName(p).replace(/-/g, "_");
    for (let i = 0; i < perProject && made < files; i++, made++) {
      batch.push(writeFile(join(dir, `${mod}-1.${i}.0-py3-none-any.whl`), "x"));
      if (batch.length >= 256) await Promise.all(batch.splice(0));
    }
  }
  await Promise.all(batch);
}

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

function get(url: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, headers: { Accept: "application/vnd.pypi.simple.v1+json" } }, (res) => {
      let bytes = 0;
      res.on("data", (c: Buffer) => (bytes += c.length));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, bytes }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

async function timed(url: string): Promise<{ ms: number; status: number; bytes: number }> {
  const t0 = process.hrtime.bigint();
  const r = await get(url);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, ...r };
}

async function reads(base: string, n: number, projects: number): Promise<number> {
  let next = 0;
  let bad = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const r = await get(`${base}simple/${projectName((i * 7919) % projects)}/`);
      if (r.status !== 200) bad++;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return bad;
}

async function main(): Promise<void> {
  const [files = 100_000, projects = 2_000, nReads = 2_000] = process.argv.slice(2).map(Number);
  const dir = await mkdtemp(join(tmpdir(), "pyreg-serve-scale-"));
  try {
    const t0 = Date.now();
    await makeFolder(dir, files, projects);
    const makeS = (Date.now() - t0) / 1000;
    const child = spawn(process.execPath, [PYREG, "serve", dir, "--port", "0", "--quiet"], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const pid = child.pid as number;
    const base = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /index {2}\(pip\): +(\S+)simple\//.exec(out);
        if (m?.[1]) resolve(m[1]);
      });
      child.on("exit", (c) => reject(new Error(`pyreg serve exited (${c})`)));
    });
    const cpuStart = cpuOf(pid);
    const list = await timed(`${base}simple/`);
    const page = await timed(`${base}simple/${projectName(Math.floor(projects / 2))}/`);
    const cpuFirst = cpuOf(pid) - cpuStart;
    const idleStart = cpuOf(pid);
    await new Promise((r) => setTimeout(r, 10_000));
    const cpuIdle = cpuOf(pid) - idleStart;
    const runs: { reads: number; failed: number; seconds: number; cpuSeconds: number }[] = [];
    for (let round = 0; round < 2; round++) {
      const c0 = cpuOf(pid);
      const w0 = Date.now();
      const failed = await reads(base, nReads, projects);
      runs.push({ reads: nReads, failed, seconds: (Date.now() - w0) / 1000, cpuSeconds: cpuOf(pid) - c0 });
    }
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    const out = {
      files,
      projects,
      makeFolderSeconds: makeS,
      firstSimple: list,
      firstProjectPage: page,
      cpuSecondsForFirstTwoPages: cpuFirst,
      cpuSecondsIdle10s: cpuIdle,
      pageReads: runs,
    };
    process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  } finally {
    agent.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

void main();
