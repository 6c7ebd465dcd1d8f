/**
 * GitLab adapter against the fake GitLab (test/fakes/gitlab.ts): discovery, pagination, statuses,
 * the three token kinds and their refusals, 429 bursts, package forwarding, uploads.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { PyregError } from "../src/core/errors.js";
import type { Destination, DistFile, Source } from "../src/core/model.js";
import { HttpClient, type Clock } from "../src/http/client.js";
import { FakeClock } from "./helpers/clock.js";
import { digestsOfFile } from "../src/core/hash.js";
import { readCoreMetadata } from "../src/core/metadata.js";
import { parseSpec } from "../src/registries/spec.js";
import { kindFor } from "../src/registries/index.js";
import { gitlabKind, gitlabFields } from "../src/registries/gitlab/index.js";
import { classifyToken, resolveGitLabCredentials } from "../src/registries/gitlab/auth.js";
import { linkNext } from "../src/registries/gitlab/api.js";
import type { RegistryContext, RegistryOptions } from "../src/registries/types.js";
import { FakeGitLab, STATUSES } from "./fakes/gitlab.js";
import { makeCorpus, makeWheel, type CorpusFile } from "./fixtures/dists.js";
import { tempDir } from "./helpers/tmp.js";

const PAT = "glpat-testtoken0000000001";
const DEPLOY_USER = "gitlab+deploy-token-1";
const DEPLOY = "gldt-deploytoken000000001";
const DEPLOY_NOPREFIX = "oldstyle-deploy-token-42";
const JOB = "glcbt-jobtoken0000000001";

interface Ctx {
  ctx: RegistryContext;
  http: HttpClient;
  logs: string[];
}

function makeCtx(
  env: NodeJS.ProcessEnv,
  options: RegistryOptions = {},
  side: "source" | "destination" = "source",
  clock?: Clock,
): Ctx {
  const http = new HttpClient({
    retry: { retries: 4, baseDelayMs: 5, maxDelayMs: 20 },
    ...(clock ? { clock } : {}),
  });
  const logs: string[] = [];
  return {
    http,
    logs,
    ctx: { http, side, env: { HOME: "/nonexistent", ...env }, options, log: (m) => logs.push(m) },
  };
}

async function openSource(
  spec: string,
  env: NodeJS.ProcessEnv,
  options: RegistryOptions = {},
  clock?: Clock,
): Promise<Source & Ctx> {
  const c = makeCtx(env, options, "source", clock);
  const s = await (gitlabKind.openSource as NonNullable<typeof gitlabKind.openSource>)(
    parseSpec(spec),
    c.ctx,
  );
  return Object.assign(s, c);
}

async function everything(src: Source): Promise<DistFile[]> {
  const out: DistFile[] = [];
  for (const p of await src.listProjects()) out.push(...(await src.listFiles(p)));
  return out;
}

async function sha256Of(stream: NodeJS.ReadableStream): Promise<string> {
  const h = createHash("sha256");
  for await (const c of stream) h.update(c as Buffer);
  return h.digest("hex");
}

/** A group with a subgroup, two projects, npm/generic packages mixed in, and every status. */
async function seedGroup(
  fake: FakeGitLab,
  dir: string,
  versions: number,
): Promise<{ corpus: CorpusFile[]; wheels: number }> {
  const top = fake.addGroup("acme");
  fake.addGroup("acme/platform");
  const a = fake.addProject("acme/libs");
  const b = fake.addProject("acme/platform/tools");
  fake.addPersonalToken(PAT, ["read_api"]);
  fake.addDeployToken(DEPLOY_USER, DEPLOY, ["read_package_registry"], { groupId: top.id });
  fake.addDeployToken("legacy-deployer", DEPLOY_NOPREFIX, ["read_package_registry"], { groupId: top.id });
  fake.addJobToken(JOB, a.id);
  const corpus = await makeCorpus(join(dir, "corpus"));
  await fake.seedFromFiles(a.id, corpus);
  let wheels = 0;
  for (let i = 0; i < versions; i++) {
    const version = `1.${i}.0`;
    const path = await makeWheel(join(dir, "many"), { name: "many-versions", version });
    await fake.seedFromFiles(i % 2 ? a.id : b.id, [{ path, project: "many-versions", version }]);
    wheels++;
    if (i % 10 === 0) {
      fake.addFile(
        fake.addPackage(a.id, { name: `@acme/js${i}`, version, type: "npm" }),
        `js${i}-${version}.tgz`,
        Buffer.from("npm"),
      );
      fake.addFile(
        fake.addPackage(b.id, { name: `blob${i}`, version, type: "generic" }),
        "blob.bin",
        Buffer.from("gen"),
      );
    }
  }
  return { corpus, wheels };
}

