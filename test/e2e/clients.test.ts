/**
 * `pyreg serve` against every Python client in the field, each judged on the bytes it installs,
 * downloads, locks or uploads:
 * - pip 23.0.1 (Debian 12's own, in a venv of /usr/bin/python3) and the machine's newest pip:
 *   install, `download --platform` and `--require-hashes`, from the JSON and the HTML pages;
 * - twine, `poetry publish`, `pdm publish` and `flit publish`: a first upload, the same bytes again
 *   (a no-op), other bytes under the same name (refused, nothing overwritten);
 * - `poetry lock` and `pdm lock` resolving from the server alone.
 * Every client sees only the loopback server (see helpers/clients.ts): none reaches the internet.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeSdist, makeWheel } from "../fixtures/dists.js";
import { requireClient, run, sealedEnv, type Run } from "../helpers/clients.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { python3 } from "../helpers/tools.js";

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");
const fileSha = async (path: string): Promise<string> => sha256(await readFile(path));

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "pyreg-clients-e2e-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

function ok(r: Run): void {
  assert.equal(r.code, 0, r.out);
}

describe("pip, Debian's 23.0.1 and the newest, against pyreg serve", () => {
  let root: string;
  let home: string;
  /** filename → sha256 of the served files. */
  const served = new Map<string, string>();
  const pips: { label: string; python: string }[] = [];

  before(async () => {
    root = join(work, "pip-root");
    home = join(work, "pip-home");
    // A wheel-only project whose METADATA Name is not in normalized form: pip before 23.2 refused
    // it when PEP 658 metadata was advertised (https://github.com/pypa/pip/issues/12038).
    const files = [
      await makeWheel(root, { name: "Upper_Case", version: "1.0", rawFilenameName: false }),
      await makeWheel(root, {
        name: "plat-pkg",
        version: "1.0",
        pythonTag: "cp311",
        abiTag: "cp311",
        platformTag: "manylinux_2_17_x86_64.manylinux2014_x86_64",
      }),
      await makeWheel(root, {
        name: "plat-pkg",
        version: "1.0",
        pythonTag: "cp311",
        abiTag: "cp311",
        platformTag: "win_amd64",
      }),
      await makeSdist(root, { name: "plat-pkg", version: "1.0" }),
    ];
    for (const f of files) served.set(f.slice(root.length + 1), await fileSha(f));

    // Debian's pip: `python3 -m venv` of Debian's python3 installs the pip wheel of python3-pip-whl.
    const venv = join(work, "venv-debian");
    const made = await run("/usr/bin/python3", ["-m", "venv", venv]);
    assert.equal(
      made.code,
      0,
      `a venv of Debian's python3 (apt-get install python3-venv python3-pip-whl):\n${made.out}`,
    );
    pips.push({ label: "Debian pip", python: join(venv, "bin", "python") });
    pips.push({ label: "newest pip", python: python3() });
    const versions = await Promise.all(pips.map((p) => run(p.python, ["-m", "pip", "--version"])));
    versions.forEach(ok);
    // The old pip is the point: pip 22.3 to 23.1 mishandle PEP 658 advertisements.
    assert.match(versions[0]?.out ?? "", /^pip 23\.0\.1 /m, "Debian 12's pip is 23.0.1");
    assert.doesNotMatch(versions[1]?.out ?? "", /^pip (22\.|23\.[01]\.)/m, "the newest pip is another one");
  });

  for (const format of ["json", "html"] as const) {
    describe(`${format} pages`, () => {
      let s: ServeHandle;
      before(async () => {
        s = await startServe(root, { htmlOnly: format === "html" });
      });
      after(() => s.close());

      const pipRun = async (python: string, args: string[]): Promise<Run> =>
        run(python, ["-m", "pip", ...args, "--index-url", s.indexUrl], { env: await sealedEnv(home) });

      for (const i of [0, 1]) {
        test(`${i === 0 ? "Debian's pip 23.0.1" : "the newest pip"}: install, download --platform, --require-hashes`, async () => {
          const { python } = pips[i] as { python: string };
          const dir = join(work, `pip-${format}-${i}`);

          // install of the wheel-only project, named as people type it.
          const target = join(dir, "target");
          ok(await pipRun(python, ["install", "--no-deps", "--target", target, "upper-case==1.0"]));
          assert.equal(
            await readFile(join(target, "upper_case", "__init__.py"), "utf8"),
            'VERSION = "1.0"\n',
          );

          // download of the wheel of each platform, byte for byte.
          for (const [platform, filename] of [
            ["win_amd64", "plat_pkg-1.0-cp311-cp311-win_amd64.whl"],
            [
              "manylinux2014_x86_64",
              "plat_pkg-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
            ],
          ] as const) {
            const dl = join(dir, `dl-${platform}`);
            ok(
              await pipRun(python, [
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--platform",
                platform,
                "--python-version",
                "3.11",
                "--implementation",
                "cp",
                "--abi",
                "cp311",
                "-d",
                dl,
                "plat-pkg==1.0",
              ]),
            );
            assert.deepEqual(await readdir(dl), [filename]);
            assert.equal(await fileSha(join(dl, filename)), served.get(filename));
          }

          // --require-hashes with the served digest installs; a wrong one is refused.
          const wheel = "upper_case-1.0-py3-none-any.whl";
          const good = join(dir, "good.txt");
          await writeFile(good, `upper-case==1.0 --hash=sha256:${served.get(wheel)}\n`);
          const hashed = join(dir, "hashed");
          ok(
            await pipRun(python, [
              "install",
              "--no-deps",
              "--require-hashes",
              "-r",
              good,
              "--target",
              hashed,
            ]),
          );
          assert.equal(
            await readFile(join(hashed, "upper_case", "__init__.py"), "utf8"),
            'VERSION = "1.0"\n',
          );
          const bad = join(dir, "bad.txt");
          await writeFile(bad, `upper-case==1.0 --hash=sha256:${"0".repeat(64)}\n`);
          const refused = await pipRun(python, [
            "install",
            "--no-deps",
            "--require-hashes",
            "-r",
            bad,
            "--target",
            join(dir, "refused"),
          ]);
          assert.notEqual(refused.code, 0, refused.out);
          assert.match(refused.out, /THESE PACKAGES DO NOT MATCH THE HASHES/);

          // Every page and file request was answered without an error.
          assert.ok(!s.logs.some((l) => / [45]\d\d /.test(l)), s.logs.join("\n"));
          assert.ok(s.logs.some((l) => new RegExp(`^GET /simple/upper-case/ 200 .* ${format}$`).test(l)));
        });
      }
    });
  }
});

