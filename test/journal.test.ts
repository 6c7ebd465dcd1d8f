/** The journal's decisions: pair check, lock, resume rule, --retry-failed classes, durability. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { PyregError } from "../src/core/errors.js";
import Database from "better-sqlite3";
import { Journal, recheckTime, recheckUncertain, type Identity } from "../src/core/journal.js";
import { retriedNextRun } from "../src/core/failure.js";
import type { Destination, DistFile } from "../src/core/model.js";
import type { PlanAction, ProjectPlan } from "../src/core/plan.js";
import { redactArgv } from "../src/cli/common.js";
import { FakeClock } from "./helpers/clock.js";
import { tempDir } from "./helpers/tmp.js";

const ID: Identity = {
  source: { key: "url+https://old.example/simple/", description: "https://old.example/simple/" },
  destination: { key: "url+https://new.example/", description: "https://new.example/" },
};

function dist(project: string, version: string, sha = "a".repeat(64)): DistFile {
  return {
    project,
    version,
    filename: `${project.replace(/-/g, "_")}-${version}-py3-none-any.whl`,
    url: `https://old.example/files/${project}-${version}.whl`,
    hashes: { sha256: sha },
    size: 100,
    uploadTime: "2020-01-02T03:04:05Z",
    notes: { "gitlab status": "hidden" },
  };
}

/** One project's plan (every entry's file is of the same project). */
function projectOf(entries: { file: DistFile; action: PlanAction; destination?: DistFile }[]): ProjectPlan {
  return {
    project: entries[0]!.file.project,
    entries: entries.map((e) => ({
      ...e,
      reason: e.action === "skip" ? "already at the destination with the same sha256" : "x",
    })),
  };
}

function start(j: Journal): void {
  j.startRun({ command: "migrate", argv: ["migrate"], version: "0.0.0", source: "s", destination: "d" });
}

/**
 * A journal with one run, closed, changed by SQL (as an earlier version of pyreg left it), then
 * opened again with a new run started.
 */
function reopenedAfterSql(dir: string, sql: string): Journal {
  const j = Journal.open(dir, ID);
  start(j);
  j.close();
  const db = new Database(join(dir, "journal.sqlite"));
  try {
    db.exec(sql);
  } finally {
    db.close();
  }
  const again = Journal.open(dir, ID);
  start(again);
  return again;
}

