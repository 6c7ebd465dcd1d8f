/**
 * --verbose: each HTTP attempt on stderr with its method, redacted URL, status (or network error),
 * time, and which retry it was; nothing on stdout but the JSON document.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { makeWheel } from "../fixtures/dists.js";
import { startFaultProxy } from "../fakes/faultProxy.js";
import { runCli } from "../helpers/cli.js";
import { startServe } from "../helpers/serve.js";
import { tempDir } from "../helpers/tmp.js";

test("--verbose shows every attempt: method, redacted URL, status, time, retry", async () => {
  const tmp = await tempDir();
  const src = join(tmp.path, "src");
  await mkdir(src);
  await makeWheel(src, { name: "loud", version: "1.0" });
  const serve = await startServe(src);
  const proxy = await startFaultProxy({
    target: serve.url,
    rules: [{ method: "GET", path: "/simple/loud/", times: 1, fault: { kind: "status", status: 503 } }],
  });
  try {
    const url = proxy.indexUrl.replace("http://", "http://reader:VerboseS3cret@");
    const run = await runCli(["list", url, "--json", "--verbose", "--retry-delay", "10"], { cwd: tmp.path });
    assert.equal(run.code, 0, run.stderr);
    JSON.parse(run.stdout);
    const lines = run.stderr.split("\n").filter((l) => l.startsWith("http: "));
    const page = `${proxy.indexUrl}loud/`;
    assert.match(lines.join("\n"), new RegExp(`^http: GET ${proxy.indexUrl} 200 \\d+ ms$`, "m"));
    const pageLines = lines.filter((l) => l.startsWith(`http: GET ${page} `));
    assert.equal(pageLines.length, 2, lines.join("\n"));
    assert.match(pageLines[0] as string, /^http: GET \S+ 503 \d+ ms$/);
    assert.match(pageLines[1] as string, /^http: GET \S+ 200 \d+ ms \(retry 1\)$/);
    assert.doesNotMatch(run.stderr + run.stdout, /VerboseS3cret/);

    const quiet = await runCli(["list", url, "--json"], { cwd: tmp.path });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /^http: /m);
  } finally {
    await proxy.close();
    await serve.close();
    await tmp.cleanup();
  }
});
