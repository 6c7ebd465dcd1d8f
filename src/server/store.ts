/**
 * The distribution files under the server's root: listings of the folder and its subfolders
 * (hidden names and symlinks leading outside the root skipped), and per-file facts (sha256, core
 * metadata) cached by (path, size, mtime, inode) so a big folder is hashed once, not on every
 * request.
 *
 * Change detection: each read stats every listed folder (one stat for a flat folder) and lists
 * again only a folder whose mtime, ctime or inode changed (a name added, removed or renamed in
 * it), whose last listing was racy (see RACY_MS), or, once, after uploads (see `put`). Nothing
 * runs between requests. A file rewritten in place changes no folder: its size, mtime and inode
 * are checked again (`current`) when it is listed on a project page, served or compared with an
 * upload. A listing again stats only names it has not seen (a regular file at the same path keeps
 * its entry). Before, the whole folder was listed again on the first request after a 1 s cache:
 * about once a second for a 100,000-file folder during a migration that read it.
 */
import { createHash } from "node:crypto";
import { createReadStream, linkSync, lstatSync, statSync, type BigIntStats } from "node:fs";
import { lstat, readdir, realpath, stat } from "node:fs/promises";
import type { LogLevel } from "./index.js";
import { basename, dirname, join, sep } from "node:path";
import { readCoreMetadata, parseCoreMetadata } from "../core/metadata.js";
import type { CoreMetadata } from "../core/model.js";
import { isSafeFilename, parseFilename } from "../core/names.js";
import { YANK_SUFFIX } from "../core/yank.js";
import { readWheelMetadataBytes } from "./wheelMetadata.js";

/** Folder (inside root) that holds uploads in progress; hidden from the index. */
export const TMP_DIR_NAME = ".pyreg-tmp";

