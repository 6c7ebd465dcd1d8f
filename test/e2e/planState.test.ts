/**
 * plan --state shows what migrate would do on resuming an interrupted run, reading the journal
 * only: the upload left unconfirmed (and the file marked with it, not sent yet) is to be
 * re-checked; once the destination lists it, it is recorded as landed; the state folder is not
 * changed.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFile, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { Journal } from "../../src/core/journal.js";
import { makeWheel } from "../fixtures/dists.js";
import { startFaultProxy } from "../fakes/faultProxy.js";
import { PYREG_BIN, runCli } from "../helpers/cli.js";
import { startServe } from "../helpers/serve.js";
import { tempDir } from "../helpers/tmp.js";

interface Resume {
  counts: Record<string, number>;
  files: { filename: string; step: string }[];
}

test("plan --state after an interrupted run: what a resume would do, nothing written", async () => {
  const tmp = await tempDir();
  const src = join(tmp.path, "src");
  await mkdir(src);
  await makeWheel(src, { name: "resumed", version: "1.0" });
  await makeWheel(src, { name: "resumed", version: "2.0" });
  const dstDir = join(tmp.path, "dst");
  const dst = await startServe(dstDir);
  // Every upload hangs unanswered (not forwarded): the run is killed with one upload in flight.
  const proxy = await startFaultProxy({
    target: dst.url,
    rules: [{ method: "POST", fault: { kind: "stall", ms: 600_000 } }],
  });
  const state = join(tmp.path, "st");
  const args = ["--from", "./src", "--to", proxy.url, "--state", state, "--concurrency", "1"];
  try {
    const child = spawn(process.execPath, [PYREG_BIN, "migrate", ...args], {
      cwd: tmp.path,
      stdio: "ignore",
    });
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    // Wait for the upload to reach the destination's door (bounded: 30 s of 20 ms polls).
    for (let i = 0; proxy.count("POST") === 0; i++) {
      assert.ok(i < 1500, "the upload never started");
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill("SIGKILL");
    await exited;
    proxy.setRules([]);
    const before = Journal.read(state).files.map((f) => `${f.filename}:${f.state}`);
    assert.ok(
      before.some((s) => s.endsWith(":uploading")),
      before.join(", "),
    );

    const plan = await runCli(["plan", ...args, "--json"], { cwd: tmp.path });
    assert.equal(plan.code, 0, plan.stderr);
    const resume = (JSON.parse(plan.stdout) as { resume: Resume }).resume;
    // Both are uncertain: the stalled one was sent, and the commit before its upload also marked
    // the project's other file, not started yet (the journal marks files ahead of their upload).
    assert.equal(resume.counts["uncertain"], 2);
    assert.equal(resume.counts["as-planned"] ?? 0, 0);
    // The one sent is the one whose attempt the journal counts.
    const stalled = Journal.read(state).files.find((f) => f.uploadAttempts === 1)?.filename as string;
    const other = resume.files.map((f) => f.filename).find((f) => f !== stalled) as string;
    assert.deepEqual(
      resume.files,
      [stalled, other].sort().map((filename) => ({ project: "resumed", filename, step: "uncertain" })),
    );
    for (const f of [stalled, other])
      assert.match(
        plan.stderr,
        new RegExp(`resume: ${f.replace(/\./g, "\\.")}: an interrupted run may have sent it`),
      );
    // migrate --dry-run says the same.
    const dry = await runCli(["migrate", ...args, "--json", "--dry-run"], { cwd: tmp.path });
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual((JSON.parse(dry.stdout) as { resume: Resume }).resume, resume);

    // The upload landed after all (the file appears at the destination): a resume records it.
    await copyFile(join(src, stalled), join(dstDir, stalled));
    const again = await runCli(["plan", ...args, "--json"], { cwd: tmp.path });
    assert.equal(again.code, 0, again.stderr);
    const r2 = (JSON.parse(again.stdout) as { resume: Resume }).resume;
    assert.deepEqual(
      r2.files.find((f) => f.filename === stalled),
      { project: "resumed", filename: stalled, step: "landed" },
    );
    assert.deepEqual(
      r2.files.find((f) => f.filename === other),
      { project: "resumed", filename: other, step: "uncertain" },
    );

    // Reading changed nothing in the state folder.
    assert.deepEqual(
      Journal.read(state).files.map((f) => `${f.filename}:${f.state}`),
      before,
    );
    assert.deepEqual(
      (await readdir(dstDir)).filter((n) => n.endsWith(".whl")),
      [stalled],
    );
  } finally {
    await proxy.close();
    await dst.close();
    await tmp.cleanup();
  }
});
