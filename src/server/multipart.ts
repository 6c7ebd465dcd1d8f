/**
 * A small streaming multipart/form-data parser (RFC 7578), written for the legacy upload API:
 * text fields are collected in memory under strict bounds, the one file part is handed to the
 * caller chunk by chunk (with backpressure) so the upload is never held in memory.
 */
import type { Readable } from "node:stream";

export class MultipartError extends Error {
  constructor(
    message: string,
    /** The HTTP status this error should produce (400 malformed, 413 too large). */
    readonly status: 400 | 413 = 400,
  ) {
    super(message);
    this.name = "MultipartError";
  }
}

export interface MultipartLimits {
  /** Bytes of one part's header block. */
  maxHeaderBytes: number;
  /** Bytes of one text field's value. */
  maxFieldBytes: number;
  /** Bytes of all text fields together. */
  maxTotalFieldBytes: number;
  /** Number of parts. */
  maxParts: number;
}

export const DEFAULT_LIMITS: MultipartLimits = {
  maxHeaderBytes: 16 * 1024,
  // Long READMEs travel in the `description` field; Warehouse accepts a few MB.
  maxFieldBytes: 8 * 1024 * 1024,
  maxTotalFieldBytes: 16 * 1024 * 1024,
  maxParts: 2000,
};

export interface PartInfo {
  name: string;
  filename?: string | undefined;
  contentType?: string | undefined;
}

/** Where the bytes of a file part go. `write` may return a promise to apply backpressure. */
export interface FileSink {
  write(chunk: Buffer): void | Promise<void>;
  end(): void | Promise<void>;
}

export interface ParseResult {
  /** Text fields in the order they came, repeated keys kept. */
  fields: [string, string][];
  /** The file parts that were given to a sink. */
  files: PartInfo[];
}

/** The boundary of a `multipart/form-data` Content-Type, or undefined when the type is another one. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (!contentType) return undefined;
  const [type, ...params] = splitParams(contentType);
  if (type?.toLowerCase() !== "multipart/form-data") return undefined;
  for (const p of params) {
    const [k, v] = p;
    if (k === "boundary" && v.length >= 1 && v.length <= 70) return v;
  }
  return undefined;
}

/** Splits `value; a=1; b="x;y"` into the value and its (lowercased name, unquoted value) params. */
function splitParams(header: string): [string | undefined, ...[string, string][]] {
  const out: [string, string][] = [];
  let i = header.indexOf(";");
  const head = (i < 0 ? header : header.slice(0, i)).trim();
  while (i >= 0 && i < header.length) {
    i++; // skip ';'
    while (header[i] === " " || header[i] === "\t") i++;
    const eq = header.indexOf("=", i);
    if (eq < 0) break;
    const key = header.slice(i, eq).trim().toLowerCase();
    i = eq + 1;
    let value = "";
    if (header[i] === '"') {
      i++;
      while (i < header.length && header[i] !== '"') {
        if (header[i] === "\\" && i + 1 < header.length) i++;
        value += header[i];
        i++;
      }
      i++; // closing quote
      const next = header.indexOf(";", i);
      i = next;
    } else {
      const next = header.indexOf(";", i);
      value = (next < 0 ? header.slice(i) : header.slice(i, next)).trim();
      i = next;
    }
    out.push([key, value]);
  }
  return [head, ...out];
}

function parsePartHeaders(block: string): PartInfo {
  let disposition: string | undefined;
  let contentType: string | undefined;
  for (const line of block.split("\r\n")) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon <= 0) throw new MultipartError("malformed multipart part header");
    const key = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (key === "content-disposition") disposition = value;
    else if (key === "content-type") contentType = value;
  }
  if (!disposition) throw new MultipartError("multipart part without Content-Disposition");
  const [type, ...params] = splitParams(disposition);
  if (type?.toLowerCase() !== "form-data") throw new MultipartError("multipart part is not form-data");
  let name: string | undefined;
  let filename: string | undefined;
  for (const [k, v] of params) {
    if (k === "name") name = v;
    else if (k === "filename") filename = v;
    else if (k === "filename*" && filename === undefined) {
      // RFC 5987: charset'lang'percent-encoded
      const m = /^utf-8'[^']*'(.*)$/i.exec(v);
      if (m) {
        try {
          filename = decodeURIComponent(m[1] as string);
        } catch {
          throw new MultipartError("multipart filename* is not valid percent-encoding");
        }
      }
    }
  }
  if (name === undefined) throw new MultipartError("multipart part without a name");
  return { name, filename, contentType };
}

type State = "preamble" | "afterDelimiter" | "headers" | "body" | "done";

/**
 * Reads a multipart body from `body`. For each part with a filename, `onFile` (given the fields
 * read before it) returns a sink for
 * its bytes (or undefined to discard them, still counted against the field limits). Throws
 * MultipartError on malformed or oversized input; errors of the stream itself (a cut connection)
 * propagate unchanged.
 */
