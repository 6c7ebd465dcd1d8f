/** The resume command starts pyreg the way the user started it. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { invokedAs } from "../src/cli/invocation.js";

describe("invokedAs", () => {
  const PATH = "/usr/local/bin:/usr/bin";

  test("pyreg found on PATH (npm i -g): pyreg", () => {
    assert.deepEqual(
      invokedAs({ argv: ["/usr/bin/node", "/usr/local/bin/pyreg"], env: { PATH }, cwd: "/w" }),
      ["pyreg"],
    );
  });

  test("npx, with or without --package", () => {
    const argv = ["/usr/bin/node", "/root/.npm/_npx/1234/node_modules/.bin/pyreg"];
    assert.deepEqual(invokedAs({ argv, env: { PATH, npm_command: "exec" }, cwd: "/w" }), ["npx", "pyreg"]);
    assert.deepEqual(
      invokedAs({
        argv,
        env: { PATH, npm_command: "exec", npm_config_package: "./pyreg-0.1.0.tgz" },
        cwd: "/w",
      }),
      ["npx", "--package", "./pyreg-0.1.0.tgz", "pyreg"],
    );
  });

  test("a script in the working folder (a clone): ./bin/pyreg; elsewhere: its path", () => {
    assert.deepEqual(
      invokedAs({ argv: ["/usr/bin/node", "/w/repo/bin/pyreg"], env: { PATH }, cwd: "/w/repo" }),
      ["./bin/pyreg"],
    );
    assert.deepEqual(
      invokedAs({ argv: ["/usr/bin/node", "/w/repo/bin/pyreg"], env: { PATH }, cwd: "/tmp" }),
      ["/w/repo/bin/pyreg"],
    );
  });
});
