/**
 * multipart/form-data (RFC 7578) of the legacy upload API, parsed by busboy 1.x
 * (https://github.com/mscdex/busboy, a streaming parser with its own test suite) under strict
 * limits: text fields are collected in memory, bounded in count and size; the one file part is
 * handed to the caller chunk by chunk with backpressure (busboy stops reading while a write is
 * pending), so an upload is never held in memory.
 *
 * Why busboy 1.x and not @fastify/busboy (the Fastify project's fork of busboy 0.3): the fork
 * still makes a Readable stream for every part, text fields included, and an upload form carries
 * about 25 of them. Parsing a twine form of 26 fields and a 5,000-byte wheel in-process, 5,000
 * times: 418-497 µs of CPU per form with @fastify/busboy 3.2.6, 296-298 µs with busboy 1.6.0
 * (whose fields are plain events); in a 20,000-file migration into `pyreg serve` the fork's
 * parse was about 30 % of the server's CPU samples (`--cpu-prof`).
 */
import { finished, Readable } from "node:stream";
import busboy from "busboy";
import { errorMessage } from "../core/errors.js";

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

/**
 * The limits pyreg sets. A part's header block is bounded by busboy itself, at 16 KiB (Node's
 * default for HTTP headers): a longer one is a malformed body (400).
 */
export interface MultipartLimits {
  /** Bytes of one text field's value. */
  maxFieldBytes: number;
  /** Bytes of all text fields (and of file parts nobody keeps) together. */
  maxTotalFieldBytes: number;
  /** Number of text fields. */
  maxFields: number;
  /** Number of file parts. */
  maxFiles: number;
  /** Number of parts. */
  maxParts: number;
  /** Bytes of one file part. */
  maxFileBytes: number;
}

