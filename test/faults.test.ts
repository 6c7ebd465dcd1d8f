/**
 * Network faults: the one HTTP client under network faults, through the fault proxy in front of a real
 * local registry. Each test names the fault and asserts what the client did (attempts reaching
 * the proxy, the answer, the error code and message).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { PyregError } from "../src/core/errors.js";
import { HttpClient, type HttpClientOptions } from "../src/http/client.js";
import { CredentialStore, staticProvider } from "../src/http/credentials.js";
import { redactText } from "../src/http/redact.js";
import { backoffDelay, DEFAULT_RETRY } from "../src/http/retry.js";
import { makeCorpus } from "./fixtures/dists.js";
import { startFaultProxy, type FaultProxy, type FaultRule } from "./fakes/faultProxy.js";
import { FakeClock } from "./helpers/clock.js";
import { startServe, type ServeHandle } from "./helpers/serve.js";
import { tempDir } from "./helpers/tmp.js";

const PAGE = "/simple/my-pkg/";

function client(extra: HttpClientOptions = {}): HttpClient {
  return new HttpClient({
    retry: { retries: 3, baseDelayMs: 10, maxDelayMs: 40, ...extra.retry },
    timeouts: { connectMs: 2000, headersMs: 2000, bodyIdleMs: 2000, deadlineMs: 20_000, ...extra.timeouts },
    ...(extra.credentials ? { credentials: extra.credentials } : {}),
    ...(extra.onRetry ? { onRetry: extra.onRetry } : {}),
    ...(extra.onRequest ? { onRequest: extra.onRequest } : {}),
    ...(extra.clock ? { clock: extra.clock } : {}),
  });
}

async function expectError(p: Promise<unknown>): Promise<PyregError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof PyregError, `a PyregError, got ${String(err)}`);
    return err;
  }
  assert.fail("expected an error");
}

/** A tiny server whose handler the test supplies (hostile answers that need no backend). */
async function tinyServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; seen: IncomingMessage[]; close(): Promise<void> }> {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe("HTTP client through the fault proxy", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let serve: ServeHandle;
  let proxy: FaultProxy;
  let good: string;

  before(async () => {
    tmp = await tempDir();
    const dir = join(tmp.path, "src");
    await mkdir(dir);
    await makeCorpus(dir);
    serve = await startServe(dir);
    proxy = await startFaultProxy({ target: serve.url });
    const c = client();
    good = (await c.fetch(proxy.url + PAGE.slice(1))).text();
    await c.close();
    assert.match(good, /my_pkg-1\.0-py3-none-any\.whl/);
  });
  after(async () => {
    await proxy.close();
    await serve.close();
    await tmp.cleanup();
  });

  /** Runs one fetch of the project page with `rules`; returns the result and the proxy's count. */
  async function fetchWith(
    rules: FaultRule[],
    opts: HttpClientOptions = {},
  ): Promise<{ text?: string; err?: PyregError; requests: number; times: number[] }> {
    proxy.setRules(rules);
    const before = proxy.log.length;
    const c = client(opts);
    /** The attempts the proxy saw, in ms after the first. */
    const attempts = (): { requests: number; times: number[] } => {
      const seen = proxy.log.slice(before).filter((l) => l.method === "GET" && l.path === PAGE);
      return { requests: seen.length, times: seen.map((l) => l.at - (seen[0]?.at ?? 0)) };
    };
    try {
      const res = await c.fetch(proxy.url + PAGE.slice(1), { label: "source" });
      return { text: res.text(), ...attempts() };
    } catch (err) {
      assert.ok(err instanceof PyregError, String(err));
      return { err, ...attempts() };
    } finally {
      await c.close();
      proxy.setRules([]);
    }
  }

  test("a burst of 5xx is retried with backoff and the page arrives whole", async () => {
    const r = await fetchWith([{ path: PAGE, times: 3, fault: { kind: "status", status: 503 } }]);
    assert.equal(r.text, good);
    assert.equal(r.requests, 4, "3 failures + 1 success");
  });

  test("a 5xx burst longer than the attempt budget fails with the status, method and URL", async () => {
    const r = await fetchWith([{ path: PAGE, fault: { kind: "status", status: 502, body: "bad gateway" } }]);
    assert.equal(r.requests, 4, "1 + --retries 3 attempts, no more");
    assert.equal(r.err?.code, "HTTP");
    assert.equal(r.err?.status, 502);
    assert.match(
      r.err?.message ?? "",
      /HTTP 502 for GET http:\/\/127\.0\.0\.1:\d+\/simple\/my-pkg\/: bad gateway/,
    );
  });

  test("401, 403 and 404 are never retried", async () => {
    for (const status of [401, 403, 404]) {
      const r = await fetchWith([{ path: PAGE, fault: { kind: "status", status } }]);
      assert.equal(r.requests, 1, `${status} is answered once`);
      assert.equal(r.err?.status, status);
    }
  });

  test("429 with Retry-After: the request waits that long, and so does every other request to the host", async () => {
    proxy.setRules([
      {
        path: PAGE,
        times: 1,
        fault: { kind: "status", status: 429, headers: { "retry-after": "1" } },
      },
    ]);
    // The client's clock is the test's: the pauses last until the test moves it on.
    const clock = new FakeClock();
    const c = client({ clock });
    try {
      const first = c.fetch(proxy.url + PAGE.slice(1));
      // The 429 arrived: the request pauses 1 s (Retry-After).
      await clock.untilSleeping(1);
      const logBefore = proxy.log.length;
      // Another request to the same host waits for the host's back-off too.
      const other = c.fetch(proxy.url + "simple/");
      await clock.untilSleeping(2);
      assert.deepEqual(clock.pauses, [1000, 1000], "both wait out the Retry-After");
      clock.advance(999);
      assert.equal(clock.sleeping, 2, "1 ms short of the Retry-After, both still wait");
      assert.equal(proxy.log.length, logBefore, "nothing was sent while the host was paused");
      clock.advance(1);
      const [a, b] = await Promise.all([first, other]);
      assert.equal(a.text(), good);
      assert.match(b.text(), /my-pkg/);
      assert.equal(proxy.log.length, logBefore + 2, "each sent once after the pause");
    } finally {
      await c.close();
      proxy.setRules([]);
    }
  });

  test("an upload (POST) is never retried by the client, whatever the status", async () => {
    proxy.setRules([{ method: "POST", fault: { kind: "status", status: 503 } }]);
    const c = client();
    try {
      const before = proxy.count("POST");
      const res = await c.fetch(proxy.url, { method: "POST", body: "x", accept: () => true });
      assert.equal(res.status, 503);
      const err = await expectError(c.fetch(proxy.url, { method: "POST", body: "x" }));
      assert.equal(err.status, 503);
      assert.equal(proxy.count("POST") - before, 2, "one request per call");
    } finally {
      await c.close();
      proxy.setRules([]);
    }
  });

  test("a connection reset before the answer is retried", async () => {
    const r = await fetchWith([{ path: PAGE, times: 2, fault: { kind: "reset" } }]);
    assert.equal(r.text, good);
    assert.equal(r.requests, 3);
  });

  test("a connection reset while the body is sent is retried (the page is fetched again)", async () => {
    const r = await fetchWith([{ path: PAGE, times: 2, fault: { kind: "reset-mid-body", afterBytes: 100 } }]);
    assert.equal(r.text, good);
    assert.equal(r.requests, 3);
  });

  test("a body cut short with Content-Length is detected and fetched again", async () => {
    const r = await fetchWith([
      { path: PAGE, times: 1, fault: { kind: "truncate", contentLength: "original", keepBytes: 200 } },
    ]);
    assert.equal(r.text, good);
    assert.equal(r.requests, 2);
  });

  test("a chunked body without its last chunk is detected and fetched again", async () => {
    const r = await fetchWith([
      { path: PAGE, times: 1, fault: { kind: "truncate", contentLength: "chunked", keepBytes: 200 } },
    ]);
    assert.equal(r.text, good);
    assert.equal(r.requests, 2);
  });

  test("a Content-Length larger than the body is detected and fetched again", async () => {
    const r = await fetchWith([{ path: PAGE, times: 1, fault: { kind: "wrong-length", delta: 50 } }]);
    assert.equal(r.text, good);
    assert.equal(r.requests, 2);
  });

  test("framing cannot reveal a close-delimited body cut short or a too-small Content-Length (the limits of HTTP/1.x)", async () => {
    // Documented limitation: the client gets fewer bytes and no error. For files the engine's size
    // and sha256 checks catch it (test/e2e/faults.test.ts); a JSON page fails to parse.
    const cut = await fetchWith([
      { path: PAGE, times: 1, fault: { kind: "truncate", contentLength: "none", keepBytes: 200 } },
    ]);
    assert.equal(cut.text, good.slice(0, 200));
    const short = await fetchWith([{ path: PAGE, times: 1, fault: { kind: "wrong-length", delta: -20 } }]);
    assert.equal(short.text, good.slice(0, good.length - 20));
  });

  test("a stall longer than the timeout (no headers) is cut at the timeout and retried", async () => {
    // The stall outlasts the test: only the client's timeout can end the first attempt, and the
    // second request is the proof that it did (no clock is read).
    const r = await fetchWith([{ path: PAGE, times: 1, fault: { kind: "stall", ms: 600_000 } }], {
      timeouts: { headersMs: 300 },
    });
    assert.equal(r.text, good);
    assert.equal(r.requests, 2, "the stalled attempt was given up and the page fetched again");
  });

  test("a body that stalls midway longer than the read timeout is retried", async () => {
    const r = await fetchWith(
      [{ path: PAGE, times: 1, fault: { kind: "stall-mid-body", ms: 600_000, afterBytes: 100 } }],
      { timeouts: { bodyIdleMs: 300 } },
    );
    assert.equal(r.text, good);
    assert.equal(r.requests, 2, "the stalled body was given up and the page fetched again");
  });

  test("a slow trickle within the read timeout completes", async () => {
    const r = await fetchWith(
      [{ path: PAGE, times: 1, fault: { kind: "trickle", chunkBytes: 256, intervalMs: 30 } }],
      {
        timeouts: { bodyIdleMs: 500 },
      },
    );
    assert.equal(r.text, good);
    assert.equal(r.requests, 1);
  });

  test("a trickle that never ends in time is stopped by the total deadline, with a TIMEOUT error", async () => {
    const r = await fetchWith([{ path: PAGE, fault: { kind: "trickle", chunkBytes: 16, intervalMs: 100 } }], {
      timeouts: { bodyIdleMs: 500, deadlineMs: 800 },
    });
    assert.equal(r.err?.code, "TIMEOUT");
    assert.match(r.err?.message ?? "", /deadline of 1 s for GET http:\/\/127\.0\.0\.1:\d+\/simple\/my-pkg\//);
    assert.equal(r.requests, 1, "a body still arriving is not a reason to ask again");
  });

  test("the deadline also bounds retries: no pause is taken past it", async () => {
    // Pauses end at once on the client's clock, which moves on by their length: the attempts'
    // times below are that clock's, whatever the machine's speed.
    const clock = new FakeClock({ auto: true });
    const start = clock.now();
    const at: number[] = [];
    const r = await fetchWith([{ path: PAGE, fault: { kind: "status", status: 503 } }], {
      retry: { retries: 10, baseDelayMs: 400, maxDelayMs: 400 },
      timeouts: { deadlineMs: 1000 },
      clock,
      onRequest: () => at.push(clock.now() - start),
    });
    assert.equal(r.err?.status, 503, "the last answer is reported");
    // Each pause is 200-400 ms (the backoff's jitter): at least 2 and at most 4 fit before the
    // 1 s deadline, and none is taken past it.
    assert.equal(r.requests, at.length);
    assert.ok(r.requests >= 3 && r.requests <= 5, `${r.requests} attempts at ${at.join(", ")} ms`);
    assert.ok(
      at.every((t) => t < 1000),
      `attempts at ${at.join(", ")} ms`,
    );
  });
  test("a pause that ends past the deadline (a busy machine's late timer) starts no other attempt", async () => {
    // The 100 ms pause ends 1.2 s late: past the 1 s deadline, so the client must report the
    // answer it has instead of asking again.
    const clock = new FakeClock({ auto: true, lateMs: 1200 });
    const r = await fetchWith([{ path: PAGE, fault: { kind: "status", status: 503 } }], {
      retry: { retries: 10, baseDelayMs: 100, maxDelayMs: 100 },
      timeouts: { deadlineMs: 1000 },
      clock,
    });
    assert.equal(r.err?.status, 503, "the last answer is reported");
    assert.equal(clock.pauses.length, 1, "one pause was taken");
    assert.equal(r.requests, 1, `no attempt after the deadline: ${r.requests} ${String(r.err)}`);
  });
});

describe("retry policy as data", () => {
  test("backoff doubles from the base, stays within [ceiling/2, ceiling], and is capped", () => {
    const p = { ...DEFAULT_RETRY, baseDelayMs: 100, maxDelayMs: 1000 };
    assert.equal(
      backoffDelay(p, 1, () => 0),
      50,
    );
    assert.equal(
      backoffDelay(p, 1, () => 1),
      100,
    );
    assert.equal(
      backoffDelay(p, 3, () => 1),
      400,
    );
    assert.equal(
      backoffDelay(p, 10, () => 1),
      1000,
    );
    assert.equal(
      backoffDelay(p, 10, () => 0),
      500,
    );
  });
  test("the defaults: idempotent methods, 408/425/429/5xx, never POST", () => {
    assert.deepEqual([...DEFAULT_RETRY.statuses], [408, 425, 429, 500, 502, 503, 504]);
    assert.ok(!DEFAULT_RETRY.methods.includes("POST"));
  });
});

describe("hostile answers to the client", () => {
  test("a gzip bomb in a response stops at maxBytes (the decompressed size is capped)", async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const s = await tinyServer((_req, res) => {
      res.writeHead(200, { "content-encoding": "gzip", "content-type": "text/html" });
      res.end(bomb);
    });
    const c = client();
    try {
      const err = await expectError(c.fetch(s.url, { maxBytes: 1024 * 1024 }));
      assert.match(err.message, /larger than the limit of 1048576 bytes/);
      assert.equal(s.seen.length, 1, "a cap is not retried");
    } finally {
      await c.close();
      await s.close();
    }
  });

  test("a redirect to another host does not carry the credentials; a redirect loop stops", async () => {
    const other = await tinyServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end("elsewhere");
    });
    const home = await tinyServer((req, res) => {
      if (req.url === "/loop") res.writeHead(302, { location: "/loop" }).end();
      else res.writeHead(302, { location: other.url + "file" }).end();
    });
    const creds = new CredentialStore();
    creds.add(
      home.url,
      staticProvider("test", { type: "basic", username: "u", password: "redirect-secret-1" }),
    );
    const c = client({ credentials: creds });
    try {
      const res = await c.fetch(home.url + "start");
      assert.equal(res.text(), "elsewhere");
      assert.ok(home.seen[0]?.headers.authorization, "the index's own host gets the credentials");
      assert.equal(other.seen[0]?.headers.authorization, undefined, "the other host gets none");
      const err = await expectError(c.fetch(home.url + "loop"));
      assert.match(err.message, /too many redirects/);
      assert.equal(home.seen.filter((r) => r.url === "/loop").length, 6, "1 + 5 redirects, then stop");
    } finally {
      await c.close();
      await home.close();
      await other.close();
    }
  });

  test("a server echoing the Authorization header has it scrubbed from the error", async () => {
    const s = await tinyServer((req, res) => {
      res.writeHead(500, { "content-type": "text/plain" });
      res.end(`you sent: ${req.headers.authorization ?? ""}`);
    });
    const creds = new CredentialStore();
    creds.add(s.url, staticProvider("test", { type: "basic", username: "alice", password: "echo-secret-2" }));
    const c = client({ credentials: creds, retry: { retries: 0 } });
    try {
      const err = await expectError(c.fetch(s.url));
      const header = "Basic " + Buffer.from("alice:echo-secret-2").toString("base64");
      assert.equal(s.seen[0]?.headers.authorization, header);
      const shown = JSON.stringify(err.toJSON()) + err.message;
      assert.ok(!shown.includes(header.slice(6)), shown);
      assert.ok(!shown.includes("echo-secret-2"), shown);
      assert.match(err.message, /you sent: Basic \*\*\*/);
      assert.equal(redactText(`x ${encodeURIComponent("echo-secret-2")}`), "x ***");
    } finally {
      await c.close();
      await s.close();
    }
  });
});
