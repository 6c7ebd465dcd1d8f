import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseLockText, formatOfName, type ParsedLock } from "../src/core/lockfiles/index.js";
import { PyregError } from "../src/core/errors.js";
import { fillTemplate, LOCK_FIXTURES } from "./helpers/lockfiles.js";

const fixture = (name: string): Promise<string> => readFile(join(LOCK_FIXTURES, name), "utf8");

function summary(lock: ParsedLock): unknown {
  return lock.packages.map((p) => ({
    name: p.name,
    version: p.version,
    index: p.index,
    files: p.files.map((f) => [f.filename, f.url, f.hashes["sha256"]]),
    uncheckable: p.uncheckable,
  }));
}

const SHA = (f: string): string => Buffer.from(f).toString("hex").padEnd(64, "0").slice(0, 64);
const fill = (name: string): Promise<string> =>
  fillTemplate(name, {
    index: "https://old.example/simple",
    files: "https://old.example/files/",
    sha256: SHA,
  });

test("poetry.lock written by Poetry 1.3.2: packages, files and the legacy source", async () => {
  const lock = parseLockText(await fixture("poetry.lock"), "x/poetry.lock");
  assert.equal(lock.format, "poetry");
  assert.deepEqual(lock.indexes, ["http://127.0.0.1:18931/simple"]);
  assert.deepEqual(
    lock.packages.map((p) => [p.name, p.version, p.files.map((f) => f.filename)]),
    [
      ["alpha", "1.0", ["alpha-1.0-py3-none-any.whl", "alpha-1.0.tar.gz"]],
      ["beta", "2.0", ["beta-2.0-py3-none-any.whl"]],
    ],
  );
  for (const p of lock.packages) {
    assert.equal(p.uncheckable, undefined);
    for (const f of p.files) assert.match(f.hashes["sha256"] ?? "", /^[0-9a-f]{64}$/);
  }
});

test("poetry.lock of lock-version 1.1 keeps its files in [metadata.files]; a git source is not an index", () => {
  const text = `
[[package]]
name = "Foo.Bar"
version = "1.2"

[[package]]
name = "mine"
version = "0.1"
[package.source]
type = "git"
url = "https://git.example/mine.git"
reference = "main"

[metadata]
lock-version = "1.1"
[metadata.files]
"Foo.Bar" = [{file = "Foo.Bar-1.2.tar.gz", hash = "sha256:${"A".repeat(64)}"}]
mine = []
`;
  const lock = parseLockText(text, "poetry.lock");
  assert.deepEqual(summary(lock), [
    {
      name: "foo-bar",
      version: "1.2",
      index: undefined,
      files: [["Foo.Bar-1.2.tar.gz", undefined, "a".repeat(64)]],
      uncheckable: undefined,
    },
    {
      name: "mine",
      version: "0.1",
      index: undefined,
      files: [],
      uncheckable: "from a git source (https://git.example/mine.git), not an index",
    },
  ]);
});

test("pdm.lock written by PDM 2.2.1 (lock_version 4.0): files with URLs in [metadata.files]", async () => {
  const lock = parseLockText(await fixture("pdm.lock"), "pdm.lock");
  assert.equal(lock.format, "pdm");
  assert.deepEqual(
    lock.packages.map((p) => [p.name, p.version, p.files.map((f) => [f.filename, f.url])]),
    [
      [
        "alpha",
        "1.0",
        [
          ["alpha-1.0-py3-none-any.whl", "http://127.0.0.1:18931/files/alpha-1.0-py3-none-any.whl"],
          ["alpha-1.0.tar.gz", "http://127.0.0.1:18931/files/alpha-1.0.tar.gz"],
        ],
      ],
      [
        "beta",
        "2.0",
        [["beta-2.0-py3-none-any.whl", "http://127.0.0.1:18931/files/beta-2.0-py3-none-any.whl"]],
      ],
    ],
  );
});

test("requirements.txt from pdm export: pins, hashes over continuation lines, --index-url", async () => {
  const lock = parseLockText(await fixture("pdm-export-requirements.txt"), "requirements.txt");
  assert.deepEqual(lock.indexes, ["http://127.0.0.1:18931/simple/"]);
  assert.deepEqual(
    lock.packages.map((p) => [p.name, p.version, p.files.length, p.where]),
    [
      ["alpha", "1.0", 2, "line 1"],
      ["beta", "2.0", 1, "line 4"],
    ],
  );
});

