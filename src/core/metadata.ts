/**
 * Core metadata reader (STUB: being implemented; signatures are final).
 * Reads METADATA from a wheel or PKG-INFO from an sdist (.tar.gz, .zip), parses RFC 822 style
 * headers (Metadata-Version 1.0–2.5; folded Description or body).
 */
import type { CoreMetadata } from "./model.js";
import { PyregError } from "./errors.js";

/** Parse the text of a METADATA / PKG-INFO file. Throws PyregError("BAD_METADATA") when unusable. */
export function parseCoreMetadata(_text: string): CoreMetadata {
  throw new PyregError("BAD_METADATA", "metadata parser not implemented yet");
}

/** Read and parse the core metadata of the distribution file at `path` (named `filename`). */
export async function readCoreMetadata(_path: string, _filename: string): Promise<CoreMetadata> {
  throw new PyregError("BAD_METADATA", "metadata reader not implemented yet");
}
