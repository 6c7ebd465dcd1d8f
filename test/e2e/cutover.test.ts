/**
 * Cut-over, end to end with the real tools here: Poetry 1.3 and PDM 2.2 (Debian packages) and pip.
 * They make real lock files against an OLD `pyreg serve`; `pyreg check-lock` and `pyreg
 * rewrite-lock` judge and move them to a NEW one (with Basic auth on reads); the settings `pyreg
 * print-settings` prints are applied in a clean HOME and each tool installs through them. Every
 * server is on loopback: nothing reaches the internet.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { appendFile, chmod, copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeSdist, makeWheel } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { fillTemplate } from "../helpers/lockfiles.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { tempDir } from "../helpers/tmp.js";
import { python3 } from "../helpers/tools.js";

interface Run {
  code: number | null;
  out: string;
}

const USER = "ci";
const PASSWORD = "pw-Secret-4711";

/** A clean environment: a fresh HOME, none of the machine's pip/poetry/pdm/XDG settings. */
function cleanEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(PIP_|POETRY_|PDM_|UV_|XDG_|VIRTUAL_ENV|PYTHON|TWINE_|PYREG_)/.test(k)) continue;
    env[k] = v;
  }
  return { ...env, HOME: home, PDM_CHECK_UPDATE: "false", PIP_DISABLE_PIP_VERSION_CHECK: "1", ...extra };
}

/** Runs a command without blocking the event loop (the servers under test run in this process). */
function run(cmd: string, args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 300_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

async function ok(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env: NodeJS.ProcessEnv },
): Promise<string> {
  const r = await run(cmd, args, opts);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")} failed:\n${r.out}`);
  return r.out;
}

interface Snippet {
  target: string;
  text: string;
  when?: string;
}
interface Settings {
  indexUrl: string;
  tools: { tool: string; snippets: Snippet[] }[];
}

function snippets(s: Settings, tool: string): Snippet[] {
  const t = s.tools.find((x) => x.tool === tool);
  assert.ok(t, `print-settings has no ${tool} section`);
  return t.snippets;
}

/** What a person does with a placeholder: types the real value in. */
const fill = (text: string): string => text.replaceAll("<USERNAME>", USER).replaceAll("<PASSWORD>", PASSWORD);

/** `export A=B   # comment` lines → {A: B}. */
function exportsOf(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const m of text.matchAll(/^export ([A-Z0-9_]+)=(\S+)/gm)) env[m[1] as string] = m[2] as string;
  return env;
}

