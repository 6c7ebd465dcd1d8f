/**
 * One option set for plan, migrate and verify, and output people can read: migrate --dry-run is
 * plan; plan --shard K/N previews one shard; plan creates nothing; options that change the
 * destination are only in migrate's help; a bare word is refused (pypirc.test.ts); plural forms;
 * list --json prints nothing but JSON.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { makeWheel } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { tempDir } from "../helpers/tmp.js";
import { formatTotal, plural } from "../../src/core/units.js";

interface PlanDoc {
  projects: { project: string; files: { filename: string; action: string }[] }[];
}

describe("commands share their options", () => {
  let tmp: { path: string; cleanup(): Promise<void> };

  before(async () => {
    tmp = await tempDir();
    const src = join(tmp.path, "src");
    await mkdir(src);
    for (const name of ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"])
      await makeWheel(src, { name, version: "1.0" });
  });
  after(async () => {
    await tmp?.cleanup();
  });

  test("plan --json -q: every file in the document, only the summary on stderr (as -q's help says)", async () => {
    const r = await runCli(["plan", "--from", "./src", "--to", "./out", "--json", "-q"], { cwd: tmp.path });
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as PlanDoc;
    assert.equal(doc.projects.flatMap((p) => p.files).length, 6);
    assert.doesNotMatch(r.stderr, /copy\s+alpha/, "no line per file on stderr");
    assert.doesNotMatch(r.stderr, /^# (from|to) /m, "nor the source and destination (in the document)");
    assert.match(r.stderr, /^plan: 6 to copy .*; 6 projects$/m);
    // Without -q the lines are there, on stderr (stdout is the document).
    const loud = await runCli(["plan", "--from", "./src", "--to", "./out", "--json"], { cwd: tmp.path });
    assert.match(loud.stderr, /copy\s+alpha-1\.0-py3-none-any\.whl/);
  });

  test("migrate --dry-run is plan: same JSON, nothing uploaded, no destination folder, no state", async () => {
    const plan = await runCli(["plan", "--from", "./src", "--to", "./out", "--json"], { cwd: tmp.path });
    assert.equal(plan.code, 0, plan.stderr);
    const dry = await runCli(["migrate", "--from", "./src", "--to", "./out", "--json", "--dry-run"], {
      cwd: tmp.path,
    });
    assert.equal(dry.code, 0, dry.stderr);
    assert.deepEqual(JSON.parse(dry.stdout), JSON.parse(plan.stdout));
    const doc = JSON.parse(plan.stdout) as PlanDoc;
    assert.equal(doc.projects.length, 6);
    assert.ok(doc.projects.every((p) => p.files.every((f) => f.action === "copy")));
    assert.equal(existsSync(join(tmp.path, "out")), false, "plan and --dry-run create no destination folder");
    assert.equal(existsSync(join(tmp.path, ".pyreg")), false, "nor a state folder");
    assert.match(plan.stderr, /6 to copy .*; 6 projects/);
  });

  test("plan --shard K/N previews one shard: the shards split the projects", async () => {
    const names: string[][] = [];
    for (const k of [1, 2]) {
      const r = await runCli(["plan", "--from", "./src", "--to", "./out", "--json", "--shard", `${k}/2`], {
        cwd: tmp.path,
      });
      assert.equal(r.code, 0, r.stderr);
      names.push((JSON.parse(r.stdout) as PlanDoc).projects.map((p) => p.project));
    }
    const [a, b] = names as [string[], string[]];
    assert.ok(a.length > 0 && b.length > 0);
    assert.deepEqual([...a, ...b].sort(), ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]);
  });

  test("--create-repository is only in migrate's help", async () => {
    for (const [cmd, has] of [
      ["plan", false],
      ["verify", false],
      ["migrate", true],
    ] as const) {
      const r = await runCli([cmd, "--help"], { cwd: tmp.path });
      assert.equal(r.code, 0);
      assert.equal(r.stdout.includes("--create-repository"), has, cmd);
    }
    // The help is grouped, with the same headings and order in plan, migrate and verify.
    const headings = (text: string): string[] => text.split("\n").filter((l) => /^[A-Z][^:]*:$/.test(l));
    const planHelp = (await runCli(["plan", "--help"], { cwd: tmp.path })).stdout;
    const verifyHelp = (await runCli(["verify", "--help"], { cwd: tmp.path })).stdout;
    for (const h of [
      "Registries:",
      "Output:",
      "Selection:",
      "Connection:",
      "State (resume, reports, sharding):",
    ]) {
      assert.ok(headings(planHelp).includes(h), `plan --help: ${h}`);
      assert.ok(headings(verifyHelp).includes(h), `verify --help: ${h}`);
    }
    const stateBlock = planHelp.slice(planHelp.indexOf("State (resume, reports, sharding):"));
    assert.match(stateBlock.slice(0, stateBlock.indexOf("\n\n")), /--shard <K\/N>[\s\S]*--state <dir>/);
    const r = await runCli(["plan", "--from", "./src", "--to", "./out", "--create-repository"], {
      cwd: tmp.path,
    });
    assert.equal(r.code, 2);
  });

  test("list: plural forms, and --json prints nothing but JSON (no listing on stderr)", async () => {
    const one = join(tmp.path, "one");
    await mkdir(one);
    await makeWheel(one, { name: "single", version: "1.0" });
    const human = await runCli(["list", "./one"], { cwd: tmp.path });
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /^1 project, 1 file, \d/m);
    const json = await runCli(["list", "./one", "--json"], { cwd: tmp.path });
    assert.equal(json.code, 0, json.stderr);
    JSON.parse(json.stdout);
    assert.doesNotMatch(json.stderr, /single-1\.0|1 project/);
    assert.equal(plural(2, "file"), "2 files");
    assert.equal(formatTotal(0, 3), "unknown size");
    assert.equal(formatTotal(2048, 1), "2.0 KiB + 1 file of unknown size");
  });
});
