/**
 * The legacy upload form, as real `twine upload` sends it.
 *
 * Sources: pypa/twine `twine/package.py` (metadata_dictionary) and `twine/repository.py`
 * (_convert_data_to_list_of_tuples / _convert_metadata_to_list_of_tuples); pkginfo
 * `distribution.py` (which fields twine ≤ 5 reads per Metadata-Version); pypi/warehouse
 * `warehouse/forklift/metadata.py` (parse_form_metadata: the names the server reads).
 *
 * The reference is Debian's twine 4.0.2 (checked field by field in test/uploadForm.twine.test.ts).
 * pyreg deliberately differs from it where twine 4 is wrong for the server, each time in the
 * direction twine ≥ 6 and Warehouse agree on:
 * - Provides-Extra is sent as `provides_extra` (Warehouse's name; twine 4 sends `provides_extras`,
 *   which Warehouse ignores).
 * - sdists send `pyversion=source` (twine ≥ 5 and distutils' upload; twine 4 sends "").
 * - A wheel whose description is a folded Description header sends that description (twine 4's
 *   wheel reader always replaces it with the empty message body).
 * - A Description header in the spec's "7 spaces + |" folding is sent without the "|" markers
 *   (see unfoldDescription in metadata.ts).
 * - Metadata 2.3–2.5 files work (twine 4's pkginfo reads no field of them); the 2.4/2.5 fields
 *   (License-Expression, License-File, Import-Name, Import-Namespace) are sent under the names
 *   twine 6 uses and Warehouse reads, so PEP 639 licence data is not lost in a migration.
 */
import { randomUUID } from "node:crypto";
import { open } from "node:fs/promises";
import type { CoreMetadata, LocalDist } from "./model.js";
import { PyregError } from "./errors.js";
import { parseFilename, uploadFileType } from "./names.js";

type FieldKind = "single" | "multi";
interface FormField {
  /** Form key. */
  key: string;
  /** Core-metadata header (canonical spelling, as in CoreMetadata.fields). */
  header: string;
  kind: FieldKind;
  /** Metadata-Version that introduced the field (packaging.metadata's `added`). */
  added: string;
  /** The same, ranked once (see versionRank) instead of parsed for every field of every upload. */
  addedRank: number;
  /**
   * twine 4 puts every single-value key of its dictionary in the form, as "" when absent; the
   * 2.4+ fields exist only in twine 6, which sends present fields only.
   */
  sendEmpty: boolean;
}

const f = (key: string, header: string, kind: FieldKind, added: string, sendEmpty = kind === "single") => ({
  key,
  header,
  kind,
  added,
  addedRank: versionRank(added),
  sendEmpty,
});

/** Metadata fields in twine 4's order (package.py metadata_dictionary), then the 2.4/2.5 fields. */
const HEAD: FormField[] = [
  f("summary", "Summary", "single", "1.0"),
  f("home_page", "Home-page", "single", "1.0"),
  f("author", "Author", "single", "1.0"),
  f("author_email", "Author-email", "single", "1.0"),
  f("maintainer", "Maintainer", "single", "1.2"),
  f("maintainer_email", "Maintainer-email", "single", "1.2"),
  f("license", "License", "single", "1.0"),
  // description is handled apart (body or header).
];
const MIDDLE: FormField[] = [
  f("keywords", "Keywords", "single", "1.0"),
  f("platform", "Platform", "multi", "1.0"),
  f("classifiers", "Classifier", "multi", "1.1"),
  f("download_url", "Download-URL", "single", "1.1"),
  // pkginfo lists Supported-Platform under 1.0, the spec and packaging under 1.1 (Warehouse
  // refuses a field newer than the declared version): we follow the spec.
  f("supported_platform", "Supported-Platform", "multi", "1.1"),
];
const TAIL: FormField[] = [
  f("provides", "Provides", "multi", "1.1"),
  f("requires", "Requires", "multi", "1.1"),
  f("obsoletes", "Obsoletes", "multi", "1.1"),
  f("project_urls", "Project-URL", "multi", "1.2"),
  f("provides_dist", "Provides-Dist", "multi", "1.2"),
  f("obsoletes_dist", "Obsoletes-Dist", "multi", "1.2"),
  f("requires_dist", "Requires-Dist", "multi", "1.2"),
  f("requires_external", "Requires-External", "multi", "1.2"),
  f("requires_python", "Requires-Python", "single", "1.2"),
  f("provides_extra", "Provides-Extra", "multi", "2.1"),
  f("description_content_type", "Description-Content-Type", "single", "2.1"),
  f("dynamic", "Dynamic", "multi", "2.2"),
  f("license_expression", "License-Expression", "single", "2.4", false),
  f("license_file", "License-File", "multi", "2.4"),
  f("import_name", "Import-Name", "multi", "2.5"),
  f("import_namespace", "Import-Namespace", "multi", "2.5"),
];

