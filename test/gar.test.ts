/**
 * Google Artifact Registry adapter against the fake GAR (test/fakes/gar.ts): credential order,
 * every credential form, google-auth-library pointed at the fake token endpoint through a real
 * service-account key file, token refresh, --create-repository with its long-running operation,
 * and the destination/source through the real HTTP client.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, writeFile } from "node:fs/promises";
import { join } from "node:path";
// Nothing may probe the real metadata server: a dead loopback port (google-auth-library reads it).
process.env["GCE_METADATA_HOST"] = "127.0.0.1:9";
delete process.env["GOOGLE_APPLICATION_CREDENTIALS"];

import { PyregError } from "../src/core/errors.js";
import { digestsOfFile } from "../src/core/hash.js";
import { readCoreMetadata } from "../src/core/metadata.js";
import type { Destination, LocalDist } from "../src/core/model.js";
import { HttpClient } from "../src/http/client.js";
import { redactText } from "../src/http/redact.js";
import { TokenCache } from "../src/registries/gar/auth.js";
import { garKind } from "../src/registries/gar/index.js";
import { parseSpec } from "../src/registries/spec.js";
import type { RegistryContext, RegistryOptions } from "../src/registries/types.js";
import { FakeGar, makeServiceAccountKey } from "./fakes/gar.js";
import { makeCorpus, type CorpusFile } from "./fixtures/dists.js";
import { tempDir } from "./helpers/tmp.js";

let tmp: { path: string; cleanup(): Promise<void> };
let fake: FakeGar;
let corpus: CorpusFile[];
const clients: HttpClient[] = [];

interface Ctx extends RegistryContext {
  logs: string[];
}

function ctx(
  env: NodeJS.ProcessEnv = {},
  options: RegistryOptions = {},
  side: "source" | "destination" = "destination",
): Ctx {
  const http = new HttpClient({ retry: { retries: 0 } });
  clients.push(http);
  const logs: string[] = [];
  return {
    http,
    side,
    // No ~/.netrc, no gcloud, no ADC file unless a test adds one.
    env: {
      HOME: tmp.path,
      CLOUDSDK_CONFIG: join(tmp.path, "gcloud"),
      NETRC: join(tmp.path, "none"),
      PATH: "/nonexistent",
      ...env,
    },
    options,
    logs,
    log: (m) => logs.push(m),
  };
}

async function localDist(f: CorpusFile): Promise<LocalDist> {
  const d = await digestsOfFile(f.path);
  return {
    path: f.path,
    filename: f.filename,
    size: d.size,
    sha256: d.sha256,
    md5: d.md5,
    blake2_256: d.blake2_256,
  };
}

async function upload(dest: Destination, f: CorpusFile) {
  const meta = await readCoreMetadata(f.path, f.filename);
  const src = {
    project: f.project,
    version: f.version,
    filename: f.filename,
    url: f.path,
    hashes: { sha256: f.sha256 },
  };
  return dest.upload(await localDist(f), meta, src);
}

async function writeKey(name: string, key: object): Promise<string> {
  const p = join(tmp.path, name);
  await writeFile(p, JSON.stringify(key));
  return p;
}

async function rejectsWith(p: Promise<unknown>, check: (e: PyregError) => void): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof PyregError, String(e));
    check(e);
    return true;
  });
}

before(async () => {
  tmp = await tempDir("pyreg-gar-");
  corpus = await makeCorpus(join(tmp.path, "corpus"));
  fake = await new FakeGar().start();
});
after(async () => {
  for (const c of clients) await c.close();
  await fake.close();
  await tmp.cleanup();
});

describe("GAR credentials", () => {
  test("oauth2accesstoken in PYREG_TO_PASSWORD: Basic sent, upload, duplicate answer, index with sha256", async () => {
    fake.addRepository("p1", "r1");
    const token = fake.issueToken();
    const c = ctx({
      PYREG_TO_USERNAME: "oauth2accesstoken",
      PYREG_TO_PASSWORD: token,
      GOOGLE_ACCESS_TOKEN: "ignored",
    });
    const dest = await garKind.openDestination!(parseSpec(`gar+${fake.repoUrl("p1", "r1")}`), c);
    assert.equal(dest.kind, "gar");
    assert.match(dest.describe(), /oauth2accesstoken password from PYREG_TO_PASSWORD/);
    const f = corpus.find((x) => x.kind === "wheel") as CorpusFile;
    assert.deepEqual(await upload(dest, f), { status: "uploaded" });
    const up = fake.requests.filter((r) => r.method === "POST" && r.path === "/p1/r1/");
    assert.equal(up.length, 1);
    assert.equal(up[0]?.auth, "basic:oauth2accesstoken");
    assert.equal(up[0]?.credential, token);
    assert.ok(up[0]?.fields?.some(([k, v]) => k === "sha256_digest" && v === f.sha256));
    // Same file again: GAR's duplicate answer is reported as "exists" with the server's text.
    const again = await upload(dest, f);
    assert.equal(again.status, "exists");
    assert.match(again.status === "exists" ? again.serverAnswer : "", /requested entity already exists/);
    dest.invalidate?.(f.project);
    const listed = await dest.listFiles(f.project);
    assert.equal(listed.get(f.filename)?.hashes["sha256"], f.sha256);
  });

  test("GOOGLE_ACCESS_TOKEN comes before ADC, and an expired one names GOOGLE_ACCESS_TOKEN", async () => {
    fake.addRepository("p2", "r2");
    const key = makeServiceAccountKey(fake);
    const keyPath = await writeKey("adc-unused.json", key);
    const good = fake.issueToken();
    const c = ctx({ GOOGLE_ACCESS_TOKEN: good, GOOGLE_APPLICATION_CREDENTIALS: keyPath });
    const before = fake.tokenRequests.length;
    const dest = await garKind.openDestination!(parseSpec(`gar+${fake.repoUrl("p2", "r2")}`), c);
    assert.match(dest.describe(), /credentials: GOOGLE_ACCESS_TOKEN/);
    assert.equal(fake.tokenRequests.length, before, "ADC was not used");

    const expired = fake.issueToken(-1);
    await rejectsWith(
      garKind.openDestination!(
        parseSpec(`gar+${fake.repoUrl("p2", "r2")}`),
        ctx({ GOOGLE_ACCESS_TOKEN: expired }),
      ),
      (e) => {
        assert.equal(e.code, "AUTH");
        assert.match(e.message, /refused the credentials from GOOGLE_ACCESS_TOKEN/);
        assert.match(e.hint ?? "", /expired.*gcloud auth print-access-token/);
        assert.ok(!redactText(JSON.stringify(e.toJSON())).includes(expired));
        assert.ok(!JSON.stringify(e.toJSON()).includes(expired), "the token is not in the error");
      },
    );
  });

  test("_json_key_base64 is sent as Basic as is; a malformed or unknown key is a specific error", async () => {
    fake.addRepository("p3", "r3");
    const key = makeServiceAccountKey(fake, "uploader@proj.iam.gserviceaccount.com");
    const b64 = Buffer.from(JSON.stringify(key)).toString("base64");
    const dest = await garKind.openDestination!(
      parseSpec(`gar+${fake.repoUrl("p3", "r3")}`),
      ctx({ PYREG_TO_USERNAME: "_json_key_base64", PYREG_TO_PASSWORD: b64 }),
    );
    assert.match(
      dest.describe(),
      /service-account key uploader@proj\.iam\.gserviceaccount\.com \(_json_key_base64 from PYREG_TO_PASSWORD\)/,
    );
    const last = fake.requests.filter((r) => r.path === "/p3/r3/simple/").pop();
    assert.equal(last?.auth, "basic:_json_key_base64");
    assert.equal(last?.credential, key.private_key_id);

    await rejectsWith(
      garKind.openDestination!(
        parseSpec(`gar+${fake.repoUrl("p3", "r3")}`),
        ctx({ PYREG_TO_USERNAME: "_json_key_base64", PYREG_TO_PASSWORD: "bm90IGpzb24=" }),
      ),
      (e) => {
        assert.equal(e.code, "AUTH");
        assert.match(
          e.message,
          /_json_key_base64 password from PYREG_TO_PASSWORD is not base64 of a JSON key file/,
        );
      },
    );
    const unknown = makeServiceAccountKey(fake, "deleted@proj.iam.gserviceaccount.com", { register: false });
    await rejectsWith(
      garKind.openDestination!(
        parseSpec(`gar+${fake.repoUrl("p3", "r3")}`),
        ctx({
          PYREG_TO_USERNAME: "_json_key_base64",
          PYREG_TO_PASSWORD: Buffer.from(JSON.stringify(unknown)).toString("base64"),
        }),
      ),
      (e) => {
        assert.equal(e.status, 401);
        assert.match(e.message, /service-account key deleted@proj\.iam\.gserviceaccount\.com/);
        assert.match(e.hint ?? "", /refused the key of deleted@proj/);
      },
    );
  });

  test("ADC service-account key: google-auth-library posts a signed JWT to the key's token_uri", async () => {
    fake.addRepository("p4", "r4");
    const key = makeServiceAccountKey(fake, "adc@proj.iam.gserviceaccount.com");
    const keyPath = await writeKey("adc.json", key);
    const before = fake.tokenRequests.length;
    const dest = await garKind.openDestination!(
      parseSpec(`gar+${fake.repoUrl("p4", "r4")}`),
      ctx({ GOOGLE_APPLICATION_CREDENTIALS: keyPath }),
    );
    assert.match(dest.describe(), new RegExp(`ADC service account key ${keyPath} \\(adc@proj`));
    const tr = fake.tokenRequests.slice(before);
    assert.equal(tr.length, 1);
    assert.equal(tr[0]?.ok, true);
    assert.equal(tr[0]?.claims?.["iss"], "adc@proj.iam.gserviceaccount.com");
    assert.equal(tr[0]?.claims?.["scope"], "https://www.googleapis.com/auth/cloud-platform");
    const probe = fake.requests.filter((r) => r.path === "/p4/r4/simple/").pop();
    assert.equal(probe?.auth, "basic:oauth2accesstoken");
    assert.ok(probe?.credential && fake.tokens.has(probe.credential), "the token the fake issued was used");
  });

  test("ADC with a wrong key: the error names the key file and the token endpoint's answer", async () => {
    fake.addRepository("p5", "r5");
    const real = makeServiceAccountKey(fake, "rotated@proj.iam.gserviceaccount.com");
    const other = makeServiceAccountKey(fake, "someone@proj.iam.gserviceaccount.com", { register: false });
    // The right account, signed with a key the server does not have.
    const keyPath = await writeKey("wrong.json", { ...real, private_key: other.private_key });
    await rejectsWith(
      garKind.openDestination!(
        parseSpec(`gar+${fake.repoUrl("p5", "r5")}`),
        ctx({ GOOGLE_APPLICATION_CREDENTIALS: keyPath }),
      ),
      (e) => {
        assert.equal(e.code, "AUTH");
        assert.match(e.message, new RegExp(`ADC service account key ${keyPath}`));
        assert.match(e.message, /Invalid JWT Signature/);
        assert.match(e.hint ?? "", /wrong, deleted or disabled/);
      },
    );
  });

  test("no credentials anywhere: the error says what was tried", async () => {
    await rejectsWith(
      garKind.openDestination!(parseSpec(`gar+${fake.repoUrl("p5", "r5")}`), ctx({})),
      (e) => {
        assert.equal(e.code, "AUTH");
        assert.match(e.message, /no credentials for Google Artifact Registry/);
        assert.match(
          e.hint ?? "",
          /GOOGLE_ACCESS_TOKEN.*Application Default Credentials.*gcloud auth print-access-token/,
        );
      },
    );
  });

  test("gcloud auth print-access-token is the last resort; its token never reaches the log", async () => {
    fake.addRepository("p6", "r6");
    const token = fake.issueToken();
    const script = join(tmp.path, "gcloud");
    await writeFile(script, `#!/bin/sh\n[ "$1 $2" = "auth print-access-token" ] || exit 3\necho ${token}\n`);
    await chmod(script, 0o755);
    const c = ctx({ PYREG_GCLOUD: script });
    const dest = await garKind.openDestination!(parseSpec(`gar+${fake.repoUrl("p6", "r6")}`), c);
    assert.match(dest.describe(), /credentials: gcloud auth print-access-token/);
    assert.equal(fake.requests.filter((r) => r.path === "/p6/r6/simple/").pop()?.credential, token);
    assert.ok(!c.logs.join("\n").includes(token));
    assert.equal(redactText(`x ${token} y`), "x *** y");
  });
});

describe("GAR token refresh", () => {
  test("TokenCache renews before expiry (a quarter of a short lifetime) and not before", async () => {
    let now = 1_000_000;
    let n = 0;
    const cache = new TokenCache(
      {
        source: "t",
        refreshable: true,
        fetch: () => Promise.resolve({ token: `tok${++n}-xyz`, expiresAt: now + 4000 }),
      },
      () => now,
    );
    assert.equal(await cache.token(), "tok1-xyz");
    now += 2999;
    assert.equal(await cache.token(), "tok1-xyz");
    now += 1;
    assert.equal(await cache.token(), "tok2-xyz");
    assert.equal(await cache.refresh(), true);
    assert.equal(await cache.token(), "tok3-xyz");
    const fixed = new TokenCache({
      source: "s",
      refreshable: false,
      fetch: () => Promise.resolve({ token: "static-tok" }),
    });
    assert.equal(await fixed.token(), "static-tok");
    assert.equal(await fixed.refresh(), false);
  });

  test("a revoked token: one 401, a refresh through google-auth-library, the same upload again", async () => {
    fake.addRepository("p8", "r8");
    const keyPath = await writeKey(
      "revoked.json",
      makeServiceAccountKey(fake, "revoked@proj.iam.gserviceaccount.com"),
    );
    const dest = await garKind.openDestination!(
      parseSpec(`gar+${fake.repoUrl("p8", "r8")}`),
      ctx({ GOOGLE_APPLICATION_CREDENTIALS: keyPath }),
    );
    const tokensBefore = fake.tokenRequests.filter((t) => t.ok).length;
    fake.tokens.clear(); // the server forgets every token
    assert.equal((await upload(dest, corpus[0] as CorpusFile)).status, "uploaded");
    const posts = fake.requests.filter((r) => r.path === "/p8/r8/" && r.method === "POST");
    assert.deepEqual(
      posts.map((r) => r.status),
      [401, 200],
    );
    assert.notEqual(posts[0]?.credential, posts[1]?.credential);
    assert.equal(fake.tokenRequests.filter((t) => t.ok).length - tokensBefore, 1);
  });

  test("ADC tokens with a 2 s lifetime are renewed during a run, before they expire", async () => {
    fake.addRepository("p7", "r7");
    const keyPath = await writeKey(
      "long.json",
      makeServiceAccountKey(fake, "long-run@proj.iam.gserviceaccount.com"),
    );
    // One clock for pyreg's token cache and the fake's token expiry, moved by the test: 800 ms
    // "pass" between uploads, whatever the machine's speed. Tokens live 2 s; pyreg renews a token
    // in the last quarter of its life: fetched at 0 → renewed at 1600 (due at 1500), fetched at
    // 1600 → renewed at 3200 (due at 3100).
    const realNow = fake.now;
    let clock = Date.now();
    fake.now = () => clock;
    fake.tokenLifetimeSec = 2;
    try {
      const dest = await garKind.openDestination!(parseSpec(`gar+${fake.repoUrl("p7", "r7")}`), {
        ...ctx({ GOOGLE_APPLICATION_CREDENTIALS: keyPath }),
        now: () => clock,
      });
      const before = fake.tokenRequests.filter((t) => t.ok).length;
      const files = corpus.slice(0, 5);
      for (const f of files) {
        assert.equal((await upload(dest, f)).status, "uploaded");
        clock += 800;
      }
      const renewed = fake.tokenRequests.filter((t) => t.ok).length - before;
      assert.equal(renewed, 2, "tokens renewed during the run (at 1600 and 3200 ms)");
      assert.equal(
        fake.requests.filter((r) => r.path.startsWith("/p7/") && r.status === 401).length,
        0,
        "renewed before expiry",
      );
      assert.equal(fake.files("p7", "r7").size, 5);
    } finally {
      fake.now = realNow;
      fake.tokenLifetimeSec = 3599;
    }
  });
});

describe("GAR --create-repository", () => {
  test("a missing repository without the flag names the flag and the gcloud command", async () => {
    const token = fake.issueToken();
    await rejectsWith(
      garKind.openDestination!(
        parseSpec(`gar+${fake.repoUrl("proj", "missing")}`),
        ctx({ GOOGLE_ACCESS_TOKEN: token, PYREG_GAR_LOCATION: "europe-west1" }),
      ),
      (e) => {
        assert.equal(e.code, "NOT_FOUND");
        assert.match(e.hint ?? "", /--create-repository/);
        assert.match(
          e.hint ?? "",
          /gcloud artifacts repositories create missing --repository-format=python --location=europe-west1 --project=proj/,
        );
      },
    );
    assert.equal(
      fake.requests.filter((r) => r.path.startsWith("/v1/")).length,
      0,
      "no REST call without the flag",
    );
  });

  test("with the flag: GET 404, POST format PYTHON + description, poll the operation until done, say so", async () => {
    fake.operationDoneAfterPolls = 3;
    const token = fake.issueToken();
    const c = ctx(
      { GOOGLE_ACCESS_TOKEN: token, PYREG_GAR_API_BASE: fake.apiBase },
      { createRepository: true, location: "us-east1", description: "migrated from GitLab" },
    );
    const mark = fake.requests.length;
    const dest = await garKind.openDestination!(parseSpec(`gar+${fake.repoUrl("proj", "newrepo")}`), c);
    const rest = fake.requests.slice(mark).filter((r) => r.path.startsWith("/v1/"));
    assert.deepEqual(
      rest.map((r) => `${r.method} ${r.path.replace(/operations\/[^/?]+/, "operations/ID")} ${r.status}`),
      [
        "GET /v1/projects/proj/locations/us-east1/repositories/newrepo 404",
        "POST /v1/projects/proj/locations/us-east1/repositories?repositoryId=newrepo 200",
        "GET /v1/projects/proj/locations/us-east1/operations/ID 200",
        "GET /v1/projects/proj/locations/us-east1/operations/ID 200",
        "GET /v1/projects/proj/locations/us-east1/operations/ID 200",
      ],
    );
    assert.ok(rest.every((r) => r.auth === "bearer" && r.credential === token));
    assert.deepEqual(JSON.parse(rest[1]?.body ?? "{}"), {
      format: "PYTHON",
      description: "migrated from GitLab",
    });
    assert.ok(
      c.logs.some((l) =>
        /created Artifact Registry Python repository projects\/proj\/locations\/us-east1\/repositories\/newrepo/.test(
          l,
        ),
      ),
    );
    // The repository now takes uploads.
    assert.equal((await upload(dest, corpus[0] as CorpusFile)).status, "uploaded");

    // Again: it exists, nothing is created.
    const c2 = ctx(
      { GOOGLE_ACCESS_TOKEN: token, PYREG_GAR_API_BASE: fake.apiBase },
      { createRepository: true, location: "us-east1" },
    );
    const mark2 = fake.requests.length;
    await garKind.openDestination!(parseSpec(`gar+${fake.repoUrl("proj", "newrepo")}`), c2);
    assert.deepEqual(
      fake.requests
        .slice(mark2)
        .filter((r) => r.path.startsWith("/v1/"))
        .map((r) => r.method),
      ["GET"],
    );
    assert.ok(c2.logs.some((l) => /already exists; not creating it/.test(l)));
    fake.operationDoneAfterPolls = 2;
  });

  test("a failed operation is an error with the operation's message; _json_key_base64 is exchanged for the REST API", async () => {
    fake.operationError = { code: 7, message: "Permission 'artifactregistry.repositories.create' denied" };
    const key = makeServiceAccountKey(fake, "creator@proj.iam.gserviceaccount.com");
    const b64 = Buffer.from(JSON.stringify(key)).toString("base64");
    const mark = fake.tokenRequests.length;
    try {
      await rejectsWith(
        garKind.openDestination!(
          parseSpec(`gar+${fake.repoUrl("proj", "denied")}`),
          ctx(
            {
              PYREG_TO_USERNAME: "_json_key_base64",
              PYREG_TO_PASSWORD: b64,
              PYREG_GAR_API_BASE: fake.apiBase,
            },
            { createRepository: true, location: "us" },
          ),
        ),
        (e) => {
          assert.equal(e.code, "AUTH");
          assert.match(
            e.message,
            /operation .* failed: Permission 'artifactregistry\.repositories\.create' denied \(code 7\)/,
          );
        },
      );
      assert.equal(
        fake.tokenRequests.slice(mark).filter((t) => t.ok && t.claims?.["iss"] === key.client_email).length,
        1,
      );
    } finally {
      fake.operationError = undefined;
    }
  });
});

describe("GAR as a source", () => {
  test("lists projects and files with sha256 through the simple index and opens files with credentials", async () => {
    const token = fake.issueToken();
    const src = await garKind.openSource!(
      parseSpec(`gar+${fake.repoUrl("p1", "r1")}`),
      ctx({ PYREG_FROM_USERNAME: "oauth2accesstoken", PYREG_FROM_PASSWORD: token }, {}, "source"),
    );
    assert.equal(src.kind, "gar");
    const projects = await src.listProjects();
    assert.ok(projects.length >= 1);
    const stored = [...fake.files("p1", "r1").values()];
    const files = await src.listFiles(stored[0]?.project as string);
    const one = files.find((f) => f.filename === stored[0]?.filename);
    assert.equal(one?.hashes["sha256"], stored[0]?.sha256);
    const chunks: Buffer[] = [];
    for await (const c of await src.open(one as never)) chunks.push(c as Buffer);
    assert.ok(Buffer.concat(chunks).equals(stored[0]?.bytes as Buffer));
  });
});
