/**
 * Registry names as twine knows them: --to NAME / --from NAME read a .pypirc section (repository,
 * username, password) from ~/.pypirc or --config-file, in the forms Python's configparser reads
 * (continuation lines, "key: value", case-insensitive option names, dotted section names); a bare
 * word that is neither a folder nor a repository is refused instead of becoming a new folder.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeWheel } from "../fixtures/dists.js";
import { runCli } from "../helpers/cli.js";
import { startServe, type ServeHandle } from "../helpers/serve.js";
import { folderDigests, tempDir } from "../helpers/tmp.js";

const PASSWORD = "PypircS3cret-42";
const CLEAN_ENV: NodeJS.ProcessEnv = {
  PYREG_FROM_PASSWORD: "",
  PYREG_TO_PASSWORD: "",
  PYREG_FROM_USERNAME: "",
  PYREG_TO_USERNAME: "",
  NETRC: "/nonexistent/netrc",
};

describe(".pypirc repositories (twine's -r NAME)", () => {
  let tmp: { path: string; cleanup(): Promise<void> };
  let dst: ServeHandle;
  let rc: string;
  let home: string;

  before(async () => {
    tmp = await tempDir();
    const src = join(tmp.path, "src");
    await mkdir(src);
    await makeWheel(src, { name: "named-repo", version: "1.0" });
    await makeWheel(src, { name: "named-repo", version: "1.1" });
    dst = await startServe(join(tmp.path, "dst"), {
      auth: { username: "uploader", password: PASSWORD },
      authReads: true,
    });
    // The layout of https://packaging.python.org/en/latest/specifications/pypirc/, with the forms
    // configparser accepts: an indented list, "key: value", an upper-case option name.
    const text = [
      "[distutils]",
      "index-servers =",
      "    pypi",
      "    corp.prod",
      "",
      "[corp.prod]",
      `repository: ${dst.url}`,
      "Username = uploader",
      `password = ${PASSWORD}`,
      "",
      "[unlisted]",
      `repository = ${dst.url}`,
      "",
    ].join("\n");
    rc = join(tmp.path, "pypirc");
    await writeFile(rc, text);
    home = join(tmp.path, "home");
    await mkdir(home);
    await writeFile(join(home, ".pypirc"), text);
  });

  after(async () => {
    await dst?.close();
    await tmp?.cleanup();
  });

  test("--to NAME --config-file FILE uploads to the section's URL with its username and password", async () => {
    const run = await runCli(
      ["migrate", "--from", "./src", "--to", "corp.prod", "--config-file", rc, "--state", "st1"],
      { cwd: tmp.path, env: CLEAN_ENV },
    );
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(await folderDigests(join(tmp.path, "dst")), await folderDigests(join(tmp.path, "src")));
    assert.doesNotMatch(run.stdout + run.stderr, new RegExp(PASSWORD));
    assert.equal(existsSync(join(tmp.path, "corp.prod")), false, "no folder named after the repository");

    // From ~/.pypirc by default (HOME), as a source: list and verify read it with the same login.
    const env = { ...CLEAN_ENV, HOME: home };
    const list = await runCli(["list", "corp.prod", "--json"], { cwd: tmp.path, env });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /named_repo-1\.1-py3-none-any\.whl/);
    const verify = await runCli(["verify", "--from", "./src", "--to", "corp.prod", "--state", "st2"], {
      cwd: tmp.path,
      env,
    });
    assert.equal(verify.code, 0, verify.stderr);
  });

  test("a wrong password in the section is named in the error (exit 2), never shown", async () => {
    const bad = join(tmp.path, "bad-pypirc");
    await writeFile(
      bad,
      `[distutils]\nindex-servers = corp.prod\n\n[corp.prod]\nrepository = ${dst.url}\nusername = uploader\npassword = WrongPypircPass\n`,
    );
    const run = await runCli(["list", "corp.prod", "--config-file", bad], { cwd: tmp.path, env: CLEAN_ENV });
    assert.equal(run.code, 2, run.stderr);
    assert.ok(run.stderr.includes(`credentials from [corp.prod] in ${bad} were sent`), run.stderr);
    assert.doesNotMatch(run.stderr, /WrongPypircPass/);
  });

  test("a bare word that is neither a folder nor a repository is refused: write ./NAME for a new folder", async () => {
    const run = await runCli(["migrate", "--from", "./src", "--to", "dst2", "--config-file", rc], {
      cwd: tmp.path,
      env: CLEAN_ENV,
    });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /pyreg: error: "dst2" is neither an existing folder nor a repository in /);
    assert.match(run.stderr, /for a new folder write \.\/dst2/);
    assert.equal(existsSync(join(tmp.path, "dst2")), false);

    // As twine: a section not listed in index-servers is not a repository.
    const unlisted = await runCli(["list", "unlisted", "--config-file", rc], {
      cwd: tmp.path,
      env: CLEAN_ENV,
    });
    assert.equal(unlisted.code, 2, unlisted.stderr);
    assert.match(unlisted.stderr, /"unlisted" is neither an existing folder nor a repository/);

    // ./NAME is a folder, created as before; an existing folder is still taken by its bare name.
    const folder = await runCli(["migrate", "--from", "src", "--to", "./dst2", "--state", "st3"], {
      cwd: tmp.path,
      env: CLEAN_ENV,
    });
    assert.equal(folder.code, 0, folder.stderr);
    assert.deepEqual(await folderDigests(join(tmp.path, "dst2")), await folderDigests(join(tmp.path, "src")));

    // A missing --config-file is a configuration error, not "no such repository".
    const missing = await runCli(["list", "corp.prod", "--config-file", join(tmp.path, "nope")], {
      cwd: tmp.path,
      env: CLEAN_ENV,
    });
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /cannot read the config file/);
  });
});
