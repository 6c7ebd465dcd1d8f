/**
 * `pyreg serve` against the real clients: Debian's `twine upload` and `python3 -m pip`.
 * pip only ever sees the local index (--index-url, no config file): it never reaches the internet.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { makeCorpus, makeSdist, makeWheel, type CorpusFile } from "../fixtures/dists.js";
import { commandPath, python3 } from "../helpers/tools.js";
import { multipartForm, startServe, uploadFields } from "../helpers/serve.js";
import { PYREG_BIN } from "../helpers/cli.js";

interface Run {
  code: number | null;
  out: string;
}

/** Runs a command WITHOUT blocking the event loop (the server under test runs in this process). */
function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const clean = { ...process.env };
    for (const k of Object.keys(clean)) if (k.startsWith("PIP_") || k.startsWith("TWINE_")) delete clean[k];
    const child = spawn(cmd, args, { env: { ...clean, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

const TWINE_ENV = {
  // No keyring lookups (no desktop session here) and never a prompt.
  PYTHON_KEYRING_BACKEND: "keyring.backends.null.Keyring",
  TWINE_NON_INTERACTIVE: "1",
};
const PIP_ENV = {
  PIP_NO_CACHE_DIR: "1",
  PIP_DISABLE_PIP_VERSION_CHECK: "1",
  PIP_CONFIG_FILE: "/dev/null",
  PIP_NO_INPUT: "1",
  PYTHON_KEYRING_BACKEND: "keyring.backends.null.Keyring",
};

const twine = (url: string, user: string, password: string, files: string[]): Promise<Run> =>
  run(
    "twine",
    [
      "upload",
      "--repository-url",
      url,
      "-u",
      user,
      "-p",
      password,
      "--non-interactive",
      "--disable-progress-bar",
      ...files,
    ],
    TWINE_ENV,
  );

const pip = (args: string[]): Promise<Run> => run(python3(), ["-m", "pip", ...args], PIP_ENV);

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), "pyreg-serve-e2e-"));
});
after(async () => {
  await rm(work, { recursive: true, force: true });
});

describe(
  "twine upload to pyreg serve",
  { skip: commandPath("twine") ? false : "twine is not on PATH (scripts/test.sh installs it)" },
  () => {
    test("uploads, accepts the same files again as a no-op, refuses a conflicting file with 409", async () => {
      const root = join(work, "twine-root");
      const src = join(work, "twine-src");
      // Metadata 2.1: Debian's twine 4.0.2 (pkginfo 1.8.2) cannot read 2.3+ (pkginfo 1.8.2 knows Metadata-Version up to 2.2).
      const wheel = await makeWheel(src, { name: "tw_pkg", version: "1.0", requiresPython: ">=3.8" });
      const sdist = await makeSdist(src, { name: "tw_pkg", version: "1.0", requiresPython: ">=3.8" });
      const s = await startServe(root, { auth: { username: "alice", password: "pw-1" } });
      try {
        const first = await twine(s.url, "alice", "pw-1", [wheel, sdist]);
        assert.equal(first.code, 0, first.out);
        assert.equal(s.server.uploads, 2);
        for (const f of [wheel, sdist]) {
          assert.equal(
            sha256(await readFile(join(root, basename(f)))),
            sha256(await readFile(f)),
            basename(f),
          );
        }
        // twine sent all three digests, and the server checked them (blake2_256 included).
        assert.equal(s.logs.filter((l) => /^POST \/ 200 /.test(l)).length, 2);

        const again = await twine(s.url, "alice", "pw-1", [wheel, sdist]);
        assert.equal(again.code, 0, again.out);
        assert.equal(s.server.uploads, 2, "identical files are not written again");

        const other = await makeWheel(join(src, "other"), {
          name: "tw_pkg",
          version: "1.0",
          summary: "other bytes",
        });
        assert.equal(basename(other), basename(wheel));
        const conflict = await twine(s.url, "alice", "pw-1", [other]);
        assert.notEqual(conflict.code, 0);
        assert.match(conflict.out, /409/);
        assert.equal(s.server.uploads, 2);
        assert.equal(sha256(await readFile(join(root, basename(wheel)))), sha256(await readFile(wheel)));

        const wrong = await twine(s.url, "alice", "nope", [other]);
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.out, /401/);
        assert.deepEqual((await readdir(join(root, ".pyreg-tmp"))).length, 0);
      } finally {
        await s.close();
      }
    });
  },
);

