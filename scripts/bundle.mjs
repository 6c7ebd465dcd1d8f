// The command-line program as one ES module: dist/src/pyreg.mjs, bundled by esbuild from the
// compiled dist/src/cli/main.js and the pure-JavaScript libraries it imports. Run after tsc (npm
// run build, prepare and scripts/test.sh do).
//
// Why: Node.js 20 loads an ES module graph a file at a time (resolve, read, link), and the CLI's
// graph is about 300 ES modules (zod alone is 95) and 100 CommonJS files (undici's 70). On the
// 2-core test machine `pyreg --version` took 0.9 s of CPU, 0.6 s of it importing; the bundle is
// imported in about 0.26 s, 0.18-0.24 s with whitespace and syntax minified (names are kept, so a
// stack trace still names its functions). Every pyreg process starts that much sooner.
//
// Not bundled: better-sqlite3 (a native addon, loaded from node_modules), and the two cloud SDKs
// pyreg imports only when a GAR or CodeArtifact registry is used. The library entry
// (dist/src/index.js) stays the plain tsc output.
//
// The bundle sits next to dist/src/version.js, at the same depth, so that version.ts's
// `../../package.json` (resolved from the module's own URL) names the same file from both.
import { build } from "esbuild";
import process from "node:process";

await build({
  entryPoints: ["dist/src/cli/main.js"],
  outfile: "dist/src/pyreg.mjs",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  external: ["better-sqlite3", "@aws-sdk/*", "google-auth-library"],
  // CommonJS libraries in an ES module bundle call require() for Node's own modules.
  banner: {
    js: 'import { createRequire as pyregCreateRequire } from "node:module";\nconst require = pyregCreateRequire(import.meta.url);',
  },
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: "eof",
  logLevel: "warning",
}).catch(() => process.exit(1));
