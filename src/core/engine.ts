/**
 * The engine: for each file to copy, download (stream to a temporary file while hashing) → check
 * the source's strongest digest → read its metadata → upload → read the destination index again and
 * check the strongest digest it shares with the bytes sent, or read the file back where the index
 * cannot decide or cannot be trusted (src/core/digests.ts). Each file ends in exactly one outcome.
 */
import { createHash } from "node:crypto";
import { mkdtemp, open, readdir, rm, unlink, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BatchedWriter } from "./batchedWriter.js";
import {
  compareDigests,
  decisiveDigest,
  strongestDigest,
  type DigestName,
  formatVerification,
  type Verification,
} from "./digests.js";
import { classOf, errorMessage, isFatal, PyregError } from "./errors.js";
import { FAILURE_POLICY } from "./failure.js";
import { MultiHash } from "./hash.js";
import { checkMetadataMatchesFilename, metadataFromFilename, readCoreMetadata } from "./metadata.js";
import type { CoreMetadata, Destination, DistFile, FileOutcome, LocalDist, Source } from "./model.js";
import { sha256Of } from "./model.js";
import { parseFilename } from "./names.js";
import type { Plan, PlanEntry, ProjectPlan } from "./plan.js";
import { Pool } from "./pool.js";

export type EngineEvent =
  /** The files to copy, their listed bytes, and how many of them the index gives no size for. */
  | { type: "start"; files: number; bytes: number; unknownSizes: number }
  | { type: "file-start"; file: DistFile }
  | { type: "bytes"; file: DistFile; bytes: number }
  /** Downloaded and checked against the source's sha256 (the journal's "downloaded"). */
  | { type: "downloaded"; file: DistFile; local: LocalDist }
  | { type: "uploaded"; file: DistFile }
  /**
   * The destination answered an upload attempt with an error: that attempt can no longer land
   * later ("uploaded" says the same for an attempt answered with success).
   */
  | { type: "attempt-over"; file: DistFile }
  | { type: "outcome"; outcome: FileOutcome }
  /** A download fetched again, or an upload sent again (stage says which). */
  | { type: "retry"; stage: "download" | "upload"; file: DistFile; reason: string }
  /** The run stopped on an answer that proves this file was not stored (credentials refused). */
  | { type: "unsent"; file: DistFile; reason: string };

export interface EngineOptions {
  concurrency: number;
  /** Where downloads are kept while they are checked and uploaded. */
  tmpDir?: string | undefined;
  signal?: AbortSignal | undefined;
  onEvent?: (e: EngineEvent) => void;
  /** How often the destination index is read again for a file it does not list yet. */
  verifyAttempts?: number;
  verifyDelayMs?: number;
  /**
   * Check every upload by downloading it back from the destination (--verify-content); always on
   * for a destination whose index echoes the client's digest.
   */
  verifyContent?: boolean | undefined;
  /** Called before a file is uploaded; lets the journal record the "uploading" state first. */
  beforeUpload?: (file: DistFile, local: LocalDist) => void | Promise<void>;
}