describe("journal", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  before(async () => {
    tmp = await tempDir();
  });
  after(() => tmp.cleanup());

  test("belongs to one pair: another pair is a STATE error naming both; --reset-state keeps the old one", () => {
    const dir = join(tmp.path, "pair");
    const j = Journal.open(dir, ID);
    start(j);
    j.close();
    const other: Identity = { ...ID, destination: { key: "folder:/x", description: "/x" } };
    assert.throws(
      () => Journal.open(dir, other),
      (err: unknown) =>
        err instanceof PyregError &&
        err.code === "STATE" &&
        err.message.includes("https://new.example/") &&
        err.message.includes("/x") &&
        /--reset-state/.test(err.hint ?? ""),
    );
    assert.throws(() => Journal.open(dir, { ...ID, shard: "1/2" }), /belongs to another migration/);
    const r = Journal.open(dir, other, { reset: true });
    r.close();
    assert.equal(Journal.read(dir).identity.destination.key, "folder:/x");
    assert.ok(
      readdirSync(dir).some((f) => /^journal\..+\.sqlite$/.test(f)),
      "the old journal is kept",
    );
  });

  test("one process at a time; a lock left by a dead process is no lock", () => {
    const dir = join(tmp.path, "lock");
    Journal.open(dir, ID).close();
    const held = Journal.open(dir, ID);
    assert.throws(
      () => Journal.open(dir, ID),
      new RegExp(`in use by another pyreg \\(pid ${process.pid}\\)`),
    );
    held.close();
    // The holder note left by a process that has exited decides nothing: the lock itself is gone.
    const dead = Number(
      spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout,
    );
    writeFileSync(join(dir, "lock.sqlite.holder"), JSON.stringify({ pid: dead, host: hostname() }));
    Journal.open(dir, ID).close();
  });

  test("resume rule: uncertain files found at the destination are verified, absent ones re-checked then re-sent", async () => {
    const dir = join(tmp.path, "resume");
    const a = dist("pkg-a", "1.0");
    const b = dist("pkg-a", "2.0", "b".repeat(64));
    const c = dist("pkg-a", "3.0", "c".repeat(64));
    const d = dist("pkg-a", "4.0", "d".repeat(64));
    let j = Journal.open(dir, ID);
    start(j);
    j.applyProject(projectOf([a, b, c, d].map((file) => ({ file, action: "copy" }))), { retryFailed: false });
    for (const f of [a, b, c]) j.markUploading(f);
    j.mark(c, "uploaded");
    j.close(); // as if killed: no endRun

    j = Journal.open(dir, ID);
    start(j);
    j.clearPending(); // as a run starts: the killed run's pending work is not this run's
    // The new plan: a is listed (skip), b and c are not listed yet, d was never sent.
    const decision = j.applyProject(
      projectOf([
        { file: a, action: "skip" },
        { file: b, action: "copy" },
        { file: c, action: "copy" },
        { file: d, action: "copy" },
      ]),
      { retryFailed: false },
    );
    assert.equal(decision.landed, 1);
    assert.equal(j.get(a.project, a.filename)?.state, "verified");
    assert.deepEqual(
      decision.uncertain.map((e) => e.file.filename),
      [b.filename, c.filename],
    );
    // On the re-read the index lists c (it was slow); b is still absent.
    let reads = 0;
    const clock = new FakeClock();
    const dest = {
      listFiles: async () => {
        reads++;
        return new Map([[c.filename, c]]);
      },
      invalidate: () => undefined,
    } as unknown as Destination;
    const resolving = recheckUncertain(decision.uncertain, dest, j, clock.now() + 100, clock);
    await clock.untilSleeping(1);
    assert.deepEqual(clock.pauses, [100], "waits until the re-check time");
    assert.equal(reads, 0, "nothing read before it");
    clock.advance(100);
    const r = await resolving;
    assert.equal(reads, 1, "one read per project");
    assert.equal(r.landed, 1);
    assert.equal(r.resent, 1);
    // The work the engine reads back: the project's entries, b and c decided again.
    const actions = Object.fromEntries(
      [...j.pendingProjects()][0]?.entries.map((e) => [e.file.filename, e.action]) ?? [],
    );
    assert.deepEqual(actions, {
      [a.filename]: "skip",
      [b.filename]: "copy",
      [c.filename]: "skip",
      [d.filename]: "copy",
    });
    assert.equal(j.get(c.project, c.filename)?.state, "verified");
    assert.equal(j.get(b.project, b.filename)?.state, "planned");
    assert.match(j.get(b.project, b.filename)?.reason ?? "", /not confirmed.*uploading again/);
    assert.equal(j.get(b.project, b.filename)?.uploadAttempts, 1);
    j.close();
    const data = Journal.read(dir);
    assert.equal(data.runs[0]?.status, "killed", "a run that never ended and whose process is gone");
    // What the upload protocol cannot carry is kept per file.
    assert.deepEqual(data.files[0]?.notCarried, {
      uploadTime: "2020-01-02T03:04:05Z",
      notes: { "gitlab status": "hidden" },
    });
  });

  test("--retry-failed: lasting failures are carried over unless asked; passing ones always retried", () => {
    // The class is set where the error is created; the policy reads the class, never the text.
    const cls = (e: PyregError): boolean => retriedNextRun(e.class);
    assert.equal(cls(new PyregError("BAD_METADATA", "x")), false);
    assert.equal(
      cls(new PyregError("HASH_MISMATCH", "f.whl: sha256 aa does not match the source's bb")),
      false,
    );
    assert.equal(cls(new PyregError("INCOMPLETE", "f.whl: got 10 bytes, the source lists 20")), true);
    assert.equal(cls(new PyregError("UPLOAD_REFUSED", "refused", { status: 400 })), false);
    assert.equal(cls(new PyregError("UPLOAD_REFUSED", "refused", { status: 503 })), true);
    assert.equal(cls(new PyregError("UPLOAD_REFUSED", "refused", { status: 429 })), true);
    assert.equal(cls(new PyregError("TIMEOUT", "x")), true);
    assert.equal(cls(new PyregError("NOT_LISTED", "x")), true);
    // A message that reads like a 5xx does not make a 400 transient.
    assert.equal(cls(new PyregError("UPLOAD_REFUSED", "HTTP 503 in the text", { status: 400 })), false);

    const dir = join(tmp.path, "retry");
    const bad = dist("pkg-b", "1.0");
    const flaky = dist("pkg-b", "2.0", "e".repeat(64));
    const j = Journal.open(dir, ID);
    start(j);
    j.recordOutcome({
      kind: "failed",
      file: bad,
      reason: "metadata Version 1 ≠ 2",
      code: "BAD_METADATA",
      class: "lasting",
    });
    j.recordOutcome({
      kind: "failed",
      file: flaky,
      reason: "timed out",
      code: "TIMEOUT",
      class: "transient",
    });
    start(j);
    const plan = projectOf([
      { file: bad, action: "copy" },
      { file: flaky, action: "copy" },
    ]);
    const d1 = j.applyProject(plan, { retryFailed: false });
    assert.deepEqual(
      d1.carried.map((o) => o.file.filename),
      [bad.filename],
    );
    assert.deepEqual(
      d1.project.entries.map((e) => e.file.filename),
      [flaky.filename],
    );
    const d2 = j.applyProject(plan, { retryFailed: true });
    assert.deepEqual(d2.carried, []);
    assert.equal(d2.project.entries.length, 2);
    j.close();
  });

  test("a file copied earlier stays copied when a later run's selection leaves it out; others read as filtered", () => {
    const dir = join(tmp.path, "selection");
    const copied = dist("pkg-s", "1.0");
    const never = dist("pkg-s", "2.0", "f".repeat(64));
    const j = Journal.open(dir, ID);
    start(j);
    j.recordOutcome({ kind: "copied", file: copied, bytes: 100, seconds: 1 });
    start(j);
    const plan = projectOf([
      { file: copied, action: "filtered" },
      { file: never, action: "filtered" },
    ]);
    j.applyProject(plan, { retryFailed: false });
    j.recordOutcome({
      kind: "filtered",
      file: copied,
      reason: "--platforms linux: x",
      rule: "--platforms linux",
    });
    j.recordOutcome({
      kind: "filtered",
      file: never,
      reason: "--platforms linux: x",
      rule: "--platforms linux",
    });
    assert.equal(j.get("pkg-s", copied.filename)?.state, "verified");
    assert.equal(j.get("pkg-s", never.filename)?.state, "filtered");
    j.close();
  });

  test("a committed mark survives the process being killed (no close, SIGKILL)", () => {
    const dir = join(tmp.path, "kill");
    const script = `
      import { Journal } from ${JSON.stringify(new URL("../src/core/journal.js", import.meta.url).href)};
      const j = Journal.open(${JSON.stringify(dir)}, ${JSON.stringify(ID)});
      j.startRun({ command: "migrate", argv: [], version: "0", source: "s", destination: "d" });
      await j.markUploading(${JSON.stringify(dist("pkg-k", "1.0"))});
      process.kill(process.pid, "SIGKILL");
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script]);
    assert.equal(r.signal, "SIGKILL", r.stderr.toString());
    const data = Journal.read(dir);
    assert.equal(data.files[0]?.state, "uploading");
    assert.equal(data.runs[0]?.status, "killed");
    Journal.open(dir, ID).close(); // the dead process's lock is taken over
  });

  test("one durable commit marks the project's next files too: a kill leaves them uncertain, a stop puts them back", async (t) => {
    const dir = join(tmp.path, "ahead");
    const [a, b, c, d, e] = ["1.0", "2.0", "3.0", "4.0", "5.0"].map((v) => dist("pkg-m", v)) as [
      DistFile,
      DistFile,
      DistFile,
      DistFile,
      DistFile,
    ];
    const committed = (f: DistFile) => {
      const db = new Database(join(dir, "journal.sqlite"), { readonly: true });
      try {
        return db
          .prepare(
            "SELECT state, upload_attempts AS attempts, upload_deadline AS deadline FROM files WHERE filename = ?",
          )
          .get(f.filename) as { state: string; attempts: number; deadline: string | null };
      } finally {
        db.close();
      }
    };
    const j = Journal.open(dir, ID);
    start(j);
    j.applyProject(projectOf([a, b, c, d, e].map((file) => ({ file, action: "copy" }))), {
      retryFailed: false,
    });
    const deadline = Date.now() + 60_000;
    await j.markUploading(a, deadline, new Set([b, c, d, e]));
    // Committed before a's upload: a's attempt, and b-e marked with a deadline a second later.
    assert.deepEqual(committed(a), {
      state: "uploading",
      attempts: 1,
      deadline: new Date(deadline).toISOString(),
    });
    for (const f of [b, c, d, e])
      assert.deepEqual(committed(f), {
        state: "uploading",
        attempts: 0,
        deadline: new Date(deadline + 1000).toISOString(),
      });
    // b downloads, then reaches its upload: already marked, it needs no commit of its own (its
    // attempt is only queued), and its "downloaded" does not take the mark back.
    j.mark(b, "downloaded");
    await j.markUploading(b, deadline + 5, new Set([c, d, e]));
    assert.deepEqual(committed(b), {
      state: "uploading",
      attempts: 0,
      deadline: new Date(deadline + 1000).toISOString(),
    });
    j.flush();
    assert.deepEqual(committed(b), {
      state: "uploading",
      attempts: 1,
      deadline: new Date(deadline + 5).toISOString(),
    });
    // c reaches its upload after the mark stopped covering it: a commit (and fsync) of its own.
    t.mock.timers.enable({ apis: ["Date"], now: Date.now() + 1_001 });
    await j.markUploading(c, deadline + 10, new Set([d, e]));
    t.mock.timers.reset();
    assert.deepEqual(committed(c), {
      state: "uploading",
      attempts: 1,
      deadline: new Date(deadline + 10).toISOString(),
    });
    // The same commit renewed the marks of d and e, which had stopped covering them as well: each
    // can reach its upload within a second of it without a commit and fsync of its own.
    for (const f of [d, e])
      assert.deepEqual(committed(f), {
        state: "uploading",
        attempts: 0,
        deadline: new Date(deadline + 10 + 1000).toISOString(),
      });
    // d failed before its upload; e never started: the run stops, and e goes back to planned.
    j.mark(d, "failed", { reason: "cut", code: "DOWNLOAD", class: "transient" });
    j.unmarkAhead();
    j.flush();
    assert.equal(committed(d).state, "failed");
    assert.equal(committed(e).state, "planned");
    assert.match(j.get(e.project, e.filename)?.reason ?? "", /not attempted/);
    j.close();

    // Killed right after the commit that marked files ahead: they are uncertain in the next run.
    const killed = join(tmp.path, "ahead-kill");
    const files = [1, 2, 3].map((i) => dist("pkg-k2", `${i}.0`));
    const script = `
      import { Journal } from ${JSON.stringify(new URL("../src/core/journal.js", import.meta.url).href)};
      const files = ${JSON.stringify(files)};
      const j = Journal.open(${JSON.stringify(killed)}, ${JSON.stringify(ID)});
      j.startRun({ command: "migrate", argv: [], version: "0", source: "s", destination: "d" });
      j.applyProject({ project: "pkg-k2", entries: files.map((file) => ({ file, action: "copy", reason: "x" })) }, { retryFailed: false });
      await j.markUploading(files[0], Date.now() + 60000, new Set(files.slice(1)));
      process.kill(process.pid, "SIGKILL");
    `;
    const r = spawnSync(process.execPath, ["--input-type=module", "-e", script]);
    assert.equal(r.signal, "SIGKILL", r.stderr.toString());
    const next = Journal.open(killed, ID);
    start(next);
    next.clearPending();
    const decision = next.applyProject(projectOf(files.map((file) => ({ file, action: "copy" }))), {
      retryFailed: false,
    });
    assert.deepEqual(
      decision.uncertain.map((x) => x.file.filename),
      files.map((f) => f.filename),
    );
    next.close();
  });

  test("an upload attempt's deadline is kept until the destination answers it; the re-check waits for it", async () => {
    const dir = join(tmp.path, "deadline");
    const j = Journal.open(dir, ID);
    start(j);
    const a = dist("pkg-d", "1.0");
    const b = dist("pkg-d", "2.0");
    const deadline = Date.now() + 60_000;
    await j.markUploading(a, deadline);
    await j.markUploading(b, deadline);
    j.endAttempt(b); // answered: it cannot land any later
    assert.equal(j.get(a.project, a.filename)?.uploadDeadline, new Date(deadline).toISOString());
    const ended = Date.parse(j.get(b.project, b.filename)?.uploadDeadline ?? "");
    assert.ok(ended <= Date.now(), "an answered attempt's deadline is over");
    assert.equal(j.get(b.project, b.filename)?.state, "uploading", "still uncertain until verified");
    const entry = (f: DistFile) => ({ file: f, action: "copy" as const, reason: "x" });
    assert.equal(recheckTime([entry(a), entry(b)], j, 10), deadline);
    assert.ok(recheckTime([entry(b)], j, 10) < deadline);
    j.close();
  });

  test("state changes committed together leave the same rows and history as committed one by one", async () => {
    const changes = async (j: Journal, each: boolean): Promise<void> => {
      start(j);
      const a = dist("pkg-g", "1.0");
      const b = dist("pkg-g", "2.0");
      const steps: (() => void | Promise<void>)[] = [
        () => j.mark(a, "downloaded"),
        () => j.mark(b, "downloaded"),
        () => j.markUploading(a, 1_000_000),
        () => j.markUploading(b, 2_000_000),
        () => j.mark(a, "uploaded", { uploadDeadline: 1_500_000 }),
        () => j.mark(b, "failed", { reason: "refused", code: "UPLOAD_REFUSED", class: "lasting" }),
        () => j.mark(b, "downloaded"),
        // A second attempt (the attempts add up), then a change given by another object of the
        // same file without its size and sha256 (the row keeps them), and no deadline (kept too).
        () => j.markUploading(b, 3_000_000),
        () => j.mark({ ...b, size: undefined, hashes: {} }, "uploaded", { reason: "sent again" }),
        () =>
          j.mark(a, "verified", { reason: "copied", bytes: 100, seconds: 0.5, verification: "index:sha256" }),
        // Enough changes for a commit to write history rows many to a statement.
        ...Array.from({ length: 40 }, (_, i) => () => j.mark(dist("pkg-h", `${i}.0`), "downloaded")),
      ];
      for (const step of steps) {
        if (!each) void step();
        else {
          await step();
          j.flush();
        }
      }
      j.flush();
    };
    const read = (dir: string) => {
      const db = new Database(join(dir, "journal.sqlite"), { readonly: true });
      try {
        return {
          files: db
            .prepare("SELECT * FROM files ORDER BY filename")
            .all()
            .map((r): Record<string, unknown> => ({
              ...(r as Record<string, unknown>),
              updated_at: undefined,
            })),
          history: db
            .prepare("SELECT run_id, project, filename, state, detail FROM history ORDER BY id")
            .all(),
        };
      } finally {
        db.close();
      }
    };
    const one = Journal.open(join(tmp.path, "one-by-one"), ID);
    await changes(one, true);
    one.close();
    const together = Journal.open(join(tmp.path, "together"), ID);
    await changes(together, false);
    together.close();
    const want = read(join(tmp.path, "one-by-one"));
    assert.equal(want.history.length, 50);
    const rowB = want.files.find((r) => r.filename === dist("pkg-g", "2.0").filename);
    assert.equal(rowB?.upload_attempts, 2);
    assert.equal(rowB?.size, 100);
    assert.equal(rowB?.upload_deadline, new Date(3_000_000).toISOString());
    assert.deepEqual(read(join(tmp.path, "together")), want);
  });

  test("a journal made before the verification and deadline columns gains them when opened", () => {
    const again = reopenedAfterSql(
      join(tmp.path, "old-schema"),
      "ALTER TABLE files DROP COLUMN verification; ALTER TABLE files DROP COLUMN upload_deadline;" +
        "ALTER TABLE checks DROP COLUMN verification",
    );
    again.mark(dist("pkg-o", "1.0"), "verified", { verification: "content:sha256" });
    assert.equal(again.get("pkg-o", dist("pkg-o", "1.0").filename)?.verification, "content:sha256");
    again.close();
  });

  test("pending work is kept a row per project; a row per file left by an earlier version is dropped when a run clears it", () => {
    // As an earlier version left it: a row per file in the table "pending".
    const dir = join(tmp.path, "pending");
    const again = reopenedAfterSql(
      dir,
      "CREATE TABLE pending (seq INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, filename TEXT NOT NULL, entry TEXT NOT NULL);" +
        "INSERT INTO pending (project, filename, entry) VALUES ('old', 'old-1.0.tar.gz', '{}')",
    );
    again.clearPending();
    const [a, b] = [dist("pkg-p", "1.0"), dist("pkg-p", "2.0")] as [DistFile, DistFile];
    const c = dist("pkg-q", "1.0");
    again.applyProject(
      projectOf([
        { file: a, action: "copy" },
        { file: b, action: "copy" },
      ]),
      { retryFailed: false },
    );
    again.applyProject(projectOf([{ file: c, action: "skip", destination: c }]), { retryFailed: false });
    const d = dist("pkg-r", "1.0");
    again.applyProject(projectOf([{ file: d, action: "copy" }]), { retryFailed: false });
    again.updatePending("pkg-p", new Map([[a.filename, undefined]]));
    again.updatePending("pkg-r", new Map([[d.filename, undefined]]));
    assert.deepEqual(
      [...again.pendingProjects()].map((p) => [p.project, p.entries.map((e) => e.file.filename)]),
      [["pkg-p", [b.filename]]],
      "a project with nothing to copy is not kept; one left with no entry is removed",
    );
    again.close();
    const after = new Database(join(dir, "journal.sqlite"), { readonly: true });
    try {
      const tables = after.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
        name: string;
      }[];
      assert.ok(!tables.some((t) => t.name === "pending"), "the earlier version's table is dropped");
      assert.equal((after.prepare("SELECT COUNT(*) AS n FROM pending_projects").get() as { n: number }).n, 1);
    } finally {
      after.close();
    }
  });

  test("the recorded command line has no credentials", () => {
    assert.deepEqual(
      redactArgv([
        "migrate",
        "--from",
        "https://user:pa55@old.example/simple/",
        "--to=gitlab+https://tok3n@gitlab.example/group",
        "https://h/x?token=abc&x=1",
      ]),
      [
        "migrate",
        "--from",
        "https://***@old.example/simple/",
        "--to=gitlab+https://***@gitlab.example/group",
        "https://h/x?token=***&x=1",
      ],
    );
  });
});
