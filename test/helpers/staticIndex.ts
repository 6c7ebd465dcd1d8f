/**
 * A static site served by a real, plain web server (nginx) on a free loopback port: the shape of
 * a "simple index" that is only files on disk (a PEP 503 index built by a script, a directory
 * listing), and of other servers' answers reproduced as static files. nginx itself is installed by
 * scripts/test.sh when missing; a test that needs it fails (never skips) without it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { createServer, request } from "node:http";
import { dirname, join } from "node:path";
import { tempDir } from "./tmp.js";

export interface StaticFile {
  body: string | Buffer;
  /** Content-Type nginx sends (default: text/html). */
  contentType?: string;
}

export interface StaticSite {
  /** http://127.0.0.1:PORT/ */
  url: string;
  root: string;
  /** With `accessLog`: the requests nginx answered so far, one line each (see LOG_FORMAT). */
  requests(): Promise<AccessLine[]>;
  close(): Promise<void>;
}

/** One request as nginx logged it. */
export interface AccessLine {
  method: string;
  path: string;
  status: number;
  ifNoneMatch: string;
  ifModifiedSince: string;
}

/** Tab-separated, with "-" for an absent header (nginx's own convention for empty variables). */
const LOG_FORMAT = "'$request_method\t$request_uri\t$status\t$http_if_none_match\t$http_if_modified_since'";

function parseAccessLog(text: string): AccessLine[] {
  return text
    .split("\n")
    .filter((l) => l.trim())
    .map((l) => {
      const [method = "", path = "", status = "0", inm = "-", ims = "-"] = l.split("\t");
      return {
        method,
        path,
        status: Number(status),
        ifNoneMatch: inm === "-" ? "" : inm,
        ifModifiedSince: ims === "-" ? "" : ims,
      };
    });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

function ready(port: number, child: ChildProcess, errors: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    let tries = 0;
    const poll = (): void => {
      if (child.exitCode !== null) {
        reject(new Error(`nginx exited (${child.exitCode}): ${errors()}`));
        return;
      }
      const req = request({ host: "127.0.0.1", port, path: "/", method: "HEAD" }, (res) => {
        res.resume();
        resolve();
      });
      req.on("error", () => {
        if (++tries > 200) reject(new Error(`nginx did not start: ${errors()}`));
        else setTimeout(poll, 25);
      });
      req.end();
    };
    poll();
  });
}

/**
 * Serves `files` (URL path → content) with nginx. A path ending in "/" is a folder whose index
 * file is that content. Any other path answers 404, as a static server does.
 */
export async function startStaticSite(files: Record<string, StaticFile | string>): Promise<StaticSite> {
  const tmp = await tempDir("pyreg-static-");
  const root = join(tmp.path, "www");
  const locations: string[] = [];
  let n = 0;
  await mkdir(root, { recursive: true });
  for (const [path, f] of Object.entries(files)) {
    const file: StaticFile = typeof f === "string" ? { body: f } : f;
    // Each file is stored under a neutral name and mapped to its URL path with its own type, so
    // a folder URL ("/x/") can answer JSON or HTML exactly as the server reproduced does.
    const stored = `f${n++}`;
    await writeFile(join(root, stored), file.body);
    locations.push(
      `    location = ${path} { default_type "${file.contentType ?? "text/html"}"; try_files /${stored} =404; }`,
    );
  }
  return startNginx(tmp, root, false, [...locations, `    location / { return 404; }`]);
}

/**
 * Serves the folder `root` as it is on disk, as a plain web server serves a static site: a folder
 * URL answers its index.html, a file its bytes, anything else 404. Files changed in `root` are
 * served changed at once (nothing is cached in the server's configuration).
 */
export async function startStaticFolder(
  root: string,
  opts: { accessLog?: boolean } = {},
): Promise<StaticSite> {
  const tmp = await tempDir("pyreg-static-");
  return startNginx(tmp, root, opts.accessLog === true, [
    "    index index.html;",
    "    types { text/html html; application/octet-stream whl gz zip; }",
    "    default_type application/octet-stream;",
  ]);
}

async function startNginx(
  tmp: { path: string; cleanup(): Promise<void> },
  root: string,
  accessLog: boolean,
  serverLines: string[],
): Promise<StaticSite> {
  const port = await freePort();
  const logPath = join(tmp.path, "access.log");
  const conf = join(tmp.path, "nginx.conf");
  await mkdir(dirname(conf), { recursive: true });
  await writeFile(
    conf,
    [
      "user root;",
      "worker_processes 1;",
      "daemon off;",
      `pid ${join(tmp.path, "nginx.pid")};`,
      `error_log ${join(tmp.path, "error.log")} warn;`,
      "events { worker_connections 64; }",
      "http {",
      ...(accessLog
        ? [`  log_format pyreg ${LOG_FORMAT};`, `  access_log ${logPath} pyreg;`]
        : ["  access_log off;"]),
      "  sendfile off;",
      `  client_body_temp_path ${tmp.path}/body;`,
      `  proxy_temp_path ${tmp.path}/proxy;`,
      `  fastcgi_temp_path ${tmp.path}/fastcgi;`,
      `  uwsgi_temp_path ${tmp.path}/uwsgi;`,
      `  scgi_temp_path ${tmp.path}/scgi;`,
      "  types { }",
      `  server {`,
      `    listen 127.0.0.1:${port};`,
      `    root ${root};`,
      ...serverLines,
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  let stderr = "";
  // Debian puts nginx in /usr/sbin, which a non-root PATH may lack.
  const bin = existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx";
  const child = spawn(bin, ["-c", conf, "-p", tmp.path], { stdio: ["ignore", "ignore", "pipe"] });
  child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  await new Promise<void>((resolve, reject) => {
    child.once("spawn", resolve);
    child.once("error", (err) =>
      reject(new Error(`nginx is needed (scripts/test.sh installs it): ${err.message}`)),
    );
  });
  await ready(port, child, () => stderr);
  return {
    url: `http://127.0.0.1:${port}/`,
    root,
    async requests() {
      if (!accessLog) throw new Error("startStaticFolder was not asked for an access log");
      return existsSync(logPath) ? parseAccessLog(await readFile(logPath, "utf8")) : [];
    },
    async close() {
      if (child.exitCode === null) {
        // SIGTERM is nginx's fast shutdown; SIGQUIT (graceful) waits for open connections, and
        // waited most of a minute after runs killed mid-request (https://nginx.org/en/docs/control.html).
        child.kill("SIGTERM");
        await exited;
      }
      await tmp.cleanup();
    },
  };
}
