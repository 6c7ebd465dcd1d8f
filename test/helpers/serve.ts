/** Starts `pyreg serve`'s server in-process on a free loopback port, for e2e tests. */
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { MultiHash } from "../../src/core/hash.js";
import { startServer, type RunningServer, type ServerOptions } from "../../src/server/index.js";

export interface ServeHandle {
  /** `http://127.0.0.1:PORT/`: the upload URL. */
  url: string;
  /** `url + "simple/"`: the index URL for pip and for pyreg's simple source. */
  indexUrl: string;
  close(): Promise<void>;
  server: RunningServer;
  /** Request log lines, for assertions (never printed unless PYREG_TEST_SERVE_LOG is set). */
  logs: string[];
}

export async function startServe(root: string, opts: Omit<ServerOptions, "root"> = {}): Promise<ServeHandle> {
  await mkdir(root, { recursive: true });
  const logs: string[] = [];
  const server = await startServer({
    host: "127.0.0.1",
    port: 0,
    log: (line) => {
      logs.push(line);
      if (process.env["PYREG_TEST_SERVE_LOG"]) process.stderr.write(`[serve] ${line}\n`);
    },
    ...opts,
    root,
  });
  return { url: server.url, indexUrl: `${server.url}simple/`, close: () => server.close(), server, logs };
}

// Legacy-upload multipart bodies built by hand, for tests that need malformed or odd forms.

export interface FormFile {
  filename: string;
  data: Buffer;
  /** Form field name of the file part (default "content"). */
  field?: string;
}

export function multipartForm(
  fields: [string, string][],
  file: FormFile | undefined,
  boundary = "----pyregTestBoundary7MA4YWxkTrZu0gW",
  /** Fields sent after the file part. */
  after: [string, string][] = [],
): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  const field = ([k, v]: [string, string]): void => {
    chunks.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`, "utf8"),
    );
  };
  fields.forEach(field);
  if (file) {
    chunks.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="${file.field ?? "content"}"; ` +
          `filename="${file.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
        "utf8",
      ),
    );
    chunks.push(file.data, Buffer.from("\r\n"));
  }
  after.forEach(field);
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/form-data; boundary=${boundary}` };
}

export async function digests(data: Buffer): Promise<{ sha256: string; md5: string; blake2_256: string }> {
  const h = await MultiHash.create();
  h.update(data);
  const d = h.digest();
  return { sha256: createHash("sha256").update(data).digest("hex"), md5: d.md5, blake2_256: d.blake2_256 };
}

/** The fields twine sends for a file (the subset the server checks), with all three digests. */
export async function uploadFields(
  name: string,
  version: string,
  filetype: "bdist_wheel" | "sdist",
  data: Buffer,
): Promise<[string, string][]> {
  const d = await digests(data);
  return [
    [":action", "file_upload"],
    ["protocol_version", "1"],
    ["metadata_version", "2.1"],
    ["name", name],
    ["version", version],
    ["filetype", filetype],
    ["pyversion", filetype === "sdist" ? "source" : "py3"],
    ["md5_digest", d.md5],
    ["sha256_digest", d.sha256],
    ["blake2_256_digest", d.blake2_256],
  ];
}