export interface StoredFile {
  filename: string;
  /**
   * Normalized project name and version, from the filename. The rest of what parseFilename reads
   * is not kept: for 100,000 files it was most of what a listing left for the garbage collector to
   * copy (see `list`).
   */
  project: string;
  version: string;
  /** Real path (symlinks resolved), always inside the real root. */
  path: string;
  /** Size, mtime and inode: -1 in a listing's entry until `current` stats the file. */
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

/** An upload's bytes in a temporary file inside the root, and the file's stat when known. */
export interface TempFile {
  path: string;
  stats?: BigIntStats | undefined;
}

/** What `Store.put` did. */
export type PutResult =
  /** Linked: served from now on. */
  | { stored: true }
  /** A file is served under this name already (compare its bytes). */
  | { same: StoredFile }
  /** A file is served under a name that differs from this one only by case. */
  | { variant: StoredFile }
  /** link() found the name taken by a file no listing knew yet: its path. */
  | { taken: string };

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

/**
 * A folder's identity and the times the kernel sets when a name in it is added, removed or renamed
 * (POSIX: a directory's st_mtime and st_ctime are updated when an entry is created or removed).
 * Rewriting a file in place changes neither: `current` catches that per file.
 */
interface Stamp {
  mtimeNs: bigint;
  ctimeNs: bigint;
  ino: bigint;
}

/** One folder as last listed: its stamp then, and what it held. */
interface Listing {
  stamp: Stamp;
  /** Date.now() taken just before the stamp was read. */
  at: number;
  /**
   * The stamp was taken after an upload of this server (not from a listing): trusted until the
   * folder has been still for `RACY_MS`, then listed once more to confirm.
   */
  adopted: boolean;
  /** Distribution files directly in the folder, in name order (uploads appended). */
  files: StoredFile[];
  /** Real paths of its subfolders, in name order. */
  subdirs: string[];
  /** Names in the folder ending in YANK_SUFFIX (yank marks, see mayBeYanked). */
  yankMarks: Set<string>;
}

/**
 * Time stamps are coarse (a kernel clock tick on Linux file systems, 2 s on FAT): a change made in
 * the same tick as a listing can leave the folder's mtime as it was. A listing taken less than
 * this long after the folder's last change is not trusted (listed again at the next read), the
 * rule git uses for "racily clean" entries (https://git-scm.com/docs/racy-git).
 */
export const RACY_MS = 2000;

function stampOf(st: { mtimeNs: bigint; ctimeNs: bigint; ino: bigint }): Stamp {
  return { mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs, ino: st.ino };
}

/** Same files (the very entries: a listing keeps those it knew) and same subfolders, in order. */
function sameEntries(a: Listing, b: Listing): boolean {
  if (a.files.length !== b.files.length || a.subdirs.length !== b.subdirs.length) return false;
  for (let i = 0; i < a.files.length; i++) if (a.files[i] !== b.files[i]) return false;
  for (let i = 0; i < a.subdirs.length; i++) if (a.subdirs[i] !== b.subdirs[i]) return false;
  return true;
}

function sameStamp(a: Stamp, b: Stamp): boolean {
  return a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}

export class Store {
  /** Real folder path → its last listing. */
  private readonly listings = new Map<string, Listing>();
  /** filename → file, built from the listings; replaced when a listing changes. */
  private snapshot: Map<string, StoredFile> | undefined;
  /** The check running now, and the one queued behind it (see `files`). */
  private running: Promise<Map<string, StoredFile>> | undefined;
  private queued: Promise<Map<string, StoredFile>> | undefined;
  /** Uploads' link steps and rebuilds of the snapshot, one at a time (see `serially`). */
  private tail: Promise<unknown> = Promise.resolve();
  /** Project → files, per snapshot (kept up to date by `put`). */
  private readonly projectMaps = new WeakMap<Map<string, StoredFile>, Map<string, StoredFile[]>>();
  /**
   * Case-folded filename → the file served under it, for the files of a snapshot whose names have
   * capitals (made by the listing, kept up to date by `put`). With the snapshot itself, which holds
   * the names without capitals as they are, an upload's check for a name that differs only by case
   * is two lookups (see `variantIn`). Looping over the project's files instead cost about 1 s of
   * the server's CPU in a 20,000-file migration; a map of every folded name was a second map of
   * 100,000 entries on the way to the first page of the benchmark's folder.
   */
  private readonly capitalMaps = new WeakMap<Map<string, StoredFile>, Map<string, StoredFile>>();
  private readonly facts = new Map<string, { key: string; facts: Promise<FileFacts> }>();
  /** Facts of files this server stored itself (found while receiving and checking them), by path. */
  private readonly known = new Map<string, { key: string; facts: FileFacts }>();
  private readonly warned = new Set<string>();
  /** Tail of the work queued per case-folded filename (see `exclusive`). */
  private readonly nameQueues = new Map<string, Promise<unknown>>();
  /** Folder listings (readdir) and folder stats done so far. */
  readonly counts = { listings: 0, folderStats: 0 };

  constructor(
    /** Real path of the root folder. */
    readonly root: string,
    private readonly log: (line: string, level?: LogLevel) => void,
  ) {}

  /**
   * filename → file, for every distribution file under root. Each call checks the folders first:
   * one stat per folder; a folder is listed again only when its stamp changed (a name added,
   * removed or renamed in it), when its last listing was racy (see RACY_MS), or once to confirm a
   * stamp adopted after an upload. Calls arriving while a check runs share the next check, which
   * starts after it: a change made before a call is always seen by it.
   */
  files(): Promise<Map<string, StoredFile>> {
    if (!this.running) return this.startCheck();
    if (!this.queued) {
      const queued = this.running
        .then(
          () => undefined,
          () => undefined,
        )
        .then(() => {
          this.queued = undefined;
          return this.startCheck();
        });
      this.queued = queued;
    }
    return this.queued;
  }

  private startCheck(): Promise<Map<string, StoredFile>> {
    const check = this.check();
    this.running = check;
    const done = (): void => {
      if (this.running === check) this.running = undefined;
    };
    check.then(done, done);
    return check;
  }