describe("pip against pyreg serve", () => {
  let root: string;
  let corpus: CorpusFile[];
  before(async () => {
    root = join(work, "pip-root");
    corpus = await makeCorpus(root);
  });

  /** pip download + pip install --target of my-pkg 1.0 from `index`; returns the downloaded file. */
  async function downloadAndInstall(index: string, tag: string): Promise<string> {
    const dl = join(work, `dl-${tag}`);
    const r = await pip(["download", "--no-deps", "--index-url", index, "-d", dl, "my-pkg==1.0"]);
    assert.equal(r.code, 0, r.out);
    const got = await readdir(dl);
    assert.equal(got.length, 1, got.join(", "));
    const file = got[0] as string;
    const expected = corpus.find((c) => c.filename === file);
    assert.ok(expected, `pip downloaded a corpus file (${file})`);
    assert.equal(sha256(await readFile(join(dl, file))), expected.sha256);

    const target = join(work, `target-${tag}`);
    const i = await pip([
      "install",
      "--no-deps",
      "--no-build-isolation",
      "--index-url",
      index,
      "--target",
      target,
      "my-pkg==1.0",
    ]);
    assert.equal(i.code, 0, i.out);
    assert.match(await readFile(join(target, "my_pkg", "__init__.py"), "utf8"), /VERSION = "1.0"/);
    return file;
  }

  test("JSON mode: pip download and pip install resolve from the index", async () => {
    const s = await startServe(root);
    try {
      await downloadAndInstall(s.indexUrl, "json");
      assert.ok(
        s.logs.some((l) => /^GET \/simple\/my-pkg\/ 200 \d+B \d+ms json$/.test(l)),
        `pip was served JSON:\n${s.logs.join("\n")}`,
      );
      assert.ok(!s.logs.some((l) => / (4|5)\d\d /.test(l)), s.logs.join("\n"));
      // pip used the PEP 658 metadata (and checked it against the advertised sha256).
      assert.ok(
        s.logs.some((l) => /^GET \/files\/my_pkg-1\.0[^ ]*\.whl\.metadata 200 /.test(l)),
        s.logs.join("\n"),
      );
    } finally {
      await s.close();
    }
  });

  test("HTML mode: the same with an index that only speaks HTML", async () => {
    const s = await startServe(root, { htmlOnly: true });
    try {
      await downloadAndInstall(s.indexUrl, "html");
      assert.ok(
        s.logs.some((l) => /^GET \/simple\/my-pkg\/ 200 \d+B \d+ms html$/.test(l)),
        `pip was served HTML:\n${s.logs.join("\n")}`,
      );
      assert.ok(!s.logs.some((l) => / (4|5)\d\d /.test(l)), s.logs.join("\n"));
      // pip used the PEP 658 metadata (and checked it against the advertised sha256).
      assert.ok(
        s.logs.some((l) => /^GET \/files\/my_pkg-1\.0[^ ]*\.whl\.metadata 200 /.test(l)),
        s.logs.join("\n"),
      );
    } finally {
      await s.close();
    }
  });

  test("with --auth-reads: pip succeeds with credentials in the URL and fails without", async () => {
    const s = await startServe(root, { auth: { username: "alice", password: "pw-2" }, authReads: true });
    try {
      const noCreds = await pip([
        "download",
        "--no-deps",
        "--index-url",
        s.indexUrl,
        "-d",
        join(work, "dl-none"),
        "my-pkg==1.0",
      ]);
      assert.notEqual(noCreds.code, 0);
      assert.ok(
        s.logs.some((l) => /^GET \/simple\/my-pkg\/ 401 /.test(l)),
        s.logs.join("\n"),
      );
      const withCreds = s.indexUrl.replace("http://", "http://alice:pw-2@");
      await downloadAndInstall(withCreds, "auth");
      assert.doesNotMatch(s.logs.join("\n"), /pw-2/);
    } finally {
      await s.close();
    }
  });
});

describe("pyreg serve on a full disk", () => {
  test("an upload larger than the free space gets 507 (the short write continued to ENOSPC), then a small one is stored", async () => {
    // The real CLI in a 1 MiB tmpfs of its own mount namespace (root: unshare --mount; others: a
    // user namespace too). The kernel writes what fits (a short write), then refuses the rest.
    const dir = join(work, "full");
    await mkdir(dir, { recursive: true });
    const asRoot = process.getuid?.() === 0;
    const script = `mount -t tmpfs -o size=1m tmpfs "$1" && shift && exec "$@"`;
    const child = spawn(
      "unshare",
      [
        ...(asRoot ? [] : ["--user", "--map-root-user"]),
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
        dir,
        process.execPath,
        PYREG_BIN,
        "serve",
        dir,
        "--port",
        "0",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    const url = await new Promise<string>((resolve, reject) => {
      const onData = (d: Buffer): void => {
        out += d.toString();
        const m = /upload \(twine\): (http:\/\/\S+\/)/.exec(out);
        if (m) resolve(m[1] as string);
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
      child.on("close", (code) =>
        reject(new Error(`pyreg serve in a tmpfs (unshare, mount) ended with ${code}:\n${out}`)),
      );
      child.on("error", reject);
    });
    try {
      const src = join(work, "full-src");
      const small = await readFile(await makeWheel(src, { name: "full_pkg", version: "1.0" }));
      const big = Buffer.concat([small, Buffer.alloc(3 * 1024 * 1024, 1)]);
      const post = async (data: Buffer): Promise<{ status: number; text: string }> => {
        const form = multipartForm(await uploadFields("full-pkg", "1.0", "bdist_wheel", data), {
          filename: "full_pkg-1.0-py3-none-any.whl",
          data,
        });
        const r = await fetch(url, {
          method: "POST",
          headers: { "Content-Type": form.contentType },
          body: new Uint8Array(form.body),
        });
        return { status: r.status, text: await r.text() };
      };
      const full = await post(big);
      assert.equal(full.status, 507, `${full.text}\n${out}`);
      assert.match(full.text, /Insufficient storage: the file was not stored/);
      assert.equal((await fetch(`${url}simple/full-pkg/`)).status, 404, "nothing is served");
      // The partial temporary file was removed: a file that fits is stored.
      const ok = await post(small);
      assert.equal(ok.status, 200, `${ok.text}\n${out}`);
      const got = await fetch(`${url}files/full_pkg-1.0-py3-none-any.whl`);
      assert.equal(sha256(Buffer.from(await got.arrayBuffer())), sha256(small));
    } finally {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode === null ? child.once("close", r) : r(undefined)));
    }
  });
});
