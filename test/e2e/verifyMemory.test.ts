/**
 * verify works a project at a time: `pyreg verify` of 100,000 files runs in a V8 heap far smaller
 * than those files' results would take as objects (the old verify held every file's row until the
 * end and ran out of this heap), and its --json document, its per-file lines and its --report still
 * name every file not found the same and every file the selection left out.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { Server } from "node:http";
import { join } from "node:path";
import { countLines, pyregToFiles } from "../helpers/bigOutput.js";
import { startGeneratedIndex } from "../helpers/generatedIndex.js";
import { tempDir } from "../helpers/tmp.js";

const PROJECTS = 1_000;
const PER_PROJECT = 100;
const FILES = PROJECTS * PER_PROJECT;
/** --latest 90 leaves out the 10 lowest versions of each project. */
const KEPT = 90;
/** MB of V8 old space for the verify process: the old code needed several times more. */
const HEAP_MB = 48;

const projectName = (p: number): string => `proj-${String(p).padStart(5, "0")}`;
const filename = (p: number, i: number): string =>
  `proj_${String(p).padStart(5, "0")}-1.${i}.0-py3-none-any.whl`;
const digest = (text: string): string => createHash("sha256").update(text).digest("hex");
/** Of each project's kept versions, 1.50.0 is missing at the destination and 1.51.0 differs. */
const MISSING = 50;
const DIFFERENT = 51;

/**
 * A PEP 691 JSON source (/simple/) and destination index (/dst/simple/) of FILES files, made on
 * request: verify compares the listings' sha256 and reads no file.
 */
function startIndexes(): Promise<{ url: string; server: Server }> {
  return startGeneratedIndex({
    projects: PROJECTS,
    projectName,
    page: (p, side) => {
      const dst = side === "dst/simple";
      const files = [];
      for (let i = 0; i < PER_PROJECT; i++) {
        if (dst && i === MISSING) continue;
        const f = filename(p, i);
        files.push({
          filename: f,
          url: `/files/${f}`,
          hashes: { sha256: digest(dst && i === DIFFERENT ? `other ${f}` : f) },
          size: 1000,
        });
      }
      return { files, versions: files.map((_, i) => `1.${i}.0`) };
    },
  });
}

/** Runs bin/pyreg with a small V8 heap, stdout to a file. */
function pyregSmallHeap(
  args: string[],
  stdoutPath: string,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  return pyregToFiles([`--max-old-space-size=${HEAP_MB}`], args, stdoutPath);
}

describe("verify of a large source", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let server: Server;
  let url: string;

  before(async () => {
    tmp = await tempDir();
    ({ server, url } = await startIndexes());
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    await tmp.cleanup();
  });

  test(`pyreg verify of ${FILES.toLocaleString("en")} files runs in a ${HEAP_MB} MB heap`, async () => {
    const printed = join(tmp.path, "verify.json");
    const report = join(tmp.path, "check");
    const r = await pyregSmallHeap(
      [
        "verify",
        "--from",
        `${url}simple/`,
        "--to",
        `${url}upload/`,
        "--to-index",
        `${url}dst/simple/`,
        "--state",
        join(tmp.path, "no-journal"),
        "--latest",
        String(KEPT),
        "--report",
        report,
        "--json",
      ],
      printed,
    );
    assert.equal(r.code, 1, `exit ${r.code} (${r.signal ?? "no signal"}): ${r.stderr.slice(-2000)}`);
    const checked = PROJECTS * KEPT;
    const doc = JSON.parse(await readFile(printed, "utf8")) as {
      counts: Record<string, number>;
      notVerified: { filename: string; status: string }[];
      filteredFiles: { filename: string; rule: string }[];
      verifiedBy: Record<string, number>;
    };
    assert.deepEqual(doc.counts, {
      files: checked,
      ok: checked - 2 * PROJECTS,
      missing: PROJECTS,
      different: PROJECTS,
      unverifiable: 0,
    });
    assert.deepEqual(doc.verifiedBy, { "index:sha256": checked - PROJECTS });
    // Every file not found the same, projects in order and files by name within each.
    const expected = Array.from({ length: PROJECTS }, (_, p) => [
      { filename: filename(p, MISSING), status: "missing" },
      { filename: filename(p, DIFFERENT), status: "different" },
    ]).flat();
    assert.deepEqual(
      doc.notVerified.map((f) => ({ filename: f.filename, status: f.status })),
      expected,
    );
    assert.equal(doc.filteredFiles.length, PROJECTS * (PER_PROJECT - KEPT));
    assert.equal(doc.filteredFiles[0]?.filename, filename(0, 0));
    // The same files on stderr, one line each, as the projects are checked.
    const lines = r.stderr.split("\n").filter((l) => /^(missing|different) +proj_/.test(l));
    assert.deepEqual(
      lines.map((l) => l.split(/ +/)[1]),
      expected.map((f) => f.filename),
    );
    // The report (from a temporary journal: no state folder was made) counts them too.
    const json = `${report}.json`;
    assert.equal(await countLines(json, '"status": "missing"'), PROJECTS);
    assert.equal(await countLines(json, '"status": "different"'), PROJECTS);
    assert.match(await readFile(`${report}.md`, "utf8"), new RegExp(`${checked - 2 * PROJECTS}`));
  });
});
