/**
 * Reports, end to end: the state folder's reports (report.json / report.md, --report, `pyreg
 * report`), checked against the destination's real contents; the journal's pair check
 * (--reset-state) and --retry-failed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFile, mkdir, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { Journal } from "../../src/core/journal.js";
import type { Report } from "../../src/core/report.js";
import { makeCorpus, makeWheel, type CorpusFile } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { folderDigests, tempDir } from "../helpers/tmp.js";

const PASSWORD = "s3cret-Pa55word";

describe("reports and the state folder", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let corpus: CorpusFile[];
  let srcDir: string;
  let dstDir: string;
  let src: ServeHandle;
  let dst: ServeHandle;
  let toUrl: string;
  let identical: CorpusFile;
  let conflicting: CorpusFile;
  let state: string;

  before(async () => {
    tmp = await tempDir();
    srcDir = join(tmp.path, "src");
    dstDir = join(tmp.path, "dst");
    await mkdir(srcDir);
    await mkdir(dstDir);
    corpus = await makeCorpus(srcDir);
    // The destination already has one file of the source, and another build under a source name.
    identical = corpus.find((f) => f.kind === "wheel") as CorpusFile;
    await copyFile(identical.path, join(dstDir, identical.filename));
    conflicting = corpus.find((f) => f.kind === "sdist" && f.filename.endsWith(".tar.gz")) as CorpusFile;
    const other = join(tmp.path, "other");
    await mkdir(other);
    const otherPath = await makeWheel(other, { name: "conflict-pkg", version: "1.0", summary: "other" });
    // A wheel cannot stand in for a tar.gz name: give the destination a file of that exact name.
    await copyFile(otherPath, join(dstDir, conflicting.filename));
    src = await startServe(srcDir);
    dst = await startServe(dstDir, { auth: { username: "alice", password: PASSWORD } });
    toUrl = dst.url.replace("http://", `http://alice:${PASSWORD}@`);
    state = join(tmp.path, "state");
  });
  after(async () => {
    await src.close();
    await dst.close();
    await tmp.cleanup();
  });

  test("migrate writes report.json and report.md that match the destination", async () => {
    const extra = join(tmp.path, "audit", "migration");
    await mkdir(join(tmp.path, "audit"));
    const r = await runCli([
      "migrate",
      "--from",
      src.indexUrl,
      "--to",
      toUrl,
      "--state",
      state,
      "--report",
      extra,
    ]);
    assert.equal(r.code, 1, r.stderr); // the conflict makes it exit 1
    const report = JSON.parse(await readFile(join(state, "report.json"), "utf8")) as Report;
    const there = await folderDigests(dstDir);

    const copied = report.files.filter((f) => f.outcome === "copied");
    const expectCopied = corpus.filter((f) => f !== identical && f !== conflicting);
    assert.deepEqual(copied.map((f) => f.filename).sort(), expectCopied.map((f) => f.filename).sort());
    for (const f of copied) assert.equal(there.get(f.filename), f.sha256, `${f.filename} at the destination`);
    assert.equal(report.totals.byOutcome.copied.files, expectCopied.length);
    assert.equal(
      report.totals.byOutcome.copied.bytes,
      expectCopied.reduce((n, f) => n + f.size, 0),
    );
    assert.deepEqual(
      report.problems.map((f) => [f.filename, f.outcome]).sort(),
      [
        [identical.filename, "skipped"],
        [conflicting.filename, "conflict"],
      ].sort(),
    );
    const c = report.problems.find((f) => f.outcome === "conflict");
    assert.equal(c?.destinationSha256, there.get(conflicting.filename));
    assert.match(c?.reason ?? "", /another sha256/);
    assert.equal(report.totals.files, corpus.length);
    // Per project and version: the sums agree with the files.
    const perVersion = report.projects.flatMap((p) => p.versions);
    assert.equal(
      perVersion.reduce((n, v) => n + v.files, 0),
      corpus.length,
    );
    // pyreg serve publishes upload times; the upload protocol cannot carry them.
    assert.equal(report.notCarried.length, expectCopied.length);
    assert.ok(report.notCarried.every((n) => typeof n.uploadTime === "string"));
    assert.equal(report.runs.length, 1);
    assert.equal(report.runs[0]?.status, "done");
    assert.equal(report.tool.version, JSON.parse(await readFile("package.json", "utf8")).version);
    assert.match(report.command, /^pyreg migrate --from /);

    // No credentials anywhere: reports, journal, output.
    const md = await readFile(join(state, "report.md"), "utf8");
    const journalBytes = await readFile(join(state, "journal.sqlite"));
    for (const text of [JSON.stringify(report), md, r.stdout, r.stderr, journalBytes.toString("latin1")]) {
      assert.ok(!text.includes(PASSWORD), "the password is never written");
    }
    assert.ok(report.command.includes("http://***@127.0.0.1"), report.command);

    // The Markdown: a summary table and one row per project and version, with the right counts.
    assert.match(md, /^\| Outcome \| Files \| Bytes \| Meaning \|$/m);
    assert.match(md, new RegExp(`^\\| copied \\| ${expectCopied.length} \\| `, "m"));
    assert.match(
      md,
      /^\| Project \| Version \| Files \| Copied \| Skipped \| Conflict \| Failed \| Filtered \| Other \|$/m,
    );
    for (const p of report.projects) {
      for (const v of p.versions) {
        const row = `| ${p.project} | ${v.version} | ${v.files} | ${v.byOutcome.copied} | ${v.byOutcome.skipped} | ${v.byOutcome.conflict} | ${v.byOutcome.failed} |`;
        assert.ok(md.includes(row), `row for ${p.project} ${v.version}: ${row}`);
      }
    }
    assert.ok(
      md.includes(`| ${conflicting.filename} | conflict |`),
      "the conflict is listed with its reason",
    );
    // Every table row has the same number of cells as its header.
    for (const block of md.split(/\n\n/).filter((b) => b.startsWith("| "))) {
      const lines = block.split("\n");
      const width = (l: string): number => l.replace(/\\\|/g, "").split("|").length;
      for (const l of lines) assert.equal(width(l), width(lines[0] as string), l);
    }

    // --report PATH: the same report beside it.
    const copy = JSON.parse(await readFile(`${extra}.json`, "utf8")) as Report;
    assert.deepEqual(copy.files, report.files);
    assert.equal(await readFile(`${extra}.md`, "utf8"), md);
  });

  test("verify adds its results; pyreg report re-renders from the journal", async () => {
    const v = await runCli(["verify", "--from", src.indexUrl, "--to", toUrl, "--state", state]);
    assert.equal(v.code, 1, v.stderr); // the conflicting file differs
    const r = await runCli(["report", "--state", state, "--format", "json"]);
    assert.equal(r.code, 1, r.stderr); // a conflict: not complete
    const report = JSON.parse(r.stdout) as Report;
    assert.equal(report.runs.length, 2);
    assert.equal(report.runs[1]?.command, "verify");
    assert.deepEqual(report.verification?.counts, {
      ok: corpus.length - 1,
      missing: 0,
      different: 1,
      unverifiable: 0,
    });
    assert.deepEqual(
      report.verification?.problems.map((p) => p.filename),
      [conflicting.filename],
    );
    const md = await runCli(["report", "--state", state]);
    assert.match(md.stdout, /^## Verification \(verify run 2\)$/m);
    assert.match(md.stdout, /^\| different \| 1 \|$/m);
    assert.equal(
      md.stdout,
      await readFile(join(state, "report.md"), "utf8"),
      "report.md rewritten from the journal",
    );
  });

  test("a state folder of another pair: exit 2 naming both; --reset-state starts over", async () => {
    const otherDst = join(tmp.path, "other-dst");
    const r = await runCli(["migrate", "--from", src.indexUrl, "--to", otherDst, "--state", state]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /belongs to another migration/);
    assert.ok(
      r.stderr.includes(dst.url.replace("http://", "http://***@")) || r.stderr.includes(dst.url),
      r.stderr,
    );
    assert.ok(r.stderr.includes(otherDst), r.stderr);
    assert.match(r.stderr, /--state DIR/);
    assert.match(r.stderr, /--reset-state/);
    assert.ok(!r.stderr.includes(PASSWORD));
    const reset = await runCli([
      "migrate",
      "--from",
      src.indexUrl,
      "--to",
      otherDst,
      "--state",
      state,
      "--reset-state",
    ]);
    assert.equal(reset.code, 0, reset.stderr);
    const j = Journal.read(state);
    assert.equal(j.identity.destination.description, otherDst);
    assert.equal(j.runs.length, 1);
    assert.equal((await folderDigests(otherDst)).size, corpus.length);
  });

  test("--retry-failed: a lasting failure is carried over until asked", async () => {
    const d = await tempDir();
    try {
      const bad = join(d.path, "src");
      await mkdir(bad);
      await makeWheel(bad, { name: "good-pkg", version: "1.0" });
      // A mislabeled file: its metadata says 1.0, its name says 2.0 (BAD_METADATA, not uploaded).
      const p = await makeWheel(bad, { name: "bad-pkg", version: "1.0" });
      const mislabeled = "bad_pkg-2.0-py3-none-any.whl";
      await rename(p, join(bad, mislabeled));
      const s = await startServe(bad);
      const closers: (() => Promise<void>)[] = [];
      const gets = (): number => s.logs.filter((l) => l.startsWith(`GET /files/${mislabeled} `)).length;
      try {
        const out = await startServe(join(d.path, "dst"));
        closers.push(() => out.close());
        const st = join(d.path, "state");
        // An upload destination: the metadata is read (a folder destination takes bytes as they are).
        const args = ["migrate", "--from", s.indexUrl, "--to", out.url, "--state", st];
        const first = await runCli(args);
        assert.equal(first.code, 1, first.stderr);
        assert.match(first.stderr, new RegExp(`failed: ${mislabeled}: .*Version`));
        const n1 = gets();
        assert.ok(n1 >= 1);

        const second = await runCli(args);
        assert.equal(second.code, 1, second.stderr);
        assert.match(second.stderr, /not tried again \(--retry-failed does\)/);
        assert.equal(gets(), n1, "the failed file was not downloaded again");

        const third = await runCli([...args, "--retry-failed"]);
        assert.equal(third.code, 1, third.stderr);
        assert.ok(gets() > n1, "--retry-failed downloaded it again");
        const j = Journal.read(st);
        const row = j.files.find((f) => f.filename === mislabeled);
        assert.equal(row?.state, "failed");
        assert.equal(row?.code, "BAD_METADATA");
        assert.equal(row?.runId, 3);
        assert.equal(j.files.find((f) => f.project === "good-pkg")?.state, "verified");
      } finally {
        await s.close();
        for (const c of closers) await c();
      }
    } finally {
      await d.cleanup();
    }
  });
});
