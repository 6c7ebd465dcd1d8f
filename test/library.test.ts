/**
 * The library API (src/index.ts), in process: tagged results, events, the AbortSignal, and errors
 * that are not pyreg's passed through as they are.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  list,
  migrate,
  openRegistry,
  plan,
  report,
  verify,
  PyregError,
  type PyregEvent,
} from "../src/index.js";
import { makeCorpus, type CorpusFile } from "./fixtures/dists.js";
import { folderDigests, tempDir } from "./helpers/tmp.js";

describe("the library API", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let corpus: CorpusFile[];
  let srcDir: string;

  before(async () => {
    tmp = await tempDir("pyreg-lib-");
    srcDir = join(tmp.path, "src");
    await mkdir(srcDir);
    corpus = await makeCorpus(srcDir);
  });
  after(async () => {
    await tmp.cleanup();
  });

  test("plan, migrate, verify, report and list: tagged results, progress as events", async () => {
    const dst = join(tmp.path, "dst");
    await mkdir(dst);
    const state = join(tmp.path, "state");
    const p = await plan(srcDir, dst);
    assert.equal(p.status, "ok");
    if (p.status !== "ok") return;
    assert.equal(p.counts.copy, corpus.length);

    const events: PyregEvent[] = [];
    const m = await migrate(srcDir, dst, { state, onEvent: (e) => events.push(e) });
    assert.equal(m.status, "ok");
    if (m.status !== "ok") return;
    assert.equal(m.counts.copied, corpus.length);
    assert.equal(m.notAttempted, 0);
    assert.equal(m.state, state);
    assert.match(await readFile(m.report, "utf8"), /# /);
    const outcomes = events.filter((e) => e.type === "outcome");
    assert.equal(outcomes.length, corpus.length, "one outcome event per file");
    assert.deepEqual(
      events.filter((e) => e.type === "phase").map((e) => (e.type === "phase" ? e.phase : "")),
      ["planning", "transferring"],
    );
    assert.deepEqual(
      [...(await folderDigests(dst)).entries()].sort(),
      corpus.map((f) => [f.filename, f.sha256]).sort(),
    );

    const checked: PyregEvent[] = [];
    const v = await verify(srcDir, dst, { state, onEvent: (e) => checked.push(e) });
    assert.equal(v.status, "ok");
    if (v.status === "ok") assert.equal(v.counts.ok, corpus.length);
    // Each file's result comes as an event (the result holds counts).
    assert.deepEqual(
      checked.flatMap((e) => (e.type === "checked" ? [[e.file.filename, e.status]] : [])).sort(),
      corpus.map((f) => [f.filename, "ok"]).sort(),
    );
    const r = await report({ state });
    assert.equal(r.status, "ok");
    const l = await list(dst);
    assert.equal(l.status, "ok");
    if (l.status === "ok") assert.equal(l.projects.flatMap((x) => x.files).length, corpus.length);

    const again = await migrate(srcDir, dst, { state });
    assert.equal(again.status, "ok");
    if (again.status === "ok") assert.equal(again.counts.skipped, corpus.length);
  });

  test("a pyreg error is an 'error' result; the AbortSignal gives 'interrupted'", async () => {
    const missing = await migrate(join(tmp.path, "nowhere"), join(tmp.path, "d2"), {
      state: join(tmp.path, "s2"),
    });
    assert.equal(missing.status, "error");
    if (missing.status === "error") assert.ok(missing.error instanceof PyregError);

    const dst = join(tmp.path, "d3");
    await mkdir(dst);
    const stopped = await migrate(srcDir, dst, { state: join(tmp.path, "s3"), signal: AbortSignal.abort() });
    assert.equal(stopped.status, "interrupted");
    if (stopped.status === "interrupted")
      assert.match(stopped.message, /interrupted while reading the indexes/);
    assert.deepEqual([...(await folderDigests(dst)).keys()], [], "nothing was copied");
    const signal = AbortSignal.abort();
    assert.equal((await plan(srcDir, dst, { signal })).status, "interrupted");
    assert.equal((await list(srcDir, { signal })).status, "interrupted");
    assert.equal((await verify(srcDir, dst, { state: join(tmp.path, "s5"), signal })).status, "interrupted");
  });

  test("an error that is not pyreg's (a TypeError) is thrown as it is, never relabelled", async () => {
    const dst = join(tmp.path, "d4");
    await mkdir(dst);
    const bug = new TypeError("a bug in the caller's handler");
    await assert.rejects(
      migrate(srcDir, dst, {
        state: join(tmp.path, "s4"),
        onEvent: (e) => {
          if (e.type === "phase" && e.phase === "transferring") throw bug;
        },
      }),
      (err: unknown) => err === bug,
    );
  });

  test("openRegistry opens a folder as a source", async () => {
    const src = await openRegistry(srcDir, "source");
    try {
      assert.equal(src.kind, "folder");
      assert.ok((await src.listProjects()).length > 0);
    } finally {
      await src.close();
    }
  });
});