describe("uploads to pyreg serve: twine, poetry publish, pdm publish, flit publish", () => {
  let root: string;
  let s: ServeHandle;
  before(async () => {
    root = join(work, "upload-root");
    s = await startServe(root, { auth: { username: "alice", password: "pw-3" } });
  });
  after(() => s.close());

  /** filename → sha256 of every file stored under root. */
  async function stored(): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const name of (await readdir(root)).sort()) {
      if (!name.startsWith(".")) out.set(name, await fileSha(join(root, name)));
    }
    return out;
  }

  /**
   * The three rounds every uploader must get right. `build(variant)` writes the client's files
   * (variant 1 is other bytes under the same filenames) and returns their paths; `publish` uploads.
   */
  async function threeRounds(
    build: (variant: 0 | 1) => Promise<string[]>,
    publish: () => Promise<Run>,
  ): Promise<void> {
    const before = await stored();
    const uploadsBefore = s.server.uploads;
    const files = await build(0);
    const firstBytes = new Map<string, string>();
    for (const f of files) firstBytes.set(f.slice(f.lastIndexOf("/") + 1), await fileSha(f));
    assert.ok(firstBytes.size >= 2, "a wheel and an sdist");

    ok(await publish());
    const after1 = await stored();
    for (const [name, sha] of firstBytes) assert.equal(after1.get(name), sha, `${name} stored byte for byte`);
    assert.equal(after1.size, before.size + firstBytes.size);
    assert.equal(s.server.uploads, uploadsBefore + firstBytes.size);

    // The same bytes again: accepted, nothing written.
    ok(await publish());
    assert.deepEqual(await stored(), after1);
    assert.equal(s.server.uploads, uploadsBefore + firstBytes.size);

    // Other bytes under the same names: refused (409), the client fails, nothing overwritten.
    const other = await build(1);
    for (const f of other) {
      const name = f.slice(f.lastIndexOf("/") + 1);
      assert.ok(firstBytes.has(name), `${name}: same filename`);
      assert.notEqual(await fileSha(f), firstBytes.get(name), `${name}: other bytes`);
    }
    const refused = await publish();
    assert.notEqual(refused.code, 0, refused.out);
    assert.match(refused.out, /409/);
    assert.deepEqual(await stored(), after1);
    assert.equal(s.server.uploads, uploadsBefore + firstBytes.size);
  }

  /** A fixture wheel and sdist of `name` 1.0 in `dir` (variant 1: another summary). */
  async function fixtures(dir: string, name: string, variant: 0 | 1): Promise<string[]> {
    await rm(dir, { recursive: true, force: true });
    const summary = variant === 0 ? "first bytes" : "other bytes";
    // Metadata 2.1: Debian's twine 4.0.2 (pkginfo 1.8.2) cannot read 2.3 and later.
    return [
      await makeWheel(dir, { name, version: "1.0", summary }),
      await makeSdist(dir, { name, version: "1.0", summary }),
    ];
  }

  test("twine upload (and what --skip-existing does with a 409)", async () => {
    const twine = requireClient("twine");
    const dist = join(work, "twine-dist");
    let files: string[] = [];
    const env = await sealedEnv(join(work, "twine-home"));
    const upload = (extra: string[] = []): Promise<Run> =>
      run(
        twine,
        [
          "upload",
          "--repository-url",
          s.url,
          "-u",
          "alice",
          "-p",
          "pw-3",
          "--non-interactive",
          "--disable-progress-bar",
          ...extra,
          ...files,
        ],
        { env },
      );
    await threeRounds(async (v) => (files = await fixtures(dist, "twine-pkg", v)), upload);
    // twine takes any 409 for "already exists": with --skip-existing it exits 0 on other bytes too.
    // Nothing is overwritten; README warns about it where uploads to pyreg serve are described.
    const before = await stored();
    const skipped = await upload(["--skip-existing"]);
    assert.equal(skipped.code, 0, skipped.out);
    assert.match(
      skipped.out,
      /Skipping twine_pkg-1\.0-py3-none-any\.whl because it appears to already\s+exist/,
    );
    assert.deepEqual(await stored(), before);
  });

  test("poetry publish", async () => {
    const poetry = requireClient("poetry");
    const project = join(work, "poetry-project");
    await mkdir(project, { recursive: true });
    await writeFile(
      join(project, "pyproject.toml"),
      [
        "[tool.poetry]",
        'name = "poetry-pkg"',
        'version = "1.0"',
        'description = "x"',
        'authors = ["A <a@example.com>"]',
        "",
        "[tool.poetry.dependencies]",
        'python = ">=3.8"',
        "",
      ].join("\n"),
    );
    const env = {
      ...(await sealedEnv(join(work, "poetry-home"))),
      POETRY_REPOSITORIES_LOCAL_URL: s.url,
    };
    await threeRounds(
      (v) => fixtures(join(project, "dist"), "poetry-pkg", v),
      () =>
        run(poetry, ["publish", "--no-interaction", "-r", "local", "-u", "alice", "-p", "pw-3"], {
          env,
          cwd: project,
        }),
    );
  });

  test("pdm publish", async () => {
    const pdm = requireClient("pdm");
    const project = join(work, "pdm-project");
    await mkdir(project, { recursive: true });
    await writeFile(
      join(project, "pyproject.toml"),
      '[project]\nname = "pdm-pkg"\nversion = "1.0"\nrequires-python = ">=3.8"\ndependencies = []\n',
    );
    // pdm checks pypi.org for a newer pdm unless told not to.
    const env = { ...(await sealedEnv(join(work, "pdm-home"))), PDM_CHECK_UPDATE: "false" };
    await threeRounds(
      (v) => fixtures(join(project, "dist"), "pdm-pkg", v),
      () =>
        run(pdm, ["publish", "--no-build", "-r", s.url, "-u", "alice", "-P", "pw-3"], { env, cwd: project }),
    );
  });

  test("flit publish (flit builds the files itself)", async () => {
    const flit = requireClient("flit");
    const project = join(work, "flit-project");
    await mkdir(join(project, "flit_pkg"), { recursive: true });
    await writeFile(
      join(project, "pyproject.toml"),
      [
        "[build-system]",
        'requires = ["flit_core >=3.2,<4"]',
        'build-backend = "flit_core.buildapi"',
        "",
        "[project]",
        'name = "flit-pkg"',
        'version = "1.0"',
        'description = "x"',
        "",
      ].join("\n"),
    );
    const env = {
      ...(await sealedEnv(join(work, "flit-home"))),
      FLIT_INDEX_URL: s.url,
      FLIT_USERNAME: "alice",
      FLIT_PASSWORD: "pw-3",
      // Reproducible builds: the same sources give the same bytes on the second publish.
      SOURCE_DATE_EPOCH: "1600000000",
    };
    let variant: 0 | 1 = 0;
    const dist = join(project, "dist");
    await threeRounds(
      async (v) => {
        variant = v;
        await writeFile(join(project, "flit_pkg", "__init__.py"), `VERSION = ${v + 1}\n`);
        await rm(dist, { recursive: true, force: true });
        ok(await run(flit, ["build"], { env, cwd: project }));
        return (await readdir(dist)).map((f) => join(dist, f));
      },
      async () => {
        const r = await run(flit, ["publish"], { env, cwd: project });
        // flit publish builds again; the files it sent are those of the variant being tested.
        assert.equal((await readdir(dist)).length, 2, `variant ${variant}: ${r.out}`);
        return r;
      },
    );
  });
});

