/**
 * bin/pyreg runs the CLI's bundle with a V8 code cache beside it (src/cli/codeCache.ts): made by
 * the first run, taken as it is by the next, and never used for another bundle, even one of the
 * same length (V8 would take it: it checks only the source's length).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { REPO_ROOT } from "./helpers/cli.js";
import { tempDir } from "./helpers/tmp.js";

const LOADER = pathToFileURL(join(REPO_ROOT, "dist", "src", "cli", "codeCache.js")).href;

/** A stand-in for the bundle: a CommonJS script whose main prints its word and the argv it got. */
const bundleSource = (word: string): string =>
  `exports.main = async (argv) => { process.stdout.write(${JSON.stringify(word)} + " " + argv.slice(2).join(",")); };\n`;

/** Runs the bundle at `file` the way bin/pyreg does, in a process of its own. */
function run(file: string): string {
  const script = `const { runBundle } = await import(${JSON.stringify(LOADER)});
await runBundle(${JSON.stringify(file)}, [process.argv[0], "pyreg", "a", "b"]);`;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
  return r.stdout;
}

let tmp: { path: string; cleanup(): Promise<void> };
before(async () => {
  tmp = await tempDir();
});
after(() => tmp.cleanup());

test("the first run writes the cache beside the bundle; the next takes it without writing again", () => {
  const file = join(tmp.path, "first", "pyreg.cjs");
  mkdirSync(join(tmp.path, "first"));
  writeFileSync(file, bundleSource("one"));
  assert.equal(run(file), "one a,b");
  const caches = readdirSync(join(tmp.path, "first")).filter((f) => f.endsWith(".cache"));
  assert.deepEqual(caches, [`pyreg.cjs.${process.version}-${process.arch}.cache`]);
  const cache = join(tmp.path, "first", caches[0] as string);
  const made = statSync(cache).mtimeMs;
  assert.equal(run(file), "one a,b");
  assert.equal(statSync(cache).mtimeMs, made, "a cache V8 took is not written again");
});

test("a rebuilt bundle of the same length runs its own code, and its cache replaces the old one", () => {
  const dir = join(tmp.path, "rebuilt");
  mkdirSync(dir);
  const file = join(dir, "pyreg.cjs");
  writeFileSync(file, bundleSource("old"));
  assert.equal(run(file), "old a,b");
  const cache = join(dir, `pyreg.cjs.${process.version}-${process.arch}.cache`);
  const made = statSync(cache).mtimeMs;
  writeFileSync(file, bundleSource("new"));
  assert.equal(run(file), "new a,b");
  assert.ok(statSync(cache).mtimeMs > made, "the cache was made again, for the new bundle");
  assert.equal(run(file), "new a,b");
  assert.deepEqual(
    readdirSync(dir).filter((f) => f.includes(".tmp")),
    [],
    "no temporary file is left",
  );
});
