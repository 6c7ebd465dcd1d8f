/**
 * A folder of distribution files, as a source (read recursively) and as a destination (written
 * flat, so `pip install --find-links DIR` and `pyreg serve DIR` both work). Writes are atomic and
 * never overwrite: the bytes go to a temporary file that is then hard-linked to its final name,
 * which fails if that name exists.
 */
import { createReadStream } from "node:fs";
import { copyFile, link, readdir, stat, unlink, writeFile } from "node:fs/promises";
import { makeDirSync } from "../../core/dirs.js";
import { join, relative } from "node:path";
import type { Readable } from "node:stream";
import { PyregError } from "../../core/errors.js";
import { sha256File } from "../../core/hash.js";
import type {
  CoreMetadata,
  Destination,
  DistFile,
  LocalDist,
  Source,
  UploadResult,
} from "../../core/model.js";
import { readYank, writeYank, YANK_SUFFIX } from "../../core/yank.js";
import { checkSafeFilename, legacyFormatReason, parseFilename } from "../../core/names.js";
import type { RegistryContext, RegistryKind, RegistrySpec } from "../types.js";

interface Entry {
  path: string;
  filename: string;
  project: string;
  version: string;
  displayName: string;
  size: number;
  mtimeMs: number;
}

const TMP_DIR = ".pyreg-tmp";

/** Why a file below a folder source is not one of its distributions. */
export function ignoredReason(name: string): string {
  return legacyFormatReason(name) ?? "not a wheel or sdist filename";
}

interface Scan {
  entries: Entry[];
  /** Files that are not distributions, relative to the root. */
  ignored: { name: string; reason: string }[];
}

/** Every distribution file below root (hidden folders and symlinks are skipped). */
async function scan(root: string): Promise<Scan> {
  const out: Entry[] = [];
  const ignored: Scan["ignored"] = [];
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      // A destination folder that does not exist yet (made by its first upload) has no files.
      if (err.code === "ENOENT" && dir === root) return [];
      throw err;
    });
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) {
        const parsed = parseFilename(e.name);
        // A yank marker (see core/yank.ts) belongs to the file it names.
        if (!parsed && e.name.endsWith(YANK_SUFFIX) && parseFilename(e.name.slice(0, -YANK_SUFFIX.length)))
          continue;
        if (!parsed) {
          ignored.push({ name: relative(root, p), reason: ignoredReason(e.name) });
          continue;
        }
        const st = await stat(p);
        out.push({
          path: p,
          filename: e.name,
          project: parsed.project,
          version: parsed.version,
          displayName: parsed.name,
          size: st.size,
          mtimeMs: st.mtimeMs,
        });
      }
    }
  };
  await walk(root);
  ignored.sort((a, b) => a.name.localeCompare(b.name));
  return { entries: out, ignored };
}

/** sha256 per (path, size, mtime), so listing twice does not hash twice. */
const hashCache = new Map<string, string>();
async function cachedSha256(e: Entry): Promise<string> {
  const key = `${e.path}\0${e.size}\0${e.mtimeMs}`;
  let h = hashCache.get(key);
  if (!h) {
    h = (await sha256File(e.path)).sha256;
    hashCache.set(key, h);
  }
  return h;
}

async function toDistFile(e: Entry): Promise<DistFile> {
  const yanked = await readYank(e.path);
  return {
    ...(yanked !== undefined ? { yanked } : {}),
    project: e.project,
    displayName: e.displayName,
    version: e.version,
    filename: e.filename,
    url: e.path,
    hashes: { sha256: await cachedSha256(e) },
    size: e.size,
    uploadTime: new Date(e.mtimeMs).toISOString(),
  };
}

async function ensureDir(path: string, side: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new PyregError("CONFIG", `${side} folder ${path} does not exist`, {
      hint: "check the path, or give a URL (http(s)://...) for a registry",
    });
  }
  if (!st.isDirectory()) throw new PyregError("CONFIG", `${side} ${path} is not a folder`);
}

export class FolderSource implements Source {
  readonly kind = "folder";
  private scanned: Promise<Scan> | undefined;
  constructor(
    readonly root: string,
    private readonly warn?: (m: string) => void,
  ) {}
  describe(): string {
    return `folder ${this.root}`;
  }
  private async all(): Promise<Entry[]> {
    this.scanned ??= scan(this.root);
    return (await this.scanned).entries;
  }
  /** Every file below the folder that is not a distribution, with why (listed in every output). */
  async ignored(): Promise<{ name: string; reason: string }[]> {
    this.scanned ??= scan(this.root);
    return (await this.scanned).ignored;
  }
  async listProjects(): Promise<string[]> {
    return [...new Set((await this.all()).map((e) => e.project))].sort();
  }
  async listFiles(project: string): Promise<DistFile[]> {
    const mine = (await this.all()).filter((e) => e.project === project);
    // Two files of one name in different subfolders would be one file at any registry.
    const seen = new Set<string>();
    const out: DistFile[] = [];
    for (const e of mine) {
      if (seen.has(e.filename)) {
        this.warn?.(`${e.filename} appears twice below ${this.root}; using the first one found`);
        continue;
      }
      seen.add(e.filename);
      out.push(await toDistFile(e));
    }
    return out;
  }
  async open(file: DistFile): Promise<Readable> {
    return createReadStream(file.url);
  }
}

