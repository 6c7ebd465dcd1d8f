/** `pyreg serve DIR`: the local registry (src/server) from the command line. */
import { readFile, stat } from "node:fs/promises";
import type { Command } from "commander";
import { absolutePath, makeDirSync } from "../core/dirs.js";
import { PyregError, errorMessage } from "../core/errors.js";
import { DEFAULT_MAX_UPLOAD_BYTES, startServer, type RunningServer } from "../server/index.js";
import type { BasicCredentials } from "../server/auth.js";

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

/** `USER:PASSWORD` → credentials (the password may contain ":"). */
export function parseCredentials(text: string, where: string): BasicCredentials {
  const colon = text.indexOf(":");
  const username = colon < 0 ? "" : text.slice(0, colon);
  const password = colon < 0 ? "" : text.slice(colon + 1);
  if (!username || !password) {
    throw new PyregError("USAGE", `${where} must be USER:PASSWORD with both parts non-empty`);
  }
  return { username, password };
}

async function credentialsFrom(opts: ServeOptions): Promise<BasicCredentials | undefined> {
  if (opts.auth !== undefined && opts.authFile !== undefined) {
    throw new PyregError("USAGE", "give --auth or --auth-file, not both");
  }
  if (opts.auth !== undefined) return parseCredentials(opts.auth, "--auth");
  if (opts.authFile !== undefined) {
    let text: string;
    try {
      text = await readFile(opts.authFile, "utf8");
    } catch (err) {
      throw new PyregError("CONFIG", `cannot read --auth-file ${opts.authFile}: ${errorMessage(err)}`);
    }
    const line = text.split(/\r?\n/).find((l) => l.trim() !== "");
    return parseCredentials(line?.trim() ?? "", `the first line of ${opts.authFile}`);
  }
  return undefined;
}

/** Creates DIR when missing; refuses a DIR that exists but is not a folder. */
async function prepareRoot(dir: string): Promise<{ root: string; created: boolean }> {
  const root = absolutePath(dir);
  const st = await stat(root).catch((err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") return undefined;
    throw new PyregError("CONFIG", `cannot use ${root}: ${err.message}`);
  });
  if (st && !st.isDirectory()) {
    throw new PyregError("CONFIG", `${root} is not a folder`, {
      hint: "give the folder that holds (or will hold) the distribution files",
    });
  }
  if (!st) makeDirSync(root, "the served folder");
  return { root, created: !st };
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

export async function runServe(dir: string, opts: ServeOptions): Promise<void> {
  const auth = await credentialsFrom(opts);
  if (opts.authReads && !auth) throw new PyregError("USAGE", "--auth-reads needs --auth or --auth-file");
  const { root, created } = await prepareRoot(dir);
  const out = (line: string): void => void process.stdout.write(line + "\n");
  let server: RunningServer;
  try {
    server = await startServer({
      root,
      host: opts.host,
      port: opts.port,
      ...(auth ? { auth } : {}),
      authReads: opts.authReads ?? false,
      htmlOnly: opts.htmlOnly ?? false,
      maxUploadBytes: opts.maxUploadMb
        ? Math.floor(opts.maxUploadMb * 1024 * 1024)
        : DEFAULT_MAX_UPLOAD_BYTES,
      log: (line) => {
        if (opts.quiet && !line.startsWith("warning") && !line.startsWith("error")) return;
        process.stderr.write(line + "\n");
      },
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") {
      throw new PyregError("CONFIG", `port ${opts.port} on ${opts.host} is already in use`, {
        hint: "choose another port with --port, or --port 0 for any free one",
      });
    }
    if (code === "EACCES") {
      throw new PyregError("CONFIG", `not allowed to listen on port ${opts.port} on ${opts.host}`, {
        hint: "ports below 1024 need privileges; use --port 8080 or higher",
      });
    }
    if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") {
      throw new PyregError("CONFIG", `cannot listen on ${opts.host}: no such local address`);
    }
    throw err;
  }
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
      void server.close().then(done);
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
