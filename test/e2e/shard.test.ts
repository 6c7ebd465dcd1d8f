/**
 * Sharding, end to end: `--shard K/N` on three "machines" (three runs, each with its own default
 * state folder) copies exactly what one unsharded run copies, each project on one shard only, and
 * `pyreg report --merge` combines the three journals into one report.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { Journal } from "../../src/core/journal.js";
import type { Report } from "../../src/core/report.js";
import { shardOf } from "../../src/core/shard.js";
import { makeCorpus, makeWheel } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { folderDigests, tempDir } from "../helpers/tmp.js";

describe("sharding", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let src: ServeHandle;
  let expected: Map<string, string>;

  before(async () => {
    tmp = await tempDir();
    const srcDir = join(tmp.path, "src");
    await mkdir(srcDir);
    await makeCorpus(srcDir);
    for (let p = 0; p < 12; p++) await makeWheel(srcDir, { name: `shard-pkg-${p}`, version: "1.0" });
    expected = await folderDigests(srcDir);
    src = await startServe(srcDir);
  });
  after(async () => {
    await src.close();
    await tmp.cleanup();
  });

  test("three shards together equal one unsharded run; report --merge combines them", async () => {
    const whole = await startServe(join(tmp.path, "whole"));
    const sharded = await startServe(join(tmp.path, "sharded"));
    try {
      const one = await runCli(["migrate", "--from", src.indexUrl, "--to", whole.url, "--json"], {
        cwd: tmp.path,
      });
      assert.equal(one.code, 0, one.stderr);

      // Each "machine" runs in the same working directory: default state folders must not collide.
      const perShard: string[][] = [];
      for (let k = 1; k <= 3; k++) {
        const r = await runCli(
          ["migrate", "--from", src.indexUrl, "--to", sharded.url, "--shard", `${k}/3`, "--json"],
          { cwd: tmp.path },
        );
        assert.equal(r.code, 0, r.stderr);
        const out = JSON.parse(r.stdout) as {
          state: string;
          outcomes: { filename: string; project: string }[];
        };
        assert.ok(out.state.endsWith(`-shard-${k}-of-3`), out.state);
        for (const o of out.outcomes)
          assert.equal(shardOf(o.project, 3), k, `${o.project} belongs to shard ${k}`);
        perShard.push(out.outcomes.map((o) => o.filename));
      }
      const all = perShard.flat();
      assert.equal(new Set(all).size, all.length, "no file is handled by two shards");
      assert.ok(
        perShard.every((s) => s.length > 0),
        "every shard had work",
      );
      const a = await folderDigests(join(tmp.path, "whole"));
      const b = await folderDigests(join(tmp.path, "sharded"));
      assert.deepEqual([...b.entries()].sort(), [...a.entries()].sort(), "sharded = unsharded");
      assert.deepEqual([...a.entries()].sort(), [...expected.entries()].sort(), "= the source");
      assert.equal(sharded.server.uploads, expected.size);

      const dirs = (await readdir(join(tmp.path, ".pyreg")))
        .filter((d) => d.includes("-shard-"))
        .sort()
        .map((d) => join(tmp.path, ".pyreg", d));
      assert.equal(dirs.length, 3);
      for (const d of dirs) assert.match(Journal.read(d).identity.shard ?? "", /^[123]\/3$/);

      const merged = await runCli(["report", "--merge", ...dirs, "--format", "json", "--report", "merged"], {
        cwd: tmp.path,
      });
      assert.equal(merged.code, 0, merged.stderr);
      const report = JSON.parse(merged.stdout) as Report;
      assert.deepEqual(report.shards, ["1/3", "2/3", "3/3"]);
      assert.deepEqual(report.missingShards, []);
      assert.equal(report.totals.files, expected.size);
      assert.equal(report.totals.byOutcome.copied.files, expected.size);
      assert.deepEqual(
        report.files.map((f) => [f.filename, f.sha256]).sort(),
        [...expected.entries()].sort(),
      );
      assert.equal(report.runs.length, 3);
      const md = await runCli(["report", "--merge", ...dirs.slice(0, 2)], { cwd: tmp.path });
      assert.equal(md.code, 1, "two of three shards: incomplete");
      assert.match(md.stdout, /\*\*Incomplete:\*\* no journal for shard 3\/3/);
      assert.match(md.stderr, /covers only part of the migration/);
    } finally {
      await whole.close();
      await sharded.close();
    }
  });

  test("--shard is checked", async () => {
    for (const bad of ["0/3", "4/3", "1/0", "x", "1/"]) {
      const r = await runCli([
        "migrate",
        "--from",
        src.indexUrl,
        "--to",
        join(tmp.path, "x"),
        "--shard",
        bad,
      ]);
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, /--shard/);
    }
  });
});
