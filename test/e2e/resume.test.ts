/**
 * Resuming, end to end: the real CLI is killed (SIGKILL) at many seeded random moments while it
 * migrates a few hundred distinct wheels to a local registry, and interrupted with Ctrl-C (SIGINT);
 * each time the same command runs again. Judged by the destination's files, by the registry's own
 * uploads as a proxy in front of it saw them (no file may be sent whole twice) and by the journal.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcessByStdio } from "node:child_process";
import type { Readable } from "node:stream";
import { mkdir } from "node:fs/promises";
import {
  createServer,
  request,
  type ClientRequest,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Journal } from "../../src/core/journal.js";
import { makeWheel } from "../fixtures/dists.js";
import { PYREG_BIN, REPO_ROOT, runCli, type CliResult } from "../helpers/cli.js";
import { startStaticIndex, type StaticIndex } from "../helpers/pep503.js";
import { startServe } from "../helpers/serve.js";
import { folderDigests, tempDir } from "../helpers/tmp.js";
import { seededRandom } from "../helpers/random.js";

const PROJECTS = 30;
const VERSIONS = 8;

/** The CLI as a child process whose output the test reads while it runs. */
function spawnCli(args: string[]): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, [PYREG_BIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, NO_COLOR: "1", CI: "true" },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Sends `req` on to the same path at `target` and pipes the answer back into `res`. */
function forward(target: URL, req: IncomingMessage, res: ServerResponse): ClientRequest {
  const up = request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  up.on("error", () => res.destroy());
  return up;
}

/** Distinct, hardly compressible text. */
function bulkText(seed: number, size: number): string {
  const rand = seededRandom(seed + 1);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 \n";
  let out = "";
  while (out.length < size) out += alphabet[Math.floor(rand() * alphabet.length)];
  return out;
}

interface UploadCount {
  /** POSTs whose whole body reached the registry: the file was really sent. */
  complete: number;
  /** POSTs cut off when the client was killed (the registry stores nothing from those). */
  cut: number;
}

/**
 * A loopback HTTP proxy in front of the destination that records, per filename, every upload
 * (POST) whose whole body arrived and every one cut short. The registry's own log cannot tell:
 * when the client dies while the registry is still storing the file, its log line has no filename.
 */