describe("gitlab: REST enumeration", () => {
  let fake: FakeGitLab;
  let tmp: { path: string; cleanup(): Promise<void> };
  let seeded: { corpus: CorpusFile[]; wheels: number };

  before(async () => {
    tmp = await tempDir();
    fake = await new FakeGitLab().start();
    seeded = await seedGroup(fake, tmp.path, 230);
  });
  after(async () => {
    await fake.close();
    await tmp.cleanup();
  });

  test("lists every PyPI file of a group and its subgroup, page by page, ignoring other package types", async () => {
    fake.requests.length = 0;
    const src = await openSource(`gitlab+${fake.url}/acme`, { GITLAB_TOKEN: PAT });
    try {
      assert.match(src.describe(), /REST packages API/);
      const files = await everything(src);
      const names = files.map((f) => f.filename).sort();
      const expected = [
        ...seeded.corpus.map((f) => f.filename),
        ...Array.from({ length: seeded.wheels }, (_, i) => `many_versions-1.${i}.0-py3-none-any.whl`),
      ].sort();
      assert.deepEqual(names, expected);
      assert.ok(files.every((f) => !f.notes?.["filtered"]));
      for (const f of seeded.corpus) {
        const got = files.find((x) => x.filename === f.filename);
        assert.equal(got?.hashes["sha256"], f.sha256);
        assert.equal(got?.size, f.size);
      }
      // The unfiltered listing went over 3 pages of 100 (230 + corpus packages + npm/generic are
      // filtered by package_type=pypi server-side), always per_page=100, pages from 1.
      const lists = fake
        .requestsTo(/^\/api\/v4\/groups\/\d+\/packages$/)
        .filter((r) => r.query["status"] === undefined);
      assert.deepEqual(
        lists.map((r) => r.query["page"]),
        ["1", "2", "3"],
      );
      assert.ok(lists.every((r) => r.query["per_page"] === "100" && r.query["package_type"] === "pypi"));
      assert.ok(lists.every((r) => r.query["exclude_subgroups"] === undefined));
      assert.ok(lists.every((r) => r.auth.privateToken && !r.auth.basic));
    } finally {
      await src.http.close();
    }
  });

  test("without pagination headers it reads on until an empty page", async () => {
    const bare = await new FakeGitLab({ paginationHeaders: false }).start();
    const t = await tempDir();
    try {
      const s = await seedGroup(bare, t.path, 120);
      const src = await openSource(`gitlab+${bare.url}/acme`, { GITLAB_TOKEN: PAT });
      const files = await everything(src);
      await src.http.close();
      assert.equal(files.length, s.corpus.length + s.wheels);
      const lists = bare
        .requestsTo(/^\/api\/v4\/groups\/\d+\/packages$/)
        .filter((r) => r.query["status"] === undefined);
      assert.deepEqual(
        lists.map((r) => r.query["page"]),
        ["1", "2", "3"],
        "126 rows: two pages of data, then an empty one",
      );
    } finally {
      await bare.close();
      await t.cleanup();
    }
  });

  test("past the totals limit (x-total absent) it still follows x-next-page to the end", async () => {
    const big = await new FakeGitLab({ totalsLimit: 50 }).start();
    const t = await tempDir();
    try {
      const s = await seedGroup(big, t.path, 150);
      const src = await openSource(`gitlab+${big.url}/acme`, { GITLAB_TOKEN: PAT });
      const files = await everything(src);
      await src.http.close();
      assert.equal(files.length, s.corpus.length + s.wheels);
    } finally {
      await big.close();
      await t.cleanup();
    }
  });

  test("--exclude-subgroups asks GitLab to leave them out", async () => {
    fake.requests.length = 0;
    const src = await openSource(
      `gitlab+${fake.url}/acme`,
      { GITLAB_TOKEN: PAT },
      { excludeSubgroups: true },
    );
    const files = await everything(src);
    await src.http.close();
    assert.ok(
      fake.requestsTo(/\/groups\/\d+\/packages$/).every((r) => r.query["exclude_subgroups"] === "true"),
    );
    assert.ok(files.length > 0);
    assert.ok(files.every((f) => f.notes?.["gitlabProject"] === "acme/libs"));
  });

  test("a project path is read through /projects/:id/packages", async () => {
    fake.requests.length = 0;
    const src = await openSource(`gitlab+${fake.url}/acme/platform/tools`, { GITLAB_TOKEN: PAT });
    const files = await everything(src);
    await src.http.close();
    assert.match(src.describe(), /project acme\/platform\/tools/);
    assert.equal(files.length, 115);
    assert.ok(fake.requestsTo(/^\/api\/v4\/projects\/\d+\/packages$/).length > 0);
    assert.equal(fake.requestsTo(/^\/api\/v4\/groups\/\d+\/packages$/).length, 0);
  });

  test("downloads use the PyPI file endpoint with Basic auth and give the right bytes", async () => {
    fake.requests.length = 0;
    const src = await openSource(`gitlab+${fake.url}/acme`, { GITLAB_TOKEN: PAT });
    const files = await src.listFiles("my-pkg");
    for (const f of files) {
      assert.match(f.url, /\/api\/v4\/projects\/\d+\/packages\/pypi\/files\/[0-9a-f]{64}\//);
      assert.equal(await sha256Of(await src.open(f)), f.hashes["sha256"]);
    }
    await src.http.close();
    const dl = fake.requestsTo(/\/packages\/pypi\/files\//);
    assert.equal(dl.length, files.length);
    assert.ok(dl.every((r) => r.auth.basic && !r.auth.privateToken && r.status === 200));
  });

  test("a 429 burst is waited out (Retry-After) and nothing is missed", async () => {
    fake.requests.length = 0;
    fake.rateLimit(3, 1);
    // The client's pauses end at once on a clock of the test's, which records them.
    const clock = new FakeClock({ auto: true });
    const src = await openSource(`gitlab+${fake.url}/acme`, { GITLAB_TOKEN: PAT }, {}, clock);
    const files = await everything(src);
    await src.http.close();
    assert.equal(files.length, seeded.corpus.length + seeded.wheels);
    assert.equal(fake.requests.filter((r) => r.status === 429).length, 3);
    assert.ok(
      clock.pauses.length >= 1 && clock.pauses.every((ms) => ms === 1000),
      `paused ${clock.pauses.join(", ")} ms: Retry-After 1`,
    );
  });

  test("malformed REST answers are errors with the URL, never an empty list", async () => {
    const server: Server = createServer((req, res) => {
      res.setHeader("content-type", "application/json");
      if (/^\/api\/v4\/groups\/g\?/.test(req.url ?? "") || req.url === "/api/v4/groups/g") {
        res.end(JSON.stringify({ id: 1, full_path: "g" }));
      } else res.end(JSON.stringify({ packages: [] }));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    try {
      const src = await openSource(`gitlab+http://127.0.0.1:${port}/g`, { GITLAB_TOKEN: PAT });
      await assert.rejects(src.listProjects(), (e: unknown) => {
        assert.ok(e instanceof PyregError);
        assert.equal(e.code, "MALFORMED_INDEX");
        assert.match(e.message, /127\.0\.0\.1:\d+\/api\/v4\/groups\/1\/packages/);
        return true;
      });
      await src.http.close();
    } finally {
      server.close();
    }
  });
});

describe("gitlab: statuses", () => {
  let fake: FakeGitLab;
  let tmp: { path: string; cleanup(): Promise<void> };
  before(async () => {
    tmp = await tempDir();
    fake = await new FakeGitLab().start();
    fake.addGroup("st");
    const p = fake.addProject("st/pkgs");
    fake.addPersonalToken(PAT, ["read_api"]);
    fake.addDeployToken(DEPLOY_USER, DEPLOY, ["read_package_registry"], { groupId: fake.groups[0]!.id });
    for (const status of STATUSES) {
      const path = await makeWheel(tmp.path, { name: `st-${status}`, version: "1.0" });
      await fake.seedFromFiles(p.id, [{ path, project: `st-${status}`, version: "1.0" }], { status });
    }
  });
  after(async () => {
    await fake.close();
    await tmp.cleanup();
  });

  test("every status is listed; default, deprecated and hidden are copied; the others are filtered with their status", async () => {
    fake.requests.length = 0;
    const src = await openSource(`gitlab+${fake.url}/st`, { GITLAB_TOKEN: PAT });
    const files = await everything(src);
    await src.http.close();
    const byStatus = new Map(files.map((f) => [f.notes?.["gitlabStatus"], f.notes?.["filtered"]]));
    assert.deepEqual([...byStatus.entries()].sort(), [
      ["default", undefined],
      ["deprecated", undefined],
      ["error", "gitlab status error"],
      ["hidden", undefined],
      ["pending_destruction", "gitlab status pending_destruction"],
      ["processing", "gitlab status processing"],
    ]);
    const asked = fake.requestsTo(/\/groups\/\d+\/packages$/).map((r) => r.query["status"] ?? "(none)");
    assert.deepEqual([...new Set(asked)].sort(), ["(none)", "hidden", "pending_destruction", "processing"]);
  });

  test("--gitlab-statuses changes the policy (and rejects unknown names)", async () => {
    const src = await openSource(
      `gitlab+${fake.url}/st`,
      { GITLAB_TOKEN: PAT },
      { gitlabStatuses: ["default", "error"] },
    );
    const files = await everything(src);
    await src.http.close();
    const copied = files.filter((f) => !f.notes?.["filtered"]).map((f) => f.notes?.["gitlabStatus"]);
    assert.deepEqual(copied.sort(), ["default", "error"]);
    await assert.rejects(
      openSource(`gitlab+${fake.url}/st`, { GITLAB_TOKEN: PAT }, { gitlabStatuses: ["defualt"] }),
      /unknown GitLab package status/,
    );
  });

  test("through the simple index (deploy token) GitLab serves exactly the installable statuses", async () => {
    const src = await openSource(`gitlab+http://${DEPLOY_USER}:${DEPLOY}@${fake.url.slice(7)}/st`, {});
    const files = await everything(src);
    await src.http.close();
    assert.deepEqual(files.map((f) => f.project).sort(), ["st-default", "st-deprecated", "st-hidden"]);
  });
});

describe("gitlab: tokens", () => {
  let fake: FakeGitLab;
  let tmp: { path: string; cleanup(): Promise<void> };
  let restFiles: [string, string | undefined][];

  before(async () => {
    tmp = await tempDir();
    fake = await new FakeGitLab().start();
    await seedGroup(fake, tmp.path, 30);
    const src = await openSource(`gitlab+${fake.url}/acme`, { GITLAB_TOKEN: PAT });
    restFiles = (await everything(src))
      .map((f): [string, string | undefined] => [f.filename, f.hashes["sha256"]])
      .sort();
    await src.http.close();
  });
  after(async () => {
    await fake.close();
    await tmp.cleanup();
  });

  test("token kinds are told apart by prefix and user", () => {
    assert.equal(classifyToken("x", "glpat-abc", "GITLAB_TOKEN"), "personal");
    assert.equal(classifyToken("gitlab+deploy-token-1", "gldt-abc", "the URL"), "deploy");
    assert.equal(classifyToken("gitlab-ci-token", "whatever", "the URL"), "job");
    assert.equal(classifyToken("", "abc", "CI_JOB_TOKEN"), "job");
    assert.equal(classifyToken("someone", "abc", "the URL"), "unknown");
    const url = new URL("https://gitlab.example.com/g");
    assert.equal(
      resolveGitLabCredentials(url, "source", { HOME: "/nonexistent", GITLAB_TOKEN: PAT })?.source,
      "GITLAB_TOKEN",
    );
    assert.equal(
      resolveGitLabCredentials(url, "source", {
        HOME: "/nonexistent",
        GITLAB_TOKEN: PAT,
        PYREG_FROM_PASSWORD: "x",
      })?.source,
      "PYREG_FROM_PASSWORD",
    );
    // A job token is for its own instance only.
    assert.equal(
      resolveGitLabCredentials(url, "source", {
        HOME: "/nonexistent",
        CI_JOB_TOKEN: JOB,
        CI_SERVER_URL: "https://other.example",
      }),
      undefined,
    );
    assert.equal(
      resolveGitLabCredentials(url, "source", {
        HOME: "/nonexistent",
        CI_JOB_TOKEN: JOB,
        CI_SERVER_URL: "https://gitlab.example.com",
      })?.username,
      "gitlab-ci-token",
    );
  });

  test("a deploy token goes straight to the group simple index and gets the same files", async () => {
    fake.requests.length = 0;
    const src = await openSource(`gitlab+${fake.url}/acme`, {
      PYREG_FROM_USERNAME: DEPLOY_USER,
      PYREG_FROM_PASSWORD: DEPLOY,
    });
    assert.match(src.describe(), /simple index/);
    assert.match(src.describe(), /deploy token from PYREG_FROM_PASSWORD/);
    const files = await everything(src);
    assert.deepEqual(
      files.map((f): [string, string | undefined] => [f.filename, f.hashes["sha256"]]).sort(),
      restFiles,
    );
    const one = files.find((f) => f.filename.startsWith("many_versions")) as DistFile;
    assert.equal(await sha256Of(await src.open(one)), one.hashes["sha256"]);
    await src.http.close();
    assert.equal(
      fake.requests.filter((r) => r.auth.privateToken).length,
      0,
      "the deploy token never went to REST",
    );
    assert.ok(fake.requests.every((r) => r.auth.basic && r.auth.basicUser === DEPLOY_USER));
    assert.ok(fake.requests.every((r) => r.status === 200 || r.status === 404));
  });

  test("a token without a known prefix is tried on REST, refused (401), then used on the simple index", async () => {
    fake.requests.length = 0;
    const src = await openSource(
      `gitlab+http://legacy-deployer:${DEPLOY_NOPREFIX}@${fake.url.slice(7)}/acme`,
      {},
    );
    assert.match(src.describe(), /simple index/);
    assert.match(src.describe(), /REST answered 401/);
    const files = await everything(src);
    await src.http.close();
    assert.equal(files.length, restFiles.length);
    assert.equal(fake.requests[0]?.status, 401);
    assert.ok(fake.requests[0]?.auth.privateToken);
  });

  test("a CI job token: JOB-TOKEN is not taken by group REST routes, so the group simple index is used with gitlab-ci-token", async () => {
    fake.requests.length = 0;
    const src = await openSource(`gitlab+${fake.url}/acme`, { CI_JOB_TOKEN: JOB });
    const files = await everything(src);
    await src.http.close();
    assert.equal(files.length, restFiles.length);
    assert.ok(fake.requests.some((r) => r.auth.jobToken));
    assert.ok(fake.requestsTo(/pypi/).every((r) => r.auth.basicUser === "gitlab-ci-token"));
  });

  test("a wrong token is an AUTH error naming the token kind and the scopes needed", async () => {
    await assert.rejects(
      openSource(`gitlab+${fake.url}/acme`, { GITLAB_TOKEN: "glpat-wrong000000000000" }),
      (e: unknown) => {
        assert.ok(e instanceof PyregError);
        assert.equal(e.code, "AUTH");
        assert.match(e.message, /401: expired, revoked or mistyped/);
        assert.match(e.message, /personal\/group\/project access token from GITLAB_TOKEN/);
        assert.match(e.hint ?? "", /personal\/group\/project access token was tried/);
        assert.match(e.hint ?? "", /read_api/);
        assert.match(e.hint ?? "", /read_package_registry/);
        assert.doesNotMatch(JSON.stringify(e.toJSON()), /glpat-wrong/);
        return true;
      },
    );
  });

  test("an access token without read_api is an AUTH error at once (403: missing scope)", async () => {
    fake.addPersonalToken("glpat-noscope0000000000", ["read_user"]);
    await assert.rejects(
      openSource(`gitlab+${fake.url}/acme`, { GITLAB_TOKEN: "glpat-noscope0000000000" }),
      (e: unknown) => {
        assert.ok(e instanceof PyregError);
        assert.equal(e.code, "AUTH");
        assert.match(e.message, /403: missing scope/);
        assert.match(e.hint ?? "", /read_api/);
        return true;
      },
    );
  });

  test("an unknown path is NOT_FOUND, not an empty migration", async () => {
    await assert.rejects(
      openSource(`gitlab+${fake.url}/nope/nothing`, { GITLAB_TOKEN: PAT }),
      (e: unknown) => {
        assert.ok(e instanceof PyregError);
        assert.equal(e.code, "NOT_FOUND");
        return true;
      },
    );
  });
});

describe("gitlab: instance layout and forwarding", () => {
  test("a relative URL root is found from the path", async () => {
    const fake = await new FakeGitLab({ relativeRoot: "/gitlab" }).start();
    const t = await tempDir();
    try {
      await seedGroup(fake, t.path, 3);
      const src = await openSource(`gitlab+${fake.url}/acme`, { GITLAB_TOKEN: PAT });
      assert.match(src.describe(), /\/gitlab\/api\/v4/);
      const files = await everything(src);
      const one = files[0] as DistFile;
      assert.equal(await sha256Of(await src.open(one)), one.hashes["sha256"]);
      await src.http.close();
      assert.ok(files.length > 10);
    } finally {
      await fake.close();
      await t.cleanup();
    }
  });

  test("the spec map picks gitlab for gitlab+ specs and gitlab.com web URLs, not for API URLs", () => {
    assert.equal(kindFor(parseSpec("gitlab+https://gitlab.example.com/group")).name, "gitlab");
    assert.equal(gitlabKind.matches(parseSpec("https://gitlab.com/acme/tools")), true);
    assert.equal(
      gitlabKind.matches(parseSpec("https://gitlab.com/api/v4/projects/1/packages/pypi/simple/")),
      false,
    );
    assert.equal(gitlabKind.matches(parseSpec("https://pypi.example.com/simple/")), false);
  });

  test("Link rel=next is read whatever its parameter order", () => {
    assert.equal(
      linkNext('<http://h/a?page=1>; rel="prev", <http://h/a?page=3>; rel="next"'),
      "http://h/a?page=3",
    );
    assert.equal(linkNext('<http://h/a?page=3>; type="x"; rel=next'), "http://h/a?page=3");
    assert.equal(linkNext('<http://h/a?page=1>; rel="first"'), undefined);
  });

  test("package forwarding (redirect to another index) is never followed", async () => {
    let foreignHits = 0;
    const foreign: Server = createServer((_req, res) => {
      foreignHits++;
      res.end("<html><a href='http://127.0.0.1:1/x-1.0.tar.gz#sha256=00'>x-1.0.tar.gz</a></html>");
    });
    await new Promise<void>((r) => foreign.listen(0, "127.0.0.1", r));
    const fake = await new FakeGitLab({
      forwardTo: `http://127.0.0.1:${(foreign.address() as AddressInfo).port}/simple/`,
    }).start();
    const t = await tempDir();
    try {
      await seedGroup(fake, t.path, 2);
      const src = await openSource(`gitlab+http://${DEPLOY_USER}:${DEPLOY}@${fake.url.slice(7)}/acme`, {});
      assert.deepEqual(await src.listFiles("requests"), []);
      await src.http.close();
      assert.equal(foreignHits, 0);
      assert.ok(src.logs.some((l) => /package forwarding/.test(l)));
    } finally {
      await fake.close();
      foreign.close();
      await t.cleanup();
    }
  });
});

describe("gitlab: destination", () => {
  let fake: FakeGitLab;
  let tmp: { path: string; cleanup(): Promise<void> };
  let corpus: CorpusFile[];
  let projectId: number;
  before(async () => {
    tmp = await tempDir();
    fake = await new FakeGitLab().start();
    fake.addGroup("dest");
    projectId = fake.addProject("dest/pypi").id;
    fake.addPersonalToken(PAT, ["api"]);
    fake.addDeployToken(
      "writer",
      "gldt-writer00000000000",
      ["read_package_registry", "write_package_registry"],
      {
        projectId,
      },
    );
    fake.addDeployToken("reader", "gldt-reader00000000000", ["read_package_registry"], { projectId });
    corpus = await makeCorpus(join(tmp.path, "c"));
  });
  after(async () => {
    await fake.close();
    await tmp.cleanup();
  });

  async function openDest(spec: string, env: NodeJS.ProcessEnv): Promise<Destination & Ctx> {
    const c = makeCtx(env, {}, "destination");
    const d = await (gitlabKind.openDestination as NonNullable<typeof gitlabKind.openDestination>)(
      parseSpec(spec),
      c.ctx,
    );
    return Object.assign(d, c);
  }

  async function upload(d: Destination, f: CorpusFile): ReturnType<Destination["upload"]> {
    const dg = await digestsOfFile(f.path);
    const meta = await readCoreMetadata(f.path, f.filename);
    const local = {
      path: f.path,
      filename: f.filename,
      size: f.size,
      sha256: dg.sha256,
      md5: dg.md5,
      blake2_256: dg.blake2_256,
    };
    const src: DistFile = {
      project: f.project,
      version: f.version,
      filename: f.filename,
      url: f.path,
      hashes: { sha256: f.sha256 },
    };
    return await d.upload(local, meta, src);
  }

  test("uploads with every field GitLab reads, sha256_digest and md5_digest from the bytes; a repeat is an 'exists' answer", async () => {
    const d = await openDest(`gitlab+${fake.url}/dest/pypi`, { PYREG_TO_PASSWORD: PAT });
    fake.requests.length = 0;
    const f = corpus.find((x) => x.filename.startsWith("my_pkg-1.0-py3")) as CorpusFile;
    assert.deepEqual(await upload(d, f), { status: "uploaded" });
    const post = fake.requests.find((r) => r.method === "POST") as (typeof fake.requests)[number];
    assert.equal(post.status, 201);
    assert.ok(post.auth.basic && !post.auth.privateToken);
    const form = new Map(post.form);
    assert.equal(form.get("sha256_digest"), f.sha256);
    assert.equal(
      form.get("md5_digest"),
      createHash("md5")
        .update(await readFile(f.path))
        .digest("hex"),
    );
    assert.equal(form.get("name"), "my-pkg", "twine's safe_name of Name: my_pkg");
    assert.equal(form.get("version"), "1.0");
    assert.equal(form.get("requires_python"), ">=3.8");
    assert.equal(form.get("metadata_version"), "2.1");
    assert.equal(form.get("summary"), "My package");
    assert.equal(form.get("description_content_type"), "text/markdown");
    assert.equal(post.fileName, f.filename);
    assert.equal(post.fileSha256, f.sha256);
    assert.equal(fake.projectFiles(projectId).get(f.filename)?.storedSha256, f.sha256);

    const again = await upload(d, f);
    assert.equal(again.status, "exists");
    assert.match((again as { serverAnswer: string }).serverAnswer, /already been taken/);

    d.invalidate?.("my-pkg");
    const listed = await d.listFiles("my-pkg");
    assert.equal(listed.get(f.filename)?.hashes["sha256"], f.sha256);
    assert.deepEqual(await d.listFiles("not-there"), new Map());
    await d.http.close();
  });

  test("gitlabFields replaces any digest with the bytes' own and adds what is missing", () => {
    const out = gitlabFields(
      [
        ["sha256_digest", "bad"],
        [":action", "file_upload"],
      ],
      { fields: new Map(), metadataVersion: "2.1", name: "x", version: "1" },
      {
        path: "/x",
        filename: "x-1.tar.gz",
        size: 1,
        sha256: "AB".repeat(32),
        md5: "cd".repeat(16),
        blake2_256: "",
      },
    );
    const m = new Map(out);
    assert.equal(m.get("sha256_digest"), "ab".repeat(32));
    assert.equal(m.get("md5_digest"), "cd".repeat(16));
    assert.equal(m.get("name"), "x");
    assert.equal(m.get("version"), "1");
    assert.equal(out.filter(([k]) => k === "sha256_digest").length, 1);
  });

  test("a deploy token with write_package_registry uploads by project path (REST not needed)", async () => {
    const d = await openDest(
      `gitlab+http://writer:gldt-writer00000000000@${fake.url.slice(7)}/dest/pypi`,
      {},
    );
    const f = corpus.find((x) => x.filename.startsWith("simple-0.0.1")) as CorpusFile;
    assert.deepEqual(await upload(d, f), { status: "uploaded" });
    assert.equal(fake.projectFiles(projectId).get(f.filename)?.storedSha256, f.sha256);
    await d.http.close();
  });

  test("a read-only deploy token gets an AUTH error that names write_package_registry", async () => {
    const d = await openDest(
      `gitlab+http://reader:gldt-reader00000000000@${fake.url.slice(7)}/dest/pypi`,
      {},
    );
    const f = corpus.find((x) => x.filename.endsWith(".zip")) as CorpusFile;
    await assert.rejects(upload(d, f), (e: unknown) => {
      assert.ok(e instanceof PyregError);
      assert.equal(e.code, "AUTH");
      assert.match(e.hint ?? "", /deploy token/);
      assert.match(e.hint ?? "", /write_package_registry/);
      return true;
    });
    await d.http.close();
  });

  test("a group is refused as a destination", async () => {
    await assert.rejects(openDest(`gitlab+${fake.url}/dest`, { PYREG_TO_PASSWORD: PAT }), (e: unknown) => {
      assert.ok(e instanceof PyregError);
      assert.equal(e.code, "USAGE");
      assert.match(e.message, /is a GitLab group/);
      return true;
    });
  });
});

describe("fake GitLab itself (faithfulness checks)", () => {
  test("per_page is clamped to 100, pages start at 1, upload requires content/name/version", async () => {
    const fake = await new FakeGitLab().start();
    try {
      fake.addGroup("g");
      const p = fake.addProject("g/p");
      fake.addPersonalToken(PAT);
      for (let i = 0; i < 130; i++) fake.addPackage(p.id, { name: "a", version: `0.${i}` });
      const r = await fetch(`${fake.apiRoot}/projects/${p.id}/packages?per_page=500&page=0`, {
        headers: { "PRIVATE-TOKEN": PAT },
      });
      assert.equal(((await r.json()) as unknown[]).length, 100);
      assert.equal(r.headers.get("x-page"), "1");
      assert.equal(r.headers.get("x-per-page"), "100");
      assert.equal(r.headers.get("x-next-page"), "2");
      assert.equal(r.headers.get("x-total"), "130");
      const anon = await fetch(`${fake.apiRoot}/groups/g`);
      assert.equal(anon.status, 404);
      const basicOnRest = await fetch(`${fake.apiRoot}/groups/g`, {
        headers: { authorization: "Basic " + Buffer.from(`u:${PAT}`).toString("base64") },
      });
      assert.equal(basicOnRest.status, 404, "REST does not read Basic auth");
      const form = new FormData();
      form.set("name", "x");
      const up = await fetch(`${fake.apiRoot}/projects/${p.id}/packages/pypi`, {
        method: "POST",
        body: form,
        headers: { authorization: "Basic " + Buffer.from(`u:${PAT}`).toString("base64") },
      });
      assert.equal(up.status, 400);
      assert.match(await up.text(), /content is missing.*version is missing/);
    } finally {
      await fake.close();
    }
  });
});
