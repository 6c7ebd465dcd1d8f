/** rewrite-lock's planning on hand-written locks, against an in-memory index (the e2e test uses real servers). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { planRewrite } from "../src/core/cutover/rewriteLock.js";
import { PyregError } from "../src/core/errors.js";
import type { DistFile, Source } from "../src/core/model.js";
import { parseLockText } from "../src/core/lockfiles/index.js";

const H = (c: string): string => c.repeat(64);

function index(files: Record<string, { filename: string; version: string; sha: string }[]>): Source {
  return {
    kind: "test",
    describe: () => "test index https://new.example/simple/",
    listProjects: () => Promise.resolve(Object.keys(files)),
    listFiles: (p: string) =>
      Promise.resolve(
        (files[p] ?? []).map((f): DistFile => ({
          project: p,
          version: f.version,
          filename: f.filename,
          url: `https://files.new.example/${p}/${f.filename}`,
          hashes: { sha256: f.sha },
        })),
      ),
    open: () => Promise.resolve(Readable.from([])),
  };
}

const UV = `version = 1
requires-python = ">=3.9"

[[package]]
name = "alpha"
version = "1.0"
source = { registry = "https://old.example/simple" }
wheels = [
    { url = "https://old.example/simple/alpha/alpha-1.0-py3-none-any.whl", hash = "sha256:${H("a")}" },
]

[[package]]
name = "gamma"
version = "3.0"
source = { registry = "https://other.example/simple" }
wheels = [
    { url = "https://other.example/files/gamma-3.0-py3-none-any.whl", hash = "sha256:${H("c")}" },
]
`;

const NEW = index({
  alpha: [{ filename: "alpha-1.0-py3-none-any.whl", version: "1.0", sha: H("a") }],
  gamma: [{ filename: "gamma-3.0-py3-none-any.whl", version: "3.0", sha: H("c") }],
});

test("only the packages from --from move; the others, and the old index URL inside longer strings, are left alone", async () => {
  const lock = parseLockText(UV, "uv.lock");
  const plan = await planRewrite(
    UV,
    lock,
    "https://OLD.example/simple/",
    "https://u:p@new.example/simple/",
    NEW,
    {
      concurrency: 2,
    },
  );
  assert.deepEqual(plan.moved, ["alpha"]);
  assert.deepEqual(plan.kept, [
    { package: "gamma", reason: "from https://other.example/simple, not https://old.example/simple/" },
  ]);
  const text = plan.newText ?? "";
  // The index keeps the lock's style (no trailing slash) and loses the credentials.
  assert.match(text, /source = \{ registry = "https:\/\/new\.example\/simple" \}/);
  assert.match(text, /url = "https:\/\/files\.new\.example\/alpha\/alpha-1\.0-py3-none-any\.whl"/);
  assert.match(text, /https:\/\/other\.example\/files\/gamma-3\.0-py3-none-any\.whl/);
  assert.ok(!text.includes("u:p@") && !text.includes("old.example"));
  assert.match(plan.diff ?? "", /^-source = \{ registry = "https:\/\/old\.example\/simple" \}$/m);
});

test("a lock that names nothing on --from is a usage error listing what it names", async () => {
  const lock = parseLockText(UV, "uv.lock");
  await assert.rejects(
    planRewrite(UV, lock, "https://typo.example/simple/", "https://new.example/simple/", NEW, {
      concurrency: 2,
    }),
    (e: unknown) =>
      e instanceof PyregError &&
      e.code === "USAGE" &&
      /names nothing on/.test(e.message) &&
      /old\.example/.test(e.hint ?? ""),
  );
});

test("--to must be an http(s) URL: a lock cannot name a folder", async () => {
  const lock = parseLockText(UV, "uv.lock");
  await assert.rejects(
    planRewrite(UV, lock, "https://old.example/simple", "./mirror", NEW, { concurrency: 2 }),
    (e: unknown) => e instanceof PyregError && e.code === "USAGE",
  );
});

test("requirements.txt: the --index-url moves after every hash is found among the pinned version's files; one hash missing stops it", async () => {
  const req = `--index-url https://old.example/simple/\nalpha==1.0 \\\n    --hash=sha256:${H("a")}\n`;
  const lock = parseLockText(req, "requirements.txt");
  const plan = await planRewrite(
    req,
    lock,
    "https://old.example/simple/",
    "https://new.example/simple/",
    NEW,
    {
      concurrency: 2,
    },
  );
  assert.equal(plan.newText, req.replace("old.example", "new.example"));
  const bad = req.replace(H("a"), H("b"));
  const refused = await planRewrite(
    bad,
    parseLockText(bad, "requirements.txt"),
    "https://old.example/simple/",
    "https://new.example/simple/",
    NEW,
    {
      concurrency: 2,
    },
  );
  assert.equal(refused.newText, undefined);
  assert.deepEqual(
    refused.problems.map((p) => [p.package, p.status]),
    [["alpha", "missing"]],
  );
});
