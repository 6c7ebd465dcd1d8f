/**
 * What a hostile test of pyreg broke, each checked through the real CLI: secrets with every
 * URL-special character, a stale lock raced by many runs, two state folders for one destination,
 * directories that cannot be made, archive readers fed millions of entries, leftovers, and errors
 * that misled.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import type { ServerResponse } from "node:http";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import Database from "better-sqlite3";
import tar from "tar-stream";
import { makeSdist, makeWheel } from "../fixtures/dists.js";
import { FAST_RETRY_ARGS } from "../fakes/faultProxy.js";
import { jsonList, jsonPage, startHostile, type HostileServer } from "../fakes/hostile.js";
import { PYREG_BIN, runCli, type CliResult } from "../helpers/cli.js";
import { seededRandom } from "../helpers/random.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { tempDir } from "../helpers/tmp.js";

const FAST = FAST_RETRY_ARGS;
const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

/** Every file under `dir`, recursively. */
async function allFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await allFiles(p)));
    else out.push(p);
  }
  return out;
}

/** Every row of every table of a journal, as text. */
function dumpJournal(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as {
      name: string;
    }[];
    assert.ok(tables.length >= 5, "the journal has its tables");
    return tables
      .map((t) => `${t.name}: ${JSON.stringify(db.prepare(`SELECT * FROM "${t.name}"`).all())}`)
      .join("\n");
  } finally {
    db.close();
  }
}