describe("poetry lock and pdm lock resolve from pyreg serve alone", () => {
  let root: string;
  let s: ServeHandle;
  const served = new Map<string, string>();
  before(async () => {
    root = join(work, "lock-root");
    for (const f of [
      await makeWheel(root, { name: "lock-dep", version: "1.0" }),
      await makeSdist(root, { name: "lock-dep", version: "1.0" }),
      await makeWheel(root, { name: "lock-dep", version: "2.0" }),
      await makeWheel(root, { name: "Upper_Case", version: "1.0" }),
    ])
      served.set(f.slice(root.length + 1), await fileSha(f));
    s = await startServe(root);
  });
  after(() => s.close());

  /** [filename, sha256] pairs in a lock file's text, sorted. */
  function locked(text: string): [string, string][] {
    const out: [string, string][] = [];
    for (const m of text.matchAll(/(?:file|url) = "(?:[^"]*\/)?([^"/]+)", hash = "sha256:([0-9a-f]{64})"/g))
      out.push([m[1] as string, m[2] as string]);
    return out.sort();
  }

  const expected = (): [string, string][] =>
    [...served].filter(([name]) => !name.startsWith("lock_dep-2.0")).sort();

  test("poetry lock (HTML pages)", async () => {
    const poetry = requireClient("poetry");
    const project = join(work, "poetry-lock");
    await mkdir(project, { recursive: true });
    await writeFile(
      join(project, "pyproject.toml"),
      [
        "[tool.poetry]",
        'name = "consumer"',
        'version = "0.1"',
        'description = "x"',
        'authors = ["A <a@example.com>"]',
        "",
        "[tool.poetry.dependencies]",
        'python = "^3.11"',
        'lock-dep = "<2"',
        'upper-case = "1.0"',
        "",
        // default = true: this source replaces PyPI (poetry 1.3).
        "[[tool.poetry.source]]",
        'name = "local"',
        `url = "${s.indexUrl}"`,
        "default = true",
        "",
      ].join("\n"),
    );
    const env = await sealedEnv(join(work, "poetry-lock-home"));
    ok(await run(poetry, ["lock", "--no-interaction"], { env, cwd: project }));
    assert.deepEqual(locked(await readFile(join(project, "poetry.lock"), "utf8")), expected());
    assert.ok(!s.logs.some((l) => / [45]\d\d /.test(l)), s.logs.join("\n"));
  });

  test("pdm lock (JSON pages)", async () => {
    const pdm = requireClient("pdm");
    const project = join(work, "pdm-lock");
    await mkdir(project, { recursive: true });
    await writeFile(
      join(project, "pyproject.toml"),
      [
        "[project]",
        'name = "consumer"',
        'version = "0.1"',
        'requires-python = ">=3.11"',
        'dependencies = ["lock-dep<2", "upper-case==1.0"]',
        "",
        // A source named pypi replaces PyPI.
        "[[tool.pdm.source]]",
        'name = "pypi"',
        `url = "${s.indexUrl}"`,
        "verify_ssl = false",
        "",
      ].join("\n"),
    );
    const env = { ...(await sealedEnv(join(work, "pdm-lock-home"))), PDM_CHECK_UPDATE: "false" };
    ok(await run(pdm, ["lock"], { env, cwd: project }));
    assert.deepEqual(locked(await readFile(join(project, "pdm.lock"), "utf8")), expected());
    assert.ok(
      s.logs.some((l) => /^GET \/simple\/lock-dep\/ 200 .* json$/.test(l)),
      s.logs.join("\n"),
    );
  });
});