export interface MigrationResult {
  outcomes: FileOutcome[];
  /** Set when the run stopped early (fatal error or interruption). */
  stopped?: { reason: string; error?: unknown } | undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class Stop extends Error {}

/**
 * Sends of one upload. A send is repeated only after an ambiguous failure (no answer, 5xx, 408,
 * 429) AND a readable destination index that still does not list the file, so a repeat can never
 * store a file twice; three sends keep a file's failure chance small on a flaky network.
 */
const UPLOAD_SENDS = 3;

/**
 * Whether a failed upload may nevertheless have been stored (the connection dropped, no answer in
 * time, a server error) or may be sent again (429, 408): a transient failure. Any other answer
 * (4xx) refused the file, and sending it again would get the same answer.
 */
/** Temporary folders are named pyreg-run-PID-XXXXXX: the owner's pid says when one is left over. */
const TMP_PREFIX = "pyreg-run-";

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the temporary folders of runs that died without cleaning up (kill -9, OOM, power cut):
 * those whose owner process no longer exists. A live pid (even a reused one) keeps its folder.
 */
async function removeDeadRunsTemp(base: string): Promise<void> {
  const names = await readdir(base).catch(() => [] as string[]);
  for (const name of names) {
    const m = /^pyreg-run-(\d+)-[A-Za-z0-9]{6}$/.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    await rm(join(base, name), { recursive: true, force: true }).catch(() => undefined);
  }
}

function isAmbiguousUploadError(err: unknown): boolean {
  return classOf(err) === "transient";
}

/**
 * Files no larger than this (divided among the files in flight, see runPlan) are kept in memory
 * instead of a temporary file: most registry files are small, and for them the temporary file's
 * open/write/close/read/unlink cost more than the transfer. Memory stays bounded: at most
 * MEMORY_BUDGET bytes are held at once, whatever the concurrency.
 */
const MEMORY_BUDGET = 16 * 1024 * 1024;
const MEMORY_FILE_MAX = 1024 * 1024;

/** The local disk, not the transfer: the whole run stops (every other file would fail alike). */
function tempFileError(path: string, err: unknown): PyregError {
  return new PyregError("STATE", `cannot write the temporary file ${path}: ${errorMessage(err)}`, {
    hint: "free some space there, or point TMPDIR to a folder with room for the largest files in flight",
    cause: err,
  });
}

function keptInMemory(file: DistFile, inMemoryMax: number): boolean {
  return file.size !== undefined && file.size <= inMemoryMax;
}

/**
 * Download a file, hashing as it streams, to `path` (or into memory when the source lists it as
 * at most `inMemoryMax` bytes); checks size and sha256 against the source.
 */
async function download(
  source: Source,
  file: DistFile,
  path: string,
  onBytes: (n: number) => void,
  inMemoryMax: number,
  formDigests: boolean,
  extraDigests: readonly string[],
): Promise<LocalDist> {
  const body = await source.open(file);
  // sha256 checks the bytes against the source; md5 and BLAKE2b only serve the upload form (a
  // folder destination needs neither: 2.8 CPU seconds per GB saved there). Digests the source or
  // the destination publish instead of sha256 are computed in the same pass.
  const hash = formDigests ? await MultiHash.create(extraDigests) : MultiHash.sha256Only(extraDigests);
  const inMemory = keptInMemory(file, inMemoryMax);
  // One plain loop (no stream layers): each chunk is hashed, counted, and either kept in memory
  // or written to the temporary file in batches.
  const chunks: Buffer[] = [];
  let held = 0;
  // Any failure of the temporary file is a STATE error (see tempFileError).
  const onDisk = <T>(p: Promise<T>): Promise<T> =>
    p.catch((err: unknown) => Promise.reject(tempFileError(path, err)));
  let out: FileHandle | undefined;
  try {
    let writer: BatchedWriter | undefined;
    if (!inMemory) {
      out = await onDisk(open(path, "w"));
      writer = new BatchedWriter(out, path);
    }
    for await (const chunk of body as AsyncIterable<Buffer>) {
      hash.update(chunk);
      onBytes(chunk.length);
      if (writer) {
        await onDisk(writer.write(chunk));
        continue;
      }
      held += chunk.length;
      // A source that sends more than it listed is not kept (the size check below fails it).
      if (held <= inMemoryMax) chunks.push(chunk);
    }
    if (writer) await onDisk(writer.flush());
  } catch (err) {
    body.destroy();
    hash.release();
    if (err instanceof PyregError) throw err;
    throw new PyregError("HTTP", `${file.filename}: download cut short (${errorMessage(err)})`, {
      hint: "the source or the network dropped the transfer; run again to fetch it",
      cause: err,
    });
  } finally {
    await out?.close();
  }
  const d = hash.digest();
  if (file.size !== undefined && d.size !== file.size) {
    throw new PyregError(
      "INCOMPLETE",
      `${file.filename}: got ${d.size} bytes, the source lists ${file.size}`,
      {
        hint: "the download was cut or the source is inconsistent",
      },
    );
  }
  // The strongest digest the source publishes (sha256 or another, see digests.ts).
  const check = compareDigests(file.hashes, d.extra);
  if (check.result === "different") {
    throw new PyregError(
      "HASH_MISMATCH",
      `${file.filename}: ${check.digest} ${check.have} does not match the source's ${check.want}`,
      {
        hint: "the source served other bytes than its index promises; the file is not copied",
      },
    );
  }
  return {
    path,
    ...(inMemory ? { data: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks) } : {}),
    filename: file.filename,
    size: d.size,
    sha256: d.sha256,
    md5: d.md5,
    blake2_256: d.blake2_256,
    digests: d.extra,
  };
}

