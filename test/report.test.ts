/** Report rendering, --report paths, the shard hash and the progress display. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { FileRow, JournalData } from "../src/core/journal.js";
import {
  buildReport,
  cell,
  outcomeOf,
  renderJsonPieces,
  renderMarkdown,
  type Report,
} from "../src/core/report.js";
import { parseShard, shardOf } from "../src/core/shard.js";
import { redactedBatches, reportPaths } from "../src/cli/report.js";
import { registerSecret } from "../src/http/redact.js";
import { chooseMode, Progress, statusText } from "../src/cli/progress.js";
import type { DistFile } from "../src/core/model.js";

function row(p: Partial<FileRow> & { filename: string; state: FileRow["state"] }): FileRow {
  return {
    project: "pkg",
    version: "1.0",
    size: 10,
    sha256: "a".repeat(64),
    reason: null,
    code: null,
    class: null,
    serverAnswer: null,
    destinationSha256: null,
    notCarried: null,
    runId: 1,
    firstRunId: 1,
    uploadAttempts: 0,
    bytes: null,
    seconds: null,
    updatedAt: "2026-01-01T00:00:00Z",
    ...p,
  };
}

function journal(files: FileRow[], shard?: string): JournalData {
  return {
    dir: `/state/${shard ?? "x"}`,
    identity: {
      source: { key: "s", description: "https://old.example/simple/" },
      destination: { key: "d", description: "https://new.example/" },
      shard,
    },
    runs: [
      {
        id: 1,
        command: "migrate",
        argv: ["migrate", "--from", "https://***@old.example/simple/", "--to", "https://new.example/"],
        version: "9.9.9",
        source: "s",
        destination: "d",
        shard: shard ?? null,
        startedAt: "2026-01-01T00:00:00.000Z",
        endedAt: "2026-01-01T00:01:30.000Z",
        status: "done",
        message: null,
        counts: { copied: 1, skipped: 1, conflict: 0, failed: 1 },
      },
    ],
    files,
    projects: [
      { project: "pkg", error: null, runId: 1 },
      { project: "gone", error: "HTTP 500 from the index", runId: 1 },
    ],
    checks: [],
    selection: [],
    ignored: [],
    warnings: [],
  };
}

describe("report", () => {
  const files = [
    row({
      filename: "pkg-1.0-py3-none-any.whl",
      state: "verified",
      uploadAttempts: 1,
      notCarried: {
        uploadTime: "2020-01-01T00:00:00Z",
        yanked: "broken | do not use",
        notes: { status: "hidden" },
      },
    }),
    row({ filename: "pkg-1.0.tar.gz", state: "skipped", reason: "already at the destination", size: 20 }),
    row({
      filename: "pkg-2.0-py3-none-any.whl",
      version: "2.0",
      state: "failed",
      code: "UPLOAD_REFUSED",
      reason: "destination refused: HTTP 400",
      serverAnswer: "400 Invalid | value\nsecond line",
    }),
    row({ filename: "pkg-3.0.tar.gz", version: "3.0", state: "uploading" }),
  ];

  test("counts and bytes by outcome, per project and version, problems, not carried over", () => {
    const r = buildReport([journal(files)], "9.9.9");
    assert.equal(r.totals.files, 4);
    assert.deepEqual(r.totals.byOutcome.copied, { files: 1, bytes: 10, unknownSizes: 0 });
    assert.deepEqual(r.totals.byOutcome.skipped, { files: 1, bytes: 20, unknownSizes: 0 });
    assert.deepEqual(r.totals.byOutcome.uncertain, { files: 1, bytes: 10, unknownSizes: 0 });
    assert.deepEqual(
      r.problems.map((f) => f.outcome),
      ["skipped", "failed", "uncertain"],
    );
    assert.equal(r.problems[1]?.serverAnswer, "400 Invalid | value\nsecond line");
    assert.deepEqual(
      r.projects.find((p) => p.project === "pkg")?.versions.map((v) => [v.version, v.files]),
      [
        ["1.0", 2],
        ["2.0", 1],
        ["3.0", 1],
      ],
    );
    assert.equal(r.projects.find((p) => p.project === "gone")?.error, "HTTP 500 from the index");
    assert.deepEqual(r.notCarried, [
      {
        project: "pkg",
        version: "1.0",
        filename: "pkg-1.0-py3-none-any.whl",
        uploadTime: "2020-01-01T00:00:00Z",
        yanked: "broken | do not use",
        notes: { status: "hidden" },
      },
    ]);
    assert.equal(r.runs[0]?.durationSeconds, 90);
    assert.equal(
      r.command,
      "pyreg migrate --from 'https://***@old.example/simple/' --to https://new.example/",
    );
  });

  test("the Markdown is tables whose rows have as many cells as their header", () => {
    const md = renderMarkdown(buildReport([journal(files)], "9.9.9"));
    assert.match(md, /NOT complete/);
    assert.match(md, /^\| pkg \| 1\.0 \| 2 \| 1 \| 1 \| 0 \| 0 \| 0 \| {2}\|$/m);
    assert.match(md, /^\| pkg \| 3\.0 \| 1 \| 0 \| 0 \| 0 \| 0 \| 0 \| 1 not done \|$/m);
    assert.match(md, /^\| gone \| — \|.*could not be listed: HTTP 500 from the index \|$/m);
    // A pipe or newline in a server's answer cannot break the table.
    assert.match(md, /400 Invalid \\\| value second line/);
    assert.match(
      md,
      /\| pkg-1\.0-py3-none-any\.whl \| 2020-01-01T00:00:00Z \| yes: broken \\\| do not use \| status: hidden \|/,
    );
    for (const block of md.split(/\n\n/).filter((b) => b.startsWith("| "))) {
      const lines = block.split("\n");
      const width = (l: string): number => l.replace(/\\\|/g, "").split("|").length;
      for (const l of lines) assert.equal(width(l), width(lines[0] as string), l);
      assert.match(lines[1] as string, /^\|( ---:? \|)+$/);
    }
  });

  test("merge: shards of one migration; missing shards are named; another migration is refused", () => {
    const a = journal([row({ filename: "a-1.0.tar.gz", project: "a", state: "verified" })], "1/3");
    const b = journal([row({ filename: "b-1.0.tar.gz", project: "b", state: "verified" })], "3/3");
    const r = buildReport([a, b], "1");
    assert.deepEqual(r.shards, ["1/3", "3/3"]);
    assert.deepEqual(r.missingShards, ["2/3"]);
    assert.deepEqual(
      r.runs.map((x) => x.run),
      ["1/3#1", "3/3#1"],
    );
    const c = journal([], "2/3");
    c.identity = { ...c.identity, destination: { key: "other", description: "elsewhere" } };
    assert.throws(() => buildReport([a, c], "1"), /records another migration/);
    assert.throws(() => buildReport([a, a], "1"), /same shard/);
  });

  test("report.json in pieces is JSON.stringify's text, and no piece grows with the number of files", () => {
    const r = buildReport([journal(files)], "9.9.9");
    assert.equal([...renderJsonPieces(r)].join(""), JSON.stringify(r, null, 2) + "\n");
    // JSON.stringify's rules at every depth: undefined dropped from objects and null in arrays,
    // empty containers, toJSON, escapes and newlines inside strings, nesting past the split depth.
    const odd = {
      a: undefined,
      b: [undefined, () => 1, null, [], {}, [[1, { x: [2, { y: "deep" }] }]]],
      c: { d: new Date(Date.UTC(2026, 0, 2)), e: 'quote " back\\ slash\nnew line é \u2028', f: {} },
      g: [],
      h: -0,
      i: 1e21,
    };
    assert.equal(
      [...renderJsonPieces(odd as unknown as Report)].join(""),
      JSON.stringify(odd, null, 2) + "\n",
    );
    const many = (n: number): FileRow[] =>
      Array.from({ length: n }, (_, i) =>
        row({
          project: `p${Math.floor(i / 7)}`,
          filename: `p-${i}.tar.gz`,
          version: `${i}.0`,
          state: i % 3 ? "verified" : "failed",
          reason: i % 3 ? null : "HTTP 500",
        }),
      );
    // 20,000 files of 7 versions each in 2,858 projects: the text is 14 MB, no piece is over 1 MB.
    let total = 0;
    let longest = 0;
    for (const p of renderJsonPieces(buildReport([journal(many(20_000))], "1"))) {
      total += p.length;
      longest = Math.max(longest, p.length);
    }
    assert.ok(total > 12_000_000, `total ${total}`);
    assert.ok(longest < 1_000_000, `longest piece ${longest}`);
  });

  test("report batches are redacted whole: a secret is never cut between two batches", () => {
    registerSecret("s3cr3t-token-value");
    const r = buildReport(
      [
        journal([
          row({
            filename: "pkg-9.0.tar.gz",
            version: "9.0",
            state: "failed",
            reason: "echoed s3cr3t-token-value back",
          }),
        ]),
      ],
      "1",
    );
    for (const size of [1, 7, 64, 1 << 20]) {
      const text = [...redactedBatches(renderJsonPieces(r), size)].join("");
      assert.ok(!text.includes("s3cr3t"), `batch size ${size}`);
      assert.equal(JSON.parse(text).problems[0].reason, "echoed *** back");
    }
  });

  test("states read as outcomes; cells; --report paths", () => {
    assert.equal(outcomeOf("verified"), "copied");
    assert.equal(outcomeOf("uploaded"), "uncertain");
    assert.equal(outcomeOf("downloaded"), "pending");
    assert.equal(cell(null), "—");
    assert.equal(cell("a|b\nc"), "a\\|b c");
    assert.deepEqual(reportPaths("out/audit"), { json: "out/audit.json", md: "out/audit.md" });
    assert.deepEqual(reportPaths("out/a.json"), { json: "out/a.json", md: "out/a.md" });
    assert.deepEqual(reportPaths("out/a.md"), { json: "out/a.json", md: "out/a.md" });
  });
});

describe("shard", () => {
  test("K/N parsing", () => {
    assert.deepEqual(parseShard("2/3"), { index: 2, count: 3 });
    for (const bad of ["0/3", "4/3", "1/0", "a/b", "1/2/3", ""])
      assert.throws(() => parseShard(bad), /--shard/);
  });

  test("stable, by normalized name, and spread over the shards", () => {
    assert.equal(shardOf("Foo.Bar", 7), shardOf("foo-bar", 7));
    // Fixed values: the hash must never change between versions (shards of one migration must agree).
    assert.deepEqual(
      ["requests", "numpy", "django", "flask"].map((p) => shardOf(p, 5)),
      [5, 3, 3, 1],
    );
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++)
      counts[shardOf(`project-${i}`, 4) - 1] = (counts[shardOf(`project-${i}`, 4) - 1] ?? 0) + 1;
    for (const c of counts) assert.ok(c > 850 && c < 1150, `balanced: ${counts.join(",")}`);
  });
});

describe("progress", () => {
  const file = (name: string): DistFile => ({
    project: "p",
    version: "1",
    filename: name,
    url: "",
    hashes: {},
  });

  test("live only on a terminal without CI, NO_COLOR, TERM=dumb or --quiet", () => {
    assert.equal(chooseMode({ quiet: false }, { isTTY: true }, {}), "live");
    assert.equal(chooseMode({ quiet: true }, { isTTY: true }, {}), "plain");
    assert.equal(chooseMode({ quiet: false }, { isTTY: false }, {}), "plain");
    assert.equal(chooseMode({ quiet: false }, { isTTY: true }, { CI: "true" }), "plain");
    assert.equal(chooseMode({ quiet: false }, { isTTY: true }, { NO_COLOR: "1" }), "plain");
    assert.equal(chooseMode({ quiet: false }, { isTTY: true }, { TERM: "dumb" }), "plain");
  });

  test("status text: files and bytes of total, rate, ETA, failures", () => {
    const t = statusText(
      {
        total: 10,
        totalBytes: 4096,
        unknownSizes: 0,
        done: 4,
        bytes: 2048,
        failed: 1,
        conflicts: 0,
        inFlight: 2,
      },
      2,
    );
    assert.equal(t, "4/10 files, 2.0 KiB/4.0 KiB, 1.0 KiB/s, ETA 2s, 2 in flight, 1 failed");
  });

  test("a slow rate is a whole number of bytes per second, never 259.49620151939223 B/s", () => {
    const t = statusText(
      {
        total: 10,
        totalBytes: 4096,
        unknownSizes: 0,
        done: 1,
        bytes: 519,
        failed: 0,
        conflicts: 0,
        inFlight: 1,
      },
      2.0000000001,
    );
    assert.match(t, /, 259 B\/s,/);
  });

  test("live: other output clears the status line first and the line is drawn again after it", () => {
    const out: string[] = [];
    const fake = {
      isTTY: true,
      columns: 60,
      write(chunk: string): boolean {
        out.push(chunk);
        return true;
      },
    } as unknown as NodeJS.WriteStream;
    const p = new Progress({ quiet: false, mode: "live", stream: fake });
    p.onEvent({ type: "start", files: 2, bytes: 100, unknownSizes: 0 });
    p.onEvent({ type: "file-start", file: file("a.whl") });
    fake.write("warning: something\n");
    assert.deepEqual(out.slice(0, 1), ["warning: something\n"], "nothing to clear before the first draw");
    assert.ok((out[1] ?? "").startsWith("\r\x1b[2Kpyreg: 0/2 files"), out[1]);
    p.onEvent({
      type: "outcome",
      outcome: { kind: "failed", file: file("a.whl"), reason: "boom", code: "HTTP", class: "transient" },
    });
    const i = out.indexOf("failed: a.whl: boom\n");
    assert.ok(i > 0);
    assert.equal(out[i - 1], "\r\x1b[2K", "the line is cleared before the message");
    assert.ok((out[i + 1] ?? "").startsWith("\r\x1b[2Kpyreg: 1/2 files"), out[i + 1]);
    assert.match(out[i + 1] ?? "", /1 failed$/);
    assert.ok(out.every((o) => !o.startsWith("pyreg:") || o.length < 60));
    p.stop();
    const n = out.length;
    fake.write("after\n");
    assert.deepEqual(out.slice(n), ["after\n"], "the stream is given back, nothing drawn after stop");
  });
});
