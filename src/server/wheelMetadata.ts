/**
 * The raw bytes of a wheel's `.dist-info/METADATA`, served as PEP 658 core metadata.
 *
 * Why raw bytes and not a re-serialized parse: PEP 658 says the `.metadata` file is the wheel's
 * METADATA file itself, and clients compare it with the wheel they later download.
 */
import yauzl from "yauzl";
import { MAX_ARCHIVE_ENTRIES } from "../core/metadata.js";
import { normalizeName } from "../core/names.js";

/** METADATA larger than this is refused (real ones are a few KB to a few hundred KB). */
export const MAX_METADATA_BYTES = 16 * 1024 * 1024;

/**
 * Returns the METADATA bytes of the wheel at `path`, or undefined when the wheel has none (or is
 * not a readable zip). `project` and `version` (from the filename) pick the right `.dist-info`
 * folder when a wheel holds several.
 */
export async function readWheelMetadataBytes(
  path: string,
  project: string,
  version: string,
): Promise<Buffer | undefined> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(path, { lazyEntries: true, autoClose: false });
  } catch {
    return undefined;
  }
  try {
    // The same entry limit as every other archive reader (a wheel put in the folder by hand was
    // never checked by the upload path): no metadata is served for a wheel listing more.
    if (zip.entryCount > MAX_ARCHIVE_ENTRIES) return undefined;
    const candidates: yauzl.Entry[] = [];
    for await (const entry of zip.eachEntry()) {
      if (/^[^/]+\.dist-info\/METADATA$/.test(entry.fileName)) candidates.push(entry);
    }
    const wanted = `${normalizeName(project)}-${version}`.toLowerCase();
    const entry =
      candidates.length === 1
        ? candidates[0]
        : candidates.find((e) => {
            const dir = e.fileName.slice(0, -"/METADATA".length).slice(0, -".dist-info".length);
            const dash = dir.lastIndexOf("-");
            const name = dash < 0 ? dir : dir.slice(0, dash);
            return `${normalizeName(name)}-${dir.slice(dash + 1)}`.toLowerCase() === wanted;
          });
    if (!entry || entry.uncompressedSize > MAX_METADATA_BYTES) return undefined;
    const stream = await zip.openReadStreamPromise(entry);
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > MAX_METADATA_BYTES) return undefined;
      chunks.push(chunk);
    }
    return Buffer.concat(chunks);
  } catch {
    return undefined;
  } finally {
    zip.close();
  }
}
