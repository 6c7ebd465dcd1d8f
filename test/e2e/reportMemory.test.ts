/**
 * A report is written from the journal a row at a time: `pyreg report` of a journal of 200,000
 * files runs in a V8 heap far smaller than those files would take as objects (the old report read
 * the whole journal into memory and built the report as one object, and ran out of this heap),
 * and its process's peak memory does not grow with the journal (20 times the files, at most 1.2
 * times the peak resident set size).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { Journal } from "../../src/core/journal.js";
import { countLines, pyregToFiles } from "../helpers/bigOutput.js";
import { tempDir } from "../helpers/tmp.js";

const FILES = 200_000;
/** The smaller journal the peak memory of FILES is compared with. */
const SMALL_FILES = 10_000;
const PER_PROJECT = 10;
/** MB of V8 old space for the report process: the old code needed several hundred here. */
const HEAP_MB = 48;

/** Runs bin/pyreg with a small V8 heap, stdout to a file. */
function pyregSmallHeap(
  args: string[],
  stdoutPath: string,
): Promise<{ code: number | null; stderr: string }> {
  return pyregWith([`--max-old-space-size=${HEAP_MB}`], args, stdoutPath);
}

/** Runs bin/pyreg under node with these options, stdout to a file. */
function pyregWith(
  nodeOptions: string[],
  args: string[],
  stdoutPath: string,
): Promise<{ code: number | null; stderr: string }> {
  return pyregToFiles(nodeOptions, args, stdoutPath);
}

/** A real journal (schema, identity, a finished run), then `files` file rows written by SQL. */
function writeJournal(dir: string, files: number): void {
  const j = Journal.open(dir, {
    source: { key: "simple:https://old.example/simple/", description: "https://old.example/simple/" },
    destination: { key: "simple:https://new.example/", description: "https://new.example/" },
  });
  j.startRun({
    command: "migrate",
    argv: ["migrate", "--from", "https://old.example/simple/", "--to", "https://new.example/"],
    version: "0.0.0",
    source: "https://old.example/simple/",
    destination: "https://new.example/",
  });
  j.endRun("done", undefined, { copied: files });
  j.close();
  const db = new Database(join(dir, "journal.sqlite"));
  // Every 50th file failed (with a long server answer), every 7th carries an upload time.
  db.exec(`
    WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ${files})
    INSERT INTO files (project, filename, version, size, sha256, state, reason, code, class, server_answer,
      not_carried, run_id, first_run_id, upload_attempts, bytes, seconds, updated_at, verification)
    SELECT printf('project-%06d', i / ${PER_PROJECT}),
      printf('project_%06d-%d.0-py3-none-any.whl', i / ${PER_PROJECT}, i % ${PER_PROJECT}),
      printf('%d.0', i % ${PER_PROJECT}), 1000 + i, printf('%064x', i),
      CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'verified' END,
      CASE WHEN i % 50 = 0 THEN 'destination refused: HTTP 400' ELSE 'copied' END,
      CASE WHEN i % 50 = 0 THEN 'UPLOAD_REFUSED' END, CASE WHEN i % 50 = 0 THEN 'lasting' END,
      CASE WHEN i % 50 = 0 THEN '400 ' || hex(randomblob(100)) END,
      CASE WHEN i % 7 = 0 THEN '{"uploadTime":"2020-01-01T00:00:00Z"}' END,
      1, 1, 1, 1000 + i, 0.01, '2026-01-01T00:00:00Z',
      CASE WHEN i % 50 = 0 THEN NULL ELSE 'index:sha256' END
    FROM n;
    INSERT INTO projects (project, error, run_id)
      SELECT DISTINCT project, NULL, 1 FROM files;
  `);
  db.close();
}

/** The peak resident set size of a bin/pyreg process (KiB), as the process itself saw it at its exit. */
async function peakRss(
  dir: string,
  args: string[],
): Promise<{ code: number | null; stderr: string; kib: number }> {
  const out = join(dir, `rss-${Math.random().toString(36).slice(2)}.txt`);
  const hook = join(dir, "rss-at-exit.mjs");
  // process.resourceUsage().maxRSS: getrusage's ru_maxrss, in KiB (https://nodejs.org/api/process.html#processresourceusage).
  await writeFile(
    hook,
    `import { writeFileSync } from "node:fs";\nprocess.on("exit", () => writeFileSync(${JSON.stringify(out)}, String(process.resourceUsage().maxRSS)));\n`,
  );
  const r = await pyregWith(["--import", pathToFileURL(hook).href], args, join(dir, "printed-rss.json"));
  return { ...r, kib: Number(await readFile(out, "utf8")) };
}

describe("report of a large journal", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let state: string;
  let small: string;

  before(() => {
    return tempDir().then((t) => {
      tmp = t;
      state = join(tmp.path, "state");
      writeJournal(state, FILES);
      small = join(tmp.path, "small");
      writeJournal(small, SMALL_FILES);
    });
  });
  after(() => tmp.cleanup());

  test(`pyreg report of ${FILES.toLocaleString("en")} files runs in a ${HEAP_MB} MB heap`, async () => {
    const printed = join(tmp.path, "printed.json");
    const r = await pyregSmallHeap(["report", "--state", state, "--format", "json"], printed);
    assert.equal(r.code, 1, r.stderr); // incomplete: some files failed
    const failed = FILES / 50;
    const withNotes = Math.ceil(FILES / 7) - Math.ceil(FILES / 350); // every 7th, not the failed ones
    const json = join(state, "report.json");
    // Every file is in the report: in `files`, the failed ones again in `problems`, the notes in `notCarried`.
    assert.equal(await countLines(json, '"filename": '), FILES + failed + withNotes);
    assert.equal(await countLines(json, '"outcome": "failed"'), 2 * failed);
    assert.equal(await countLines(printed, '"filename": '), FILES + failed + withNotes);
    const head = (await readFile(json, "utf8")).slice(0, 4000);
    assert.match(head, new RegExp(`"totals": \\{\\n    "files": ${FILES},`));
    const md = await readFile(join(state, "report.md"), "utf8");
    assert.match(md, new RegExp(`\\| failed \\| ${failed} \\|`));
    assert.match(md, new RegExp(`<details><summary>${withNotes} files</summary>`));
    // Per project and version: a row per version of each project.
    assert.equal(md.split("\n").filter((l) => /^\| project-\d{6} \| \d+\.0 \|/.test(l)).length, FILES);
    assert.ok((await stat(json)).size > 100_000_000, "the report is larger than the heap it was written in");
  });

  test(`pyreg report's peak memory at ${FILES.toLocaleString("en")} files is at most 1.2 times its peak at ${SMALL_FILES.toLocaleString("en")}`, async () => {
    const args = (dir: string): string[] => ["report", "--state", dir, "--format", "json"];
    const low = await peakRss(tmp.path, args(small));
    assert.equal(low.code, 1, low.stderr);
    const high = await peakRss(tmp.path, args(state));
    assert.equal(high.code, 1, high.stderr);
    assert.ok(
      high.kib <= 1.2 * low.kib,
      `peak RSS ${Math.round(high.kib / 1024)} MiB at ${FILES} files against ${Math.round(low.kib / 1024)} MiB at ${SMALL_FILES}`,
    );
  });
});
