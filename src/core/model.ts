/**
 * The model every adapter speaks. The engine sees only these types; everything a registry
 * knows about itself stays in its adapter (src/registries/<kind>/).
 */
import type { Readable } from "node:stream";
import type { Verification } from "./digests.js";
import type { FailureClass } from "./errors.js";

export interface DistFile {
  /** Normalized project name (PEP 503). */
  project: string;
  /** The project name as the source displays it (for messages). */
  displayName?: string | undefined;
  version: string;
  filename: string;
  /** Where the adapter fetches the file from; for folders, a file path. Never shown with credentials. */
  url: string;
  /** Hash name → lowercase hex digest, as the source published it (sha256 preferred). */
  hashes: Record<string, string>;
  size?: number | undefined;
  requiresPython?: string | undefined;
  /** false, true, or the yank reason. */
  yanked?: boolean | string | undefined;
  uploadTime?: string | undefined;
  /** URL of the PEP 658 core metadata, where offered. */
  coreMetadataUrl?: string | undefined;
  /** Registry-specific facts the upload protocol cannot carry (e.g. GitLab package status). */
  notes?: Record<string, string> | undefined;
}

export interface ProjectListing {
  project: string;
  displayName?: string | undefined;
  files: DistFile[];
}

/** A registry we read from. */
export interface Source {
  readonly kind: string;
  /** Human description with credentials redacted, e.g. "simple index https://host/simple/". */
  describe(): string;
  /** Normalized names of every project. */
  listProjects(): Promise<string[]>;
  /**
   * Every file of every version of one project this source listed. A project it lists but cannot
   * show (its page answers 404) is an error, never an empty list.
   */
  listFiles(project: string): Promise<DistFile[]>;
  /** A stream of the file's bytes. */
  open(file: DistFile): Promise<Readable>;
  /** Files found at the source that are not distributions it lists, with why (folders). */
  ignored?(): Promise<{ name: string; reason: string }[]>;
  /**
   * What the project's index page says now, as a stamp (same stamp, same listing), read with a
   * conditional request where the page was kept by an earlier run; undefined where the source
   * has no such page. Re-runs skip a project whose pages at both ends kept their stamps.
   */
  pageStamp?(project: string): Promise<string | undefined>;
  /** The URL this source was probably meant to be, when its own answers say it is not an index. */
  suggestIndex?(): Promise<string | undefined>;
  close?(): Promise<void>;
}

/** A file on local disk ready to be uploaded, with its digests computed while it was downloaded. */
export interface LocalDist {
  /** Where the bytes are on disk; unused when `data` holds them. */
  path: string;
  /** The bytes themselves, for small files kept in memory (no temporary file). */
  data?: Buffer | undefined;
  filename: string;
  size: number;
  sha256: string;
  md5: string;
  blake2_256: string;
  /** Every digest computed while it was read (sha256, md5 and any the indexes publish), by name. */
  digests?: Record<string, string> | undefined;
}

export interface CoreMetadata {
  /** Header name as written → values in order (multiple-use fields have several). */
  fields: Map<string, string[]>;
  /** The description from the body, if any. */
  body?: string | undefined;
  metadataVersion: string;
  name: string;
  version: string;
}

export type UploadResult =
  | { status: "uploaded" }
  /**
   * The server said the file already exists (the engine then checks the index), also with a 200
   * that says it held these very bytes already (devpi's "Upload of identical file").
   */
  | { status: "exists"; serverAnswer: string; httpStatus?: number };

/** A registry we write to. */
export interface Destination {
  readonly kind: string;
  describe(): string;
  /** The destination's files of a project, keyed by filename; sha256 where the index publishes it. */
  listFiles(project: string): Promise<Map<string, DistFile>>;
  /** Upload one file. Throws PyregError on refusal; returns "exists" for a duplicate answer. */
  upload(file: LocalDist, meta: CoreMetadata, source: DistFile): Promise<UploadResult>;
  /** A destination that is a plain folder writes the bytes without needing metadata. */
  readonly needsMetadata: boolean;
  /**
   * True when the index lists the digest the client sent rather than one computed from the stored
   * bytes (GitLab): its listing proves nothing about the bytes, so every upload is checked by
   * downloading it back.
   */
  readonly indexEchoesClientDigest?: boolean | undefined;
  /**
   * Digests its index is known to list for a new file (e.g. sha512 for CodeArtifact): the engine
   * computes them while each file streams. Others seen in its listings are computed too.
   */
  readonly indexDigests?: readonly string[] | undefined;
  /** Reads a file back from the destination (content verification), from its listing. */
  open?(file: DistFile): Promise<Readable>;
  /** It stores a source file's yanked status (PEP 592); the upload protocol cannot carry it. */
  readonly keepsYanked?: boolean;
  /** As Source.pageStamp, for the destination's page of the project. */
  pageStamp?(project: string): Promise<string | undefined>;
  /** Drop cached listings (after an upload) so the next listFiles reads the index again. */
  invalidate?(project: string): void;
  close?(): Promise<void>;
}

export type FileOutcome =
  | {
      kind: "copied";
      file: DistFile;
      bytes: number;
      seconds: number;
      verification?: Verification | undefined;
    }
  | { kind: "skipped"; file: DistFile; reason: string; verification?: Verification | undefined }
  | { kind: "conflict"; file: DistFile; reason: string; destinationSha256?: string | undefined }
  | {
      kind: "failed";
      file: DistFile;
      reason: string;
      code: string;
      class: FailureClass;
      serverAnswer?: string | undefined;
    }
  /** rule: the selection rule that left the file out, when one did (not an adapter's own filter). */
  | { kind: "filtered"; file: DistFile; reason: string; rule?: string | undefined };

/** sha256 of a file as the source published it, if it did. */
export function sha256Of(f: DistFile): string | undefined {
  return f.hashes["sha256"]?.toLowerCase();
}
