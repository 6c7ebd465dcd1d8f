/** `pyreg serve DIR`: the local registry (src/server) from the command line. */
import type { Command } from "commander";
import { PyregError } from "../core/errors.js";
import { parseCredentials, serve } from "../core/usecases/serve.js";
import { DEFAULT_MAX_UPLOAD_BYTES } from "../server/index.js";

export interface ServeOptions {
  host: string;
  port: number;
  auth?: string;
  authFile?: string;
  authReads?: boolean;
  htmlOnly?: boolean;
  maxUploadMb?: number;
  quiet?: boolean;
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isInteger(n) || n < 0 || n > 65535) {
    throw new PyregError("USAGE", `--port takes a number from 0 to 65535 (0: any free port), not "${v}"`);
  }
  return n;
}

function parseMb(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0)
    throw new PyregError("USAGE", `--max-upload-mb takes a positive number, not "${v}"`);
  return n;
}

export { parseCredentials };

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

export async function runServe(dir: string, opts: ServeOptions): Promise<void> {
  const out = (line: string): void => void process.stdout.write(line + "\n");
  const result = await serve(dir, {
    ...opts,
    onEvent: (e) => {
      // The server's lines carry their own prefix ("error: ...", "warning: ...").
      if (e.type === "warning" || (e.type === "log" && !opts.quiet)) process.stderr.write(e.message + "\n");
    },
  });
  if (result.status === "error") throw result.error;
  if (result.status === "interrupted") throw new PyregError("INTERRUPTED", result.message);
  const { root, created, server } = result;
  const auth = result.username !== undefined ? { username: result.username } : undefined;
  if (created) out(`Created ${root}`);
  out(`pyreg serve: serving ${root}`);
  out(`  index  (pip):   ${server.url}simple/`);
  out(`  upload (twine): ${server.url}`);
  if (auth) {
    out(`  uploads need the username ${JSON.stringify(auth.username)} and its password (HTTP Basic)`);
    out(
      opts.authReads
        ? "  reads need them too (--auth-reads)"
        : "  reads are open (add --auth-reads to protect them)",
    );
  } else if (!isLoopback(opts.host)) {
    process.stderr.write(
      `warning: listening on ${opts.host} without --auth: anyone who can reach it can upload\n`,
    );
  }
  out(`Try: pip install --index-url ${server.url}simple/ NAME`);
  out(`     twine upload --repository-url ${server.url} dist/*`);
  out("Press Ctrl+C to stop.");

  await new Promise<void>((done) => {
    const stop = (signal: NodeJS.Signals): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      process.stderr.write(`${signal}: stopping\n`);
      void result.close().then(done);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  out("pyreg serve: stopped");
}

export function registerServe(program: Command): void {
  program
    .command("serve")
    .argument("<dir>", "folder of wheels and sdists to serve (searched recursively; created when missing)")
    .summary("run a local registry on a folder: pip reads from it, twine uploads to it")
    .description(
      [
        "Serve the wheels and sdists in DIR as a Python package registry:",
        "  - the index at /simple/ (JSON and HTML, sha256 in every link, core metadata)",
        "  - uploads at / through the legacy upload API (what `twine upload` sends).",
        "A file is stored once: the same file again is accepted as a no-op; other",
        "bytes under an existing filename, or a filename that differs from a stored",
        "one only by case, are refused (409). Nothing is ever overwritten or deleted.",
        "A full disk is 507. (`twine upload --skip-existing` takes any 409 for",
        '"already exists" and exits 0: check the index, not its exit status.)',
        "",
        "Without --auth anyone who can reach the server may read and upload (it",
        "listens on 127.0.0.1 unless --host says otherwise). With --auth or",
        "--auth-file, uploads require those credentials; reads stay open unless",
        "--auth-reads is given.",
      ].join("\n"),
    )
    .option("--host <address>", "address to listen on", "127.0.0.1")
    .option("--port <n>", "port to listen on (0: any free port)", parsePort, 8080)
    .option(
      "--auth <user:password>",
      "require these HTTP Basic credentials for uploads (visible in `ps`: prefer --auth-file)",
    )
    .option("--auth-file <file>", "read USER:PASSWORD from the first line of this file")
    .option("--auth-reads", "also require the credentials to read the index and download files")
    .option("--html-only", "serve the index as HTML only, even to clients that ask for JSON")
    .option(
      "--max-upload-mb <n>",
      `largest accepted file in MiB (default ${DEFAULT_MAX_UPLOAD_BYTES / 1024 / 1024})`,
      parseMb,
    )
    .option("-q, --quiet", "do not log each request")
    .addHelpText(
      "after",
      "\nExamples:\n" +
        "  pyreg serve ./packages --port 8080\n" +
        "  pip install --index-url http://127.0.0.1:8080/simple/ my-pkg\n" +
        "  twine upload --repository-url http://127.0.0.1:8080/ -u USER -p PASSWORD dist/*\n" +
        "  pyreg serve ./packages --auth-file ./serve-credentials --auth-reads\n" +
        "  pip install --index-url http://USER:PASSWORD@127.0.0.1:8080/simple/ my-pkg",
    )
    .action(async (dir: string, opts: ServeOptions) => {
      await runServe(dir, opts);
    });
}
