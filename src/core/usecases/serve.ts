/** serve as a use-case: the local registry (src/server) on a folder, until closed or aborted. */
import { readFile, stat } from "node:fs/promises";
import { absolutePath, makeDirSync } from "../dirs.js";
import { PyregError, errorMessage } from "../errors.js";
import { DEFAULT_MAX_UPLOAD_BYTES, startServer, type RunningServer } from "../../server/index.js";
import type { BasicCredentials } from "../../server/auth.js";
import type { RunControl } from "./events.js";
import { tagged, type Tagged } from "./result.js";

export interface ServeOptions extends RunControl {
  /** Address to listen on (default 127.0.0.1). */
  host?: string | undefined;
  /** Port (default 8080; 0: any free port). */
  port?: number | undefined;
  /** USER:PASSWORD required for uploads. */
  auth?: string | undefined;
  /** A file whose first line is USER:PASSWORD. */
  authFile?: string | undefined;
  /** Also require the credentials for reads. */
  authReads?: boolean | undefined;
  htmlOnly?: boolean | undefined;
  /** Largest accepted file in MiB. */
  maxUploadMb?: number | undefined;
}

export interface ServeData {
  /** The served folder (absolute). */
  root: string;
  /** Whether the folder was created. */
  created: boolean;
  /** The server's base URL (the index is at simple/). */
  url: string;
  /** The username uploads need, when credentials were given. */
  username?: string | undefined;
  server: RunningServer;
  /** Stops the server (also done when the signal aborts). */
  close(): Promise<void>;
  /** Resolves once the server is stopped. */
  closed: Promise<void>;
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

async function credentialsFrom(
  opts: Pick<ServeOptions, "auth" | "authFile">,
): Promise<BasicCredentials | undefined> {
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

/** Starts the registry on `dir`; resolves once it listens ("error": bad options, port in use...). */
export async function serve(dir: string, opts: ServeOptions = {}): Promise<Tagged<ServeData>> {
  return tagged(async () => {
    const host = opts.host ?? "127.0.0.1";
    const port = opts.port ?? 8080;
    const auth = await credentialsFrom(opts);
    if (opts.authReads && !auth) throw new PyregError("USAGE", "--auth-reads needs --auth or --auth-file");
    const { root, created } = await prepareRoot(dir);
    let server: RunningServer;
    try {
      server = await startServer({
        root,
        host,
        port,
        ...(auth ? { auth } : {}),
        authReads: opts.authReads ?? false,
        htmlOnly: opts.htmlOnly ?? false,
        maxUploadBytes: opts.maxUploadMb
          ? Math.floor(opts.maxUploadMb * 1024 * 1024)
          : DEFAULT_MAX_UPLOAD_BYTES,
        // Errors and warnings are warnings (shown even with --quiet); request lines are logs.
        log: (line, level) => opts.onEvent?.({ type: level === "alert" ? "warning" : "log", message: line }),
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE") {
        throw new PyregError("CONFIG", `port ${port} on ${host} is already in use`, {
          hint: "choose another port with --port, or --port 0 for any free one",
        });
      }
      if (code === "EACCES") {
        throw new PyregError("CONFIG", `not allowed to listen on port ${port} on ${host}`, {
          hint: "ports below 1024 need privileges; use --port 8080 or higher",
        });
      }
      if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND") {
        throw new PyregError("CONFIG", `cannot listen on ${host}: no such local address`);
      }
      throw err;
    }
    let closing: Promise<void> | undefined;
    let markClosed = (): void => undefined;
    const closed = new Promise<void>((r) => {
      markClosed = r;
    });
    const close = (): Promise<void> => {
      closing ??= server.close().then(() => {
        opts.signal?.removeEventListener("abort", onAbort);
        markClosed();
      });
      return closing;
    };
    const onAbort = (): void => void close();
    if (opts.signal?.aborted) void close();
    else opts.signal?.addEventListener("abort", onAbort, { once: true });
    return {
      status: "ok",
      root,
      created,
      url: server.url,
      ...(auth ? { username: auth.username } : {}),
      server,
      close,
      closed,
    };
  });
}
