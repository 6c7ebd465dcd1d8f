/**
 * plan is made a project at a time: `pyreg plan --json` of 200,000 files (read from a PEP 691
 * index served by a real HTTP server) runs in a V8 heap far smaller than those files take as
 * objects. The plan used to be collected whole before anything was printed, and ran out of this heap.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import type { Server } from "node:http";
import { join } from "node:path";
import { countLines, pyregToFiles } from "../helpers/bigOutput.js";
import { startGeneratedIndex } from "../helpers/generatedIndex.js";
import { tempDir } from "../helpers/tmp.js";

const FILES = 200_000;
const PER_PROJECT = 100;
const PROJECTS = FILES / PER_PROJECT;
/** MB of V8 old space for the plan process: the old plan needed several hundred here. */
const HEAP_MB = 48;

const projectName = (p: number): string => `big-${String(p).padStart(5, "0")}`;
const filename = (p: number, i: number): string =>
  `big_${String(p).padStart(5, "0")}-1.${i}.0-py3-none-any.whl`;
const sha256 = (p: number, i: number): string => createHash("sha256").update(`${p}/${i}`).digest("hex");

/**
 * A PEP 691 JSON index of FILES wheels made from their names (nothing on disk): /simple/ for the
 * source, /dst/simple/ for the destination, which lists every even-numbered file with the source's
 * sha256 (planned as skip) and none of the odd ones (planned as copy).
 */
function startIndex(): Promise<{ url: string; server: Server }> {
  return startGeneratedIndex({
    projects: PROJECTS,
    projectName,
    page: (p, side) => {
      const files = [];
      for (let i = 0; i < PER_PROJECT; i++) {
        if (side === "dst/simple" && i % 2) continue;
        const f = filename(p, i);
        files.push({ filename: f, url: `/files/${f}`, hashes: { sha256: sha256(p, i) }, size: 1000 + i });
      }
      return { files };
    },
  });
}

/** Runs bin/pyreg with a small V8 heap, stdout and stderr to files. */
async function pyregSmallHeap(
  args: string[],
  stdoutPath: string,
  stderrPath: string,
): Promise<number | null> {
  return (await pyregToFiles([`--max-old-space-size=${HEAP_MB}`], args, stdoutPath, stderrPath)).code;
}

describe("plan of a large source", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let index: { url: string; server: Server };

  before(async () => {
    tmp = await tempDir();
    index = await startIndex();
  });
  after(async () => {
    await new Promise((r) => index.server.close(r));
    await tmp.cleanup();
  });

  test(`pyreg plan --json of ${FILES.toLocaleString("en")} files runs in a ${HEAP_MB} MB heap`, async () => {
    const stdout = join(tmp.path, "plan.json");
    const stderr = join(tmp.path, "plan.err");
    const code = await pyregSmallHeap(
      [
        "plan",
        "--from",
        `${index.url}simple/`,
        "--to",
        `${index.url}upload/`,
        "--to-index",
        `${index.url}dst/simple/`,
        "--json",
      ],
      stdout,
      stderr,
    );
    assert.equal(code, 0, (await readFile(stderr, "utf8")).slice(-4000));
    // Every file is in the document with its action, and in the human lines (on stderr with --json).
    assert.equal(await countLines(stdout, '"action": "copy"'), FILES / 2);
    assert.equal(await countLines(stdout, '"action": "skip"'), FILES / 2);
    // A project's own name (its files name it too, further in).
    assert.equal(await countLines(stdout, /^ {6}"project": "big-\d{5}",$/), PROJECTS);
    assert.equal(await countLines(stderr, "+ copy     big_"), FILES / 2);
    assert.equal(await countLines(stderr, "= skip     big_"), FILES / 2);
    const head = (await readFile(stdout, "utf8")).slice(0, 4000);
    assert.match(head, /"command": "plan"/);
    assert.match(head, new RegExp(`"counts": \\{\\n    "copy": ${FILES / 2},\\n    "skip": ${FILES / 2},`));
    const err = await readFile(stderr, "utf8");
    assert.match(
      err,
      new RegExp(
        `plan: ${FILES / 2} to copy \\([^)]*\\), ${FILES / 2} already there, .*; ${PROJECTS} projects`,
      ),
    );
    assert.ok((await stat(stdout)).size > HEAP_MB * 1_000_000, "the document is larger than the heap");
  });
});
