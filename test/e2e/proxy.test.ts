/**
 * Proxies as pip and uv use them, through a real tinyproxy: plain HTTP in absolute form (the
 * registry sees tinyproxy's Via header), HTTPS through CONNECT with --ca-bundle, NO_PROXY, and a
 * proxy that refuses the login (exit 2, the proxy named with its credentials redacted).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { makeWheel } from "../fixtures/dists.js";
import { FAST_RETRY_ARGS, startFaultProxy, type FaultProxy } from "../fakes/faultProxy.js";
import { runCli, type CliResult } from "../helpers/cli.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { freePort, startTinyproxy, type Tinyproxy } from "../helpers/tinyproxy.js";
import { makeTestTls, type TestTls } from "../helpers/tls.js";
import { folderDigests, tempDir } from "../helpers/tmp.js";

/** No proxy variable from the test's own environment leaks into a run. */
const NO_PROXY_ENV: NodeJS.ProcessEnv = Object.fromEntries(
  ["http_proxy", "https_proxy", "all_proxy", "no_proxy"].flatMap((n) => [
    [n, ""],
    [n.toUpperCase(), ""],
  ]),
);

describe("proxies (tinyproxy)", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let serve: ServeHandle;
  let dst: ServeHandle;
  /** The source as the registry sees it: a recording proxy in front of pyreg serve. */
  let plain: FaultProxy;
  let secure: FaultProxy;
  let tls: TestTls;
  let proxy: Tinyproxy;
  let guarded: Tinyproxy;

  before(async () => {
    tmp = await tempDir();
    const srcDir = join(tmp.path, "src");
    await mkdir(srcDir);
    await makeWheel(srcDir, { name: "via-proxy", version: "1.0" });
    await makeWheel(srcDir, { name: "via-proxy", version: "2.0" });
    serve = await startServe(srcDir);
    dst = await startServe(join(tmp.path, "dst"));
    plain = await startFaultProxy({ target: serve.url });
    const tlsDir = join(tmp.path, "tls");
    await mkdir(tlsDir);
    tls = await makeTestTls(tlsDir);
    secure = await startFaultProxy({ target: serve.url, tls: { key: tls.key, cert: tls.cert } });
    const securePort = Number(new URL(secure.url).port);
    const open = join(tmp.path, "open");
    const auth = join(tmp.path, "auth");
    await mkdir(open);
    await mkdir(auth);
    proxy = await startTinyproxy(open, { connectPorts: [securePort] });
    guarded = await startTinyproxy(auth, {
      connectPorts: [securePort],
      basicAuth: { user: "alice", password: "Pr0xyS3cret" },
    });
  });

  after(async () => {
    await proxy?.close();
    await guarded?.close();
    await plain?.close();
    await secure?.close();
    await serve?.close();
    await dst?.close();
    await tmp?.cleanup();
  });

  test("plain HTTP goes through HTTP_PROXY: list and a whole migration (GET and upload POST)", async () => {
    const env = { ...NO_PROXY_ENV, HTTP_PROXY: proxy.url };
    const list = await runCli(["list", plain.indexUrl, "--json"], { env, cwd: tmp.path });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /via_proxy-2\.0-py3-none-any\.whl/);
    // The registry saw every request come through tinyproxy (it adds "Via: 1.1 tinyproxy (...)").
    assert.ok(plain.log.length > 0);
    for (const r of plain.log) assert.match(r.via ?? "(no Via)", /tinyproxy/, `${r.method} ${r.path}`);
    assert.ok((await proxy.requests()).includes(`GET ${plain.indexUrl}`), "tinyproxy logged the index GET");

    const dstProxy = await startFaultProxy({ target: dst.url });
    try {
      const state = join(tmp.path, "state-plain");
      const run = await runCli(
        ["migrate", "--from", plain.indexUrl, "--to", dstProxy.url, "--state", state, ...FAST_RETRY_ARGS],
        { env, cwd: tmp.path },
      );
      assert.equal(run.code, 0, run.stderr);
      assert.equal(dstProxy.uploadsStored, 2);
      const posts = dstProxy.log.filter((r) => r.method === "POST");
      assert.equal(posts.length, 2);
      for (const r of dstProxy.log) assert.match(r.via ?? "(no Via)", /tinyproxy/, `${r.method} ${r.path}`);
      assert.deepEqual(
        await folderDigests(join(tmp.path, "dst")),
        await folderDigests(join(tmp.path, "src")),
      );
    } finally {
      await dstProxy.close();
    }
  });

  test("HTTPS goes through a CONNECT tunnel (https_proxy), trusting the registry's CA from --ca-bundle", async () => {
    const env = { ...NO_PROXY_ENV, https_proxy: proxy.url };
    const before = secure.log.length;
    const run = await runCli(["list", secure.indexUrl, "--json", "--ca-bundle", tls.caFile], {
      env,
      cwd: tmp.path,
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /via_proxy-1\.0-py3-none-any\.whl/);
    assert.ok(secure.log.length > before);
    const host = new URL(secure.url).host;
    assert.ok((await proxy.requests()).includes(`CONNECT ${host}`), "tinyproxy logged the tunnel");

    // Without the CA the tunnel opens but TLS to the registry is refused: the CA applies through it.
    const untrusted = await runCli(["list", secure.indexUrl], { env, cwd: tmp.path });
    assert.equal(untrusted.code, 2, untrusted.stderr);
    assert.match(untrusted.stderr, /TLS verification failed/);
  });

  test("NO_PROXY exempts a host: the proxy sees nothing; without it a dead proxy is named", async () => {
    const before = (await proxy.requests()).length;
    const start = plain.log.length;
    const env = {
      ...NO_PROXY_ENV,
      HTTP_PROXY: proxy.url,
      ALL_PROXY: proxy.url,
      no_proxy: "localhost,127.0.0.1",
    };
    const run = await runCli(["list", plain.indexUrl, "--json"], { env, cwd: tmp.path });
    assert.equal(run.code, 0, run.stderr);
    assert.equal((await proxy.requests()).length, before, "tinyproxy logged no request");
    const seen = plain.log.slice(start);
    assert.ok(seen.length > 0);
    for (const r of seen) assert.equal(r.via, undefined);

    // ALL_PROXY alone applies to http:// URLs too; a proxy nobody listens on is named, not the registry.
    const dead = `http://127.0.0.1:${await freePort()}`;
    const refused = await runCli(["list", plain.indexUrl, "--retries", "0"], {
      env: { ...NO_PROXY_ENV, ALL_PROXY: dead },
      cwd: tmp.path,
    });
    assert.equal(refused.code, 2, refused.stderr);
    assert.ok(
      refused.stderr.includes(`proxy ${dead} (from ALL_PROXY) refused the connection`),
      refused.stderr,
    );
    const bypass = await runCli(["list", plain.indexUrl], {
      env: { ...NO_PROXY_ENV, ALL_PROXY: dead, NO_PROXY: "127.0.0.0/8" },
      cwd: tmp.path,
    });
    assert.equal(bypass.code, 0, bypass.stderr);
  });

  test("a refused proxy login is a clear error (exit 2) naming the proxy, its password redacted", async () => {
    const host = `127.0.0.1:${guarded.port}`;
    const shown = `proxy http://***@${host} (from --proxy)`;
    const wrong = `http://alice:WrongPr0xyPass@${host}`;
    const login = (url: string, proxyUrl: string): Promise<CliResult> =>
      runCli(["list", url, "--json", "--ca-bundle", tls.caFile, "--proxy", proxyUrl], {
        env: NO_PROXY_ENV,
        cwd: tmp.path,
      });
    const errorOf = (run: CliResult): { code: string; status: number } =>
      (JSON.parse(run.stdout) as { error: { code: string; status: number } }).error;

    // HTTPS: the answer to CONNECT is the proxy's own (tinyproxy answers a wrong password with 401).
    const tunnel = await login(secure.indexUrl, wrong);
    assert.equal(tunnel.code, 2, tunnel.stderr);
    assert.ok(tunnel.stderr.includes(`${shown} requires a login: 401 Unauthorized`), tunnel.stderr);
    assert.match(tunnel.stderr, /the proxy's credentials were refused/);
    assert.deepEqual(errorOf(tunnel), { ...errorOf(tunnel), code: "AUTH", status: 401 });

    // Plain HTTP, no proxy login at all: 407.
    const none = await login(plain.indexUrl, `http://${host}`);
    assert.equal(none.code, 2, none.stderr);
    assert.ok(
      none.stderr.includes(`proxy ${`http://${host}`} (from --proxy) requires a login: 407`),
      none.stderr,
    );
    assert.match(none.stderr, /no proxy credentials were given/);

    // Plain HTTP, wrong password: tinyproxy's 401 cannot be told from the registry's, so both are named.
    const forward = await login(plain.indexUrl, wrong);
    assert.equal(forward.code, 2, forward.stderr);
    assert.ok(
      forward.stderr.includes(`401 Unauthorized for GET ${plain.indexUrl} through ${shown}`),
      forward.stderr,
    );
    assert.match(forward.stderr, /the proxy may be the one refusing/);
    assert.equal(errorOf(forward).code, "AUTH");

    for (const run of [tunnel, none, forward]) assert.doesNotMatch(run.stdout + run.stderr, /WrongPr0xyPass/);
    // The right login goes through, for both kinds (Proxy-Authorization on the request and on CONNECT).
    const right = `http://alice:Pr0xyS3cret@127.0.0.1:${guarded.port}`;
    for (const url of [plain.indexUrl, secure.indexUrl]) {
      const run = await runCli(["list", url, "--ca-bundle", tls.caFile, "--proxy", right, "--verbose"], {
        env: NO_PROXY_ENV,
        cwd: tmp.path,
      });
      assert.equal(run.code, 0, run.stderr);
      assert.ok(run.stderr.includes(`http: GET ${url} 200 `), run.stderr);
      assert.ok(run.stderr.includes(`(via http://***@127.0.0.1:${guarded.port})`), run.stderr);
      assert.doesNotMatch(run.stdout + run.stderr, /Pr0xyS3cret/);
    }
    const logged = await guarded.requests();
    assert.ok(logged.includes(`GET ${plain.indexUrl}`));
    assert.ok(logged.includes(`CONNECT ${new URL(secure.url).host}`));
  });
});