export const DEFAULT_LIMITS: MultipartLimits = {
  // Long READMEs travel in the `description` field; Warehouse accepts a few MB.
  maxFieldBytes: 8 * 1024 * 1024,
  maxTotalFieldBytes: 16 * 1024 * 1024,
  // twine sends about 30 fields, repeated ones (classifiers, requires_dist) each once per value.
  maxFields: 2000,
  // `content`, and `gpg_signature` from old twine versions.
  maxFiles: 4,
  maxParts: 2004,
  maxFileBytes: 4 * 1024 ** 3,
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

/** Errors of busboy itself (malformed input), told apart from errors of the request stream. */
class ParserFailure extends Error {}

/**
 * Reads a multipart body of type `contentType` (which carries the boundary). For each part with a
 * filename, `onFile` (given the fields read before it) returns a sink for its bytes, or undefined
 * to discard them (counted against `maxTotalFieldBytes`). Throws MultipartError on malformed or
 * oversized input, or when a sink throws one; errors of the stream itself (a cut connection)
 * propagate unchanged. The body is left unread after an error: the caller closes the connection.
 */
export async function parseMultipart(
  body: AsyncIterable<Buffer> | Readable,
  contentType: string | undefined,
  onFile: (part: PartInfo, fieldsSoFar: readonly [string, string][]) => FileSink | undefined,
  limits: MultipartLimits = DEFAULT_LIMITS,
): Promise<ParseResult> {
  if (!contentType || !/^multipart\/form-data\s*;/i.test(contentType)) {
    throw new MultipartError("Expected multipart/form-data with a boundary");
  }
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: { "content-type": contentType },
      // The client's filename as sent: it is checked, never trimmed to a basename here.
      preservePath: true,
      defCharset: "utf8",
      defParamCharset: "utf8",
      limits: {
        // busboy reports a value or file as cut when it REACHES its limit, so an allowed size of N
        // bytes is a limit of N + 1 (a file of exactly N bytes passes).
        fieldSize: limits.maxFieldBytes + 1,
        fields: limits.maxFields,
        files: limits.maxFiles,
        parts: limits.maxParts,
        fileSize: limits.maxFileBytes + 1,
      },
    });
  } catch {
    throw new MultipartError("Expected multipart/form-data with a boundary");
  }
  const stream = body instanceof Readable ? body : Readable.from(body);
  const fields: [string, string][] = [];
  const files: PartInfo[] = [];
  const fileTasks: Promise<void>[] = [];
  const fileStreams: Readable[] = [];
  let totalFieldBytes = 0;
  let failure: unknown;

  return new Promise<ParseResult>((resolve, reject) => {
    let settled = false;
    /** Stops reading, lets the file writers finish (a sink is never closed under a write), rejects. */
    const fail = (err: unknown): void => {
      if (failure !== undefined) return;
      failure = err;
      stream.unpipe(parser);
      for (const f of fileStreams) f.destroy();
      void Promise.allSettled(fileTasks).then(() => {
        settled = true;
        reject(err instanceof ParserFailure ? new MultipartError(err.message) : err);
      });
    };
    const tooMuch = (message: string): void => fail(new MultipartError(message, 413));
    const countFieldBytes = (n: number): void => {
      totalFieldBytes += n;
      if (totalFieldBytes > limits.maxTotalFieldBytes) tooMuch("form fields are too large");
    };

    /** A text field whose bytes come as a stream: its place among the fields is kept. */
    const fieldSink = (name: string): FileSink => {
      const at = fields.push([name, ""]) - 1;
      const chunks: Buffer[] = [];
      let size = 0;
      return {
        write: (chunk) => {
          size += chunk.length;
          if (size > limits.maxFieldBytes) return tooMuch(`form field ${JSON.stringify(name)} is too large`);
          countFieldBytes(chunk.length);
          chunks.push(chunk);
        },
        end: () => {
          fields[at] = [name, Buffer.concat(chunks).toString("utf8")];
        },
      };
    };

    // A part's name is never cut (busboy's fieldNameSize applies to urlencoded bodies only); its
    // header block is bounded at 16 KiB.
    parser.on("field", (name, value, { valueTruncated }) => {
      if (failure !== undefined) return;
      if (valueTruncated) return tooMuch(`form field ${JSON.stringify(name)} is too large`);
      countFieldBytes(Buffer.byteLength(value));
      fields.push([name, value]);
    });
    parser.on("file", (name, file, { filename, mimeType }) => {
      fileStreams.push(file);
      file.on("limit", () => tooMuch(`file part ${JSON.stringify(name)} is too large`));
      const part: PartInfo = { name, filename, contentType: mimeType };
      // RFC 7578 (section 4.2) makes a part a file by its filename; busboy also hands over, as a
      // file, a part typed application/octet-stream without one. That part is a text field, kept
      // in its place among the fields (as the parser before, @fastify/busboy, gave it).
      const sink =
        failure !== undefined ? undefined : filename === undefined ? fieldSink(name) : onFile(part, fields);
      fileTasks.push(
        (async () => {
          const chunks = (file as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
          try {
            for (;;) {
              let next: IteratorResult<Buffer>;
              try {
                next = await chunks.next();
              } catch (err) {
                // The part itself broke: malformed or cut input (or destroyed by `fail`).
                return fail(new ParserFailure(`malformed multipart body: ${errorMessage(err)}`));
              }
              if (next.done || failure !== undefined) break;
              // Errors of the sink (a full disk, a size limit) are passed on as they are.
              if (sink) await sink.write(next.value);
              else countFieldBytes(next.value.length);
            }
            if (sink && failure === undefined && !file.truncated) {
              await sink.end();
              if (filename !== undefined) files.push(part);
            }
          } catch (err) {
            fail(err);
          }
        })(),
      );
    });
    parser.on("partsLimit", () => tooMuch("too many form parts"));
    parser.on("fieldsLimit", () => tooMuch("too many form fields"));
    parser.on("filesLimit", () => tooMuch("too many file parts"));
    parser.on("error", (err: Error) => fail(new ParserFailure(`malformed multipart body: ${err.message}`)));
    parser.on("finish", () => {
      void Promise.allSettled(fileTasks).then(() => {
        if (failure !== undefined || settled) return;
        settled = true;
        resolve({ fields, files });
      });
    });
    // The request stream's own end: an error, or a close before its end (a cut connection).
    finished(stream, { writable: false }, (err) => {
      if (err) fail(err);
    });
    // A body that ends: busboy then finishes, or reports "Unexpected end of form" when cut short.
    stream.pipe(parser);
  });
}
