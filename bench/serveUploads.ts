/**
 * `pyreg serve` receiving uploads, alone: what one destination server spends per upload of
 * pyreg's form (twine's fields, all three digests), without a migration client competing for the
 * CPU.
 *   node dist/bench/serveUploads.js CORPUS_DIR [--files N] [--concurrency C] [--rounds R]
 *     [--serve-child PATH] [--cpu-prof DIR]
 * CORPUS_DIR is a corpus of the benchmark (bench/corpus.ts, with its `.manifest.json` beside it).
 * The first N files (default 10,000) are read and their upload bodies built in memory before
 * timing, as `pyreg migrate` builds them (src/core/uploadForm.ts). Then, per round, into a fresh
 * empty folder served by `serveChild.js serve` in its own process (`--serve-child`: another
 * build's): every project page read (404, as a migration's plan reads the destination), every
 * file posted (C at a time over keep-alive), every project page read again (as a migration
 * verifies). Prints, as JSON per round, the server's CPU seconds (user and system, from
 * /proc/PID/stat) for each phase, and per upload.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import type { Corpus } from "./corpus.js";
import { readCoreMetadata } from "../src/core/metadata.js";
import { MultiHash } from "../src/core/hash.js";
import { buildUploadFields, multipartBody } from "../src/core/uploadForm.js";

const HERE = dirname(fileURLToPath(import.meta.url));

interface Upload {
  project: string;
  contentType: string;
  body: Buffer;
}

/** utime and stime of a process, in seconds (USER_HZ is 100 on Linux). */
function cpuOf(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
}

async function prepare(corpus: Corpus, n: number): Promise<Upload[]> {
  const out: Upload[] = [];
  for (const f of corpus.files.slice(0, n)) {
    const data = await readFile(join(corpus.dir, f.filename));
    const h = await MultiHash.create();
    h.update(data);
    const d = h.digest();
    const meta = await readCoreMetadata(data, f.filename);
    const local = {
      path: "",
      data,
      filename: f.filename,
      size: data.length,
      sha256: d.sha256,
      md5: d.md5,
      blake2_256: d.blake2_256,
    };
    const form = multipartBody(buildUploadFields(meta, local), local);
    const body = form.bytes();
    if (!body) throw new Error(`${f.filename}: no body`);
    out.push({ project: f.project, contentType: form.contentType, body });
  }
  return out;
}

async function startServe(
  child: string,
  dir: string,
  profDir: string | undefined,
): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const flags = profDir ? ["--cpu-prof", "--cpu-prof-dir", profDir] : [];
  const p = spawn(process.execPath, [...flags, child, "serve", dir], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: p.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    lines.once("line", (l) => resolve((JSON.parse(l) as { url: string }).url));
    p.once("exit", (code) => reject(new Error(`serve child exited ${code}`)));
  });
  return {
    url,
    pid: p.pid as number,
    stop: () =>
      new Promise<void>((resolve) => {
        p.once("exit", () => resolve());
        p.kill("SIGTERM");
      }),
  };
}

async function pool<T>(items: T[], c: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: c }, worker));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const corpusDir = args[0];
  if (!corpusDir) {
    process.stderr.write(
      "usage: serveUploads CORPUS_DIR [--files N] [--concurrency C] [--rounds R] [--serve-child PATH] [--cpu-prof DIR]\n",
    );
    process.exit(2);
  }
  const opt = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args[i + 1];
  };
  const files = Number(opt("--files") ?? 10_000);
  const concurrency = Number(opt("--concurrency") ?? 8);
  const rounds = Number(opt("--rounds") ?? 1);
  const child = opt("--serve-child") ?? join(HERE, "serveChild.js");
  const profDir = opt("--cpu-prof");
  const manifest = join(dirname(corpusDir), `${corpusDir.split("/").pop()}.manifest.json`);
  const corpus = JSON.parse(await readFile(manifest, "utf8")) as Corpus;
  const uploads = await prepare(corpus, files);
  const projects = [...new Set(uploads.map((u) => u.project))];
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
  const accept = { accept: "application/vnd.pypi.simple.v1+json" };

  for (let round = 1; round <= rounds; round++) {
    const dir = join(dirname(corpusDir), `serve-uploads-dst`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const serve = await startServe(child, dir, profDir);
    const pages = async (want: number): Promise<void> =>
      pool(projects, concurrency, async (p) => {
        const r = await request(`${serve.url}simple/${p}/`, { dispatcher: agent, headers: accept });
        await r.body.dump();
        if (r.statusCode !== want) throw new Error(`GET ${p}: ${r.statusCode}, expected ${want}`);
      });
    try {
      const c0 = cpuOf(serve.pid);
      await pages(404);
      const c1 = cpuOf(serve.pid);
      const t0 = process.hrtime.bigint();
      await pool(uploads, concurrency, async (u) => {
        const r = await request(serve.url, {
          method: "POST",
          dispatcher: agent,
          headers: { "content-type": u.contentType },
          body: u.body,
        });
        const text = await r.body.text();
        if (r.statusCode !== 200) throw new Error(`POST: ${r.statusCode} ${text}`);
      });
      const wall = Number(process.hrtime.bigint() - t0) / 1e9;
      const c2 = cpuOf(serve.pid);
      await pages(200);
      const c3 = cpuOf(serve.pid);
      const d = (a: { user: number; system: number }, b: { user: number; system: number }) => ({
        user: +(b.user - a.user).toFixed(2),
        system: +(b.system - a.system).toFixed(2),
        total: +(b.user - a.user + b.system - a.system).toFixed(2),
      });
      const up = d(c1, c2);
      process.stdout.write(
        JSON.stringify({
          round,
          files: uploads.length,
          projects: projects.length,
          uploadWallSeconds: +wall.toFixed(2),
          pagesBefore: d(c0, c1),
          uploads: up,
          pagesAfter: d(c2, c3),
          total: d(c0, c3),
          msPerUpload: +((up.total * 1000) / uploads.length).toFixed(3),
        }) + "\n",
      );
    } finally {
      await serve.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }
  await agent.close();
}

void main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
