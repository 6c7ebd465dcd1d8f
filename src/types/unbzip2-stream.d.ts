/** unbzip2-stream ships no types: a through-stream that decompresses bzip2 (npm unbzip2-stream). */
declare module "unbzip2-stream" {
  export default function unbzip2Stream(): NodeJS.ReadWriteStream;
}