describe("secrets with every URL-special character", () => {
  const SPECIAL = ["@", ":", "/", "?", "#", "%", " ", "é", "日", "€"];
  const random = seededRandom(1515);
  const alnum = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
  const chunk = (n: number): string =>
    Array.from({ length: n }, () => alnum[Math.floor(random() * alnum.length)]).join("");
  /** A password holding every special character, in a random order, between random letters. */
  const password = (): string => {
    const specials = [...SPECIAL].sort(() => random() - 0.5);
    return chunk(3) + specials.map((c) => c + chunk(3)).join("");
  };
  /** As a person types it in a URL: `@`, `:`, space and non-ASCII as they are (pip and WHATWG
   * split the userinfo at the last `@`); `/ ? # %` must be percent-encoded in any URL. */
  const typed = (p: string): string => p.replace(/[/?#%]/g, (c) => encodeURIComponent(c));
  /** Every window of `n` characters, in each form the secret can take in text. */
  const fragments = (p: string, n = 6): string[] => {
    const out = new Set<string>();
    const whatwg = new URL("http://h/");
    whatwg.password = p;
    for (const form of [p, typed(p), encodeURIComponent(p), whatwg.password]) {
      for (let i = 0; i + n <= form.length; i++) out.add(form.slice(i, i + n));
    }
    return [...out];
  };

  let tmp: { path: string; cleanup(): Promise<void> };
  before(async () => {
    tmp = await tempDir();
  });
  after(async () => {
    await tmp.cleanup();
  });

  for (let round = 0; round < 3; round++) {
    test(`round ${round}: no output, report, journal row or temporary file holds any part of the passwords`, async () => {
      const SRC = { username: "alice", password: password() };
      const DST = { username: "bob", password: password() };
      const root = join(tmp.path, `r${round}`);
      const srcDir = join(root, "src");
      const work = join(root, "work");
      const tmpDir = join(root, "tmp");
      await mkdir(srcDir, { recursive: true });
      await mkdir(work);
      await mkdir(tmpDir);
      await makeWheel(srcDir, { name: "secretive", version: "1.0" });
      await makeSdist(srcDir, { name: "secretive", version: "1.0" });
      const src = await startServe(srcDir, { auth: SRC, authReads: true });
      const dst = await startServe(join(root, "dst"), { auth: DST, authReads: true });
      const from = src.indexUrl.replace("http://", `http://${SRC.username}:${typed(SRC.password)}@`);
      const to = dst.url.replace("http://", `http://${DST.username}:${typed(DST.password)}@`);
      const wrongTo = dst.url.replace("http://", `http://${DST.username}:${typed(DST.password)}x@`);
      const outputs: string[] = [];
      const run = async (args: string[], expect: number[]): Promise<CliResult> => {
        const r = await runCli(args, { cwd: work, env: { TMPDIR: tmpDir, NETRC: join(root, "none") } });
        outputs.push(r.stdout, r.stderr);
        assert.ok(expect.includes(r.code ?? -1), `exit ${r.code} for ${args.join(" ")}: ${r.stderr}`);
        return r;
      };
      try {
        const report = join(work, "out", "run.json");
        await mkdir(join(work, "out"));
        const state = join(work, "state");
        const m = await run(
          ["migrate", "--from", from, "--to", to, "--state", state, "--report", report, ...FAST],
          [0],
        );
        assert.match(m.stderr + m.stdout, /2 copied/);
        assert.equal(dst.server.uploads, 2, "the passwords were used: both files arrived");
        await run(["verify", "--from", from, "--to", to, "--state", state, "--json"], [0]);
        await run(["report", "--state", state], [0]);
        // A wrong password (the right one and one more letter) fails: its error is printed too.
        await run(
          ["migrate", "--from", from, "--to", wrongTo, "--state", join(work, "st2"), ...FAST],
          [1, 2],
        );
        const files = [...(await allFiles(work)), ...(await allFiles(tmpDir))];
        assert.ok(existsSync(report) && existsSync(join(state, "report.md")), "the reports were written");
        const texts: [string, string][] = outputs.map((o, i) => [`output ${i}`, o]);
        for (const f of files) {
          if ((await stat(f)).size > 50 * 1024 * 1024) continue;
          const bytes = await readFile(f);
          texts.push([f, bytes.toString("utf8")], [f + " (latin1)", bytes.toString("latin1")]);
          if (f.endsWith("journal.sqlite")) texts.push([f + " (tables)", dumpJournal(f)]);
        }
        assert.ok(
          texts.some(([w, t]) => w.endsWith("(tables)") && t.includes("--report") && t.includes("127.0.0.1")),
          "the search below looks at the recorded command lines",
        );
        const hits: string[] = [];
        for (const secret of [SRC.password, DST.password]) {
          for (const frag of fragments(secret)) {
            for (const [where, t] of texts)
              if (t.includes(frag)) hits.push(`${JSON.stringify(frag)} in ${where}`);
          }
          const b64 = (s: string): string => Buffer.from(s).toString("base64");
          for (const form of [b64(secret), b64(`alice:${secret}`), b64(`bob:${secret}`)])
            for (const [where, t] of texts) if (t.includes(form)) hits.push(`base64 in ${where}`);
        }
        assert.deepEqual(hits.slice(0, 10), [], `no fragment of a password anywhere (${hits.length} hits)`);
      } finally {
        await src.close();
        await dst.close();
      }
    });
  }
});

/** Starts the real CLI and gives its process (to kill) and its result. */
function startCli(
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv = {},
): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [PYREG_BIN, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: "1", CI: "true", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve) =>
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return { child, done };
}

/**
 * A source whose project list is held until the test lets it go: a run that reads it has taken its
 * locks, so counting the requests that arrive counts the runs that got in. No timing decides.
 */
async function gatedSource(work: string): Promise<{
  server: HostileServer;
  files: number;
  arrived(): number;
  whenArrived(n: number): Promise<void>;
  release(): void;
}> {
  const server = await startHostile();
  const dir = join(work, "gated-src");
  await mkdir(dir, { recursive: true });
  const paths = [
    await makeWheel(dir, { name: "gated", version: "1.0" }),
    await makeSdist(dir, { name: "gated", version: "1.0" }),
    await makeWheel(dir, { name: "gated", version: "2.0" }),
  ];
  const rows = [];
  for (const p of paths) {
    const data = await readFile(p);
    const filename = basename(p);
    server.set(`/files/${filename}`, { headers: { "content-type": "application/octet-stream" }, body: data });
    rows.push({ filename, url: `/files/${filename}`, sha256: sha256(data), size: data.length });
  }
  server.set("/simple/gated/", jsonPage("gated", rows));
  const list = jsonList(["gated"]);
  const held: ServerResponse[] = [];
  let open = false;
  let arrived = 0;
  const waiters: (() => void)[] = [];
  const answer = (res: ServerResponse): void => {
    res.writeHead(200, list.headers).end(list.body);
  };
  server.set("/simple/", (_req, res) => {
    arrived++;
    for (const w of waiters.splice(0)) w();
    if (open) answer(res);
    else held.push(res);
  });
  return {
    server,
    files: paths.length,
    arrived: () => arrived,
    whenArrived: (n) =>
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (arrived >= n) resolve();
          else waiters.push(check);
        };
        check();
      }),
    release() {
      open = true;
      for (const res of held.splice(0)) answer(res);
    },
  };
}

