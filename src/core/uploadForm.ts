/**
 * The legacy upload form, as real `twine upload` sends it (STUB: being implemented; signatures final).
 */
import type { Readable } from "node:stream";
import type { CoreMetadata, LocalDist } from "./model.js";

/** Ordered form fields (repeated keys for multiple-use fields), without the file part. */
export function buildUploadFields(_meta: CoreMetadata, _file: LocalDist): [string, string][] {
  throw new Error("not implemented yet");
}

export interface MultipartBody {
  contentType: string;
  contentLength: number;
  /** A fresh stream of the whole body each call (fields, then the file streamed from disk). */
  open(): Readable;
}

/** multipart/form-data with the fields and the file as `content` (application/octet-stream). */
export function multipartBody(_fields: [string, string][], _file: LocalDist): MultipartBody {
  throw new Error("not implemented yet");
}