function digestNames(d: { name: string } | undefined): string[] {
  return d ? [d.name] : [];
}

/** Reads a file back from the destination and computes `digest` of its bytes. */
async function destinationDigest(
  destination: Destination,
  there: DistFile,
  digest: DigestName,
): Promise<string> {
  if (!destination.open) {
    throw new PyregError(
      "NOT_LISTED",
      `${there.filename}: the destination cannot be read back to check its bytes`,
    );
  }
  const body = await destination.open(there);
  const h = createHash(digest);
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) h.update(chunk);
  } catch (err) {
    body.destroy();
    throw new PyregError(
      "HTTP",
      `${there.filename}: reading it back from the destination was cut short (${errorMessage(err)})`,
      {
        hint: "run again to check it",
        cause: err,
      },
    );
  }
  return h.digest("hex");
}

export async function runPlan(
  plan: Plan,
  source: Source,
  destination: Destination,
  opts: EngineOptions,
): Promise<MigrationResult> {
  const outcomes: FileOutcome[] = [];
  const emit = (e: EngineEvent): void => opts.onEvent?.(e);
  const record = (o: FileOutcome): void => {
    outcomes.push(o);
    emit({ type: "outcome", outcome: o });
  };
  const pool = new Pool(opts.concurrency);
  const inMemoryMax = Math.min(MEMORY_FILE_MAX, Math.floor(MEMORY_BUDGET / opts.concurrency));
  const tmpBase = opts.tmpDir ?? tmpdir();
  await removeDeadRunsTemp(tmpBase);
  const tmpRoot = await mkdtemp(join(tmpBase, `${TMP_PREFIX}${process.pid}-`)).catch((err: unknown) => {
    throw new PyregError("STATE", `cannot create a temporary folder in ${tmpBase}: ${errorMessage(err)}`, {
      hint: "point TMPDIR to a writable folder with room for the largest files in flight",
      cause: err,
    });
  });
  let stopped: MigrationResult["stopped"];
  const checkStop = (): void => {
    if (stopped) throw new Stop();
    if (opts.signal?.aborted) {
      stopped = { reason: "interrupted" };
      throw new Stop();
    }
  };
  const verifyAttempts = opts.verifyAttempts ?? 4;
  const verifyDelayMs = opts.verifyDelayMs ?? 500;

  let totalFiles = 0;
  let totalBytes = 0;
  let unknownSizes = 0;
  for (const p of plan.projects) {
    for (const e of p.entries) {
      if (e.action === "copy") {
        totalFiles++;
        totalBytes += e.file.size ?? 0;
        if (e.file.size === undefined) unknownSizes++;
      }
    }
  }
  emit({ type: "start", files: totalFiles, bytes: totalBytes, unknownSizes });

  /** Reads the destination again (until it lists the file or attempts run out). */
  const lookAgain = async (
    project: string,
    filename: string,
    wantPresent: boolean,
  ): Promise<DistFile | undefined> => {
    for (let attempt = 0; ; attempt++) {
      destination.invalidate?.(project);
      const found = (await destination.listFiles(project)).get(filename);
      if (found || !wantPresent || attempt + 1 >= verifyAttempts) return found;
      await sleep(verifyDelayMs * 2 ** attempt);
    }
  };

  // Digests the destination's index publishes (seen in its listings while planning): computed from
  // every file as it streams, so that an upload can be confirmed from the index.
  const destinationDigests = new Set<string>(destination.indexDigests ?? []);
  for (const p of plan.projects)
    for (const e of p.entries)
      if (e.destination) {
        const d = decisiveDigest(e.destination.hashes);
        if (d) destinationDigests.add(d.name);
      }
  const contentAlways = opts.verifyContent === true || destination.indexEchoesClientDigest === true;

  /**
   * Whether the destination holds `local`'s bytes under `there`: from the strongest digest both
   * the listing and the computed digests share, else (or when `content`) by reading it back.
   */
  const confirm = async (
    local: LocalDist,
    there: DistFile,
    content: boolean,
  ): Promise<
    | { ok: true; verification: Verification }
    | { ok: false; by: Verification["by"]; digest: DigestName; have: string }
  > => {
    const c = compareDigests(local.digests ?? { sha256: local.sha256 }, there.hashes);
    if (c.result === "different") return { ok: false, by: "index", digest: c.digest, have: c.have };
    if (c.result === "same" && !content) return { ok: true, verification: { by: "index", digest: c.digest } };
    const have = await destinationDigest(destination, there, "sha256");
    return have === local.sha256
      ? { ok: true, verification: { by: "content", digest: "sha256" } }
      : { ok: false, by: "content", digest: "sha256", have };
  };

  type Uploaded = {
    entry: PlanEntry;
    local: LocalDist;
    seconds: number;
    via: "uploaded" | "exists";
    answer?: string;
  };

  const copyOne = async (entry: PlanEntry): Promise<Uploaded | undefined> => {
    const file = entry.file;
    // Once the run is stopping, files not started are left alone (a Stop thrown here, outside the
    // try below, would reject the whole project and escape runPlan).
    if (stopped || opts.signal?.aborted) {
      stopped ??= { reason: "interrupted" };
      return undefined;
    }
    emit({ type: "file-start", file });
    const started = Date.now();
    const tmp = join(tmpRoot, `${Math.random().toString(36).slice(2)}-${file.filename}`);
    try {
      let local: LocalDist | undefined;
      for (let attempt = 1; ; attempt++) {
        try {
          local = await download(
            source,
            file,
            tmp,
            (n) => emit({ type: "bytes", file, bytes: n }),
            inMemoryMax,
            destination.needsMetadata,
            [
              // Only the digests that decide: the source's strongest, the destination's listing's.
              ...digestNames(strongestDigest(file)),
              ...digestNames(entry.destination ? decisiveDigest(entry.destination.hashes) : undefined),
              ...destinationDigests,
            ],
          );
          break;
        } catch (err) {
          // How often a download is tried is the failure policy's, by the error's class.
          if (isFatal(err) || attempt >= FAILURE_POLICY[classOf(err)].downloadAttempts) throw err;
          // File-level retry (pnpm's tarball fetcher): a cut or corrupted download is fetched again.
          emit({ type: "retry", stage: "download", file, reason: errorMessage(err) });
          await unlink(tmp).catch(() => undefined);
        }
        checkStop();
      }
      emit({ type: "downloaded", file, local });
      // The destination lists this name, with no decisive digest the source publishes: decide from
      // the bytes now known (its digest computed as they streamed, or its own bytes read back).
      if (entry.destination) {
        const r = await confirm(local, entry.destination, false);
        if (r.ok) {
          record({
            kind: "skipped",
            file,
            reason: `already at the destination (${formatVerification(r.verification)} equal to the source's)`,
            verification: r.verification,
          });
        } else {
          record({
            kind: "conflict",
            file,
            reason: `the destination has this filename with other bytes (${r.digest} ${r.have.slice(0, 12)}… by its ${r.by === "index" ? "index" : "downloaded content"}); left alone`,
            ...(r.digest === "sha256" ? { destinationSha256: r.have } : {}),
          });
        }
        return undefined;
      }
      let meta: CoreMetadata | undefined;
      if (destination.needsMetadata) {
        const parsed = parseFilename(file.filename);
        // Windows installers: the name and version of the filename (their archive is not read).
        meta =
          (parsed && metadataFromFilename(parsed)) ??
          (await readCoreMetadata(local.data ?? tmp, file.filename));
        if (parsed) checkMetadataMatchesFilename(meta, parsed);
      }
      checkStop();
      let via: Uploaded["via"] = "uploaded";
      let answer: string | undefined;
      for (let sent = 1; ; sent++) {
        // Before every send: the journal records the attempt (and its deadline) first.
        await opts.beforeUpload?.(file, local);
        try {
          const res = await destination.upload(local, meta as CoreMetadata, file);
          if (res.status === "exists") {
            via = "exists";
            answer = res.serverAnswer;
          }
          break;
        } catch (err) {
          // An answer (any HTTP status) ends the attempt: it cannot land any later. A lost
          // connection or a timeout does not: the destination may still apply what it received.
          if (err instanceof PyregError && err.status !== undefined) emit({ type: "attempt-over", file });
          if (isFatal(err)) throw err;
          // The upload may have landed (a dropped connection, a timeout, a 5xx after the write).
          // Read the index before deciding (changesets' "already published" case); an ambiguous failure polls it like verification does, because an index
          // may list a new file only after a while.
          const ambiguous = isAmbiguousUploadError(err);
          // An index that cannot be read proves nothing: then the file is not sent again (the
          // next run decides from a readable index).
          let indexRead = true;
          const there = await lookAgain(file.project, file.filename, ambiguous).catch(() => {
            indexRead = false;
            return undefined;
          });
          const c = there
            ? compareDigests(local.digests ?? { sha256: local.sha256 }, there.hashes)
            : undefined;
          if (there && c?.result === "different") {
            record({
              kind: "conflict",
              file,
              reason: `upload failed and the destination holds other bytes under this name (${c.digest})`,
              destinationSha256: sha256Of(there),
            });
            return undefined;
          }
          // Listed with the same digest, or without one that decides: the verification after the
          // project's uploads confirms it (by content when the index cannot).
          if (there) {
            via = "exists";
            answer = errorMessage(err);
            break;
          }
          // Absent after an ambiguous failure: the upload is sent once more. A refusal
          // (4xx) is an answer, not an accident, and is not repeated.
          if (!there && indexRead && ambiguous && sent < UPLOAD_SENDS) {
            emit({
              type: "retry",
              stage: "upload",
              file,
              reason: `${errorMessage(err)}; not listed at the destination, sending again`,
            });
            checkStop();
            continue;
          }
          throw err;
        }
      }
      emit({ type: "uploaded", file });
      return {
        entry,
        local,
        seconds: (Date.now() - started) / 1000,
        via,
        ...(answer !== undefined ? { answer } : {}),
      };
    } catch (err) {
      if (err instanceof Stop) return undefined;
      if (isFatal(err) || FAILURE_POLICY[classOf(err)].stopsRun) {
        stopped ??= { reason: errorMessage(err), error: err };
        // A refusal of the credentials is an answer: this file was not stored.
        if (classOf(err) === "auth") emit({ type: "unsent", file, reason: errorMessage(err) });
        return undefined;
      }
      const e = err instanceof PyregError ? err : undefined;
      record({
        kind: "failed",
        file,
        reason: errorMessage(err),
        code: e?.code ?? "ERROR",
        class: classOf(err),
        ...(e?.serverAnswer ? { serverAnswer: e.serverAnswer } : {}),
      });
      return undefined;
    } finally {
      // Files kept in memory never had a temporary file.
      if (!keptInMemory(file, inMemoryMax)) await unlink(tmp).catch(() => undefined);
    }
  };

  /** After a project's uploads: one fresh listing, every uploaded file must be there with its sha256. */
  const verifyProject = async (project: string, done: Uploaded[]): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      destination.invalidate?.(project);
      let listing: Map<string, DistFile>;
      try {
        listing = await destination.listFiles(project);
      } catch (err) {
        if (attempt + 1 < verifyAttempts) {
          await sleep(verifyDelayMs * 2 ** attempt);
          continue;
        }
        for (const u of done) {
          record({
            kind: "failed",
            file: u.entry.file,
            reason: `uploaded, but the destination index could not be read to verify it: ${errorMessage(err)}`,
            code: "NOT_LISTED",
            class: "uncertain",
          });
        }
        return;
      }
      const missing = done.filter((u) => !listing.has(u.local.filename));
      if (missing.length && attempt + 1 < verifyAttempts) {
        await sleep(verifyDelayMs * 2 ** attempt);
        continue;
      }
      const listed = listing;
      // Reading files back shares the pool of transfers (verification runs after the project's
      // uploads, which hold no slot any more).
      await Promise.all(done.map((u) => pool.run(() => checkUploaded(u, listed))));
      return;
    }
  };

  const checkUploaded = async (u: Uploaded, listed: Map<string, DistFile>): Promise<void> => {
    const file = u.entry.file;
    const there = listed.get(u.local.filename);
    if (!there) {
      record({
        kind: "failed",
        file,
        reason:
          u.via === "exists"
            ? `the destination answered "${u.answer ?? "exists"}" but its index does not list the file`
            : "uploaded, but the destination index does not list it",
        code: "NOT_LISTED",
        class: "uncertain",
        ...(u.answer ? { serverAnswer: u.answer } : {}),
      });
      return;
    }
    let r: Awaited<ReturnType<typeof confirm>>;
    try {
      r = await confirm(u.local, there, contentAlways);
    } catch (err) {
      record({
        kind: "failed",
        file,
        reason: `uploaded and listed, but its bytes could not be read back to check them: ${errorMessage(err)}`,
        code: err instanceof PyregError && isFatal(err) ? err.code : "NOT_LISTED",
        class: "uncertain",
      });
      return;
    }
    if (!r.ok && r.by === "index") {
      record({
        kind: "conflict",
        file,
        reason: `the destination lists other bytes under this name (${r.digest} ${r.have})`,
        ...(r.digest === "sha256" ? { destinationSha256: r.have } : {}),
      });
    } else if (!r.ok) {
      record({
        kind: "failed",
        file,
        reason:
          `the destination lists ${file.filename}, but the bytes it serves have sha256 ${r.have}, ` +
          `not the ${u.local.sha256} sent: its index does not describe what it stores`,
        code: "CONTENT_MISMATCH",
        // What the destination stores is not known: every run looks again.
        class: "uncertain",
      });
    } else if (u.via === "exists") {
      record({
        kind: "skipped",
        file,
        reason: `already at the destination (it answered: ${u.answer ?? "exists"})`,
        verification: r.verification,
      });
    } else {
      record({
        kind: "copied",
        file,
        bytes: u.local.size,
        seconds: u.seconds,
        verification: r.verification,
      });
    }
  };

  const runProject = async (p: ProjectPlan): Promise<void> => {
    for (const e of p.entries) {
      if (e.action === "skip") record({ kind: "skipped", file: e.file, reason: e.reason });
      else if (e.action === "conflict")
        record({
          kind: "conflict",
          file: e.file,
          reason: e.reason,
          destinationSha256: e.destination ? sha256Of(e.destination) : undefined,
        });
      else if (e.action === "filtered")
        record({ kind: "filtered", file: e.file, reason: e.reason, ...(e.rule ? { rule: e.rule } : {}) });
      else if (e.action === "invalid")
        record({
          kind: "failed",
          file: e.file,
          reason: e.reason,
          code: e.code ?? "BAD_FILENAME",
          class: "lasting",
        });
      else if (e.action === "unsupported")
        record({
          kind: "failed",
          file: e.file,
          reason: e.reason,
          code: "UNSUPPORTED_FORMAT",
          class: "lasting",
        });
    }
    const toCopy = p.entries.filter((e) => e.action === "copy");
    const results = await Promise.all(toCopy.map((e) => pool.run(() => copyOne(e))));
    const done = results.filter((r): r is Uploaded => r !== undefined);
    if (done.length) await verifyProject(p.project, done);
  };

  try {
    // Projects are started a few at a time so that memory stays bounded by the pool, not the plan.
    const projectPool = new Pool(Math.max(2, opts.concurrency));
    await Promise.all(
      plan.projects.map((p) =>
        projectPool.run(async () => {
          if (p.error) {
            return;
          }
          if (stopped || opts.signal?.aborted) return;
          await runProject(p);
        }),
      ),
    );
  } finally {
    await rm(tmpRoot, { recursive: true, force: true });
  }
  if (!stopped && opts.signal?.aborted) stopped = { reason: "interrupted" };
  return { outcomes, stopped };
}