export class FolderDestination implements Destination {
  readonly kind = "folder";
  /**
   * Every file is opened and its metadata read and compared with its filename before it is copied,
   * as an upload destination does, so a broken archive (a "wheel" that is not a zip) is reported as
   * failed instead of copied without a word; --allow-broken-archives copies such files anyway.
   */
  readonly needsMetadata: boolean;
  /** A yanked file is written with its yank marker (core/yank.ts). */
  readonly keepsYanked = true;
  private entries: Promise<Map<string, Entry[]>> | undefined;
  /** Lowercased filename → the filename this run writes under it. */
  private readonly claimed = new Map<string, string>();
  constructor(
    readonly root: string,
    opts: { allowBrokenArchives?: boolean | undefined } = {},
  ) {
    this.needsMetadata = !opts.allowBrokenArchives;
  }
  describe(): string {
    return `folder ${this.root}`;
  }
  private byProject(): Promise<Map<string, Entry[]>> {
    this.entries ??= scan(this.root).then(({ entries: list }) => {
      const m = new Map<string, Entry[]>();
      for (const e of list) m.set(e.project, [...(m.get(e.project) ?? []), e]);
      return m;
    });
    return this.entries;
  }
  async listFiles(project: string): Promise<Map<string, DistFile>> {
    const list = (await this.byProject()).get(project) ?? [];
    const out = new Map<string, DistFile>();
    for (const e of list) if (!out.has(e.filename)) out.set(e.filename, await toDistFile(e));
    return out;
  }
  async open(file: DistFile): Promise<Readable> {
    return createReadStream(file.url);
  }
  /** The folder is its own index: uploads below record what they wrote, so nothing to drop. */
  invalidate(): void {}
  async upload(file: LocalDist, _meta?: CoreMetadata, source?: DistFile): Promise<UploadResult> {
    checkSafeFilename(file.filename);
    // Filenames are unique without regard to case: on a case-insensitive file system (macOS,
    // Windows) or an index served from this folder, EVIL-1.0.whl and evil-1.0.whl are one file.
    // A twin by case has the same normalized project, so the project's entries are enough; files
    // of this run in flight are claimed first (synchronously), so two twins cannot both pass.
    const lower = file.filename.toLowerCase();
    const claimedBy = this.claimed.get(lower);
    if (claimedBy === undefined) this.claimed.set(lower, file.filename);
    const project = parseFilename(file.filename)?.project;
    const siblings = project ? ((await this.byProject()).get(project) ?? []) : [];
    const twin = [claimedBy, ...siblings.map((e) => e.filename)].find(
      (n) => n !== undefined && n !== file.filename && n.toLowerCase() === lower,
    );
    if (twin) {
      throw new PyregError(
        "CONFLICT",
        `${file.filename} differs only by case from ${twin} already in ${this.root}`,
        {
          hint: "a folder destination keeps one file per name regardless of case; nothing was written",
        },
      );
    }
    const tmpDir = join(this.root, TMP_DIR);
    makeDirSync(tmpDir, "the destination's temporary folder");
    const tmp = join(
      tmpDir,
      `${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}-${file.filename}`,
    );
    if (file.data) await writeFile(tmp, file.data);
    else await copyFile(file.path, tmp);
    try {
      await link(tmp, join(this.root, file.filename));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EEXIST") {
        return { status: "exists", serverAnswer: `${file.filename} already exists in ${this.root}` };
      }
      if (this.claimed.get(lower) === file.filename) this.claimed.delete(lower);
      throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
    const final = join(this.root, file.filename);
    if (source?.yanked) await writeYank(final, source.yanked);
    const parsed = parseFilename(file.filename);
    if (parsed && this.entries) {
      const st = await stat(final);
      const map = await this.entries;
      const entry: Entry = {
        path: final,
        filename: file.filename,
        project: parsed.project,
        version: parsed.version,
        displayName: parsed.name,
        size: st.size,
        mtimeMs: st.mtimeMs,
      };
      map.set(parsed.project, [...(map.get(parsed.project) ?? []), entry]);
    }
    return { status: "uploaded" };
  }
}

export const folderKind: RegistryKind = {
  name: "folder",
  help: "PATH or file:///PATH — a folder of wheels and sdists (read recursively, written flat)",
  matches: (spec) => spec.path !== undefined,
  async openSource(spec: RegistrySpec, ctx: RegistryContext) {
    const root = spec.path as string;
    await ensureDir(root, "source");
    return new FolderSource(root, ctx.log);
  },
  async openDestination(spec: RegistrySpec, ctx: RegistryContext) {
    const root = spec.path as string;
    const st = await stat(root).catch(() => undefined);
    if (st && !st.isDirectory()) {
      throw new PyregError("CONFIG", `destination ${root} is a file, not a folder`, {
        hint: "give a folder (it is created when missing), or a registry URL",
      });
    }
    // A new folder is made by the first upload (mkdir of its temporary folder), so that plan and
    // verify, which only read, leave nothing behind; until then it lists no files.
    if (st) await ensureDir(root, "destination");
    return new FolderDestination(root, { allowBrokenArchives: ctx.options.allowBrokenArchives });
  },
};
