/**
 * GitLab, end to end: the real CLI (bin/pyreg) against the fake GitLab (test/fakes/gitlab.ts).
 * - A group with 300+ package versions over several pages (a subgroup, npm/generic packages mixed
 *   in, every status) migrates completely to a folder; verify passes; a re-run copies nothing; the
 *   same group through a deploy token (simple index path) gives the same folder.
 * - Upload to a GitLab project: every file lands with the right sha256, and real pip downloads each
 *   one through GitLab's simple index.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { FakeGitLab } from "../fakes/gitlab.js";
import { makeCorpus, makeWheel, type CorpusFile } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { pip, wheelFor } from "../helpers/pip.js";
import { folderDigests, tempDir } from "../helpers/tmp.js";

const PAT = "glpat-e2etoken000000000001";
const DEPLOY_USER = "gitlab+deploy-token-7";
const DEPLOY = "gldt-e2edeploy0000000001";
/** Pinned so the test does not depend on the CLI's default policy (see the README text). */
const STATUSES = ["--gitlab-statuses", "default,deprecated,hidden"];

interface MigrateJson {
  counts: { copied: number; skipped: number; conflict: number; failed: number; filtered: number };
  outcomes: { filename: string; outcome: string; reason?: string }[];
}

function parse(stdout: string, stderr: string): MigrateJson {
  try {
    return JSON.parse(stdout) as MigrateJson;
  } catch {
    throw new Error(`not JSON:\n${stdout}\n--- stderr ---\n${stderr}`);
  }
}

