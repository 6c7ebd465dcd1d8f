/**
 * CodeArtifact adapter through the REAL AWS SDK against the fake (test/fakes/codeartifact.ts),
 * which checks the SDK's SigV4 signature with the dummy secret.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { PyregError } from "../src/core/errors.js";
import { digestsOfFile } from "../src/core/hash.js";
import { readCoreMetadata } from "../src/core/metadata.js";
import { HttpClient } from "../src/http/client.js";
import { codeartifactKind } from "../src/registries/codeartifact/index.js";
import { parseSpec } from "../src/registries/spec.js";
import type { RegistryContext } from "../src/registries/types.js";
import { FakeCodeArtifact } from "./fakes/codeartifact.js";
import { runCli } from "./helpers/cli.js";
import { makeCorpus, type CorpusFile } from "./fixtures/dists.js";
import { tempDir } from "./helpers/tmp.js";

const AKID = "AKIAFAKEFAKEFAKE0001";
const SECRET = "fake/secret/key/for/tests/only/0000000000";
// The SDK reads its credential chain from process.env: dummy keys, no profiles, no IMDS.
process.env["AWS_ACCESS_KEY_ID"] = AKID;
process.env["AWS_SECRET_ACCESS_KEY"] = SECRET;
process.env["AWS_EC2_METADATA_DISABLED"] = "true";
process.env["AWS_CONFIG_FILE"] = "/nonexistent/config";
process.env["AWS_SHARED_CREDENTIALS_FILE"] = "/nonexistent/credentials";
delete process.env["AWS_PROFILE"];
delete process.env["AWS_SESSION_TOKEN"];

let tmp: { path: string; cleanup(): Promise<void> };
let fake: FakeCodeArtifact;
let corpus: CorpusFile[];
const clients: HttpClient[] = [];

function ctx(env: NodeJS.ProcessEnv): RegistryContext & { logs: string[] } {
  const http = new HttpClient({ retry: { retries: 0 } });
  clients.push(http);
  const logs: string[] = [];
  return {
    http,
    side: "destination",
    env: {
      NETRC: "/nonexistent",
      AWS_ACCESS_KEY_ID: AKID,
      PYREG_CODEARTIFACT_DOMAIN: "my-domain",
      PYREG_CODEARTIFACT_DOMAIN_OWNER: "111122223333",
      PYREG_CODEARTIFACT_REGION: "eu-west-1",
      ...env,
    },
    options: {},
    logs,
    log: (m) => logs.push(m),
  };
}

before(async () => {
  tmp = await tempDir("pyreg-ca-");
  corpus = await makeCorpus(join(tmp.path, "corpus"));
  fake = await new FakeCodeArtifact(AKID, SECRET).start();
});
after(async () => {
  for (const c of clients) await c.close();
  await fake.close();
  await tmp.cleanup();
});

describe("CodeArtifact through the real AWS SDK", () => {
  test("GetAuthorizationToken (signed), GetRepositoryEndpoint, Basic aws + token, upload and index", async () => {
    const c = ctx({ PYREG_CODEARTIFACT_ENDPOINT: fake.url });
    const dest = await codeartifactKind.openDestination!(
      parseSpec(`codeartifact+${fake.url}/pypi/my-repo/`),
      c,
    );
    assert.equal(dest.kind, "codeartifact");
    const [tok, ep] = fake.calls;
    assert.equal(tok?.operation, "GetAuthorizationToken");
    assert.deepEqual(tok?.query, { domain: "my-domain", "domain-owner": "111122223333" });
    assert.equal(tok?.signatureValid, true, "the SDK signed the request with the configured keys");
    assert.deepEqual([tok?.accessKeyId, tok?.region, tok?.service], [AKID, "eu-west-1", "codeartifact"]);
    assert.equal(ep?.operation, "GetRepositoryEndpoint");
    assert.deepEqual(ep?.query, {
      domain: "my-domain",
      "domain-owner": "111122223333",
      repository: "my-repo",
      format: "pypi",
    });
    assert.equal(
      c.logs.filter((l) => /endpoint/.test(l)).length,
      0,
      "the endpoint matches: nothing to report",
    );

    const f = corpus[0] as CorpusFile;
    const d = await digestsOfFile(f.path);
    const meta = await readCoreMetadata(f.path, f.filename);
    const res = await dest.upload({ path: f.path, filename: f.filename, ...d }, meta, {
      project: f.project,
      version: f.version,
      filename: f.filename,
      url: f.path,
      hashes: {},
    });
    assert.equal(res.status, "uploaded");
    assert.equal(fake.repoRequests.find((r) => r.method === "POST")?.user, "aws");
    assert.equal(fake.files.get(f.filename)?.sha256, f.sha256);
    const listed = await dest.listFiles(f.project);
    // CodeArtifact's index publishes sha512, not sha256 (see the fake).
    const sha512 = createHash("sha512")
      .update(await readFile(f.path))
      .digest("hex");
    assert.equal(listed.get(f.filename)?.hashes["sha512"], sha512);
    assert.equal(listed.get(f.filename)?.hashes["sha256"], undefined);
  });

  test("a filename already there: the same bytes succeed again, other bytes are a conflict (as AWS documents)", async () => {
    // A fake of its own, so that this test does not depend on what another test uploaded.
    const own = await new FakeCodeArtifact(AKID, SECRET).start();
    try {
      const c = ctx({ PYREG_CODEARTIFACT_ENDPOINT: own.url });
      const dest = await codeartifactKind.openDestination!(
        parseSpec(`codeartifact+${own.url}/pypi/my-repo/`),
        c,
      );
      const f = corpus[1] as CorpusFile;
      const meta = await readCoreMetadata(f.path, f.filename);
      const at = { project: f.project, version: f.version, filename: f.filename, url: f.path, hashes: {} };
      const same = { path: f.path, filename: f.filename, ...(await digestsOfFile(f.path)) };
      assert.equal((await dest.upload(same, meta, at)).status, "uploaded");
      // The same bytes again (a retry whose first answer was lost): the service succeeds.
      assert.equal((await dest.upload(same, meta, at)).status, "uploaded");
      // Other bytes under the same filename: 409, which pyreg reads as "already there, compare".
      const otherPath = join(tmp.path, "other-bytes", f.filename);
      await mkdir(dirname(otherPath), { recursive: true });
      await writeFile(otherPath, Buffer.concat([await readFile(f.path), Buffer.from("x")]));
      const other = { path: otherPath, filename: f.filename, ...(await digestsOfFile(otherPath)) };
      const refused = await dest.upload(other, meta, at);
      assert.equal(refused.status, "exists");
      assert.equal(refused.status === "exists" ? refused.httpStatus : undefined, 409);
      assert.equal(own.republished, 2);
      assert.equal(own.files.get(f.filename)?.sha256, f.sha256, "the first bytes stay");
    } finally {
      await own.close();
    }
  });

  test("the SDK honours AWS_ENDPOINT_URL_CODEARTIFACT (no pyreg setting needed)", async () => {
    process.env["AWS_ENDPOINT_URL_CODEARTIFACT"] = fake.url;
    try {
      const mark = fake.calls.length;
      await codeartifactKind.openSource!(parseSpec(`codeartifact+${fake.url}/pypi/other/`), {
        ...ctx({}),
        side: "source",
      });
      assert.equal(fake.calls.slice(mark)[0]?.operation, "GetAuthorizationToken");
    } finally {
      delete process.env["AWS_ENDPOINT_URL_CODEARTIFACT"];
    }
  });

  test("short-lived tokens are renewed before they expire", async () => {
    // One clock for pyreg's token cache and the fake's expiry, moved by the test (no waiting).
    const realNow = fake.now;
    let clock = Date.now();
    fake.now = () => clock;
    try {
      const c = {
        ...ctx({ PYREG_CODEARTIFACT_ENDPOINT: fake.url, PYREG_CODEARTIFACT_TOKEN_DURATION: "2" }),
        now: () => clock,
      };
      const dest = await codeartifactKind.openDestination!(
        parseSpec(`codeartifact+${fake.url}/pypi/my-repo/`),
        c,
      );
      const tokenCalls = (): number =>
        fake.calls.filter((x) => x.operation === "GetAuthorizationToken").length;
      const mark = tokenCalls();
      const before401 = fake.repoRequests.filter((r) => r.status === 401).length;
      // Still fresh: no new token.
      dest.invalidate?.(corpus[0]?.project as string);
      await dest.listFiles(corpus[0]?.project as string);
      assert.equal(tokenCalls() - mark, 0);
      // 2.2 s later the 2 s token has expired: pyreg asks for a new one before using it.
      clock += 2200;
      dest.invalidate?.(corpus[0]?.project as string);
      await dest.listFiles(corpus[0]?.project as string);
      assert.equal(tokenCalls() - mark, 1);
      assert.equal(
        fake.calls.filter((x) => x.operation === "GetAuthorizationToken").at(-1)?.query["duration"],
        "2",
      );
      assert.equal(fake.repoRequests.filter((r) => r.status === 401).length - before401, 0);
    } finally {
      fake.now = realNow;
    }
  });

  test("a wrong secret: the signature is refused and the error names the AWS credential source", async () => {
    process.env["AWS_SECRET_ACCESS_KEY"] = "wrong-secret";
    try {
      await assert.rejects(
        codeartifactKind.openDestination!(
          parseSpec(`codeartifact+${fake.url}/pypi/my-repo/`),
          ctx({ PYREG_CODEARTIFACT_ENDPOINT: fake.url }),
        ),
        (e: unknown) => {
          assert.ok(e instanceof PyregError);
          assert.equal(e.code, "AUTH");
          assert.match(
            e.message,
            /GetAuthorizationToken failed with AWS credentials from AWS_ACCESS_KEY_ID: InvalidSignatureException/,
          );
          assert.ok(!e.message.includes("wrong-secret"));
          return true;
        },
      );
      assert.equal(fake.calls.at(-1)?.signatureValid, false);
    } finally {
      process.env["AWS_SECRET_ACCESS_KEY"] = SECRET;
    }
  });

  test("pyreg prints no warning of the SDK (its Node.js version notice) and leaves its switch unset", async () => {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NETRC: "/nonexistent",
      PYREG_CODEARTIFACT_ENDPOINT: fake.url,
      PYREG_CODEARTIFACT_DOMAIN: "my-domain",
      PYREG_CODEARTIFACT_DOMAIN_OWNER: "111122223333",
      PYREG_CODEARTIFACT_REGION: "eu-west-1",
    };
    delete env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"];
    delete env["NODE_NO_WARNINGS"];
    const r = await runCli(["list", `codeartifact+${fake.url}/pypi/my-repo/`], { env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /codeartifact/i);
    assert.doesNotMatch(r.stderr, /AWS SDK|NodeVersionSupportWarning|Warning/, r.stderr);
    // In this process too (the library): the client is made, and the switch is not left behind.
    const before = fake.calls.length;
    await codeartifactKind.openSource!(parseSpec(`codeartifact+${fake.url}/pypi/my-repo/`), {
      ...ctx({ PYREG_CODEARTIFACT_ENDPOINT: fake.url }),
      side: "source",
    });
    assert.ok(fake.calls.length > before);
    assert.equal(process.env["AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED"], undefined);
  });
});
