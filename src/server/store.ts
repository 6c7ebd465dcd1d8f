/**
 * The distribution files under the server's root: a scan of the folder (recursive, hidden names
 * and symlinks leading outside the root skipped), and per-file facts (sha256, core metadata)
 * cached by (path, size, mtime, inode) so a big folder is hashed once, not on every request.
 *
 * A rescan lists the folders again but stats only names it has not seen (a regular file at the
 * same path keeps its entry), and the project map is kept with the scan; a file's size, mtime and
 * inode are checked again (`current`) when it is listed on a project page, served or compared with
 * an upload. With a stat per file and the project map rebuilt per request, a folder of 40,000
 * files cost the server its whole time in stat and rescans, and a migration into it stalled.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import { join, sep } from "node:path";
import { readCoreMetadata, parseCoreMetadata } from "../core/metadata.js";
import type { CoreMetadata } from "../core/model.js";
import { checkSafeFilename, parseFilename, type ParsedFilename } from "../core/names.js";
import { readWheelMetadataBytes } from "./wheelMetadata.js";

/** Folder (inside root) that holds uploads in progress; hidden from the index. */
export const TMP_DIR_NAME = ".pyreg-tmp";

export interface StoredFile {
  filename: string;
  parsed: ParsedFilename;
  /** Real path (symlinks resolved), always inside the real root. */
  path: string;
  size: number;
  mtimeNs: bigint;
  ino: bigint;
}

export interface FileFacts {
  sha256: string;
  /** sha256 of the PEP 658 metadata file, when the file offers one (wheels with METADATA). */
  metadataSha256?: string | undefined;
  requiresPython?: string | undefined;
}

export function isSafeFilename(name: string): boolean {
  try {
    checkSafeFilename(name);
    return true;
  } catch {
    return false;
  }
}

/** True when `child` is `root` or inside it (both real, absolute paths). */
export function isInside(root: string, child: string): boolean {
  return child === root || child.startsWith(root.endsWith(sep) ? root : root + sep);
}

export function metadataField(meta: CoreMetadata, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of meta.fields) if (k.toLowerCase() === lower) return v[0];
  return undefined;
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) h.update(chunk);
  return h.digest("hex");
}

export class Store {
  private scanCache: { at: number; files: Promise<Map<string, StoredFile>> } | undefined;
  /** The last finished scan, whose entries the next scan reuses. */
  private lastScan: Map<string, StoredFile> | undefined;
  /** Project → files, per scan result (kept up to date by `added`). */
  private readonly projectMaps = new WeakMap<Map<string, StoredFile>, Map<string, StoredFile[]>>();
  private readonly facts = new Map<string, { key: string; facts: Promise<FileFacts> }>();
  /** Facts of files this server stored itself (found while receiving and checking them), by path. */
  private readonly known = new Map<string, { key: string; facts: FileFacts }>();
  private readonly warned = new Set<string>();
  /** Tail of the work queued per case-folded filename (see `exclusive`). */
  private readonly nameQueues = new Map<string, Promise<unknown>>();

  constructor(
    /** Real path of the root folder. */
    readonly root: string,
    private readonly log: (line: string) => void,
    /** How long one scan of the folder is reused (uploads through the server invalidate it). */
    private readonly scanTtlMs = 1000,
  ) {}

  invalidate(): void {
    this.scanCache = undefined;
  }

  /** filename → file, for every distribution file under root. */
  files(): Promise<Map<string, StoredFile>> {
    const now = Date.now();
    if (!this.scanCache || now - this.scanCache.at > this.scanTtlMs) {
      const files = this.scan();
      this.scanCache = { at: now, files };
      files.catch(() => (this.scanCache = undefined));
    }
    return this.scanCache.files;
  }

  /**
   * The file served under `name`, for an upload's "already there?" check: a regular file of that
   * name at the root costs one lstat; otherwise the scan (reused for up to the scan TTL) is asked.
   * A full rescan per upload made a migration into this server quadratic in its file count.
   */
  async lookup(name: string): Promise<StoredFile | undefined> {
    const atRoot = await this.statAtRoot(name);
    if (atRoot) return atRoot;
    const scanned = (await this.files()).get(name);
    return scanned && this.current(scanned);
  }