describe("e2e: GitLab group → folder", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let fake: FakeGitLab;
  let expected: Map<string, string>;
  let filteredNames: string[];

  before(async () => {
    tmp = await tempDir();
    fake = await new FakeGitLab().start();
    const top = fake.addGroup("acme");
    fake.addGroup("acme/platform");
    const libs = fake.addProject("acme/libs");
    const tools = fake.addProject("acme/platform/tools");
    fake.addPersonalToken(PAT, ["read_api"]);
    fake.addDeployToken(DEPLOY_USER, DEPLOY, ["read_package_registry"], { groupId: top.id });
    expected = new Map();
    const corpus = await makeCorpus(join(tmp.path, "corpus"));
    await fake.seedFromFiles(libs.id, corpus);
    for (const f of corpus) expected.set(f.filename, f.sha256);
    // 300 versions of one project, spread over a project and a subgroup's project.
    for (let i = 0; i < 300; i++) {
      const version = `2.${i}`;
      const path = await makeWheel(join(tmp.path, "many"), { name: "acme-many", version });
      const [pkg] = await fake.seedFromFiles(i % 3 ? libs.id : tools.id, [
        { path, project: "acme-many", version },
      ]);
      expected.set(`acme_many-${version}-py3-none-any.whl`, pkg?.files[0]?.sha256 as string);
      if (i % 25 === 0) {
        fake.addFile(
          fake.addPackage(libs.id, { name: `@acme/ui${i}`, version, type: "npm" }),
          `ui-${version}.tgz`,
          Buffer.from("x"),
        );
        fake.addFile(
          fake.addPackage(tools.id, { name: `bin${i}`, version, type: "generic" }),
          "tool.bin",
          Buffer.from("y"),
        );
      }
    }
    // Statuses: deprecated and hidden are copied (GitLab serves them to pip); the others are listed
    // as filtered.
    filteredNames = [];
    for (const status of ["deprecated", "hidden", "error", "processing", "pending_destruction"] as const) {
      const path = await makeWheel(join(tmp.path, "st"), { name: `acme-${status}`, version: "1.0" });
      const [pkg] = await fake.seedFromFiles(
        tools.id,
        [{ path, project: `acme-${status}`, version: "1.0" }],
        { status },
      );
      const name = pkg?.files[0]?.fileName as string;
      if (status === "deprecated" || status === "hidden") expected.set(name, pkg?.files[0]?.sha256 as string);
      else filteredNames.push(name);
    }
  });
  after(async () => {
    await fake.close();
    await tmp.cleanup();
  });

  test("migrates every file (REST, several pages), verify passes, a re-run copies nothing", async () => {
    const out = join(tmp.path, "out-rest");
    const env = { GITLAB_TOKEN: PAT };
    const from = `gitlab+${fake.url}/acme`;
    const r = await runCli(["migrate", "--from", from, "--to", out, "--json", ...STATUSES], { env });
    assert.equal(r.code, 0, r.stderr);
    const res = parse(r.stdout, r.stderr);
    assert.equal(res.counts.copied, expected.size, r.stderr);
    assert.equal(res.counts.failed, 0);
    assert.equal(res.counts.filtered, filteredNames.length);
    for (const name of filteredNames) {
      const o = res.outcomes.find((x) => x.filename === name);
      assert.equal(o?.outcome, "filtered");
      assert.match(o?.reason ?? "", /gitlab status (error|processing|pending_destruction)/);
    }
    assert.deepEqual([...(await folderDigests(out)).entries()].sort(), [...expected.entries()].sort());
    // The package list was read over several pages of 100, from page 1.
    const pages = fake.requestsTo(/^\/api\/v4\/groups\/\d+\/packages$/).filter((q) => !q.query["status"]);
    assert.deepEqual(pages.map((q) => q.query["page"]).slice(0, 4), ["1", "2", "3", "4"]);

    const v = await runCli(["verify", "--from", from, "--to", out, "--json", ...STATUSES], { env });
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.equal((JSON.parse(v.stdout) as { counts: { ok: number } }).counts.ok, expected.size);

    const again = await runCli(["migrate", "--from", from, "--to", out, "--json", ...STATUSES], { env });
    assert.equal(again.code, 0, again.stderr);
    const a = parse(again.stdout, again.stderr);
    assert.equal(a.counts.copied, 0);
    assert.equal(a.counts.skipped, expected.size);
    assert.doesNotMatch(r.stdout + r.stderr + v.stdout + again.stdout + again.stderr, new RegExp(PAT));
  });

  test("the same group through a deploy token (simple index) gives the same folder", async () => {
    const out = join(tmp.path, "out-deploy");
    fake.requests.length = 0;
    const r = await runCli(
      ["migrate", "--from", `gitlab+${fake.url}/acme`, "--to", out, "--json", ...STATUSES],
      { env: { PYREG_FROM_USERNAME: DEPLOY_USER, PYREG_FROM_PASSWORD: DEPLOY } },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parse(r.stdout, r.stderr).counts.copied, expected.size, r.stderr);
    assert.deepEqual(await folderDigests(out), await folderDigests(join(tmp.path, "out-rest")));
    assert.equal(fake.requests.filter((q) => q.auth.privateToken).length, 0);
    assert.ok(fake.requestsTo(/\/groups\/[^/]+\/-\/packages\/pypi\/simple/).length > 0);
  });

  test("list and plan show the group, with the statuses", async () => {
    const env = { GITLAB_TOKEN: PAT };
    const l = await runCli(["list", `gitlab+${fake.url}/acme`], { env });
    assert.equal(l.code, 0, l.stderr);
    assert.match(l.stdout, /GitLab group acme .*REST packages API/);
    assert.match(l.stdout, /acme-many/);
    const p = await runCli(
      ["plan", "--from", `gitlab+${fake.url}/acme`, "--to", join(tmp.path, "plan-out"), ...STATUSES],
      {
        env,
      },
    );
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stdout + p.stderr, /gitlab status pending_destruction/);
  });
});

