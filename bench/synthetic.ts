/**
 * A synthetic source and destination for the memory curve (bench/memory.ts), in its own process so
 * that its memory is not counted as pyreg's: `node dist/bench/synthetic.js FILES PER_PROJECT SEED`.
 *
 * - /simple/ and /simple/<project>/: a PEP 691 JSON index of FILES small wheels, PER_PROJECT per
 *   project, made on request from the seed and the filename (real wheels with METADATA, real
 *   sha256): a million files without a million files on disk.
 * - /files/<filename>: the wheel's bytes, made again from its name.
 * - POST /upload/: the legacy upload API (twine's multipart form, parsed by pyreg serve's parser);
 *   keeps only each file's sha256 of the bytes received, and lists them at /dst/simple/<project>/.
 * - /full/simple/<project>/: a destination index that lists every source file (for `verify`).
 *
 * Prints `{"url": ...}` on one line once listening; stops on SIGTERM or when stdin closes.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { parseMultipart } from "../src/server/multipart.js";
import { storedZipBuffer } from "./archive.js";

const [files, perProject, seed] = process.argv.slice(2).map(Number) as [number, number, number];
const projects = Math.ceil(files / perProject);
const meta = { "api-version": "1.1" };

const projectName = (p: number): string => `synth-${String(p).padStart(7, "0")}`;
const filesOf = (p: number): number => Math.min(perProject, files - p * perProject);
const filename = (p: number, i: number): string =>
  `${projectName(p).replace(/-/g, "_")}-1.${i}.0-py3-none-any.whl`;

/** The wheel's bytes, from the seed and its name alone. */
function wheel(p: number, i: number): Buffer {
  const name = projectName(p);
  const version = `1.${i}.0`;
  const info = `${name.replace(/-/g, "_")}-${version}.dist-info`;
  const metadata = `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\nSummary: synthetic ${seed}\n\n`;
  const body = `# ${createHash("sha256").update(`${seed}/${p}/${i}`).digest("hex")}\n`;
  return storedZipBuffer([
    { name: `${name.replace(/-/g, "_")}.py`, data: Buffer.from(body) },
    { name: `${info}/METADATA`, data: Buffer.from(metadata) },
    {
      name: `${info}/WHEEL`,
      data: Buffer.from(
        "Wheel-Version: 1.0\nGenerator: synthetic\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
      ),
    },
    { name: `${info}/RECORD`, data: Buffer.from("") },
  ]);
}

const sha256 = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

/** Project number of a name, or -1. */
function projectOf(name: string): number {
  const m = /^synth-(\d{7})$/.exec(name);
  const p = m ? Number(m[1]) : -1;
  return p >= 0 && p < projects ? p : -1;
}

/** What the destination received: project → filename → sha256 (nothing else is kept). */
const received = new Map<string, Map<string, string>>();

let rootPage: Buffer | undefined;
function json(res: ServerResponse, value: unknown): void {
  const body = Buffer.isBuffer(value) ? value : Buffer.from(JSON.stringify(value));
  res
    .writeHead(200, { "content-type": "application/vnd.pypi.simple.v1+json", "content-length": body.length })
    .end(body);
}
function notFound(res: ServerResponse): void {
  res.writeHead(404, { "content-type": "text/plain", "content-length": 10 }).end("not found\n");
}

async function upload(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const hash = createHash("sha256");
  let name: string | undefined;
  const parsed = await parseMultipart(req, req.headers["content-type"], (part) => {
    name = part.filename;
    return { write: (c) => void hash.update(c), end: () => undefined };
  });
  const project = parsed.fields
    .find(([k]) => k === "name")?.[1]
    ?.toLowerCase()
    .replace(/[-_.]+/g, "-");
  if (!name || !project) {
    res.writeHead(400, { "content-type": "text/plain" }).end("missing name or content\n");
    return;
  }
  const list = received.get(project) ?? new Map<string, string>();
  received.set(project, list);
  if (list.has(name)) {
    res.writeHead(400, { "content-type": "text/plain" }).end("400 File already exists.\n");
    return;
  }
  list.set(name, hash.digest("hex"));
  res.writeHead(200, { "content-type": "text/plain" }).end("OK\n");
}

const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  if (req.method === "POST" && path === "/upload/") {
    upload(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(400, { "content-type": "text/plain" }).end(`${String(err)}\n`);
    });
    return;
  }
  req.resume();
  if (path === "/simple/" || path === "/full/simple/" || path === "/dst/simple/") {
    rootPage ??= Buffer.from(
      JSON.stringify({
        meta,
        projects: Array.from({ length: projects }, (_, p) => ({ name: projectName(p) })),
      }),
    );
    json(res, rootPage);
    return;
  }
  const m = /^\/(simple|full\/simple|dst\/simple)\/([^/]+)\/$/.exec(path);
  if (m) {
    const p = projectOf(m[2] as string);
    if (p < 0) return notFound(res);
    const name = projectName(p);
    const listed: { filename: string; url: string; hashes: { sha256: string }; size?: number }[] = [];
    if (m[1] === "dst/simple") {
      for (const [f, digest] of received.get(name) ?? [])
        listed.push({ filename: f, url: `/files/${f}`, hashes: { sha256: digest } });
    } else {
      for (let i = 0; i < filesOf(p); i++) {
        const bytes = wheel(p, i);
        const f = filename(p, i);
        listed.push({
          filename: f,
          url: `/files/${f}`,
          hashes: { sha256: sha256(bytes) },
          size: bytes.length,
        });
      }
    }
    json(res, {
      meta,
      name,
      files: listed,
      versions: [...new Set(listed.map((f) => f.filename.split("-")[1]))],
    });
    return;
  }
  const f = /^\/files\/synth_(\d{7})-1\.(\d+)\.0-py3-none-any\.whl$/.exec(path);
  if (f) {
    const p = Number(f[1]);
    const i = Number(f[2]);
    if (p >= projects || i >= filesOf(p)) return notFound(res);
    const bytes = wheel(p, i);
    res
      .writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length })
      .end(bytes);
    return;
  }
  notFound(res);
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(
    JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` }) + "\n",
  );
});
const stop = (): void => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on("SIGTERM", stop);
process.stdin.on("end", stop);
process.stdin.resume();