/** A Metadata-Version as one comparable number (major * 1000 + minor); 0 when it is not "N.N". */
function versionRank(v: string): number {
  const m = /^(\d+)\.(\d+)$/.exec(v);
  return m ? Number(m[1]) * 1000 + Math.min(Number(m[2]), 999) : 0;
}

/** pkg_resources.safe_name, which twine applies to the name it sends (twine issue #743). */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9.]+/g, "-");
}

/** Ordered form fields (repeated keys for multiple-use fields), without the file part. */
export function buildUploadFields(meta: CoreMetadata, file: LocalDist): [string, string][] {
  const parsed = parseFilename(file.filename);
  if (!parsed) {
    throw new PyregError("BAD_FILENAME", `${file.filename}: not a wheel or sdist filename`, {
      hint: "only wheels and sdists can be uploaded through the legacy upload API",
    });
  }
  const { filetype, pyversion } = uploadFileType(parsed);
  const mv = meta.metadataVersion;
  // A field introduced in a later Metadata-Version than the declared one is not sent.
  const declared = versionRank(mv);
  const out: [string, string][] = [];

  const single = (header: string): string => {
    const v = meta.fields.get(header)?.[0];
    // pkginfo drops the "UNKNOWN" placeholder old setuptools wrote for absent values.
    return v === undefined || v === "UNKNOWN" ? "" : v;
  };
  const emit = (fields: FormField[]): void => {
    for (const fd of fields) {
      const ok = declared >= fd.addedRank;
      if (fd.kind === "multi") {
        if (ok) for (const v of meta.fields.get(fd.header) ?? []) out.push([fd.key, v]);
      } else {
        const v = ok ? single(fd.header) : "";
        if (v !== "" || fd.sendEmpty) out.push([fd.key, v]);
      }
    }
  };

  out.push(["name", safeName(meta.name)]);
  out.push(["version", meta.version]);
  out.push(["filetype", filetype]);
  out.push(["pyversion", pyversion]);
  out.push(["metadata_version", mv]);
  emit(HEAD);
  // The message body is the description when there is one (Metadata 2.1+); otherwise the
  // Description header (Metadata 1.x), as pkginfo reads sdists.
  const description = meta.body !== undefined && meta.body !== "" ? meta.body : single("Description");
  out.push(["description", description]);
  emit(MIDDLE);
  out.push(["comment", ""]);
  out.push(["sha256_digest", file.sha256]);
  emit(TAIL);
  out.push(["md5_digest", file.md5]);
  out.push(["blake2_256_digest", file.blake2_256]);
  out.push([":action", "file_upload"]);
  out.push(["protocol_version", "1"]);
  return out;
}

export interface MultipartBody {
  contentType: string;
  contentLength: number;
  /**
   * A fresh iteration of the whole body each call: the fields, then the file read from disk one
   * chunk at a time (no read-ahead). undici asks an async-iterable body for its next chunk only
   * once the socket took the previous one, so an upload holds about one chunk in memory.
   */
  open(): AsyncIterable<Buffer>;
  /** The whole body in one buffer, for a file held in memory (one write instead of a stream). */
  bytes(): Buffer | undefined;
}