  /**
   * An upload's "already there?" check, from one check of the folders (one stat of each): the
   * file served under `name` (`same`), else a served file whose name differs from it only by case
   * (`variant`). Filenames are unique without regard to case: `EVIL-1.0-py3-none-any.whl` beside
   * `evil-1.0-py3-none-any.whl` would be two files for one name on a case-insensitive file
   * system, and two links for one file to a client that folds case. A new name costs no stat of
   * its own (link() refuses a name taken meanwhile).
   */
  async existing(name: string): Promise<{ same?: StoredFile; variant?: StoredFile }> {
    const files = await this.files();
    const scanned = files.get(name);
    const same = scanned && this.current(scanned);
    if (same) return { same };
    const variant = this.variantIn(files, name);
    const now = variant && this.current(variant);
    return now ? { variant: now } : {};
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
  current(file: StoredFile): StoredFile | undefined {
    // Synchronous, as in `put`: a page of 40 files costs 40 stats, about 3 microseconds each here,
    // against 20 or more through the thread pool. Callers reading many yield now and then.
    let st: BigIntStats | undefined;
    try {
      st = statSync(file.path, { bigint: true, throwIfNoEntry: false });
    } catch {
      return undefined;
    }
    if (!st?.isFile()) return undefined;
    if (st.size === BigInt(file.size) && st.mtimeNs === file.mtimeNs && st.ino === file.ino) return file;
    const now = { ...file, size: Number(st.size), mtimeNs: st.mtimeNs, ino: st.ino };
    if (this.snapshot?.get(file.filename) === file) this.snapshot.set(file.filename, now);
    return now;
  }

  /**
   * Stores an upload: hard-links the temporary file `temp` as `name` at the root (link() never
   * replaces a name: nothing is overwritten) and adds it to the listing without listing the
   * folder again. Its facts (sha256, metadata digest, Requires-Python), found while it was
   * received and checked, are kept so that listing it does not read it again. Callers hold
   * `exclusive(name)`.
   *
   * Done as one synchronous step among the links and rebuilds (see `serially`): a stat of the
   * root, the "already there?" check, the link, a stat of the root. When the stamp before is the
   * stamp of a trusted listing (see `trusted`) of a flat root, the snapshot is what the folder
   * holds and answers the check without more calls; the stamp after is adopted (it changed by
   * this link only). Otherwise the folders are checked (and listed again if changed) by
   * `existing` first. Anything else (a change by hand, another process) leaves the stamp
   * different: the next read lists the folder again.
   *
   * Synchronous file-system calls: a stat of a folder or a link costs a few microseconds of
   * kernel time; the same call through libuv's thread pool cost about 20-40 microseconds of CPU
   * in all on the benchmark VM (a thread woken and a completion sent back per call), which was
   * most of what an upload of a small file cost this server.
   */
  async put(name: string, temp: TempFile, known: FileFacts): Promise<PutResult> {
    const fast = await this.serially(() => this.putStep(name, temp, known, true));
    if (fast && "same" in fast) {
      // Rewritten in place since it was listed: its facts are computed again (see `current`).
      const now = this.current(fast.same);
      if (now) return { same: now };
    } else if (fast) return fast;
    const { same, variant } = await this.existing(name);
    if (same) return { same };
    if (variant) return { variant };
    return (await this.serially(() => this.putStep(name, temp, known, false))) as PutResult;
  }

  /** The link step of `put`; with `onlyIfCurrent`, undefined when the snapshot cannot answer. */
  private putStep(
    name: string,
    temp: TempFile,
    known: FileFacts,
    onlyIfCurrent: boolean,
  ): PutResult | undefined {
    const listing = this.listings.get(this.root);
    const before = this.statFolderSync(this.root);
    if (onlyIfCurrent) {
      const snapshot = this.snapshot;
      if (!snapshot || !listing || this.listings.size !== 1 || !this.trusted(listing, before, Date.now()))
        return undefined;
      const same = snapshot.get(name);
      if (same) return { same };
      const variant = this.variantIn(snapshot, name);
      if (variant) return { variant };
    }
    const target = join(this.root, name);
    try {
      linkSync(temp.path, target);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") return { taken: target };
      throw err;
    }
    const after = this.statFolderSync(this.root);
    // The temporary file's own stat is the stored file's: link() changes neither its size, its
    // mtime nor its inode.
    const st = temp.stats ?? lstatSync(target, { bigint: true, throwIfNoEntry: false });
    const file = st?.isFile() ? storedFile(name, target, st) : undefined;
    if (!file) return { stored: true };
    this.known.set(target, { key: `${file.size}:${file.mtimeNs}:${file.ino}`, facts: known });
    if (!listing) return { stored: true };
    // New at the root (link() does not replace a name), and no listing runs meanwhile.
    listing.files.push(file);
    if (before && after && sameStamp(listing.stamp, stampOf(before))) {
      listing.stamp = stampOf(after);
      listing.at = Date.now();
      listing.adopted = true;
    }
    const snapshot = this.snapshot;
    if (snapshot && !snapshot.has(name)) {
      snapshot.set(name, file);
      const byProject = this.projectMaps.get(snapshot);
      if (byProject) addToProject(byProject, file);
      const capitals = this.capitalMaps.get(snapshot);
      if (capitals) addCapitalised(capitals, file, name.toLowerCase());
    }
    return { stored: true };
  }

  /**
   * A file of `files` (a snapshot) whose name differs from `name` only by case: the one served
   * under the folded name itself, else the one with capitals that folds to it (a snapshot holds at
   * most one file per folded name: see `rebuild` and `put`).
   */
  private variantIn(files: Map<string, StoredFile>, name: string): StoredFile | undefined {
    const f = servedFolded(files, this.capitalMaps.get(files), name.toLowerCase());
    return f && f.filename !== name ? f : undefined;
  }

  /**
   * Runs `fn` after the links and rebuilds queued before it: a link never lands in the middle of a
   * rebuild, whose new snapshot would then miss the linked file.
   */
  private serially<T>(fn: () => T | Promise<T>): Promise<T> {
    const step = this.tail.then(fn, fn);
    this.tail = step.catch(() => undefined);
    return step;
  }

  /**
   * Whether `file` may have a yank mark (FILENAME.yanked, PEP 592) beside it: false only when the
   * listing of its folder, checked by the call that found the file, holds no such name. A mark
   * added later changes the folder's stamp, so the next check lists it again. Serving a page then
   * costs no failed open per unyanked file.
   */
  mayBeYanked(file: StoredFile): boolean {
    const listing = this.listings.get(dirname(file.path));
    return !listing || listing.yankMarks.has(basename(file.path) + YANK_SUFFIX);
  }

  /** Project (normalized) → its files, built once per snapshot. Callers must not change it. */
  async projects(): Promise<Map<string, StoredFile[]>> {
    return this.projectsOf(await this.files());
  }

  private projectsOf(files: Map<string, StoredFile>): Map<string, StoredFile[]> {
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
    if (file.filename.endsWith(".whl")) {
      const bytes = await readWheelMetadataBytes(file.path, file.project, file.version);
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

  private async statFolder(dir: string): Promise<BigIntStats | undefined> {
    this.counts.folderStats++;
    const st = await stat(dir, { bigint: true }).catch(() => undefined);
    return st?.isDirectory() ? st : undefined;
  }

  /** `statFolder` without the thread pool (see `put`). */
  private statFolderSync(dir: string): BigIntStats | undefined {
    this.counts.folderStats++;
    try {
      const st = statSync(dir, { bigint: true, throwIfNoEntry: false });
      return st?.isDirectory() ? st : undefined;
    } catch {
      return undefined;
    }
  }

  /** Whether `listing` still tells what its folder holds, given the folder's stat now. */
  private trusted(listing: Listing, st: BigIntStats | undefined, now: number): boolean {
    if (!st || !sameStamp(listing.stamp, stampOf(st))) return false;
    const changedMs = Number(st.mtimeNs / 1_000_000n);
    if (listing.adopted) return now - changedMs <= RACY_MS;
    // A stamp far from the listing's time (older, or set in the future) differs from any stamp a
    // later change can leave.
    return Math.abs(changedMs - listing.at) > RACY_MS;
  }

  /** Checks every listed folder (one stat each) and lists again those that changed. */
  private async check(): Promise<Map<string, StoredFile>> {
    const now = Date.now();
    const stale = new Set<string>();
    for (const [dir, listing] of this.listings)
      if (!this.trusted(listing, this.statFolderSync(dir), now)) stale.add(dir);
    if (this.snapshot && stale.size === 0 && this.listings.has(this.root)) return this.snapshot;
    return this.serially(() => this.rebuild(stale));
  }

  /**
   * The snapshot again from the listings, walking from the root (files of a folder first, then its
   * subfolders, in name order): unchanged folders from their listing, the others listed again.
   * Folders no longer reached are forgotten.
   */
  private async rebuild(maybeStale: Set<string>): Promise<Map<string, StoredFile>> {
    // Checked again now that no link runs: a folder statted while an upload was being linked
    // looked changed, and its adopted stamp may tell otherwise. Without this, a migration into
    // the server listed its folder again after nearly every upload.
    const now = Date.now();
    const stale = new Set<string>();
    for (const dir of maybeStale) {
      const listing = this.listings.get(dir);
      if (!listing || !this.trusted(listing, this.statFolderSync(dir), now)) stale.add(dir);
    }
    if (this.snapshot && stale.size === 0 && this.listings.has(this.root)) return this.snapshot;
    const out = new Map<string, StoredFile>();
    /**
     * The case-folded names of the files kept so far whose names have capitals (see `capitalMaps`):
     * with `out`, enough to find a name that differs only by case from one kept before it (the
     * first of the two wins).
     */
    const capitals = new Map<string, StoredFile>();
    const reached = new Set<string>([this.root]);
    /** Whether some folder now holds other names than at its last listing. */
    let changed = !this.snapshot;
    const walk = async (dir: string): Promise<void> => {
      let listing = this.listings.get(dir);
      if (!listing || stale.has(dir)) {
        const previous = listing;
        listing = await this.list(dir, previous);
        if (!previous || !listing || !sameEntries(previous, listing)) changed = true;
        if (listing) this.listings.set(dir, listing);
        else this.listings.delete(dir);
      }
      if (!listing) return;
      for (const f of listing.files) {
        const folded = f.filename.toLowerCase();
        if (servedFolded(out, capitals, folded)) {
          this.warnOnce(
            `${join(dir, f.filename)}: another file with this name (without regard to case) is already served; ignored`,
          );
          continue;
        }
        addCapitalised(capitals, f, folded);
        out.set(f.filename, f);
      }
      for (const d of listing.subdirs) {
        if (reached.has(d)) continue;
        reached.add(d);
        await walk(d);
      }
    };
    await walk(this.root);
    for (const dir of [...this.listings.keys()]) {
      if (!reached.has(dir)) {
        this.listings.delete(dir);
        changed = true;
      }
    }
    // Listed again with the same names (a racy listing confirmed): the snapshot and its project
    // map stay, and so does what `current` and uploads put in them.
    if (!changed && this.snapshot) return this.snapshot;
    this.capitalMaps.set(out, capitals);
    this.snapshot = out;
    return out;
  }

  /**
   * Lists one folder: hidden names and symlinks leading outside the root skipped; a regular file
   * already in `previous` at the same path is kept without a stat (`current` checks it when it
   * matters). Undefined when the folder cannot be read.
   */
  private async list(dir: string, previous: Listing | undefined): Promise<Listing | undefined> {
    const at = Date.now();
    // The stamp is read before the names: a change in between shows as a stamp change next time.
    const before = await this.statFolder(dir);
    if (!before) return undefined;
    let entries;
    try {
      this.counts.listings++;
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return undefined;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const seen = new Map<string, StoredFile>();
    for (const f of previous?.files ?? []) seen.set(f.filename, f);
    const prefix = dir.endsWith(sep) ? dir : dir + sep;
    const files: StoredFile[] = [];
    const subdirs: string[] = [];
    const yankMarks = new Set<string>();
    for (const e of entries) {
      if (e.name.endsWith(YANK_SUFFIX)) yankMarks.add(e.name);
      // Hidden names (the upload temp folder among them) are never part of the index.
      if (e.name.startsWith(".")) continue;
      const full = prefix + e.name;
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
      } else if (e.isDirectory()) {
        subdirs.push(full);
        continue;
      } else if (e.isFile()) {
        const known = seen.get(e.name);
        if (known?.path === full) {
          files.push(known);
          continue;
        }
        // Not statted here: a stat per file made the first page of a 100,000-file folder take
        // seconds. `current` reads size, mtime and inode before the file is listed or served.
        const file = storedFile(e.name, full);
        if (file) files.push(file);
        continue;
      } else continue;
      const st = await stat(real, { bigint: true }).catch(() => undefined);
      if (!st) continue;
      if (st.isDirectory()) {
        subdirs.push(real);
        continue;
      }
      if (!st.isFile()) continue;
      const file = storedFile(e.name, real, st);
      if (file) files.push(file);
    }
    return { stamp: stampOf(before), at, adopted: false, files, subdirs, yankMarks };
  }

  private warnOnce(message: string): void {
    if (this.warned.has(message)) return;
    this.warned.add(message);
    this.log(`warning: ${message}`, "alert");
  }
}

/**
 * The entry of a distribution file at `path`, or undefined for a name that is no distribution's
 * or is not safe to serve. Without `st`, its size, mtime and inode are -1 until `current` stats it.
 */
function storedFile(
  filename: string,
  path: string,
  st?: { size: bigint; mtimeNs: bigint; ino: bigint },
): StoredFile | undefined {
  const parsed = parseFilename(filename);
  if (!parsed || !isSafeFilename(filename)) return undefined;
  return {
    filename,
    project: parsed.project,
    version: parsed.version,
    path,
    size: st ? Number(st.size) : -1,
    mtimeNs: st ? st.mtimeNs : -1n,
    ino: st ? st.ino : -1n,
  };
}

/**
 * The file of a snapshot served under a name that folds to `folded`: the snapshot holds it under
 * `folded` itself when its name has no capitals, `capitals` (see `Store.capitalMaps`) when it has.
 */
function servedFolded(
  files: Map<string, StoredFile>,
  capitals: Map<string, StoredFile> | undefined,
  folded: string,
): StoredFile | undefined {
  return files.get(folded) ?? capitals?.get(folded);
}

/**
 * Keeps `file`, whose name folds to `folded`, in a snapshot's map of capitalised names when its
 * name has capitals; the first file kept under a folded name stays.
 */
function addCapitalised(capitals: Map<string, StoredFile>, file: StoredFile, folded: string): void {
  if (folded !== file.filename && !capitals.has(folded)) capitals.set(folded, file);
}

function addToProject(byProject: Map<string, StoredFile[]>, file: StoredFile): void {
  const list = byProject.get(file.project);
  if (list) list.push(file);
  else byProject.set(file.project, [file]);
}

/** Real path of `root`, checked to be a folder. */
export async function realRoot(root: string): Promise<string> {
  const real = await realpath(root);
  const st = await lstat(real);
  if (!st.isDirectory()) throw new Error(`${root} is not a folder`);
  return real;
}
