/**
 * The legacy upload API (`POST /`, multipart/form-data), as `twine upload` speaks it.
 * Sources: pypa/twine `twine/repository.py` (`_upload`: fields + `content` part),
 * `twine/package.py` (`metadata_dictionary`, digests); pypi/warehouse `warehouse/forklift/legacy.py`
 * (what is validated). See pypa/twine twine/repository.py and pypi/warehouse warehouse/forklift/legacy.py.
 *
 * The file is hashed as it arrives, kept in memory when small (up to 1 MiB) or streamed into a
 * temporary file inside the root (hidden from the index); a small one is written to its
 * temporary file only once the form, the digests and the metadata were checked. The file becomes
 * visible only through `link()`, which never replaces an existing name: never half-written.
 */
import { createHash, randomUUID } from "node:crypto";
import { closeSync, fstatSync, lstatSync, mkdirSync, openSync, unlinkSync, writeSync } from "node:fs";
import { lstat, mkdir, open, type FileHandle } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { join } from "node:path";
import { eq, valid } from "@renovatebot/pep440";
import { metadataFromFilename, readCoreMetadata, readWheelMetadataFile } from "../core/metadata.js";
import { errorMessage } from "../core/errors.js";
import {
  isSafeFilename,
  normalizeName,
  parseFilename,
  uploadFileType,
  type ParsedFilename,
} from "../core/names.js";
import { BatchedWriter } from "../core/batchedWriter.js";
import { MultiHash } from "../core/hash.js";
import { DEFAULT_LIMITS, MultipartError, parseMultipart, type FileSink } from "./multipart.js";
import {
  metadataField,
  sha256File,
  TMP_DIR_NAME,
  type FileFacts,
  type TempFile,
  type Store,
} from "./store.js";

export interface UploadContext {
  store: Store;
  maxUploadBytes: number;
}

export interface UploadAnswer {
  status: number;
  message: string;
  /** Whether a new file was written. */
  stored: boolean;
  filename?: string | undefined;
}

class Refused extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Received {
  path: string;
  clientFilename: string;
  size: number;
  sha256: string;
  md5: string;
  blake2_256: string;
}

/** Uploads up to this size are received in memory; larger ones stream into a temporary file. */
const KEEP_IN_MEMORY_MAX = 1024 * 1024;

/**
 * Takes the `content` part while hashing it: in memory up to KEEP_IN_MEMORY_MAX bytes (no file
 * is made before the upload is checked, and one that is refused leaves none), past that into a
 * temporary file (the kept bytes first). The parser awaits each write, so a slow disk slows the
 * reading of the request (backpressure).
 */
class UploadSink implements FileSink {
  private handle: Promise<FileHandle> | undefined;
  private writer: BatchedWriter | undefined;
  private closed = false;
  /** Whether a temporary file was made (and is to be removed). */
  private made = false;
  size = 0;
  /** The bytes while they fit in memory; undefined once they went to the temporary file. */
  private kept: Buffer[] | undefined = [];

  constructor(
    readonly path: string,
    private readonly maxBytes: number,
    private readonly hash: MultiHash,
    private readonly openFile: (path: string) => Promise<FileHandle>,
  ) {}

  async write(chunk: Buffer): Promise<void> {
    this.size += chunk.length;
    if (this.size > this.maxBytes) {
      throw new MultipartError(`upload too large (limit ${this.maxBytes} bytes)`, 413);
    }
    this.hash.update(chunk);
    if (this.kept && this.size <= KEEP_IN_MEMORY_MAX) {
      this.kept.push(chunk);
      return;
    }
    if (!this.writer) {
      this.made = true;
      const handle = this.openFile(this.path);
      this.handle = handle;
      this.writer = new BatchedWriter(handle, this.path);
      for (const c of this.kept ?? []) await this.writer.write(c);
      this.kept = undefined;
    }
    await this.writer.write(chunk);
  }

  async end(): Promise<void> {
    if (!this.writer || !this.handle) return;
    await this.writer.flush();
    this.closed = true;
    await (await this.handle).close();
  }

