/**
 * A registry in its own process, so that the source, the destination and the contender each have
 * an event loop: `node dist/bench/serveChild.js serve ROOT` runs pyreg serve's
 * startServer; `node dist/bench/serveChild.js static PROJECTS FILES_PER_PROJECT` serves generated PEP 691 pages
 * from memory: a source index at /src/simple/ and a destination index at /dst/simple/ that holds
 * the first half of every project's files (same sha256), for timing `pyreg plan`.
 * Prints `{"url": ...}` on one line once listening; stops on SIGTERM or when stdin closes. In
 * serve mode it counts the requests it answered by method and status ("GET 304"), and prints
 * `{"requests": {...}}` on one line on SIGUSR2 (bench/rerun.ts reads them).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createHash } from "node:crypto";
import { startServer } from "../src/server/index.js";
import { preferThroughputGc } from "../src/cli/gc.js";

async function main(): Promise<void> {
  // As `pyreg serve` runs: bin/pyreg applies the same settings (src/cli/gc.ts).
  preferThroughputGc();
  const [mode, arg, perProject] = process.argv.slice(2);
  let close: () => Promise<void>;
  let url: string;
  if (mode === "serve" && arg) {
    const counts: Record<string, number> = {};
    const s = await startServer({
      root: arg,
      host: "127.0.0.1",
      port: 0,
      // One line per request: "METHOD PATH STATUS BYTES ..." (src/server/index.ts).
      log: (line) => {
        const [method, , status] = line.split(" ");
        if (!method || !status || !/^\d{3}$/.test(status)) return;
        const k = `${method} ${status}`;
        counts[k] = (counts[k] ?? 0) + 1;
      },
    });
    process.on("SIGUSR2", () => process.stdout.write(JSON.stringify({ requests: counts }) + "\n"));
    url = s.url;
    close = () => s.close();
  } else if (mode === "static" && arg && perProject) {
    const pages = staticPages(Number(arg), Number(perProject));
    const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
      req.resume();
      const body = pages.get((req.url ?? "/").split("?")[0] ?? "/");
      if (!body) {
        res.writeHead(404, { "content-type": "text/plain", "content-length": 10 }).end("not found\n");
        return;
      }
      res
        .writeHead(200, {
          "content-type": "application/vnd.pypi.simple.v1+json",
          "content-length": body.length,
        })
        .end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    close = () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
  } else {
    process.stderr.write("usage: serveChild serve ROOT | static PROJECTS FILES_PER_PROJECT\n");
    process.exit(2);
  }
  const stop = (): void => {
    void close().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.stdin.on("end", stop);
  process.stdin.resume();
  process.stdout.write(JSON.stringify({ url }) + "\n");
}

void main();

/** The pages of the generated source and destination indexes, by request path. */
function staticPages(projects: number, perProject: number): Map<string, Buffer> {
  const pages = new Map<string, Buffer>();
  const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
  const names: string[] = [];
  const meta = { "api-version": "1.1" };
  for (let p = 0; p < projects; p++) {
    const name = `scalepkg-${String(p).padStart(6, "0")}`;
    names.push(name);
    const mod = name.replace(/-/g, "_");
    const files = [];
    const versions: string[] = [];
    for (let i = 0; i < perProject; i++) {
      const version = `1.${Math.floor(i / 4)}.0`;
      if (!versions.includes(version)) versions.push(version);
      const filename =
        i % 4 === 3
          ? `${mod}-${version}.tar.gz`
          : `${mod}-${version}-cp311-cp311-${["manylinux_2_17_x86_64", "win_amd64", "macosx_11_0_arm64"][i % 4]}.whl`;
      const sha256 = createHash("sha256").update(filename).digest("hex");
      files.push({
        filename,
        url: `../../files/${filename}`,
        hashes: { sha256 },
        size: 1000 + i,
        "upload-time": "2024-01-01T00:00:00.000000Z",
      });
    }
    pages.set(`/src/simple/${name}/`, json({ meta, name, files, versions }));
    const half = files.slice(0, Math.floor(files.length / 2));
    pages.set(`/dst/simple/${name}/`, json({ meta, name, files: half, versions }));
  }
  const list = (names: string[]): Buffer => json({ meta, projects: names.map((name) => ({ name })) });
  pages.set("/src/simple/", list(names));
  pages.set("/dst/simple/", list(names));
  return pages;
}