describe("e2e: folder → GitLab project, judged by pip", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let fake: FakeGitLab;
  let corpus: CorpusFile[];
  let projectId: number;
  let index: string;

  before(async () => {
    tmp = await tempDir();
    fake = await new FakeGitLab().start();
    fake.addGroup("dest");
    projectId = fake.addProject("dest/pypi").id;
    fake.addPersonalToken(PAT, ["api"]);
    corpus = await makeCorpus(join(tmp.path, "src"));
    // Two files over 1 MiB: they go through a temporary file (small files stay in memory).
    for (const [version, bytes] of [
      ["1.0", 3 * 1024 * 1024],
      ["2.0", 1024 * 1024 + 7],
    ] as const) {
      const path = await makeWheel(join(tmp.path, "src"), { name: "big-pkg", version, dataBytes: bytes });
      const data = await readFile(path);
      corpus.push({
        path,
        filename: basename(path),
        project: "big-pkg",
        version,
        sha256: createHash("sha256").update(data).digest("hex"),
        size: data.length,
        kind: "wheel",
        metadataVersion: "2.1",
      });
    }
    index = `http://pip:${PAT}@${fake.url.slice("http://".length)}/api/v4/projects/${projectId}/packages/pypi/simple/`;
  });
  after(async () => {
    await fake.close();
    await tmp.cleanup();
  });

  test("every file lands with the right sha256; a re-run uploads nothing; verify passes", async () => {
    const env = { PYREG_TO_PASSWORD: PAT };
    const to = `gitlab+${fake.url}/dest/pypi`;
    const r = await runCli(["migrate", "--from", join(tmp.path, "src"), "--to", to, "--json"], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(parse(r.stdout, r.stderr).counts.copied, corpus.length, r.stderr);
    const stored = fake.projectFiles(projectId);
    for (const f of corpus) {
      assert.equal(stored.get(f.filename)?.storedSha256, f.sha256, `${f.filename}: sha256_digest sent`);
      assert.equal(stored.get(f.filename)?.realSha256, f.sha256, `${f.filename}: bytes`);
      assert.equal(
        stored.get(f.filename)?.storedMd5,
        stored.get(f.filename)?.realMd5,
        `${f.filename}: md5_digest sent`,
      );
    }
    assert.ok(corpus.filter((f) => f.size > 1024 * 1024).length >= 2, "files over 1 MiB are in the run");
    const uploads = fake.requests.filter((q) => q.method === "POST");
    assert.equal(uploads.length, corpus.length);
    assert.ok(uploads.every((q) => q.status === 201 && q.auth.basic && new Map(q.form).has("md5_digest")));

    fake.requests.length = 0;
    const again = await runCli(["migrate", "--from", join(tmp.path, "src"), "--to", to, "--json"], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(parse(again.stdout, again.stderr).counts.skipped, corpus.length);
    assert.equal(fake.requests.filter((q) => q.method === "POST").length, 0);

    const v = await runCli(["verify", "--from", join(tmp.path, "src"), "--to", to], { env });
    assert.equal(v.code, 0, v.stdout + v.stderr);
  });

  test("real pip downloads each file through GitLab's simple index", async () => {
    const d = await tempDir();
    const runs: [string, string[]][] = [
      [
        "linux",
        [
          ...wheelFor("manylinux_2_17_x86_64"),
          "zope-interface-like==1.0.post1",
          "my-pkg==1.0",
          "simple==0.1",
          "big-pkg==1.0",
        ],
      ],
      ["win", [...wheelFor("win_amd64"), "zope-interface-like==1.0.post1", "big-pkg==2.0"]],
      ["mac", [...wheelFor("macosx_11_0_arm64"), "zope-interface-like==1.0.post1"]],
      [
        "old",
        [...wheelFor("manylinux_2_17_x86_64"), "--pre", "zope-interface-like==1.0a1", "my-pkg==2.0.dev3"],
      ],
      ["sd1", ["--no-binary=:all:", "zope-interface-like==1.0.post1", "my-pkg==1.0", "simple==0.0.1"]],
      [
        "sd2",
        ["--no-binary=:all:", "--pre", "zope-interface-like==1.0a1", "my-pkg==2.0.dev3", "simple==0.1"],
      ],
    ];
    try {
      await Promise.all(
        runs.map(([dir, args]) =>
          pip(["download", "--no-deps", "--index-url", index, "-d", join(d.path, dir), ...args]),
        ),
      );
      // my_pkg 1.0 has two wheels; pip prefers the one with build tag 1. The other one is fetched by
      // pip from the link GitLab's index gives for it.
      const page = await fetch(`${fake.apiRoot}/projects/${projectId}/packages/pypi/simple/my-pkg/`, {
        headers: { authorization: "Basic " + Buffer.from(`pip:${PAT}`).toString("base64") },
      });
      const plain = corpus.find((f) => f.filename === "my_pkg-1.0-py3-none-any.whl") as CorpusFile;
      const href = new RegExp(
        `href="([^"]*/${plain.filename.replace(/\./g, "\\.")})#sha256=${plain.sha256}"`,
      ).exec(await page.text())?.[1];
      assert.ok(href, "the index links the plain wheel by its sha256");
      await pip([
        "download",
        "--no-deps",
        "-d",
        join(d.path, "direct"),
        href.replace("http://", `http://pip:${PAT}@`),
      ]);

      const got = new Map<string, string>();
      for (const dir of [...runs.map(([x]) => x), "direct"]) {
        for (const [name, digest] of await folderDigests(join(d.path, dir))) got.set(name, digest);
      }
      assert.deepEqual(
        [...got.entries()].sort(),
        corpus.map((f) => [f.filename, f.sha256]).sort(),
        `pip got: ${(await readdir(d.path)).join(",")}`,
      );
    } finally {
      await d.cleanup();
    }
  });
});