  /** The file's bytes when they were kept in memory (see KEEP_IN_MEMORY_MAX). */
  data(): Buffer | undefined {
    return this.kept && (this.kept.length === 1 ? this.kept[0] : Buffer.concat(this.kept));
  }

  digests(): { sha256: string; md5: string; blake2_256: string } {
    const { sha256, md5, blake2_256 } = this.hash.digest();
    return { sha256, md5, blake2_256 };
  }

  /**
   * The temporary file to link: the one received into, or one written now from memory (in the
   * same synchronous way as `Store.put`'s link, for the same reason: see there).
   */
  temp(data: Buffer | undefined, tmpDir: string): TempFile {
    if (this.writer || !data) return { path: this.path };
    let fd: number;
    try {
      fd = openSync(this.path, "wx", 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      // The temporary folder was removed while serving: made again.
      makeTmpDirSync(tmpDir);
      fd = openSync(this.path, "wx", 0o644);
    }
    this.made = true;
    try {
      // A short write is continued, as write(2) asks: the next call fails with the real cause
      // (ENOSPC on a full disk), which the server answers with 507.
      for (let done = 0; done < data.length;) {
        const n = writeSync(fd, data, done, data.length - done);
        if (n <= 0) throw new Error(`short write to ${this.path}: no byte of ${data.length - done} written`);
        done += n;
      }
      return { path: this.path, stats: fstatSync(fd, { bigint: true }) };
    } finally {
      closeSync(fd);
    }
  }

  /** Closes the temporary file (if still open) and removes it. */
  async discard(): Promise<void> {
    if (!this.made) return;
    if (this.handle && !this.closed) {
      this.closed = true;
      await this.handle.then((h) => h.close()).catch(() => undefined);
    }
    try {
      unlinkSync(this.path);
    } catch {
      // Gone already.
    }
  }
}

/** The temporary folder of each store, created (and checked to be a plain folder) once. */
const tmpDirs = new WeakMap<Store, Promise<void>>();

function tmpDirReady(store: Store, tmpDir: string): Promise<void> {
  let ready = tmpDirs.get(store);
  if (!ready) {
    ready = (async () => {
      await mkdir(tmpDir, { recursive: true, mode: 0o700 });
      if (!(await lstat(tmpDir)).isDirectory()) throw new Error(`${tmpDir} is not a plain folder`);
    })();
    ready.catch(() => tmpDirs.delete(store));
    tmpDirs.set(store, ready);
  }
  return ready;
}

/** `tmpDirReady`'s work, synchronously. */
function makeTmpDirSync(tmpDir: string): void {
  mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  if (!lstatSync(tmpDir).isDirectory()) throw new Error(`${tmpDir} is not a plain folder`);
}

/** Creates a temporary file; a temporary folder removed while serving is made again. */
async function openTemp(store: Store, tmpDir: string, path: string): Promise<FileHandle> {
  try {
    return await open(path, "wx", 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    tmpDirs.delete(store);
    await tmpDirReady(store, tmpDir);
    return open(path, "wx", 0o644);
  }
}

function sameVersion(a: string, b: string): boolean {
  // The same text is the same version, valid or not (and needs no parsing); other texts are one
  // version only when PEP 440 reads both and holds them equal.
  if (a === b) return true;
  return Boolean(valid(a)) && Boolean(valid(b)) && eq(a, b);
}

function first(fields: readonly [string, string][], name: string): string | undefined {
  const v = fields.find(([k]) => k === name)?.[1];
  return v === undefined || v.trim() === "" ? undefined : v.trim();
}

function checkForm(fields: [string, string][], received: Received): ParsedFilename {
  const action = first(fields, ":action");
  if (action !== "file_upload") {
    throw new Refused(
      400,
      `Unsupported ":action" ${JSON.stringify(action ?? "")}; only "file_upload" is supported`,
    );
  }
  const protocol = first(fields, "protocol_version");
  if (protocol !== undefined && protocol !== "1")
    throw new Refused(400, `Unknown protocol_version ${protocol}`);
  const filename = received.clientFilename;
  if (!isSafeFilename(filename))
    throw new Refused(400, `Invalid filename ${JSON.stringify(filename.slice(0, 200))}`);
  const parsed = parseFilename(filename);
  if (!parsed) {
    throw new Refused(
      400,
      `Invalid distribution filename ${JSON.stringify(filename)}: not a wheel, an sdist, an egg or a Windows installer`,
    );
  }
  const name = first(fields, "name");
  const version = first(fields, "version");
  if (!name) throw new Refused(400, "Missing form field: name");
  if (!version) throw new Refused(400, "Missing form field: version");
  if (normalizeName(name) !== parsed.project) {
    throw new Refused(400, `Form name ${JSON.stringify(name)} does not match filename ${filename}`);
  }
  if (!sameVersion(version, parsed.version)) {
    throw new Refused(400, `Form version ${JSON.stringify(version)} does not match filename ${filename}`);
  }
  const filetype = first(fields, "filetype");
  // Legacy formats are taken as pypiserver takes them, with the filetype twine 4 / distutils sent.
  const expected = uploadFileType(parsed).filetype;
  if (filetype !== expected) {
    throw new Refused(
      400,
      `Invalid filetype ${JSON.stringify(filetype ?? "")} for ${filename}: expected ${expected}`,
    );
  }
  const pyversion = first(fields, "pyversion");
  if (parsed.kind === "sdist" && pyversion !== undefined && pyversion !== "source") {
    throw new Refused(400, `Invalid pyversion ${JSON.stringify(pyversion)} for an sdist: expected "source"`);
  }
  const digests: [string, string][] = [
    ["sha256_digest", received.sha256],
    ["md5_digest", received.md5],
    ["blake2_256_digest", received.blake2_256],
  ];
  let sent = 0;
  for (const [field, actual] of digests) {
    const given = first(fields, field);
    if (given === undefined) continue;
    sent++;
    // "": not computed, because the sha256_digest sent before the file was checked instead.
    if (actual !== "" && given.toLowerCase() !== actual) {
      throw new Refused(400, `The ${field} does not match the uploaded bytes of ${filename}`);
    }
  }
  // Warehouse refuses uploads without any digest: a digest is the only end-to-end check.
  if (sent === 0)
    throw new Refused(400, "Missing digest: send sha256_digest (or md5_digest, blake2_256_digest)");
  return parsed;
}

/** Validates the file's own metadata; returns the index facts it yields (no re-read at listing). */
async function checkMetadata(
  path: string | Buffer,
  parsed: ParsedFilename,
  filename: string,
): Promise<Omit<FileFacts, "sha256">> {
  let metadataSha256: string | undefined;
  let meta;
  try {
    const fromName = metadataFromFilename(parsed);
    if (fromName) {
      // A Windows installer: its archive is not read, the form's name and version are checked
      // against the filename only (as pypiserver does for every file).
      meta = fromName;
    } else if (parsed.kind === "wheel") {
      // One opening of the archive gives both the PEP 658 bytes and their parse.
      const wheel = await readWheelMetadataFile(path, filename);
      metadataSha256 = createHash("sha256").update(wheel.raw).digest("hex");
      meta = wheel.meta;
    } else {
      meta = await readCoreMetadata(path, filename);
    }
  } catch (err) {
    // The message starts with the filename already.
    throw new Refused(400, `Cannot read the core metadata: ${errorMessage(err)}`);
  }
  if (normalizeName(meta.name) !== parsed.project) {
    throw new Refused(
      400,
      `Metadata Name ${JSON.stringify(meta.name)} of ${filename} does not match the filename`,
    );
  }
  if (!sameVersion(meta.version, parsed.version)) {
    throw new Refused(
      400,
      `Metadata Version ${JSON.stringify(meta.version)} of ${filename} does not match the filename`,
    );
  }
  return { metadataSha256, requiresPython: metadataField(meta, "Requires-Python") };
}

/**
 * Handles one upload request. Returns the answer to send; rethrows errors of the request stream
 * itself (a cut connection), after removing the temporary file.
 */
export async function handleUpload(req: IncomingMessage, ctx: UploadContext): Promise<UploadAnswer> {
  const contentType = req.headers["content-type"];
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType))
    return { status: 400, message: "Expected multipart/form-data with a boundary", stored: false };
  const declared = Number(req.headers["content-length"] ?? NaN);
  if (Number.isFinite(declared) && declared > ctx.maxUploadBytes + DEFAULT_LIMITS.maxTotalFieldBytes) {
    return { status: 413, message: `Upload too large (limit ${ctx.maxUploadBytes} bytes)`, stored: false };
  }
  const root = ctx.store.root;
  const tmpDir = join(root, TMP_DIR_NAME);
  await tmpDirReady(ctx.store, tmpDir);

