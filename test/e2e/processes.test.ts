/**
 * No secret reaches another process: every program pyreg starts (gcloud for Google tokens, the
 * keyring command) is traced with strace while a real migration runs with secrets in the source's
 * credentials and the gcloud token; none of them may appear in a child's arguments or environment.
 * This watches what the kernel was asked to execute (execve), not what the source code says.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { makeCorpus } from "../fixtures/dists.js";
import { FakeGar } from "../fakes/gar.js";
import { PYREG_BIN } from "../helpers/cli.js";
import { startServe } from "../helpers/serve.js";
import { tempDir } from "../helpers/tmp.js";
import { commandPath } from "../helpers/tools.js";

interface Exec {
  pid: number;
  path: string;
  argv: string[];
  env: string[];
}

/** `strace -f -v -s N -e trace=execve` lines: `PID execve("path", ["a", "b"], ["K=V", ...]) = 0`. */
function parseExecs(trace: string): Exec[] {
  const out: Exec[] = [];
  for (const line of trace.split("\n")) {
    const m = /^(\d+)\s+execve\("((?:[^"\\]|\\.)*)", \[(.*?)\], \[(.*)\]/.exec(line);
    if (!m || !line.endsWith("= 0")) continue;
    const strings = (s: string): string[] =>
      [...s.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => JSON.parse(`"${x[1] ?? ""}"`) as string);
    out.push({
      pid: Number(m[1]),
      path: m[2] ?? "",
      argv: strings(m[3] ?? ""),
      env: strings(m[4] ?? ""),
    });
  }
  return out;
}

const strace = commandPath("strace");

describe("processes pyreg starts", () => {
  test(
    "no child process is given a secret, in its arguments or its environment (strace of a real run)",
    { skip: strace ? false : "strace is not on PATH (scripts/test.sh installs it)" },
    async () => {
      const tmp = await tempDir();
      const fake = await new FakeGar().start();
      const corpusDir = join(tmp.path, "corpus");
      await mkdir(corpusDir);
      await makeCorpus(corpusDir);
      const SRC_PASSWORD = "src-Secret-7f3a9c!";
      const src = await startServe(corpusDir, {
        auth: { username: "reader", password: SRC_PASSWORD },
        authReads: true,
      });
      try {
        fake.addRepository("proj", "repo");
        const token = fake.issueToken(3600);
        // A gcloud on PATH is pyreg's last way to a Google token (no key file, no ADC file here).
        const bin = join(tmp.path, "bin");
        await mkdir(bin);
        await writeFile(join(bin, "gcloud"), `#!/bin/sh\necho '${token}'\n`);
        await chmod(join(bin, "gcloud"), 0o755);
        const traceFile = join(tmp.path, "trace.txt");
        const env = {
          HOME: tmp.path,
          CLOUDSDK_CONFIG: join(tmp.path, "gcloud-config"),
          NETRC: join(tmp.path, "none"),
          GCE_METADATA_HOST: "127.0.0.1:9",
          PYREG_GAR_API_BASE: fake.apiBase,
          PYREG_FROM_USERNAME: "reader",
          PYREG_FROM_PASSWORD: SRC_PASSWORD,
          PATH: `${bin}:/usr/bin:/bin`,
          NO_COLOR: "1",
        };
        const args = [
          "-f",
          "-qq",
          "-v",
          "-s",
          "65535",
          "-e",
          "trace=execve",
          "-o",
          traceFile,
          process.execPath,
          PYREG_BIN,
          "migrate",
          "--from",
          src.indexUrl,
          "--to",
          `gar+${fake.repoUrl("proj", "repo")}`,
          "--state",
          join(tmp.path, "state"),
        ];
        let stderr = "";
        const code = await new Promise<number | null>((resolve, reject) => {
          const child = spawn(strace as string, args, {
            env,
            cwd: tmp.path,
            stdio: ["ignore", "ignore", "pipe"],
          });
          child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
          child.on("error", reject);
          child.on("close", resolve);
        });
        assert.equal(code, 0, `the traced migration succeeded: ${stderr}`);
        assert.ok(fake.files("proj", "repo").size > 0, "files reached the registry with gcloud's token");
        const execs = parseExecs(await readFile(traceFile, "utf8"));
        const root = execs[0];
        assert.ok(root?.argv.includes(PYREG_BIN), "the first program traced is pyreg itself");
        const children = execs.filter((e) => e !== root);
        assert.ok(
          children.some((e) => e.path === join(bin, "gcloud")),
          `gcloud was run (so the search below means something): ${children.map((e) => e.path).join(", ")}`,
        );
        const secrets = [SRC_PASSWORD, token];
        const hits: string[] = [];
        for (const e of children) {
          for (const s of secrets) {
            if (e.argv.some((a) => a.includes(s))) hits.push(`${e.argv[0] ?? "?"} argv holds ${s}`);
            if (e.env.some((v) => v.includes(s))) hits.push(`${e.argv[0] ?? "?"} environment holds ${s}`);
          }
        }
        assert.deepEqual(hits, [], "no secret in any child's arguments or environment");
      } finally {
        await src.close();
        await fake.close();
        await tmp.cleanup();
      }
    },
  );
});