  /**
   * A served file whose name differs from `name` only by case, if any. Filenames are unique
   * without regard to case: `EVIL-1.0-py3-none-any.whl` beside `evil-1.0-py3-none-any.whl` would
   * be two files for one name on a case-insensitive file system, and two links for one file to
   * a client that folds case.
   */
  async caseVariant(name: string): Promise<StoredFile | undefined> {
    const parsed = parseFilename(name);
    if (!parsed) return undefined;
    const folded = name.toLowerCase();
    for (const f of (await this.projects()).get(parsed.project) ?? []) {
      if (f.filename !== name && f.filename.toLowerCase() === folded) {
        const now = await this.current(f);
        if (now) return now;
      }
    }
    return undefined;
  }

  /**
   * Runs `fn` alone among the calls for the same filename without regard to case: an upload's
   * "already there?" check and its link() are one step, so two uploads of `evil-…` and `EVIL-…`
   * at once cannot both be stored.
   */
  async exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const key = name.toLowerCase();
    const previous = this.nameQueues.get(key) ?? Promise.resolve();
    const mine = previous.then(fn, fn);
    const tail = mine.catch(() => undefined);
    this.nameQueues.set(key, tail);
    try {
      return await mine;
    } finally {
      if (this.nameQueues.get(key) === tail) this.nameQueues.delete(key);
    }
  }

  /**
   * The file as it is now: its entry when size, mtime and inode are unchanged, a new entry when
   * they changed (the facts cache then computes its facts again), undefined when it is gone.
   */
  async current(file: StoredFile): Promise<StoredFile | undefined> {
    const st = await stat(file.path, { bigint: true }).catch(() => undefined);
    if (!st?.isFile()) return undefined;
    if (st.size === BigInt(file.size) && st.mtimeNs === file.mtimeNs && st.ino === file.ino) return file;
    const now = { ...file, size: Number(st.size), mtimeNs: st.mtimeNs, ino: st.ino };
    if (this.lastScan?.get(file.filename) === file) this.lastScan.set(file.filename, now);
    return now;
  }

  /**
   * Records a file just written at the root, so the next index read needs no rescan; its facts
   * (sha256, metadata digest, Requires-Python), found while it was received and checked, are kept
   * so that listing it does not read it again.
   */
  async added(name: string, known?: FileFacts): Promise<void> {
    const file = await this.statAtRoot(name);
    if (file && known)
      this.known.set(file.path, { key: `${file.size}:${file.mtimeNs}:${file.ino}`, facts: known });
    const cached = this.scanCache;
    if (!cached) return;
    if (!file) {
      this.invalidate();
      return;
    }
    // A scan still running may have listed the folder before the file appeared: add it after.
    const files = cached.files.then((m) => {
      if (!m.has(name)) {
        m.set(name, file);
        const byProject = this.projectMaps.get(m);
        if (byProject) addToProject(byProject, file);
      }
      return m;
    });
    files.catch(() => (this.scanCache = undefined));
    cached.files = files;
  }

  private async statAtRoot(name: string): Promise<StoredFile | undefined> {
    const parsed = parseFilename(name);
    if (!parsed || !isSafeFilename(name)) return undefined;
    const path = join(this.root, name);
    const st = await lstat(path, { bigint: true }).catch(() => undefined);
    // Symlinks are left to the scan, which checks where they lead.
    if (!st?.isFile()) return undefined;
    return { filename: name, parsed, path, size: Number(st.size), mtimeNs: st.mtimeNs, ino: st.ino };
  }

  /** Project (normalized) → its files, built once per scan. Callers must not change it. */
  async projects(): Promise<Map<string, StoredFile[]>> {
    const files = await this.files();
    let out = this.projectMaps.get(files);
    if (out) return out;
    out = new Map<string, StoredFile[]>();
    for (const f of files.values()) addToProject(out, f);
    this.projectMaps.set(files, out);
    return out;
  }

  /** sha256 and core-metadata facts of a file, computed once per (path, size, mtime, inode). */
  factsOf(file: StoredFile): Promise<FileFacts> {
    const key = `${file.size}:${file.mtimeNs}:${file.ino}`;
    const cached = this.facts.get(file.path);
    if (cached && cached.key === key) return cached.facts;
    const known = this.known.get(file.path);
    this.known.delete(file.path);
    const facts = known?.key === key ? Promise.resolve(known.facts) : this.computeFacts(file);
    this.facts.set(file.path, { key, facts });
    facts.catch(() => this.facts.delete(file.path));
    return facts;
  }

  private async computeFacts(file: StoredFile): Promise<FileFacts> {
    const sha256 = await sha256File(file.path);
    if (file.parsed.kind === "wheel") {
      const bytes = await readWheelMetadataBytes(file.path, file.parsed.project, file.parsed.version);
      if (!bytes) return { sha256 };
      let requiresPython: string | undefined;
      try {
        requiresPython = metadataField(parseCoreMetadata(bytes.toString("utf8")), "Requires-Python");
      } catch {
        // Unparseable metadata is still served as is; only Requires-Python is lost.
      }
      return { sha256, metadataSha256: createHash("sha256").update(bytes).digest("hex"), requiresPython };
    }
    // Sdists: no PEP 658 file (like PyPI, whose sdist PKG-INFO may be unreliable before
    // Metadata-Version 2.2), but Requires-Python from PKG-INFO when it can be read.
    try {
      const meta = await readCoreMetadata(file.path, file.filename);
      return { sha256, requiresPython: metadataField(meta, "Requires-Python") };
    } catch {
      return { sha256 };
    }
  }

  private async scan(): Promise<Map<string, StoredFile>> {
    const out = new Map<string, StoredFile>();
    const previous = this.lastScan;
    const visited = new Set<string>([this.root]);
    /** Case-folded names found so far: the first of two names that differ only by case wins. */
    const folds = new Set<string>();
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch {
        return;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const subdirs: string[] = [];
      for (const e of entries) {
        // Hidden names (the upload temp folder among them) are never part of the index.
        if (e.name.startsWith(".")) continue;
        const full = join(dir, e.name);
        let real = full;
        if (e.isSymbolicLink()) {
          try {
            real = await realpath(full);
          } catch {
            continue; // dangling link
          }
          if (!isInside(this.root, real)) {
            this.warnOnce(`symlink ${full} points outside the root; not served`);
            continue;
          }
        } else if (e.isFile()) {
          // Seen before at this path: kept without a stat (`current` checks it when it matters).
          const seen = previous?.get(e.name);
          if (seen?.path === full && !out.has(e.name) && !folds.has(e.name.toLowerCase())) {
            out.set(e.name, seen);
            folds.add(e.name.toLowerCase());
            continue;
          }
        } else if (!e.isDirectory()) continue;
        const st = await stat(real, { bigint: true }).catch(() => undefined);
        if (!st) continue;
        if (st.isDirectory()) {
          if (!visited.has(real)) {
            visited.add(real);
            subdirs.push(real);
          }
          continue;
        }
        if (!st.isFile()) continue;
        const parsed = parseFilename(e.name);
        if (!parsed || !isSafeFilename(e.name)) continue;
        const folded = e.name.toLowerCase();
        if (out.has(e.name) || folds.has(folded)) {
          this.warnOnce(
            `${full}: another file with this name (without regard to case) is already served; ignored`,
          );
          continue;
        }
        folds.add(folded);
        out.set(e.name, {
          filename: e.name,
          parsed,
          path: real,
          size: Number(st.size),
          mtimeNs: st.mtimeNs,
          ino: st.ino,
        });
      }
      for (const d of subdirs) await walk(d);
    };
    await walk(this.root);
    this.lastScan = out;
    return out;
  }

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.log(`warning: ${message}`);
  }
}

function addToProject(byProject: Map<string, StoredFile[]>, file: StoredFile): void {
  const list = byProject.get(file.parsed.project);
  if (list) list.push(file);
  else byProject.set(file.parsed.project, [file]);
}

/** Real path of `root`, checked to be a folder. */
export async function realRoot(root: string): Promise<string> {
  const real = await realpath(root);
  const st = await lstat(real);
  if (!st.isDirectory()) throw new Error(`${root} is not a folder`);
  return real;
}
