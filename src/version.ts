import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
/** The version in package.json (dist/src/version.js → ../../package.json). */
export const PYREG_VERSION: string = (require("../../package.json") as { version: string }).version;
