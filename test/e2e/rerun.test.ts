/**
 * Re-runs after a completed migration: the index pages are asked for with conditional requests
 * (RFC 9110 §13.1.2 If-None-Match; 304 Not Modified), counted where they arrive: a real nginx
 * serving a static PEP 503 index (its access log) and `pyreg serve` (its request log). A project
 * whose pages did not change is not planned again; a change at either end is noticed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, readFile, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { makeWheel } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { startStaticIndex, type StaticIndex } from "../helpers/pep503.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { folderDigests, tempDir } from "../helpers/tmp.js";

interface MigrateJson {
  counts: { copied: number; skipped: number; failed: number };
  unchanged?: { projects: number; files: number };
  outcomes: { filename: string; outcome: string }[];
}

const PROJECTS = ["alpha", "beta", "gamma"];

describe("re-runs: conditional requests, unchanged projects skipped, changes noticed", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let srcDir: string;
  let dstDir: string;
  let state: string;
  let src: StaticIndex;
  let dst: ServeHandle;
  /** pyreg serve's request log of the first run. */
  let firstRun: string[] = [];

  const migrate = async (...extra: string[]): Promise<{ out: MigrateJson; stderr: string }> =>
    migrateExit(0, ...extra);

  const migrateExit = async (
    code: number,
    ...extra: string[]
  ): Promise<{ out: MigrateJson; stderr: string }> => {
    const r = await runCli([
      "migrate",
      "--from",
      src.indexUrl,
      "--to",
      dst.url,
      "--state",
      state,
      "--json",
      ...extra,
    ]);
    assert.equal(r.code, code, r.stderr);
    return { out: JSON.parse(r.stdout) as MigrateJson, stderr: r.stderr };
  };

  /** What each server received during `run`. */
  const during = async (
    run: () => Promise<void>,
  ): Promise<{ nginx: Awaited<ReturnType<StaticIndex["requests"]>>; serve: string[] }> => {
    const n0 = (await src.requests()).length;
    const s0 = dst.logs.length;
    await run();
    return { nginx: (await src.requests()).slice(n0), serve: dst.logs.slice(s0) };
  };

  before(async () => {
    tmp = await tempDir();
    srcDir = join(tmp.path, "src");
    dstDir = join(tmp.path, "dst");
    state = join(tmp.path, "state");
    await mkdir(srcDir);
    for (const name of PROJECTS)
      for (const version of ["1.0", "1.1"]) await makeWheel(srcDir, { name, version });
    src = await startStaticIndex(srcDir, { accessLog: true });
    dst = await startServe(dstDir);
    const s0 = dst.logs.length;
    const first = await migrate();
    firstRun = dst.logs.slice(s0);
    assert.equal(first.out.counts.copied, 6, first.stderr);
  });

  after(async () => {
    await src?.close();
    await dst?.close();
    await tmp?.cleanup();
  });

  test("the first run reads each destination page twice: before its uploads, and once after them", () => {
    for (const p of PROJECTS) {
      const reads = firstRun.filter((l) => l.startsWith(`GET /simple/${p}/ `));
      // Planned (nothing there yet), then the check after the uploads, whose reading is also
      // what the project is settled with for the next run (no third read for that).
      assert.deepEqual(
        reads.map((l) => l.split(" ")[2]),
        ["404", "200"],
        `${p}:\n${firstRun.join("\n")}`,
      );
    }
  });

  test("a re-run over an unchanged source sends only conditional requests, answered 304", async () => {
    let result: Awaited<ReturnType<typeof migrate>> | undefined;
    const seen = await during(async () => {
      result = await migrate();
    });
    const { out, stderr } = result as Awaited<ReturnType<typeof migrate>>;
    assert.equal(out.counts.copied, 0);
    assert.deepEqual(out.unchanged, { projects: 3, files: 6 }, stderr);
    assert.match(stderr, /unchanged: 3 projects \(6 files\)/);
    assert.match(
      await readFile(join(state, "report.md"), "utf8"),
      /run 2: 3 projects \(6 files\) unchanged at the source and at the destination/,
    );
    // nginx: the project list and the three project pages, each asked with If-None-Match.
    assert.deepEqual(
      seen.nginx.map((r) => r.path).sort(),
      ["/simple/", ...PROJECTS.map((p) => `/simple/${p}/`)].sort(),
    );
    for (const r of seen.nginx) {
      assert.equal(r.method, "GET");
      assert.notEqual(r.ifNoneMatch, "", `${r.path} was asked without If-None-Match`);
      assert.equal(r.status, 304, `${r.path} answered ${r.status}`);
    }
    // pyreg serve: the three project pages only, each answered 304; nothing uploaded.
    assert.equal(seen.serve.length, 3, seen.serve.join("\n"));
    for (const line of seen.serve) assert.match(line, /^GET \/simple\/(alpha|beta|gamma)\/ 304 0B/);
  });

  test("a project with a new file at the source is read again and the file copied", async () => {
    const added = await makeWheel(srcDir, { name: "beta", version: "2.0" });
    await src.refresh();
    const { out, stderr } = await migrate();
    assert.deepEqual(
      out.outcomes.filter((o) => o.outcome === "copied").map((o) => o.filename),
      [added.split("/").pop()],
      stderr,
    );
    // The other two projects' pages were written again with the same bytes: still unchanged.
    assert.deepEqual(out.unchanged, { projects: 2, files: 4 }, stderr);
    assert.ok((await folderDigests(dstDir)).has(added.split("/").pop() as string));
  });

  test("a file deleted at the destination is noticed and copied again", async () => {
    const gone = "gamma-1.0-py3-none-any.whl";
    assert.ok((await folderDigests(dstDir)).has(gone));
    await rm(join(dstDir, gone));
    // pyreg serve notices the change to its folder (its own change detection): wait for it.
    for (let i = 0; i < 200; i++) {
      const r = await fetch(`${dst.indexUrl}gamma/`);
      if (!(await r.text()).includes(gone)) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const { out, stderr } = await migrate();
    assert.deepEqual(
      out.outcomes.filter((o) => o.outcome === "copied").map((o) => o.filename),
      [gone],
      stderr,
    );
    assert.deepEqual(out.unchanged, { projects: 2, files: 5 }, stderr);
    assert.ok((await folderDigests(dstDir)).has(gone));
  });

  test("with --verify-content every project is planned again, and the output says why", async () => {
    const { out, stderr } = await migrate("--verify-content");
    assert.equal(out.unchanged?.projects ?? 0, 0, stderr);
    assert.match(stderr, /unchanged projects are planned again in this run: --verify-content/);
    assert.equal(out.counts.copied, 0);
    assert.equal(out.counts.skipped, 7, stderr);
  });

  test("a project left with a conflict is read again on every run", async () => {
    const mine = await makeWheel(srcDir, { name: "delta", version: "1.0" });
    const name = basename(mine);
    // Other bytes under the same filename at the destination: a conflict, never overwritten.
    const theirs = await makeWheel(join(tmp.path, "other"), {
      name: "delta",
      version: "1.0",
      summary: "other",
    });
    await copyFile(theirs, join(dstDir, name));
    await src.refresh();
    for (let i = 0; i < 200; i++) {
      const r = await fetch(`${dst.indexUrl}delta/`);
      if ((await r.text()).includes(name)) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    for (let run = 0; run < 2; run++) {
      const { out, stderr } = await migrateExit(1);
      assert.deepEqual(
        out.outcomes.filter((o) => o.outcome === "conflict").map((o) => o.filename),
        [name],
        stderr,
      );
      // The other three are unchanged; delta is never counted so.
      assert.deepEqual(out.unchanged, { projects: 3, files: 7 }, stderr);
    }
  });
});
