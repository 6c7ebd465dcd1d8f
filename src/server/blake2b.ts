/**
 * Streaming BLAKE2b (RFC 7693) with a chosen digest length, unkeyed.
 *
 * Why: the legacy upload form carries `blake2_256_digest`, which is BLAKE2b with a 32-byte output
 * (a different parameter block, not a truncated BLAKE2b-512), and Node's crypto only offers
 * `blake2b512` with a fixed length. 64-bit words are kept as pairs of 32-bit halves.
 */
const IV32 = new Uint32Array([
  0xf3bcc908, 0x6a09e667, 0x84caa73b, 0xbb67ae85, 0xfe94f82b, 0x3c6ef372, 0x5f1d36f1, 0xa54ff53a, 0xade682d1,
  0x510e527f, 0x2b3e6c1f, 0x9b05688c, 0xfb41bd6b, 0x1f83d9ab, 0x137e2179, 0x5be0cd19,
]);

const SIGMA: readonly number[][] = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];

export class Blake2b {
  private readonly h = new Uint32Array(16);
  private readonly v = new Uint32Array(32);
  private readonly m = new Uint32Array(32);
  private readonly buf = new Uint8Array(128);
  private bufLen = 0;
  /** Bytes compressed so far (a double is exact up to 2^53, far beyond any upload). */
  private t = 0;
  private done = false;

  constructor(private readonly outLen = 32) {
    if (outLen < 1 || outLen > 64) throw new RangeError("BLAKE2b output length must be 1..64");
    this.h.set(IV32);
    // Parameter block word 0: digest length, key length 0, fanout 1, depth 1.
    this.h[0] = (this.h[0] as number) ^ (0x01010000 ^ outLen);
  }

  update(data: Uint8Array): this {
    if (this.done) throw new Error("BLAKE2b: update after digest");
    let i = 0;
    while (i < data.length) {
      if (this.bufLen === 128) {
        this.t += 128;
        this.compress(false);
        this.bufLen = 0;
      }
      const n = Math.min(128 - this.bufLen, data.length - i);
      this.buf.set(data.subarray(i, i + n), this.bufLen);
      this.bufLen += n;
      i += n;
    }
    return this;
  }

  digest(): Buffer {
    if (this.done) throw new Error("BLAKE2b: digest called twice");
    this.done = true;
    this.t += this.bufLen;
    this.buf.fill(0, this.bufLen);
    this.compress(true);
    const out = Buffer.alloc(this.outLen);
    for (let i = 0; i < this.outLen; i++) {
      out[i] = ((this.h[i >> 2] as number) >>> (8 * (i & 3))) & 0xff;
    }
    return out;
  }

  hexdigest(): string {
    return this.digest().toString("hex");
  }

  private compress(last: boolean): void {
    const { v, m, h, buf } = this;
    for (let i = 0; i < 32; i++) {
      m[i] = (buf[i * 4] as number) | ((buf[i * 4 + 1] as number) << 8) | ((buf[i * 4 + 2] as number) << 16);
      m[i] = (m[i] as number) | ((buf[i * 4 + 3] as number) << 24);
    }
    v.set(h, 0);
    v.set(IV32, 16);
    const lo = this.t >>> 0;
    const hi = Math.floor(this.t / 0x100000000) >>> 0;
    v[24] = (v[24] as number) ^ lo;
    v[25] = (v[25] as number) ^ hi;
    if (last) {
      v[28] = ~(v[28] as number) >>> 0;
      v[29] = ~(v[29] as number) >>> 0;
    }
    for (let r = 0; r < 12; r++) {
      const s = SIGMA[r % 10] as number[];
      this.g(0, 8, 16, 24, s[0] as number, s[1] as number);
      this.g(2, 10, 18, 26, s[2] as number, s[3] as number);
      this.g(4, 12, 20, 28, s[4] as number, s[5] as number);
      this.g(6, 14, 22, 30, s[6] as number, s[7] as number);
      this.g(0, 10, 20, 30, s[8] as number, s[9] as number);
      this.g(2, 12, 22, 24, s[10] as number, s[11] as number);
      this.g(4, 14, 16, 26, s[12] as number, s[13] as number);
      this.g(6, 8, 18, 28, s[14] as number, s[15] as number);
    }
    for (let i = 0; i < 16; i++) h[i] = ((h[i] as number) ^ (v[i] as number) ^ (v[i + 16] as number)) >>> 0;
  }

  /** a += b (64-bit), on word indexes into v. */
  private add(a: number, b: number): void {
    const v = this.v;
    const o0 = (v[a] as number) + (v[b] as number);
    let o1 = (v[a + 1] as number) + (v[b + 1] as number);
    if (o0 >= 0x100000000) o1++;
    v[a] = o0;
    v[a + 1] = o1;
  }

  /** v[a] += m[x] (64-bit). */
  private addM(a: number, x: number): void {
    const v = this.v;
    const m = this.m;
    const o0 = (v[a] as number) + (m[x] as number);
    let o1 = (v[a + 1] as number) + (m[x + 1] as number);
    if (o0 >= 0x100000000) o1++;
    v[a] = o0;
    v[a + 1] = o1;
  }

  /** v[a] = rotr64(v[a] ^ v[b], n). */
  private xorRot(a: number, b: number, n: number): void {
    const v = this.v;
    const xl = ((v[a] as number) ^ (v[b] as number)) >>> 0;
    const xh = ((v[a + 1] as number) ^ (v[b + 1] as number)) >>> 0;
    if (n === 32) {
      v[a] = xh;
      v[a + 1] = xl;
    } else if (n < 32) {
      v[a] = (xl >>> n) | (xh << (32 - n));
      v[a + 1] = (xh >>> n) | (xl << (32 - n));
    } else {
      const k = n - 32;
      v[a] = (xh >>> k) | (xl << (32 - k));
      v[a + 1] = (xl >>> k) | (xh << (32 - k));
    }
  }

  private g(a: number, b: number, c: number, d: number, ix: number, iy: number): void {
    this.add(a, b);
    this.addM(a, ix * 2);
    this.xorRot(d, a, 32);
    this.add(c, d);
    this.xorRot(b, c, 24);
    this.add(a, b);
    this.addM(a, iy * 2);
    this.xorRot(d, a, 16);
    this.add(c, d);
    this.xorRot(b, c, 63);
  }
}

export function blake2b256Hex(data: Uint8Array): string {
  return new Blake2b(32).update(data).hexdigest();
}
