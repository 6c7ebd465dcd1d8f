/**
 * The floor: the same bytes moved with no logic. Each file is fetched with a plain GET from the
 * source and streamed straight into a plain multipart POST to the destination (no temporary file,
 * no hashing, no metadata reading, no index reads), `concurrency` files at a time, over one undici
 * keep-alive pool. The upload form's fields (name, version, sha256) come from the corpus manifest,
 * which the floor gets for free.
 *   node dist/bench/floor.js MANIFEST.json SOURCE_URL DEST_URL CONCURRENCY
 * Prints {"files", "bytes", "failed", "seconds"} on stdout.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Readable } from "node:stream";
import { Agent, request } from "undici";
import type { BenchFile, Corpus } from "./corpus.js";
import { preferThroughputGc } from "../src/cli/gc.js";

async function main(): Promise<void> {
  // The same runtime setting as pyreg's command line (src/cli/gc.ts), so the floor stays a floor.
  preferThroughputGc();
  const [manifest, src, dst, conc] = process.argv.slice(2);
  if (!manifest || !src || !dst || !conc) {
    process.stderr.write("usage: floor MANIFEST.json SOURCE_URL DEST_URL CONCURRENCY\n");
    process.exit(2);
  }
  const corpus = JSON.parse(await readFile(manifest, "utf8")) as Corpus;
  const concurrency = Number(conc);
  const agent = new Agent({ connections: concurrency, keepAliveTimeout: 30_000 });
  const started = process.hrtime.bigint();
  let next = 0;
  let bytes = 0;
  let failed = 0;

  const one = async (f: BenchFile): Promise<void> => {
    const got = await request(new URL(`files/${f.filename}`, src), { dispatcher: agent });
    if (got.statusCode !== 200) throw new Error(`GET ${f.filename}: HTTP ${got.statusCode}`);
    const boundary = randomBytes(16).toString("hex");
    const fields: [string, string][] = [
      [":action", "file_upload"],
      ["protocol_version", "1"],
      ["name", f.name],
      ["version", f.version],
      ["filetype", f.kind === "wheel" ? "bdist_wheel" : "sdist"],
      ["pyversion", f.pyversion],
      ["metadata_version", "2.1"],
      ["sha256_digest", f.sha256],
    ];
    const head = Buffer.from(
      fields
        .map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
        .join("") +
        `--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="${f.filename}"\r\n` +
        `Content-Type: application/octet-stream\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const body = got.body;
    async function* gen(): AsyncGenerator<Buffer> {
      yield head;
      for await (const c of body) yield c as Buffer;
      yield tail;
    }
    const res = await request(dst, {
      method: "POST",
      dispatcher: agent,
      headers: {
        "content-type": `multipart/form-data; boundary=${boundary}`,
        "content-length": String(head.length + f.size + tail.length),
        authorization: `Basic ${Buffer.from("u:p").toString("base64")}`,
      },
      body: Readable.from(gen(), { objectMode: false }),
    });
    const answer = await res.body.text();
    if (res.statusCode !== 200) {
      failed++;
      process.stderr.write(`floor: POST ${f.filename}: HTTP ${res.statusCode} ${answer.slice(0, 200)}\n`);
      return;
    }
    bytes += f.size;
  };

  await Promise.all(
    Array.from({ length: Math.min(concurrency, corpus.files.length) }, async () => {
      while (next < corpus.files.length) {
        const f = corpus.files[next++]!;
        try {
          await one(f);
        } catch (err) {
          failed++;
          process.stderr.write(`floor: ${f.filename}: ${err instanceof Error ? err.message : String(err)}\n`);
        }
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await agent.close();
  process.stdout.write(
    JSON.stringify({ files: corpus.files.length - failed, bytes, failed, seconds }) + "\n",
  );
}

void main();
