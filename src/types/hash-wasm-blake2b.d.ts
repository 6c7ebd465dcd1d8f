/** hash-wasm's build of BLAKE2b alone (src/core/hash.ts): the functions its index exports for it. */
declare module "hash-wasm/dist/blake2b.umd.min.js" {
  import type { blake2b, createBLAKE2b } from "hash-wasm";
  const build: { blake2b: typeof blake2b; createBLAKE2b: typeof createBLAKE2b };
  export default build;
}