/** Without FAST's 2 s timeout: a request held at the gate must not be sent again (it would count twice). */
const GATED = ["--retry-delay", "10", "--verify-delay", "50"];

describe("one owner per state folder and per destination", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  before(async () => {
    tmp = await tempDir();
  });
  after(async () => {
    await tmp.cleanup();
  });

  test("many runs started together over a lock left by a kill -9: exactly one gets in, each file is sent once", async () => {
    const work = join(tmp.path, "race");
    await mkdir(work, { recursive: true });
    const src = await gatedSource(work);
    const dst = await startServe(join(work, "dst"));
    const env = { PYREG_LOCK_DIR: join(work, "locks") };
    const args = [
      "migrate",
      "--from",
      `${src.server.url}simple/`,
      "--to",
      dst.url,
      "--state",
      join(work, "state"),
      ...GATED,
    ];
    try {
      // A run that took the lock and was killed while reading the source leaves its lock behind.
      const killed = startCli(args, work, env);
      await src.whenArrived(1);
      killed.child.kill("SIGKILL");
      assert.equal((await killed.done).signal, "SIGKILL");
      assert.ok(
        (await readdir(join(work, "state"))).some((f) => f.startsWith("lock")),
        "a lock file is left",
      );
      const RUNS = 12;
      const runs = Array.from({ length: RUNS }, () => startCli(args, work, env));
      // Each run either gets in (and is held at the source) or is refused and exits; wait until
      // every run has done one or the other, then look.
      let exited = 0;
      const results: CliResult[] = [];
      const allSettled = new Promise<void>((resolve) => {
        const check = (): void => {
          if (exited + (src.arrived() - 1) >= RUNS) resolve();
        };
        for (const r of runs)
          void r.done.then((res) => {
            exited++;
            results.push(res);
            check();
          });
        const poll = (): void => {
          check();
          void src.whenArrived(src.arrived() + 1).then(poll);
        };
        poll();
      });
      await allSettled;
      const inside = src.arrived() - 1;
      src.release();
      const all = await Promise.all(runs.map((r) => r.done));
      assert.equal(inside, 1, `exactly one run got in (${inside} did)`);
      const refused = all.filter((r) => r.code === 2);
      assert.equal(refused.length, RUNS - 1, all.map((r) => r.stderr).join("\n"));
      for (const r of refused) assert.match(r.stderr, /state folder .* is in use by another pyreg/);
      const winner = all.find((r) => r.code !== 2);
      assert.equal(winner?.code, 0, winner?.stderr);
      assert.equal(dst.server.uploads, src.files, "each file was sent once");
    } finally {
      src.release();
      await src.server.close();
      await dst.close();
    }
  });

  test("two runs to one destination from two state folders: the second is refused unless --shard makes them disjoint", async () => {
    const work = join(tmp.path, "two-states");
    await mkdir(work, { recursive: true });
    const src = await gatedSource(work);
    const dst = await startServe(join(work, "dst"));
    const env = { PYREG_LOCK_DIR: join(work, "locks") };
    const args = (state: string, ...more: string[]): string[] => [
      "migrate",
      "--from",
      `${src.server.url}simple/`,
      "--to",
      dst.url,
      "--state",
      join(work, state),
      ...more,
      ...GATED,
    ];
    try {
      const first = startCli(args("a"), work, env);
      await src.whenArrived(1);
      // While it runs: another state folder, and shards, are refused (before reading anything).
      for (const more of [[], ["--shard", "1/2"]]) {
        const second = startCli(args(`b${more.length}`, ...more), work, env);
        const r = await Promise.race([second.done, src.whenArrived(2).then(() => undefined)]);
        assert.ok(r, "the second run was refused before reading the source (it got in)");
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /another pyreg is migrating .*to http:\/\/127\.0\.0\.1:\d+\//);
        assert.match(r.stderr, /--shard K\/N/);
      }
      src.release();
      assert.equal((await first.done).code, 0);
      assert.equal(dst.server.uploads, src.files);
      // Disjoint shards from two state folders run side by side.
      const dst2 = await startServe(join(work, "dst2"));
      try {
        const shards = ["1/2", "2/2"].map((s, i) =>
          startCli([...args(`s${i}`, "--shard", s).map((a) => (a === dst.url ? dst2.url : a))], work, env),
        );
        const r = await Promise.all(shards.map((s) => s.done));
        for (const x of r) assert.equal(x.code, 0, x.stderr);
        assert.equal(dst2.server.uploads, src.files);
      } finally {
        await dst2.close();
      }
    } finally {
      src.release();
      await src.server.close();
      await dst.close();
    }
  });
});

