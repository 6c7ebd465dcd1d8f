/**
 * --keyring-provider subprocess, as pip and uv run it: `keyring get SERVICE USERNAME` when the
 * username is known (here from the URL, as Google documents for Artifact Registry:
 * https://oauth2accesstoken@LOCATION-python.pkg.dev/...), `keyring --mode creds get SERVICE`
 * when it is not; SERVICE is the index URL. A stub `keyring` on PATH records its arguments and
 * answers like keyrings.google-artifactregistry-auth (username oauth2accesstoken, a token).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { makeWheel } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { tempDir } from "../helpers/tmp.js";

const TOKEN = "ya29.KeyringToken-123";

describe("keyring provider (subprocess)", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let serve: ServeHandle;
  let env: NodeJS.ProcessEnv;
  let log: string;

  before(async () => {
    tmp = await tempDir();
    const src = join(tmp.path, "src");
    await mkdir(src);
    await makeWheel(src, { name: "from-keyring", version: "1.0" });
    serve = await startServe(src, {
      auth: { username: "oauth2accesstoken", password: TOKEN },
      authReads: true,
    });
    const bin = join(tmp.path, "bin");
    await mkdir(bin);
    log = join(tmp.path, "keyring.log");
    // One line per call, the arguments separated by tabs; exit 1 means "no such entry" (keyring's CLI).
    await writeFile(
      join(bin, "keyring"),
      [
        "#!/bin/sh",
        `printf '%s\\t' "$@" >> '${log}'`,
        `printf '\\n' >> '${log}'`,
        `if [ "$1" = get ] && [ "$3" = oauth2accesstoken ]; then echo '${TOKEN}'; exit 0; fi`,
        `if [ "$1" = --mode ] && [ "$2" = creds ] && [ "$3" = get ]; then echo oauth2accesstoken; echo '${TOKEN}'; exit 0; fi`,
        "exit 1",
        "",
      ].join("\n"),
    );
    await chmod(join(bin, "keyring"), 0o755);
    env = {
      PATH: `${bin}${delimiter}${process.env["PATH"] ?? ""}`,
      PYREG_FROM_PASSWORD: "",
      PYREG_FROM_USERNAME: "",
      NETRC: "/nonexistent/netrc",
    };
  });

  after(async () => {
    await serve?.close();
    await tmp?.cleanup();
  });

  const calls = async (): Promise<string[][]> =>
    (await readFile(log, "utf8").catch(() => ""))
      .split("\n")
      .filter(Boolean)
      .map((l) => l.replace(/\t$/, "").split("\t"));

  test("with a username in the URL: keyring get INDEX_URL USERNAME", async () => {
    await writeFile(log, "");
    const url = serve.indexUrl.replace("http://", "http://oauth2accesstoken@");
    const run = await runCli(["list", url, "--json", "--keyring-provider", "subprocess"], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /from_keyring-1\.0-py3-none-any\.whl/);
    assert.deepEqual((await calls())[0], ["get", serve.indexUrl, "oauth2accesstoken"]);
    assert.doesNotMatch(run.stdout + run.stderr, new RegExp(TOKEN.replace(/\./g, "\\.")));
  });

  test("without a username: keyring --mode creds get INDEX_URL", async () => {
    await writeFile(log, "");
    const run = await runCli(["list", serve.indexUrl, "--json", "--keyring-provider", "subprocess"], { env });
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual((await calls())[0], ["--mode", "creds", "get", serve.indexUrl]);
  });

  test("not asked without --keyring-provider; a missing keyring command is a clear error", async () => {
    await writeFile(log, "");
    const run = await runCli(["list", serve.indexUrl], { env });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /401 Unauthorized/);
    assert.deepEqual(await calls(), []);

    const none = await runCli(["list", serve.indexUrl, "--keyring-provider", "subprocess"], {
      env: { ...env, PATH: join(tmp.path, "empty") },
    });
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /the `keyring` command is not on PATH/);
  });
});
