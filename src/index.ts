/** pyreg as a library: the public API (the CLI in src/cli is built on it). */
export { PyregError, exitCodeFor, type ErrorCode } from "./core/errors.js";
export { PYREG_VERSION } from "./version.js";