describe("folders that cannot be made, and paths checked before the run", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let src: ServeHandle;
  before(async () => {
    tmp = await tempDir();
    await mkdir(join(tmp.path, "src"));
    await makeWheel(join(tmp.path, "src"), { name: "plain", version: "1.0" });
    src = await startServe(join(tmp.path, "src"));
  });
  after(async () => {
    await src.close();
    await tmp.cleanup();
  });
  // Node's recursive mkdir looped forever on these (100 % CPU, signals unseen); the CLI is killed
  // after a minute so that the old behaviour fails the test instead of hanging it.
  const cli = (args: string[], cwd = tmp.path): Promise<CliResult> =>
    runCli(args, { cwd, timeoutMs: 60_000, env: { PYREG_LOCK_DIR: join(tmp.path, "locks") } });

  test("--state, --to and serve under /proc: a clear error, exit 2", async () => {
    const cases: [string[], RegExp][] = [
      [
        [
          "migrate",
          "--from",
          src.indexUrl,
          "--to",
          join(tmp.path, "d1"),
          "--state",
          "/proc/pyreg-test/state",
        ],
        /cannot create the state folder \/proc\/pyreg-test\/state: \/proc does not accept new folders/,
      ],
      [
        ["migrate", "--from", src.indexUrl, "--to", "/proc/pyreg-test/dst", "--state", join(tmp.path, "s2")],
        /cannot create the destination's temporary folder \/proc\/pyreg-test\/dst/,
      ],
      [["serve", "/proc/pyreg-test/served"], /cannot create the served folder \/proc\/pyreg-test\/served/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args);
      assert.equal(r.signal, null, `${args.join(" ")} ended by itself`);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });

  test("from a deleted working folder: a clear error, exit 2", async () => {
    const gone = join(tmp.path, "gone");
    await mkdir(gone);
    const child = spawn(
      "sh",
      [
        "-c",
        'cd "$1" && rmdir "$1" && exec "$2" "$3" migrate --from "$4" --to dst',
        "sh",
        gone,
        process.execPath,
        PYREG_BIN,
        src.indexUrl,
      ],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, PYREG_LOCK_DIR: join(tmp.path, "locks") } },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((r) =>
      child.on("close", (c, s) => r([c, s])),
    );
    clearTimeout(timer);
    assert.equal(signal, null, stderr);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /the current folder no longer exists/);
  });

  test("--state on a file and --report in a missing folder are refused before anything is read", async () => {
    const hostile = await startHostile();
    try {
      const from = `${hostile.url}simple/`;
      const to = join(tmp.path, "d3");
      const a = await cli(["migrate", "--from", from, "--to", to, "--state", "/etc/passwd"]);
      assert.equal(a.code, 2, a.stderr);
      assert.match(a.stderr, /cannot use \/etc\/passwd as the state folder: \/etc\/passwd is a file/);
      const b = await cli(["migrate", "--from", from, "--to", to, "--report", "/nonexistent/r.json"]);
      assert.equal(b.code, 2, b.stderr);
      assert.match(b.stderr, /--report \/nonexistent\/r\.json: the folder \/nonexistent does not exist/);
      const c = await cli(["report", "--state", join(tmp.path, "nothing"), "--report", "/nonexistent/r"]);
      assert.equal(c.code, 2, c.stderr);
      assert.equal(hostile.seen.length, 0, "nothing was read from the source");
    } finally {
      await hostile.close();
    }
  });

  test("SIGTERM while the source is being read stops the run (exit 130)", async () => {
    const work = join(tmp.path, "term");
    await mkdir(work);
    const gated = await gatedSource(work);
    try {
      const run = startCli(
        [
          "migrate",
          "--from",
          `${gated.server.url}simple/`,
          "--to",
          join(work, "dst"),
          "--state",
          join(work, "st"),
        ],
        work,
        { PYREG_LOCK_DIR: join(tmp.path, "locks") },
      );
      await gated.whenArrived(1);
      run.child.kill("SIGTERM");
      const r = await run.done;
      assert.equal(r.code, 130, r.stderr);
      assert.match(r.stderr, /interrupted/);
    } finally {
      gated.release();
      await gated.server.close();
    }
  });
});

