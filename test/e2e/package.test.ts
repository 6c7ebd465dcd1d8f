/**
 * The package as users get it: `npm pack` of a clean copy of the project (its prepack and prepare
 * scripts build it), the tarball installed into an empty prefix without dev dependencies (so
 * without TypeScript), then a real migration with the installed `pyreg`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cp, mkdir, readdir, rename, rm, symlink, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { makeCorpus, type CorpusFile } from "../fixtures/dists.js";
import { REPO_ROOT } from "../helpers/cli.js";
import { folderDigests, tempDir } from "../helpers/tmp.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, NO_COLOR: "1", CI: "true", ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** PATH with this Node first and without the project's node_modules/.bin (no tsc from there). */
function userPath(extra: string[] = []): string {
  const dirs = (process.env["PATH"] ?? "").split(delimiter).filter((d) => !d.includes("node_modules"));
  return [...extra, dirname(process.execPath), ...dirs].join(delimiter);
}

describe("the npm package", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let tarball: string;
  let packed: string[];
  let prefix: string;
  let pyreg: string;

  before(async () => {
    tmp = await tempDir("pyreg-pkg-");
    // A copy of what a clone holds (no dist/), so packing never touches this checkout's build.
    const copy = join(tmp.path, "project");
    await mkdir(copy);
    for (const entry of [
      "src",
      "bin",
      "scripts",
      "docs",
      "README.md",
      "package.json",
      "tsconfig.json",
      "tsconfig.build.json",
    ]) {
      await cp(join(REPO_ROOT, entry), join(copy, entry), { recursive: true });
    }
    await symlink(join(REPO_ROOT, "node_modules"), join(copy, "node_modules"));
    const out = join(tmp.path, "out");
    await mkdir(out);
    const p = await run("npm", ["pack", "--json", "--pack-destination", out], { cwd: copy });
    assert.equal(p.code, 0, p.stderr);
    const info = JSON.parse(p.stdout.slice(p.stdout.indexOf("["))) as {
      filename: string;
      files: { path: string }[];
    }[];
    tarball = join(out, info[0]?.filename as string);
    packed = (info[0]?.files ?? []).map((f) => f.path).sort();

    prefix = join(tmp.path, "prefix");
    await mkdir(prefix);
    // Install scripts are left out, and better-sqlite3's native addon is the one `npm ci` built
    // for this checkout (same package version, same Node.js): no prebuilt binary can be
    // downloaded here, and building it again costs 75-90 CPU seconds of the suite's budget for a
    // step this test does not judge (scripts/node24.sh does build it, for Node 24).
    const i = await run(
      "npm",
      [
        "install",
        "--omit=dev",
        "--ignore-scripts",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--prefix",
        prefix,
        tarball,
      ],
      { cwd: tmp.path, env: { PATH: userPath() } },
    );
    assert.equal(i.code, 0, i.stderr);
    await cp(
      join(REPO_ROOT, "node_modules", "better-sqlite3", "build"),
      join(prefix, "node_modules", "better-sqlite3", "build"),
      { recursive: true },
    );
    pyreg = join(prefix, "node_modules", ".bin", "pyreg");
  });
  after(async () => {
    await tmp.cleanup();
  });

  test("the tarball holds the built code, its types and the bin, and no sources, tests or bench", () => {
    for (const f of [
      "bin/pyreg",
      "dist/src/index.js",
      "dist/src/index.d.ts",
      "dist/src/cli/main.js",
      "dist/src/pyreg.cjs",
      "package.json",
    ])
      assert.ok(packed.includes(f), `${f} is in the tarball`);
    const stray = packed.filter(
      (f) =>
        !/^(bin\/pyreg|dist\/src\/.+\.(js|d\.ts)|dist\/src\/pyreg\.cjs|docs\/[^/]+\.(md|json)|README\.md|LICENSE|package\.json)$/.test(
          f,
        ),
    );
    assert.deepEqual(stray, [], "nothing else is shipped");
    assert.ok(!packed.some((f) => f.startsWith("dist/test/") || f.startsWith("dist/bench/")));
  });

  test("installs without dev dependencies: no TypeScript, and pyreg runs", async () => {
    assert.ok(existsSync(join(prefix, "node_modules", "pyreg", "dist", "src", "cli", "main.js")));
    assert.ok(!existsSync(join(prefix, "node_modules", "typescript")), "TypeScript is not installed");
    const v = await run(pyreg, ["--version"], { cwd: tmp.path, env: { PATH: userPath() } });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    assert.equal(v.stderr, "");
    // The bundle ran, not the modules tsc wrote: its code cache is now beside it.
    const built = join(prefix, "node_modules", "pyreg", "dist", "src");
    assert.deepEqual(
      (await readdir(built)).filter((f) => f.endsWith(".cache")),
      [`pyreg.cjs.${process.version}-${process.arch}.cache`],
      "the installed pyreg runs its bundle, with the code cache it made",
    );
  });

  test("the installed pyreg migrates a folder to a folder and verifies it", async () => {
    const srcDir = join(tmp.path, "src");
    const dstDir = join(tmp.path, "dst");
    await mkdir(srcDir);
    await mkdir(dstDir);
    const corpus: CorpusFile[] = await makeCorpus(srcDir);
    const env = { PATH: userPath([join(prefix, "node_modules", ".bin")]) };
    const m = await run("pyreg", ["migrate", "--from", srcDir, "--to", dstDir, "--json"], {
      cwd: tmp.path,
      env,
    });
    assert.equal(m.code, 0, m.stderr);
    const out = JSON.parse(m.stdout) as { counts: { copied: number; failed: number } };
    assert.equal(out.counts.copied, corpus.length);
    assert.doesNotMatch(m.stderr, /warning/i, "no warning from pyreg or a dependency");
    const there = await folderDigests(dstDir);
    assert.deepEqual(
      [...there.entries()].sort(),
      corpus.map((f) => [f.filename, f.sha256]).sort(),
      "the destination holds the source's files, byte for byte",
    );
    const v = await run("pyreg", ["verify", "--from", srcDir, "--to", dstDir], { cwd: tmp.path, env });
    assert.equal(v.code, 0, v.stderr);
    assert.ok(
      (await readdir(join(tmp.path, ".pyreg"))).length === 1,
      "one state folder, in the working folder",
    );
  });

  test("without better-sqlite3's native addon (its install script blocked), or with one Node cannot load, pyreg says so and what to do", async () => {
    // npm 12 runs a dependency's install script only when the install allows it: an install
    // that did not allow better-sqlite3's has no build/ folder at all.
    const build = join(prefix, "node_modules", "better-sqlite3", "build");
    const srcDir = join(tmp.path, "addon-src");
    await mkdir(srcDir);
    await makeCorpus(srcDir);
    const env = { PATH: userPath([join(prefix, "node_modules", ".bin")]) };
    const migrate = (): Promise<Run> =>
      run("pyreg", ["migrate", "--from", srcDir, "--to", join(tmp.path, "addon-dst")], {
        cwd: tmp.path,
        env,
      });
    await rename(build, `${build}.off`);
    try {
      const m = await migrate();
      assert.equal(m.code, 2, m.stderr);
      assert.match(
        m.stderr,
        /^pyreg: error: better-sqlite3's native addon is not built \(.+better_sqlite3\.node is missing\)/m,
      );
      assert.match(m.stderr, /hint: .*npm install -g --allow-scripts=better-sqlite3 pyreg/);
      assert.doesNotMatch(m.stderr, /\n\s+at /, "no stack trace");
      // A file that is not a loadable addon (built for another Node.js, or damaged).
      await mkdir(join(build, "Release"), { recursive: true });
      await writeFile(join(build, "Release", "better_sqlite3.node"), "not an addon");
      const d = await migrate();
      assert.equal(d.code, 2, d.stderr);
      assert.match(
        d.stderr,
        /^pyreg: error: better-sqlite3's native addon .+ cannot be loaded by Node\.js v\d+/m,
      );
      assert.match(d.stderr, /hint: .*npm rebuild better-sqlite3/);
    } finally {
      await rm(build, { recursive: true, force: true });
      await rename(`${build}.off`, build);
    }
  });

  test("a TypeScript program compiles against the package's types and migrates, then verifies", async () => {
    const app = join(tmp.path, "app");
    await mkdir(app);
    await symlink(join(prefix, "node_modules"), join(app, "node_modules"));
    await writeFile(join(app, "package.json"), JSON.stringify({ type: "module" }));
    await writeFile(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          outDir: "out",
          // @types/node is the program's own dev dependency; pyreg's types need nothing else.
          typeRoots: [join(REPO_ROOT, "node_modules", "@types")],
          types: ["node"],
        },
        files: ["main.ts"],
      }),
    );
    await writeFile(
      join(app, "main.ts"),
      `import { Writable } from "node:stream";
import { migrate, report, verify, PyregError, type PyregEvent, type ReportSummary } from "pyreg";

const [from, to, state] = process.argv.slice(2) as [string, string, string];
const seen = new Set<PyregEvent["type"]>();
let outcomes = 0;
const m = await migrate(from, to, {
  state,
  onEvent: (e) => {
    seen.add(e.type);
    if (e.type === "outcome") outcomes++;
  },
});
if (m.status !== "ok") throw new Error("migrate: " + m.status);
const copied: number = m.counts.copied;
const v = await verify(from, to, { state });
if (v.status !== "ok") throw new Error("verify: " + v.status);
let printed = "";
const sink = new Writable({ write(chunk, _enc, done) { printed += String(chunk); done(); } });
const r = await report({ state, output: { format: "json", stream: sink } });
if (r.status !== "ok") throw new Error("report: " + r.status);
const summary: ReportSummary = r.report;
const reported = [summary.totals.files, (JSON.parse(printed) as { files: unknown[] }).files.length];
const missing = await migrate(from + "-missing", to, { state: state + "-2" });
const code = missing.status === "error" && missing.error instanceof PyregError ? missing.error.code : "none";
const notAttempted: number = m.notAttempted;
console.log(JSON.stringify({ copied, outcomes, notAttempted, checked: v.counts.files, ok: v.counts.ok, reported, events: [...seen].sort(), missing: missing.status, code }));
`,
    );
    const tsc = join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
    const c = await run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: app });
    assert.equal(c.code, 0, c.stdout + c.stderr);
    const srcDir = join(tmp.path, "lib-src");
    const dstDir = join(tmp.path, "lib-dst");
    await mkdir(srcDir);
    await mkdir(dstDir);
    const corpus = await makeCorpus(srcDir);
    const r = await run(
      process.execPath,
      [join(app, "out", "main.js"), srcDir, dstDir, join(tmp.path, "lib-state")],
      {
        cwd: app,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, "", "nothing printed by the library");
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    assert.deepEqual(out, {
      copied: corpus.length,
      outcomes: corpus.length,
      notAttempted: 0,
      checked: corpus.length,
      ok: corpus.length,
      reported: [corpus.length, corpus.length],
      events: ["bytes", "downloaded", "file-start", "log", "outcome", "phase", "start", "uploaded"],
      missing: "error",
      code: out["code"],
    });
    assert.match(String(out["code"]), /^[A-Z_]+$/);
    assert.notEqual(out["code"], "none");
  });
});