test("requirements.txt forms: comments, options, extras, markers, --hash both ways, unpinned and direct references", async () => {
  const lock = parseLockText(await fixture("requirements-forms.txt"), "requirements-forms.txt");
  assert.deepEqual(lock.indexes, ["https://pypi.example/simple/", "https://extra.example/simple/"]);
  assert.equal(lock.notes.length, 2, lock.notes.join("\n"));
  assert.match(lock.notes.join("\n"), /-r other-requirements\.txt is not followed/);
  assert.deepEqual(summary(lock), [
    {
      name: "alpha-pkg",
      version: "1.0",
      index: undefined,
      files: [
        [undefined, undefined, "a".repeat(64)],
        [undefined, undefined, "b".repeat(64)],
      ],
      uncheckable: undefined,
    },
    {
      name: "beta",
      version: "2.0",
      index: undefined,
      files: [[undefined, undefined, "c".repeat(64)]],
      uncheckable: undefined,
    },
    {
      name: "gamma",
      version: undefined,
      index: undefined,
      files: [],
      uncheckable: "not pinned to one version (>=1.0)",
    },
    {
      name: "delta",
      version: undefined,
      index: undefined,
      files: [],
      uncheckable: "a direct reference (@ https://example.com/delta-1.0.tar.gz)",
    },
    {
      name: "./local-project",
      version: undefined,
      index: undefined,
      files: [],
      uncheckable: "an editable requirement (./local-project)",
    },
    {
      name: "zeta",
      version: undefined,
      index: undefined,
      files: [],
      uncheckable: "not pinned to one version (==1.*)",
    },
  ]);
});

test("requirements.txt: a malformed hash names the file and line", () => {
  assert.throws(
    () => parseLockText("a==1 \\\n  --hash=sha256\n", "req.txt"),
    (e: unknown) =>
      e instanceof PyregError && e.code === "CONFIG" && /req\.txt: line 1: "sha256"/.test(e.message),
  );
});

test("uv.lock (hand-written after uv's docs): registry packages with sdist and wheels; the editable project listed as not from an index", async () => {
  const lock = parseLockText(await fill("uv.lock.tmpl"), "uv.lock");
  assert.equal(lock.format, "uv");
  assert.deepEqual(lock.indexes, ["https://old.example/simple"]);
  const f = (n: string): [string, string, string] => [n, `https://old.example/files/${n}`, SHA(n)];
  assert.deepEqual(summary(lock), [
    {
      name: "alpha",
      version: "1.0",
      index: "https://old.example/simple",
      files: [f("alpha-1.0.tar.gz"), f("alpha-1.0-py3-none-any.whl")],
      uncheckable: undefined,
    },
    {
      name: "app",
      version: "0.1.0",
      index: undefined,
      files: [],
      uncheckable: "from editable ., not an index",
    },
    {
      name: "beta",
      version: "2.0",
      index: "https://old.example/simple",
      files: [f("beta-2.0-py3-none-any.whl")],
      uncheckable: undefined,
    },
  ]);
});

test("pylock.toml (hand-written after PEP 751): sdist, wheels with and without a name, a directory package", async () => {
  const lock = parseLockText(await fill("pylock.toml.tmpl"), "pylock.toml");
  assert.equal(lock.format, "pylock");
  const f = (n: string): [string, string, string] => [n, `https://old.example/files/${n}`, SHA(n)];
  assert.deepEqual(summary(lock), [
    {
      name: "alpha",
      version: "1.0",
      index: "https://old.example/simple",
      files: [f("alpha-1.0.tar.gz"), f("alpha-1.0-py3-none-any.whl")],
      uncheckable: undefined,
    },
    {
      name: "beta",
      version: "2.0",
      index: "https://old.example/simple",
      files: [f("beta-2.0-py3-none-any.whl")],
      uncheckable: undefined,
    },
    {
      name: "app",
      version: undefined,
      index: undefined,
      files: [],
      uncheckable: "from a directory, not an index",
    },
  ]);
});

test("pylock.toml: an unknown major lock-version and a file without hashes are refused (PEP 751)", () => {
  assert.throws(() => parseLockText("lock-version = '2.0'\n", "pylock.toml"), /lock-version 2\.0/);
  assert.throws(
    () =>
      parseLockText(
        "lock-version = '1.0'\n[[packages]]\nname = 'a'\nwheels = [{url = 'https://x/a-1-py3-none-any.whl'}]\n",
        "pylock.toml",
      ),
    /"hashes" is required/,
  );
});

test("invalid TOML is a CONFIG error with its line; file names pick the format", () => {
  assert.throws(
    () => parseLockText("version = 1\n[[package]\n", "uv.lock"),
    (e: unknown) =>
      e instanceof PyregError && e.code === "CONFIG" && /uv\.lock is not valid TOML \(line 2/.test(e.message),
  );
  assert.equal(formatOfName("a/pylock.dev.toml"), "pylock");
  assert.equal(formatOfName("requirements/prod.txt"), "requirements");
  assert.equal(formatOfName("Pipfile.lock"), undefined);
  assert.throws(() => parseLockText("", "Pipfile.lock"), /cannot tell which kind of lock file/);
});