/**
 * A tar of `count` empty entries (many-1.0/e0000000, e0000001, ...), then a valid PKG-INFO and
 * the archive's end, as tar-stream writes them. tar-stream's packer took about 10 s of CPU for
 * 100,000 entries (it slows as they add up), so it writes the first header only: the others are
 * copies with the name's digits changed and the checksum computed again, as POSIX ustar defines
 * it (the sum of the header's bytes, the checksum field counted as eight spaces, in octal).
 */
async function manyEmptyEntries(count: number): Promise<Buffer> {
  const tarOf = async (entries: [string, string][]): Promise<Buffer> => {
    const pack = tar.pack();
    for (const [name, body] of entries) pack.entry({ name, size: Buffer.byteLength(body) }, body);
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  };
  const digits = 7;
  const prefix = "many-1.0/e";
  const first = (await tarOf([[prefix + "0".repeat(digits), ""]])).subarray(0, 512);
  const out = Buffer.alloc(count * 512);
  for (let i = 0; i < count; i++) {
    const h = out.subarray(i * 512, (i + 1) * 512);
    first.copy(h);
    h.write(String(i).padStart(digits, "0"), prefix.length, "latin1");
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
  }
  const tail = await tarOf([["many-1.0/PKG-INFO", "Metadata-Version: 2.1\nName: many\nVersion: 1.0\n"]]);
  return Buffer.concat([out, tail]);
}