/** Quoted-string escaping for Content-Disposition parameters (WHATWG HTML form encoding). */
function quoteParam(s: string): string {
  // Form keys and filenames rarely need it: no three replacements (and new strings) for each.
  if (!/[\r\n"]/.test(s)) return s;
  return s.replace(/\r/g, "%0D").replace(/\n/g, "%0A").replace(/"/g, "%22");
}

/**
 * Size of the reads of a file uploaded from disk. Smaller reads cost more calls; larger ones hold
 * more memory per upload in flight. Each read gets a fresh buffer: pyreg does not depend on when
 * undici lets go of the previous one.
 */
const UPLOAD_CHUNK = 256 * 1024;

function changed(file: LocalDist): PyregError {
  return new PyregError(
    "HASH_MISMATCH",
    `${file.filename}: the file on disk is no longer ${file.size} bytes; it changed after it was verified`,
    { hint: "run again: pyreg downloads and verifies the file anew" },
  );
}

/**
 * The file's bytes from disk. Content-Length was promised up front: a file that is now shorter or
 * longer than when it was verified is not sent (one byte past the end is asked for to tell).
 */
async function* readChunks(file: LocalDist): AsyncGenerator<Buffer> {
  const handle = await open(file.path, "r");
  try {
    let sent = 0;
    for (;;) {
      const want = Math.max(1, Math.min(UPLOAD_CHUNK, file.size - sent));
      const buf = Buffer.allocUnsafeSlow(want);
      const { bytesRead } = await handle.read(buf, 0, want, null);
      if (bytesRead === 0) break;
      sent += bytesRead;
      if (sent > file.size) break;
      yield bytesRead === want ? buf : buf.subarray(0, bytesRead);
    }
    if (sent !== file.size) throw changed(file);
  } finally {
    await handle.close();
  }
}

/** multipart/form-data with the fields and the file as `content` (application/octet-stream). */
export function multipartBody(fields: [string, string][], file: LocalDist): MultipartBody {
  // 32 hex digits as twine's (urllib3's os.urandom(16).hex()), 122 of them random: a collision
  // with the file's bytes is not a practical concern. randomUUID draws from a cached pool of
  // random bytes; randomBytes(16) asked OpenSSL for every upload.
  const boundary = randomUUID().replace(/-/g, "");
  // Each part: `--BOUNDARY\r\nContent-Disposition: form-data; name="KEY"\r\n\r\nVALUE\r\n`. The head
  // is one string, written into the body's buffer with one call: writing it piece by piece (five
  // Buffer.write calls per field, each into native code) cost 9 µs of CPU per upload of a small
  // file's 25 fields, one string 1.5 µs (in-process loop of 50,000 heads). The string is garbage as
  // soon as it is written, and dies in V8's young generation.
  const open = `--${boundary}\r\nContent-Disposition: form-data; name="`;
  let head = "";
  for (const [key, value] of fields) head += `${open}${quoteParam(key)}"\r\n\r\n${value}\r\n`;
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="${quoteParam(file.filename)}"\r\n` +
    `Content-Type: application/octet-stream\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const headLength = Buffer.byteLength(head);
  const tailLength = Buffer.byteLength(tail);
  const contentLength = headLength + file.size + tailLength;

  /** Writes the head at the start of `buf` (at least headLength bytes). */
  const writeHead = (buf: Buffer): void => {
    buf.write(head, 0);
  };

  async function* generate(): AsyncGenerator<Buffer> {
    const head = Buffer.allocUnsafe(headLength);
    writeHead(head);
    yield head;
    if (file.data) {
      if (file.data.length !== file.size) throw changed(file);
      yield file.data;
    } else {
      yield* readChunks(file);
    }
    yield Buffer.from(tail, "utf8");
  }

  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    contentLength,
    open: () => generate(),
    bytes: () => {
      if (file.data?.length !== file.size) return undefined;
      // One buffer for the whole body: the head and the tail written around one copy of the file.
      const body = Buffer.allocUnsafe(contentLength);
      writeHead(body);
      file.data.copy(body, headLength);
      body.write(tail, headLength + file.size);
      return body;
    },
  };
}
