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
    pips.push({ label: "newest pip", python: "python3" });
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