describe("archive readers count entries", () => {
  test("an sdist of more than 100,000 empty entries before its PKG-INFO is refused, by count", async () => {
    const tmp = await tempDir();
    try {
      const srcDir = join(tmp.path, "src");
      await mkdir(srcDir);
      // The attack's shape (millions of empty entries, a few MB compressed), cut to just past the
      // limit; a valid PKG-INFO comes last, so only the count can refuse it.
      await writeFile(join(srcDir, "many-1.0.tar.gz"), gzipSync(await manyEmptyEntries(100_001)));
      const r = await runCli(
        [
          "migrate",
          "--from",
          srcDir,
          "--to",
          join(tmp.path, "dst"),
          "--state",
          join(tmp.path, "st"),
          "--json",
        ],
        { cwd: tmp.path, env: { PYREG_LOCK_DIR: join(tmp.path, "locks") } },
      );
      assert.equal(r.code, 1, r.stderr);
      const out = JSON.parse(r.stdout) as {
        outcomes: { filename: string; outcome: string; code?: string; reason?: string }[];
      };
      const o = out.outcomes.find((x) => x.filename === "many-1.0.tar.gz");
      assert.equal(o?.outcome, "failed", r.stdout);
      assert.equal(o?.code, "BAD_ARCHIVE");
      assert.match(o?.reason ?? "", /more than 100000 entries before its PKG-INFO/);
      assert.ok(!existsSync(join(tmp.path, "dst", "many-1.0.tar.gz")), "not copied");
    } finally {
      await tmp.cleanup();
    }
  });
});

describe("a folder destination checks what it is given", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  before(async () => {
    tmp = await tempDir();
  });
  after(async () => {
    await tmp.cleanup();
  });
  interface Out {
    outcomes: { filename: string; outcome: string; code?: string; reason?: string }[];
  }
  const migrate = async (name: string, src: string, ...more: string[]): Promise<[CliResult, Out]> => {
    const r = await runCli(
      [
        "migrate",
        "--from",
        src,
        "--to",
        join(tmp.path, name, "dst"),
        "--state",
        join(tmp.path, name, "st"),
        "--json",
        ...more,
      ],
      { cwd: tmp.path, env: { PYREG_LOCK_DIR: join(tmp.path, "locks") } },
    );
    return [r, JSON.parse(r.stdout || "{}") as Out];
  };

  test("a non-zip 'wheel' is reported as failed, not copied; --allow-broken-archives copies it", async () => {
    const src = join(tmp.path, "broken-src");
    await mkdir(src);
    await writeFile(join(src, "junk-1.0-py3-none-any.whl"), "not a zip at all\n".repeat(10));
    await makeWheel(src, { name: "fine", version: "1.0" });
    const [r, out] = await migrate("broken", src);
    assert.equal(r.code, 1, r.stderr);
    const junk = out.outcomes.find((o) => o.filename === "junk-1.0-py3-none-any.whl");
    assert.equal(junk?.outcome, "failed", r.stdout);
    assert.equal(junk?.code, "BAD_ARCHIVE");
    assert.deepEqual(
      await readdir(join(tmp.path, "broken", "dst")).then((l) => l.filter((n) => !n.startsWith("."))),
      ["fine-1.0-py3-none-any.whl"],
    );
    const [r2, out2] = await migrate("broken", src, "--allow-broken-archives", "--retry-failed");
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal(out2.outcomes.find((o) => o.filename === "junk-1.0-py3-none-any.whl")?.outcome, "copied");
  });

  test("a filename differing only by case from one already there is a conflict, never a second file", async () => {
    const src = join(tmp.path, "case-src");
    const dst = join(tmp.path, "case", "dst");
    await mkdir(src);
    await mkdir(dst, { recursive: true });
    await makeWheel(dst, { name: "twin", version: "1.0" });
    const built = await makeWheel(join(tmp.path, "case-src"), {
      name: "twin",
      version: "1.0",
      summary: "other bytes",
    });
    const upper = join(src, basename(built).replace(/^twin/, "TWIN"));
    await writeFile(upper, await readFile(built));
    await rm(built);
    const [r, out] = await migrate("case", src);
    assert.equal(r.code, 1, r.stderr);
    const o = out.outcomes.find((x) => x.filename === basename(upper));
    assert.ok(o && o.outcome !== "copied", r.stdout);
    assert.equal(o.code, "CONFLICT", r.stdout);
    assert.match(o.reason ?? "", /differs only by case from twin-1\.0-py3-none-any\.whl/);
    assert.deepEqual(
      (await readdir(dst)).filter((n) => !n.startsWith(".")),
      ["twin-1.0-py3-none-any.whl"],
    );
  });
});