describe("cut-over: check-lock, rewrite-lock and print-settings with the real tools", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let oldServe: ServeHandle;
  let newServe: ServeHandle;
  let brokenServe: ServeHandle;
  let brokenDir: string;
  const sha = new Map<string, string>();
  const locks: Record<string, string> = {};
  const newEnv = { PYREG_TO_USERNAME: USER, PYREG_TO_PASSWORD: PASSWORD };

  before(async () => {
    tmp = await tempDir("pyreg-cutover-");
    const files = join(tmp.path, "files");
    await mkdir(files);
    await makeWheel(files, { name: "alpha", version: "1.0" });
    await makeSdist(files, { name: "alpha", version: "1.0" });
    await makeWheel(files, { name: "beta", version: "2.0", requiresDist: ["alpha>=1"] });
    for (const f of await readdir(files))
      sha.set(
        f,
        createHash("sha256")
          .update(await readFile(join(files, f)))
          .digest("hex"),
      );
    const copyAll = async (dir: string): Promise<void> => {
      await mkdir(dir);
      for (const f of await readdir(files)) await copyFile(join(files, f), join(dir, f));
    };
    await copyAll(join(tmp.path, "old"));
    await copyAll(join(tmp.path, "new"));
    // The broken destination: the sdist missing, the wheel of beta with other bytes.
    brokenDir = join(tmp.path, "broken");
    await mkdir(brokenDir);
    await copyFile(join(files, "alpha-1.0-py3-none-any.whl"), join(brokenDir, "alpha-1.0-py3-none-any.whl"));
    await makeWheel(brokenDir, { name: "beta", version: "2.0", summary: "other bytes" });
    oldServe = await startServe(join(tmp.path, "old"));
    newServe = await startServe(join(tmp.path, "new"), {
      auth: { username: USER, password: PASSWORD },
      authReads: true,
    });
    brokenServe = await startServe(brokenDir);

    // Real lock files, made by the real tools against the OLD index.
    const home = join(tmp.path, "home-lock");
    await mkdir(home);
    const poetryDir = join(tmp.path, "poetry-project");
    await mkdir(poetryDir);
    await writeFile(
      join(poetryDir, "pyproject.toml"),
      `[tool.poetry]\nname = "app"\nversion = "0.1.0"\ndescription = ""\nauthors = ["x <x@example.com>"]\n\n` +
        `[tool.poetry.dependencies]\npython = "^3.9"\nbeta = "2.0"\n\n` +
        `[[tool.poetry.source]]\nname = "old"\nurl = "${oldServe.indexUrl}"\ndefault = true\n`,
    );
    await ok("poetry", ["lock", "--no-update"], { cwd: poetryDir, env: cleanEnv(home) });
    locks["poetry"] = join(poetryDir, "poetry.lock");
    const pdmDir = join(tmp.path, "pdm-project");
    await mkdir(pdmDir);
    await writeFile(
      join(pdmDir, "pyproject.toml"),
      `[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = ["beta==2.0"]\n\n` +
        `[[tool.pdm.source]]\nname = "pypi"\nurl = "${oldServe.indexUrl}"\nverify_ssl = true\n`,
    );
    await ok("pdm", ["lock"], { cwd: pdmDir, env: cleanEnv(home) });
    locks["pdm"] = join(pdmDir, "pdm.lock");
    await ok("pdm", ["export", "-f", "requirements", "-o", "requirements.txt"], {
      cwd: pdmDir,
      env: cleanEnv(home),
    });
    locks["requirements"] = join(pdmDir, "requirements.txt");
    // Hand-written after their specifications, for the same files.
    const values = {
      index: oldServe.indexUrl.replace(/\/$/, ""),
      files: `${oldServe.url}files/`,
      sha256: (f: string) => sha.get(f) ?? "0".repeat(64),
    };
    locks["uv"] = join(tmp.path, "uv", "uv.lock");
    await mkdir(join(tmp.path, "uv"));
    await writeFile(locks["uv"], await fillTemplate("uv.lock.tmpl", values));
    locks["pylock"] = join(tmp.path, "pylock", "pylock.toml");
    await mkdir(join(tmp.path, "pylock"));
    await writeFile(locks["pylock"], await fillTemplate("pylock.toml.tmpl", values));
  });

  after(async () => {
    await Promise.all([oldServe?.close(), newServe?.close(), brokenServe?.close()]);
    await tmp?.cleanup();
  });

  test("the locks the real tools wrote name the old index and every file", async () => {
    assert.match(await readFile(locks["poetry"] as string, "utf8"), /type = "legacy"/);
    assert.match(await readFile(locks["pdm"] as string, "utf8"), /alpha-1\.0\.tar\.gz/);
    assert.match(await readFile(locks["requirements"] as string, "utf8"), /--hash=sha256:/);
  });

  test("check-lock: every lock passes against the new registry (Basic auth from PYREG_TO_*), JSON for a CI gate", async () => {
    const all = Object.values(locks);
    const r = await runCli(["check-lock", ...all, "--index", newServe.indexUrl, "--json"], { env: newEnv });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const j = JSON.parse(r.stdout) as {
      ok: boolean;
      counts: Record<string, number>;
      rows: { status: string }[];
    };
    assert.equal(j.ok, true);
    // 3 files in each of the five locks; the uv.lock's and pylock.toml's own project is skipped, with its reason.
    assert.equal(j.counts["ok"], 15);
    assert.equal(j.counts["skipped"], 2);
    assert.equal(j.counts["missing"], 0);
  });

  test("check-lock: a missing file and a wrong hash each fail, per package, in every lock format", async () => {
    for (const [format, path] of Object.entries(locks)) {
      const r = await runCli(["check-lock", path, "--index", brokenDir, "--json"]);
      assert.equal(r.code, 1, `${format}: ${r.stderr}`);
      const j = JSON.parse(r.stdout) as {
        ok: boolean;
        rows: { package: string; filename?: string; status: string; lockedSha256?: string }[];
      };
      assert.equal(j.ok, false);
      const bad = j.rows.filter((x) => x.status !== "ok" && x.status !== "skipped");
      if (format === "requirements") {
        // requirements.txt names no files: the hashes are looked for among the files of the version.
        assert.deepEqual(
          bad.map((x) => [x.package, x.status, x.lockedSha256]),
          [
            ["alpha", "missing", sha.get("alpha-1.0.tar.gz")],
            ["beta", "missing", sha.get("beta-2.0-py3-none-any.whl")],
          ],
        );
      } else {
        assert.deepEqual(
          bad.map((x) => [x.package, x.filename, x.status]).sort(),
          [
            ["alpha", "alpha-1.0.tar.gz", "missing"],
            ["beta", "beta-2.0-py3-none-any.whl", "different"],
          ],
          format,
        );
      }
      // The human list, per package, on stderr with --json.
      assert.match(r.stderr, /alpha 1\.0\n\s+missing/);
    }
  });

  test("check-lock: a wrong password is an auth error (exit 2), not a pass", async () => {
    const r = await runCli(["check-lock", locks["uv"] as string, "--index", newServe.indexUrl], {
      env: { PYREG_TO_USERNAME: USER, PYREG_TO_PASSWORD: "wrong-password" },
    });
    assert.equal(r.code, 2, r.stderr);
  });

  test("rewrite-lock refuses (exit 1) and writes nothing when a file is missing or different at the new index", async () => {
    for (const path of Object.values(locks)) {
      const before = await readFile(path, "utf8");
      const r = await runCli([
        "rewrite-lock",
        path,
        "--from",
        oldServe.indexUrl,
        "--to",
        brokenServe.indexUrl,
        "--write",
      ]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /not rewritten/);
      assert.equal(await readFile(path, "utf8"), before);
      assert.equal(existsSync(`${path}.orig`), false);
    }
  });

  test("rewrite-lock: a dry-run diff first, then --write keeps the original; the rewritten locks check against the new index and install", async () => {
    const newIndex = newServe.indexUrl.replace("http://", `http://${USER}:${PASSWORD}@`);
    for (const [format, path] of Object.entries(locks)) {
      const original = await readFile(path, "utf8");
      const dry = await runCli(["rewrite-lock", path, "--from", oldServe.indexUrl, "--to", newIndex]);
      assert.equal(dry.code, 0, `${format}: ${dry.stderr}`);
      assert.match(dry.stdout, new RegExp(`^\\+.*${newServe.url.replace(/[.]/g, "\\.")}`, "m"), format);
      assert.match(dry.stderr, /dry run, nothing written/);
      assert.equal(await readFile(path, "utf8"), original, "a dry run writes nothing");
      const w = await runCli([
        "rewrite-lock",
        path,
        "--from",
        oldServe.indexUrl,
        "--to",
        newIndex,
        "--write",
      ]);
      assert.equal(w.code, 0, `${format}: ${w.stderr}`);
      assert.equal(await readFile(`${path}.orig`, "utf8"), original);
      const text = await readFile(path, "utf8");
      assert.ok(!text.includes(oldServe.url), `${format}: still names the old registry:\n${text}`);
      assert.ok(text.includes(newServe.url), format);
      assert.ok(
        !text.includes(PASSWORD) && !dry.stdout.includes(PASSWORD) && !w.stderr.includes(PASSWORD),
        format,
      );
      for (const f of sha.values()) if (original.includes(f)) assert.ok(text.includes(f), "hashes kept");
      const c = await runCli(["check-lock", path, "--index", newServe.indexUrl], { env: newEnv });
      assert.equal(c.code, 0, `${format}: ${c.stderr}`);
      // Once more from the original: the first backup is never overwritten, the next one is FILE.orig.2.
      const rewritten = text;
      await writeFile(path, original);
      const again = await runCli([
        "rewrite-lock",
        path,
        "--from",
        oldServe.indexUrl,
        "--to",
        newIndex,
        "--write",
      ]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(await readFile(`${path}.orig`, "utf8"), original);
      assert.equal(await readFile(`${path}.orig.2`, "utf8"), original);
      assert.equal(await readFile(path, "utf8"), rewritten);
    }
    // The old registry is frozen and gone: the rewritten locks still install, from the new one only.
    await oldServe.close();
    const home = join(tmp.path, "home-install");
    await mkdir(home);
    await writeFile(join(home, ".netrc"), `machine 127.0.0.1\n  login ${USER}\n  password ${PASSWORD}\n`);
    await chmod(join(home, ".netrc"), 0o600);
    const target = join(tmp.path, "pip-target");
    await ok(
      python3(),
      [
        "-m",
        "pip",
        "install",
        "--no-cache-dir",
        "--require-hashes",
        "--target",
        target,
        "-r",
        locks["requirements"] as string,
      ],
      { env: cleanEnv(home) },
    );
    assert.ok(existsSync(join(target, "beta")) && existsSync(join(target, "alpha")));
    const pdmDir = join(tmp.path, "pdm-project");
    await ok("pdm", ["sync", "--no-self"], { cwd: pdmDir, env: cleanEnv(home) });
    assert.match((await run("pdm", ["list"], { cwd: pdmDir, env: cleanEnv(home) })).out, /beta\s.*2\.0/);
  });

  test("print-settings: pip, poetry and pdm install from the new registry through the printed settings, in a clean HOME", async () => {
    const dest = newServe.url.replace("http://", `http://${USER}:${PASSWORD}@`);
    const text = await runCli(["print-settings", dest]);
    assert.equal(text.code, 0, text.stderr);
    const r = await runCli(["print-settings", dest, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    for (const out of [text.stdout, text.stderr, r.stdout, r.stderr])
      assert.ok(!out.includes(PASSWORD), "a secret was printed");
    const s = JSON.parse(r.stdout) as Settings;
    assert.equal(s.indexUrl, newServe.indexUrl);

    // pip: pip.conf and ~/.netrc as printed.
    {
      const home = join(tmp.path, "home-pip");
      for (const sn of snippets(s, "pip")) {
        if (!sn.target.startsWith("~/")) continue;
        const p = join(home, sn.target.slice(2));
        await mkdir(join(p, ".."), { recursive: true });
        await writeFile(p, fill(sn.text));
        if (sn.target === "~/.netrc") await chmod(p, 0o600);
      }
      const target = join(tmp.path, "pip-settings-target");
      await ok(python3(), ["-m", "pip", "install", "--no-cache-dir", "--target", target, "beta==2.0"], {
        env: cleanEnv(home),
      });
      assert.ok(existsSync(join(target, "beta")) && existsSync(join(target, "alpha")));
    }

    // Poetry: the `poetry source add` line for this Poetry's version, the credentials as the printed variables.
    {
      const home = join(tmp.path, "home-poetry");
      await mkdir(home);
      const dir = join(tmp.path, "poetry-settings");
      await mkdir(dir);
      await writeFile(
        join(dir, "pyproject.toml"),
        `[tool.poetry]\nname = "app"\nversion = "0.1.0"\ndescription = ""\nauthors = ["x <x@example.com>"]\n\n` +
          `[tool.poetry.dependencies]\npython = "^3.9"\nbeta = "2.0"\n`,
      );
      const version = /(\d+)\.(\d+)/.exec(await ok("poetry", ["--version"], { env: cleanEnv(home) }));
      const modern = Number(version?.[1]) > 1 || Number(version?.[2]) >= 5;
      const sn = snippets(s, "poetry");
      const add = sn.find(
        (x) =>
          x.text.startsWith("poetry source add") &&
          (modern ? /1\.5 and later/ : /1\.2 to 1\.4/).test(x.when ?? ""),
      );
      assert.ok(add, "no poetry source add line for this version");
      const env = cleanEnv(home, {
        ...exportsOf(fill(sn.find((x) => x.text.includes("POETRY_HTTP_BASIC"))?.text ?? "")),
        POETRY_VIRTUALENVS_IN_PROJECT: "true",
      });
      await ok("sh", ["-c", add.text], { cwd: dir, env });
      await ok("poetry", ["install", "--no-root"], { cwd: dir, env });
      assert.match(await ok("poetry", ["show"], { cwd: dir, env }), /beta\s+2\.0/);
    }

    // PDM: the [[tool.pdm.source]] block appended to pyproject.toml, the credentials as the printed variables.
    {
      const home = join(tmp.path, "home-pdm");
      await mkdir(home);
      const dir = join(tmp.path, "pdm-settings");
      await mkdir(dir);
      const sn = snippets(s, "pdm");
      await writeFile(
        join(dir, "pyproject.toml"),
        `[project]\nname = "app"\nversion = "0.1.0"\nrequires-python = ">=3.9"\ndependencies = ["beta==2.0"]\n\n`,
      );
      await appendFile(
        join(dir, "pyproject.toml"),
        sn.find((x) => x.target === "pyproject.toml")?.text ?? "",
      );
      const env = cleanEnv(home, exportsOf(fill(sn.find((x) => x.target === "shell")?.text ?? "")));
      await ok("pdm", ["install", "--no-self"], { cwd: dir, env });
      assert.match((await run("pdm", ["list"], { cwd: dir, env })).out, /beta\s.*2\.0/);
      assert.ok(!(await readFile(join(dir, "pdm.lock"), "utf8")).includes(PASSWORD));
    }
  });

  test("print-settings --with-pypi warns of dependency confusion and says how each tool pins a package", async () => {
    const r = await runCli(["print-settings", newServe.url, "--with-pypi"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /DEPENDENCY CONFUSION/);
    assert.match(r.stdout, /extra-index-url = /);
    for (const t of ["uv", "poetry", "pdm", "pipenv"])
      assert.match(r.stdout, new RegExp(`### ${t}[\\s\\S]*?One index per package: `));
  });
});