async function uploadCounter(target: string): Promise<{
  url: string;
  counts: Map<string, UploadCount>;
  /** POSTs that have begun to arrive, cut or not. */
  started(): number;
  close(): Promise<void>;
}> {
  const t = new URL(target);
  const counts = new Map<string, UploadCount>();
  let started = 0;
  const count = (name: string | undefined, complete: boolean): void => {
    const key = name ?? "(unknown)";
    const c = counts.get(key) ?? { complete: 0, cut: 0 };
    if (complete) c.complete++;
    else c.cut++;
    counts.set(key, c);
  };
  const server = createServer((req, res) => {
    if (req.method === "POST") started++;
    const up = forward(t, req, res);
    let head = "";
    let name: string | undefined;
    let ended = false;
    // A body whose every byte arrived was sent whole, even when the client is killed before the
    // end of the request is read here (the reads below are slowed down).
    const length = req.headers["content-length"] === undefined ? -1 : Number(req.headers["content-length"]);
    let received = 0;
    req.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (req.method === "POST" && name === undefined && head.length < 4 * 1024 * 1024) {
        head += chunk.toString("latin1");
        name = /name="content"; filename="([^"]+)"/.exec(head)?.[1];
      }
      up.write(chunk);
      if (req.method === "POST") {
        // A slower network for uploads: a large body takes a moment, so kills land inside it.
        req.pause();
        setTimeout(() => req.resume(), 5);
      }
    });
    req.on("end", () => {
      ended = true;
      if (req.method === "POST") count(name, true);
      up.end();
    });
    req.on("close", () => {
      if (ended) return;
      const whole = received === length;
      if (req.method === "POST") count(name, whole);
      if (whole) up.end();
      else up.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    counts,
    started: () => started,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/**
 * Runs the CLI and kills it (SIGKILL) `ms` after `ready()` turns true, polled from when it printed
 * its plan (or not at all if it ends first).
 */
function killAfterPlan(args: string[], ready: () => boolean, ms: number): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawnCli(args);
    let stdout = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      if (!poll && /^plan: /m.test(stderr)) {
        poll = setInterval(() => {
          if (timer || !ready()) return;
          clearInterval(poll);
          timer = setTimeout(() => child.kill("SIGKILL"), ms);
        }, 2);
      }
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(guard);
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function assertSentOnce(counts: Map<string, UploadCount>, expected: Map<string, string>): void {
  const wrong = [...expected.keys()]
    .filter((f) => counts.get(f)?.complete !== 1)
    .map((f) => `${f}: sent whole ${counts.get(f)?.complete ?? 0} times`);
  assert.deepEqual(wrong, [], "every file was sent whole exactly once");
  // A POST killed before its file part's header arrived has no filename ("(unknown)"); cut short,
  // it stored nothing. Only a whole body counts as something uploaded.
  assert.deepEqual(
    [...counts.entries()].filter(([f, c]) => !expected.has(f) && c.complete > 0).map(([f]) => f),
    [],
    "nothing else was uploaded",
  );
}

describe("resume: kill -9 and Ctrl-C at any moment", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let srcDir: string;
  let src: StaticIndex;
  let expected: Map<string, string>;

  before(async () => {
    tmp = await tempDir();
    srcDir = join(tmp.path, "src");
    await mkdir(srcDir);
    const jobs: Promise<string>[] = [];
    for (let p = 0; p < PROJECTS; p++) {
      for (let v = 0; v < VERSIONS; v++) {
        jobs.push(
          makeWheel(srcDir, {
            name: `resume-pkg-${p}`,
            version: `1.${v}.0`,
            summary: `resume test ${p} ${v}`,
            // The first version of each project is large (a 384 KiB description travels in the
            // upload form and in the wheel), so that kills also land in the middle of a body.
            ...(v === 0 ? { description: bulkText(p, 384 * 1024) } : {}),
          }),
        );
      }
    }
    await Promise.all(jobs);
    expected = await folderDigests(srcDir);
    assert.equal(expected.size, PROJECTS * VERSIONS);
    // The source is a static index served by nginx: a server pyreg did not write.
    src = await startStaticIndex(srcDir);
  });
  after(async () => {
    await src.close();
    await tmp.cleanup();
  });

  test("SIGKILL at many random points: no file uploaded twice, the destination equals the source", async (t) => {
    const dstDir = join(tmp.path, "dst-kill");
    const dst = await startServe(dstDir);
    const proxy = await uploadCounter(dst.url);
    try {
      const state = join(tmp.path, "state-kill");
      const args = [
        "migrate",
        "--from",
        src.indexUrl,
        "--to",
        proxy.url,
        "--state",
        state,
        "--concurrency",
        "4",
        "--recheck-wait",
        "0.2",
        // A killed run's uploads are re-checked once their request deadline has passed (up to
        // 3 s after they started, 4 s for files marked ahead): the default of 300 s would make
        // each resume wait that long. An upload here takes tens of milliseconds.
        "--deadline",
        "3",
      ];
      const seed = Number(process.env["PYREG_TEST_SEED"] ?? 20261125);
      const rand = seededRandom(seed);
      // At least KILLS kills in one run (a run that finishes by itself before that ends the loop,
      // and fails the count below).
      const KILLS = 22;
      let kills = 0;
      let midRun = 0;
      // Kills that landed after the run printed its plan: such a run has its journal entry. (A
      // kill while it starts may come before that, sooner or later depending on the machine.)
      let afterPlan = 0;
      while (kills < KILLS) {
        const before = dst.server.uploads;
        const remaining = expected.size - before;
        // Most kills land after the plan, while files are downloaded and uploaded: once the
        // destination has stored 1 to 12 % of the files still missing (so the kill comes before
        // the run ends, however fast the machine, and files are left for the next kills), then up
        // to 30 ms later, which may be in the middle of a body. Some land while it starts or reads
        // the indexes (only while many files are left, so such a run cannot finish).
        const more = 1 + Math.floor(rand() * 0.12 * remaining);
        const early = remaining > 60 && rand() < 0.2;
        const r = early
          ? await runCli(args, { timeoutMs: 100 + Math.floor(rand() * 1200) })
          : await killAfterPlan(args, () => dst.server.uploads >= before + more, Math.floor(rand() * 30));
        if (r.signal === "SIGKILL") {
          kills++;
          if (/^plan: /m.test(r.stderr)) afterPlan++;
          if (dst.server.uploads > before && dst.server.uploads < expected.size) midRun++;
        } else {
          assert.equal(r.code, 0, r.stderr);
          break;
        }
      }
      t.diagnostic(`seed ${seed}: ${kills} kills, ${midRun} while uploads were going on`);
      assert.ok(kills >= 20, `the CLI was killed ${kills} times`);
      assert.ok(midRun >= 10, `${midRun} kills landed in the middle of the uploads`);

      const r = await runCli(args);
      assert.equal(r.code, 0, r.stderr);

      assert.deepEqual(
        [...(await folderDigests(dstDir)).entries()].sort(),
        [...expected.entries()].sort(),
        "the destination holds exactly the source's files, byte for byte",
      );
      assert.equal(dst.server.uploads, expected.size, "each file was written once");
      assertSentOnce(proxy.counts, expected);

      const j = Journal.read(state);
      assert.equal(j.files.length, expected.size);
      const notVerified = j.files
        .filter((f) => f.state !== "verified")
        .map((f) => `${f.filename}: ${f.state}`);
      assert.deepEqual(notVerified, [], "the journal says every file was copied and verified");
      for (const f of j.files) assert.equal(f.sha256, expected.get(f.filename), f.filename);
      assert.ok(afterPlan >= 15, `${afterPlan} kills after the plan`);
      assert.ok(
        j.runs.filter((x) => x.status === "killed").length >= afterPlan,
        "killed runs are recognized as such",
      );
      assert.equal(j.runs[j.runs.length - 1]?.status, "done");
      const resent = j.files.filter((f) => f.uploadAttempts > 1).length;
      const landed = j.files.filter((f) => /interrupted before it was verified/.test(f.reason ?? "")).length;
      const cut = [...proxy.counts.values()].reduce((n, c) => n + c.cut, 0);
      t.diagnostic(
        `${cut} uploads cut by a kill; ${resent} files sent again after that; ${landed} found at the destination after a kill`,
      );
    } finally {
      await proxy.close();
      await dst.close();
    }
  });

  test("Ctrl-C stops promptly with a resume hint; the same command then finishes", async () => {
    const dstDir = join(tmp.path, "dst-int");
    const dst = await startServe(dstDir);
    const proxy = await uploadCounter(dst.url);
    try {
      const state = join(tmp.path, "state-int");
      const args = [
        "migrate",
        "--from",
        src.indexUrl,
        "--to",
        proxy.url,
        "--state",
        state,
        "--concurrency",
        "2",
      ];
      const child = spawnCli(args);
      let stderr = "";
      /** Uploads begun when Ctrl-C was sent. */
      let startedAtSigint: number | undefined;
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on("close", (code, signal) => resolve({ code, signal })),
      );
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        if (startedAtSigint === undefined && (stderr.match(/^copied: /gm) ?? []).length >= 20) {
          startedAtSigint = proxy.started();
          child.kill("SIGINT");
        }
      });
      const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const res = await exited;
      clearTimeout(killer);
      assert.ok(startedAtSigint !== undefined, `SIGINT was sent mid-run:\n${stderr}`);
      assert.equal(res.code, 130, stderr);
      // Promptly means no new file is started: only the (at most 2, --concurrency) files already
      // in flight may still be uploaded after Ctrl-C, however fast or slow the machine is.
      const after = proxy.started() - startedAtSigint;
      assert.ok(after <= 2, `${after} uploads began after Ctrl-C`);
      assert.match(stderr, /interrupted: finishing the files in flight/);
      assert.match(stderr, /to resume, run the same command again/);
      assert.ok(stderr.includes(`pyreg migrate --from ${src.indexUrl} --to ${proxy.url}`), stderr);
      const copiedBefore = dst.server.uploads;
      assert.ok(copiedBefore > 0 && copiedBefore < expected.size, `${copiedBefore} copied before Ctrl-C`);

      const first = Journal.read(state);
      assert.equal(first.runs[0]?.status, "interrupted");
      // Ctrl-C lets the files in flight finish: nothing is left uncertain.
      assert.deepEqual(
        first.files.filter((f) => f.state === "uploading" || f.state === "uploaded").map((f) => f.filename),
        [],
      );
      assert.equal(first.files.filter((f) => f.state === "verified").length, copiedBefore);

      const again = await runCli([...args, "--json"]);
      assert.equal(again.code, 0, again.stderr);
      const out = JSON.parse(again.stdout) as { counts: { copied: number; skipped: number } };
      assert.equal(out.counts.copied, expected.size - copiedBefore);
      assert.equal(out.counts.skipped, copiedBefore);
      assert.deepEqual([...(await folderDigests(dstDir)).entries()].sort(), [...expected.entries()].sort());
      assertSentOnce(proxy.counts, expected);
      const done = Journal.read(state);
      assert.equal(done.files.filter((f) => f.state === "verified").length, expected.size);
    } finally {
      await proxy.close();
      await dst.close();
    }
  });

  test("Ctrl-C while the indexes are read stops at once, with nothing uploaded, and the run resumes", async () => {
    // The source's project pages are held until the gate opens: while it is closed the plan can
    // never finish, so a run that exits has stopped at once instead of waiting for the plan.
    let open = (): void => undefined;
    const gate = new Promise<void>((r) => (open = r));
    let pagesAsked = 0;
    const slow = createServer((req, res) => {
      const t = new URL(src.indexUrl);
      const indexPath = new URL(src.indexUrl).pathname;
      const isProjectPage = (req.url ?? "").startsWith(indexPath) && req.url !== indexPath;
      if (isProjectPage) pagesAsked++;
      void (isProjectPage ? gate : Promise.resolve()).then(() => req.pipe(forward(t, req, res)));
    });
    await new Promise<void>((r) => slow.listen(0, "127.0.0.1", r));
    const slowIndex = `http://127.0.0.1:${(slow.address() as AddressInfo).port}${new URL(src.indexUrl).pathname}`;
    const dstDir = join(tmp.path, "dst-plan-int");
    const dst = await startServe(dstDir);
    try {
      const state = join(tmp.path, "state-plan-int");
      const args = ["migrate", "--from", slowIndex, "--to", dst.url, "--state", state, "--concurrency", "2"];
      const child = spawnCli(args);
      let stderr = "";
      let sent = false;
      const exited = new Promise<number | null>((resolve) => child.on("close", (code) => resolve(code)));
      const sendWhenAsked = (): void => {
        if (sent) return;
        if (/^state /m.test(stderr) && pagesAsked > 0) {
          sent = true;
          child.kill("SIGINT");
        } else setTimeout(sendWhenAsked, 20);
      };
      child.stderr.on("data", (d: Buffer) => {
        stderr += d.toString();
        sendWhenAsked();
      });
      const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
      const code = await exited;
      clearTimeout(killer);
      assert.ok(sent, stderr);
      // The gate is still closed: no project page was ever answered, so the plan never finished.
      assert.equal(code, 130, stderr);
      assert.match(stderr, /interrupted while reading the indexes; nothing was uploaded/);
      assert.doesNotMatch(stderr, /finishing the files in flight/);
      assert.match(stderr, /to resume, run the same command again/);
      assert.equal(dst.server.uploads, 0);
      const first = Journal.read(state);
      assert.equal(first.runs[0]?.status, "interrupted");
      assert.equal(first.files.length, 0);

      open();
      const again = await runCli([...args, "--json"]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal((JSON.parse(again.stdout) as { counts: { copied: number } }).counts.copied, expected.size);
      assert.deepEqual([...(await folderDigests(dstDir)).entries()].sort(), [...expected.entries()].sort());
    } finally {
      await dst.close();
      await new Promise<void>((r) => {
        slow.close(() => r());
        slow.closeAllConnections();
      });
    }
  });
});