export async function parseMultipart(
  body: AsyncIterable<Buffer> | Readable,
  boundary: string,
  onFile: (part: PartInfo, fieldsSoFar: readonly [string, string][]) => FileSink | undefined,
  limits: MultipartLimits = DEFAULT_LIMITS,
): Promise<ParseResult> {
  // Every delimiter, the first included, is CRLF "--" boundary: start with a virtual CRLF.
  const delimiter = Buffer.from(`\r\n--${boundary}`, "latin1");
  const fields: [string, string][] = [];
  const files: PartInfo[] = [];
  let state: State = "preamble";
  let pending: Buffer = Buffer.from("\r\n");
  let parts = 0;
  let totalFieldBytes = 0;
  let part: PartInfo | undefined;
  let sink: FileSink | undefined;
  let fieldChunks: Buffer[] = [];
  let fieldBytes = 0;
  let discarding = false;

  const emit = async (data: Buffer): Promise<void> => {
    if (data.length === 0) return;
    if (sink) {
      await sink.write(data);
      return;
    }
    fieldBytes += data.length;
    totalFieldBytes += data.length;
    if (fieldBytes > limits.maxFieldBytes) {
      throw new MultipartError(`form field ${JSON.stringify(part?.name ?? "")} is too large`, 413);
    }
    if (totalFieldBytes > limits.maxTotalFieldBytes)
      throw new MultipartError("form fields are too large", 413);
    if (!discarding) fieldChunks.push(data);
  };

  const endPart = async (): Promise<void> => {
    if (!part) return;
    if (sink) {
      await sink.end();
      files.push(part);
    } else if (!discarding) {
      fields.push([part.name, Buffer.concat(fieldChunks).toString("utf8")]);
    }
    part = undefined;
    sink = undefined;
    fieldChunks = [];
    fieldBytes = 0;
    discarding = false;
  };

  const step = async (): Promise<boolean> => {
    switch (state) {
      case "preamble": {
        const idx = pending.indexOf(delimiter);
        if (idx < 0) {
          if (pending.length > limits.maxHeaderBytes)
            throw new MultipartError("multipart boundary not found");
          return false;
        }
        pending = pending.subarray(idx + delimiter.length);
        state = "afterDelimiter";
        return true;
      }
      case "afterDelimiter": {
        if (pending.length < 2) return false;
        const two = pending.subarray(0, 2).toString("latin1");
        if (two === "--") {
          await endPart();
          state = "done";
          pending = Buffer.alloc(0);
          return false;
        }
        // Transport padding (spaces/tabs) may follow a delimiter; then CRLF.
        const crlf = pending.indexOf("\r\n");
        if (crlf < 0) {
          if (pending.length > 256) throw new MultipartError("malformed multipart delimiter line");
          return false;
        }
        if (!/^[ \t]*$/.test(pending.subarray(0, crlf).toString("latin1"))) {
          throw new MultipartError("malformed multipart delimiter line");
        }
        await endPart();
        pending = pending.subarray(crlf + 2);
        state = "headers";
        return true;
      }
      case "headers": {
        const end = pending.indexOf("\r\n\r\n");
        const blank = pending.subarray(0, 2).toString("latin1") === "\r\n";
        if (end < 0 && !blank) {
          if (pending.length > limits.maxHeaderBytes)
            throw new MultipartError("multipart part headers too large");
          return false;
        }
        const headerLen = blank ? 0 : end;
        if (headerLen > limits.maxHeaderBytes) throw new MultipartError("multipart part headers too large");
        const info = parsePartHeaders(pending.subarray(0, headerLen).toString("utf8"));
        pending = pending.subarray(blank ? 2 : end + 4);
        if (++parts > limits.maxParts) throw new MultipartError("too many form fields", 413);
        part = info;
        if (info.filename !== undefined) {
          sink = onFile(info, fields);
          discarding = sink === undefined;
        }
        state = "body";
        return true;
      }
      case "body": {
        const idx = pending.indexOf(delimiter);
        if (idx >= 0) {
          await emit(pending.subarray(0, idx));
          pending = pending.subarray(idx + delimiter.length);
          state = "afterDelimiter";
          return true;
        }
        // Keep a tail that might be the start of a delimiter split across chunks.
        const safe = pending.length - (delimiter.length - 1);
        if (safe > 0) {
          const out = pending.subarray(0, safe);
          pending = pending.subarray(safe);
          await emit(out);
        }
        return false;
      }
      case "done":
        pending = Buffer.alloc(0); // the epilogue is ignored
        return false;
    }
  };

  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (
      (state as State) === "body" &&
      pending.length > 0 &&
      pending.length < delimiter.length &&
      chunk.length >= delimiter.length
    ) {
      // In a file's bytes, the kept tail (shorter than a delimiter) is joined to the new chunk
      // only when a delimiter starts in it; otherwise it is data, and the chunk is scanned as it
      // is: no copy of every chunk (a copy per 64 KiB chunk cost the server a second per GB).
      const probe = Buffer.concat([pending, chunk.subarray(0, delimiter.length - 1)]);
      const at = probe.indexOf(delimiter);
      if (at >= 0 && at < pending.length) {
        pending = Buffer.concat([pending, chunk]);
      } else {
        await emit(pending);
        pending = chunk;
      }
    } else {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    }
    while (await step()) {
      /* keep stepping while progress is made */
    }
  }
  if ((state as State) !== "done")
    throw new MultipartError("multipart body ended early (no closing boundary)");
  return { fields, files };
}