describe("leftovers and errors that misled", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let srcDir: string;
  before(async () => {
    tmp = await tempDir();
    srcDir = join(tmp.path, "src");
    await mkdir(srcDir);
    await makeWheel(srcDir, { name: "plain", version: "1.0" });
  });
  after(async () => {
    await tmp.cleanup();
  });
  const env = (): NodeJS.ProcessEnv => ({
    PYREG_LOCK_DIR: join(tmp.path, "locks"),
    NETRC: join(tmp.path, "none"),
  });

  test("temporary folders of dead runs are removed at start; a live run's and others' are kept", async () => {
    const tmpDir = join(tmp.path, "tmp");
    const dead = Number(
      spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout,
    );
    const gone = join(tmpDir, `pyreg-run-${dead}-AbC123`);
    const live = join(tmpDir, `pyreg-run-${process.pid}-DeF456`);
    const other = join(tmpDir, "pyreg-test-keep");
    for (const d of [gone, live, other]) {
      await mkdir(d, { recursive: true });
      await writeFile(join(d, "partial.whl"), "x".repeat(1000));
    }
    const r = await runCli(
      ["migrate", "--from", srcDir, "--to", join(tmp.path, "d-tmp"), "--state", join(tmp.path, "s-tmp")],
      { cwd: tmp.path, env: { ...env(), TMPDIR: tmpDir } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!existsSync(gone), "the dead run's folder is removed");
    assert.ok(existsSync(live) && existsSync(other), "a live run's folder and other folders are kept");
    assert.deepEqual(
      (await readdir(tmpDir)).sort(),
      [basename(live), basename(other)].sort(),
      "this run cleaned up too",
    );
  });

  test("--to-index https://user:pass@…: those credentials are used for the index and the upload", async () => {
    const AUTH = { username: "idx-user", password: "idx-Pass-4242" };
    const dst = await startServe(join(tmp.path, "auth-dst"), { auth: AUTH, authReads: true });
    try {
      const index = dst.indexUrl.replace("http://", `http://${AUTH.username}:${AUTH.password}@`);
      const r = await runCli(
        [
          "migrate",
          "--from",
          srcDir,
          "--to",
          dst.url,
          "--to-index",
          index,
          "--state",
          join(tmp.path, "s-idx"),
        ],
        { cwd: tmp.path, env: env() },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.equal(dst.server.uploads, 1);
      assert.ok(!r.stderr.includes(AUTH.password));
    } finally {
      await dst.close();
    }
  });

  test("a 307 on upload: says where it redirects (credentials hidden) and what to do, exit 2", async () => {
    const dst = await startHostile();
    try {
      dst.set("/", {
        status: 307,
        headers: { location: "http://someone:hidden-Pw-77@127.0.0.1:9/elsewhere/" },
      });
      dst.set("/simple/plain/", jsonPage("plain", []));
      const r = await runCli(
        ["migrate", "--from", srcDir, "--to", dst.url, "--state", join(tmp.path, "s-307")],
        {
          cwd: tmp.path,
          env: env(),
        },
      );
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr,
        /the destination redirects uploads \(HTTP 307\) from http:\/\/127\.0\.0\.1:\d+\/ to http:\/\/\*\*\*@127\.0\.0\.1:9\/elsewhere\//,
      );
      assert.match(r.stderr, /give it as --to/);
      assert.ok(!r.stderr.includes("hidden-Pw-77"));
      assert.equal(
        dst.seen.filter((s) => s.method === "POST").length,
        1,
        "sent once, never on to the other address",
      );
    } finally {
      await dst.close();
    }
  });
});