describe("marks ahead: one durable commit covers the next files of any project", () => {
  test("single-file projects ride on the commit before another's upload; all land once, verified", async () => {
    const tmp = await tempDir();
    const srcDir = join(tmp.path, "src");
    const state = join(tmp.path, "state");
    const dst = await startServe(join(tmp.path, "dst"));
    try {
      const n = 40;
      await Promise.all(
        Array.from({ length: n }, (_, p) => makeWheel(srcDir, { name: `solo-${p}`, version: "1.0" })),
      );
      const expected = await folderDigests(srcDir);
      const r = await runCli(["migrate", "--from", srcDir, "--to", dst.url, "--state", state, "-q"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(
        [...(await folderDigests(join(tmp.path, "dst"))).entries()].sort(),
        [...expected.entries()].sort(),
      );
      assert.equal(dst.server.uploads, n, "each file was sent once");
      const j = Journal.read(state);
      assert.deepEqual(
        j.files.filter((f) => f.state !== "verified" || f.uploadAttempts !== 1).map((f) => f.filename),
        [],
        "every file verified after one attempt",
      );
      // Each project has one file: a file marked with an upload before its own was marked by a file
      // of another project. With one commit and fsync per project, there would be none.
      const db = new Database(join(state, "journal.sqlite"), { readonly: true });
      try {
        const ahead = db
          .prepare(
            "SELECT COUNT(*) AS n FROM history WHERE state = 'uploading' AND detail LIKE 'about to be uploaded%'",
          )
          .get() as { n: number };
        assert.ok(
          ahead.n >= n / 2,
          `${ahead.n} of ${n} files marked with the upload of another project's file`,
        );
      } finally {
        db.close();
      }
    } finally {
      await dst.close();
      await tmp.cleanup();
    }
  });
});