  const allDigests = await MultiHash.create();
  let sink: UploadSink | undefined;
  let clientFilename: string | undefined;
  let duplicatePart = false;
  try {
    let fields: [string, string][];
    try {
      const limits = { ...DEFAULT_LIMITS, maxFileBytes: ctx.maxUploadBytes };
      ({ fields } = await parseMultipart(
        req,
        contentType,
        (part, before) => {
          if (part.name !== "content") return undefined; // e.g. gpg_signature: not kept
          if (sink) {
            duplicatePart = true;
            return undefined;
          }
          clientFilename = part.filename ?? "";
          // A sha256_digest sent before the file (twine and pyreg send it first) is the check:
          // sha256 is what this server stores, lists and serves. md5 and BLAKE2b (about 2.8 CPU
          // seconds per GB here) are computed and checked only for a form without it.
          const sha256Only = first(before, "sha256_digest") !== undefined;
          sink = new UploadSink(
            join(tmpDir, `${randomUUID()}.part`),
            ctx.maxUploadBytes,
            sha256Only ? MultiHash.sha256Only() : allDigests,
            (path) => openTemp(ctx.store, tmpDir, path),
          );
          return sink;
        },
        limits,
      ));
    } catch (err) {
      if (err instanceof MultipartError) return { status: err.status, message: err.message, stored: false };
      throw err;
    }
    if (duplicatePart) return { status: 400, message: "More than one content part", stored: false };
    if (!sink || clientFilename === undefined) {
      return { status: 400, message: "Missing the file: no form part named content", stored: false };
    }
    const upload: UploadSink = sink;
    const received: Received = { path: sink.path, clientFilename, size: sink.size, ...sink.digests() };
    const parsed = checkForm(fields, received);
    const filename = clientFilename;
    const data = sink.data();
    const facts = await checkMetadata(data ?? sink.path, parsed, filename);

    // Already served (anywhere under the root)? Same bytes: nothing to do. Other bytes: conflict.
    // The check and the link are one step per filename without regard to case.
    return await ctx.store.exclusive(filename, async (): Promise<UploadAnswer> => {
      const temp = upload.temp(data, tmpDir);
      const put = await ctx.store.put(filename, temp, { sha256: received.sha256, ...facts });
      if ("same" in put) {
        const theirs = (await ctx.store.factsOf(put.same)).sha256;
        return compareSha(theirs, received.sha256, filename);
      }
      if ("variant" in put) {
        return {
          status: 409,
          message:
            `File already exists: ${put.variant.filename} (filenames are unique without regard to case; ` +
            `${filename} is not stored)`,
          stored: false,
          filename,
        };
      }
      if ("taken" in put) return compareSha(await sha256File(put.taken), received.sha256, filename);
      return { status: 200, message: `OK, stored ${filename}`, stored: true, filename };
    });
  } catch (err) {
    if (err instanceof Refused) return { status: err.status, message: err.message, stored: false };
    throw err;
  } finally {
    allDigests.release(); // unused when the form sent sha256_digest first
    // A sink that was created is always removed: after link() the stored name stays.
    const s = sink as UploadSink | undefined;
    if (s) await s.discard();
  }
}

function compareSha(theirs: string, sha256: string, filename: string): UploadAnswer {
  if (theirs === sha256) {
    return {
      status: 200,
      message: `OK, identical file ${filename} already present`,
      stored: false,
      filename,
    };
  }
  return {
    status: 409,
    message: `File already exists: ${filename} (with other bytes)`,
    stored: false,
    filename,
  };
}
