/**
 * A small seeded pseudo-random number generator.
 *
 * roam injects every source of nondeterminism, and this is the deterministic
 * stream behind the injected randomness: the simulator and the memory transport
 * draw from it, and it is the `Random` service roam gives each node (Effect's
 * `Random` interface), so a failing run replays exactly from its seed. The generator
 * is xoshiro128** (32-bit state words, integer math through `Math.imul`), whose
 * state is expanded from the seed with splitmix32 so that nearby seeds (0, 1,
 * 2, ...) still give unrelated streams. It is not cryptographic.
 */

import type * as Random from "effect/Random"

const TWO_POW_32 = 4294967296
const TWO_POW_21 = 2097152

/** The splitmix32 output of state `x`: `x` advanced by one step, finalized to a well-mixed word. */
function mix32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return (z ^ (z >>> 16)) >>> 0
}

/** One splitmix32 step: advances `state` and returns a well-mixed 32-bit word. */
function splitmix32(state: Uint32Array): number {
  const word = mix32(state[0])
  state[0] = (state[0] + 0x9e3779b9) >>> 0
  return word
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k))
}

/** A deterministic random stream: the same seed always yields the same values. */
export class Prng implements Random.Random {
  private s0: number
  private s1: number
  private s2: number
  private s3: number

  constructor(seed: number) {
    // Only the low 32 bits of the seed matter; a fractional or negative seed is
    // a caller's bug that would silently alias another seed, so refuse it.
    if (!Number.isInteger(seed)) throw new RangeError(`Prng seed must be an integer, got ${seed}`)
    const sm = new Uint32Array([seed >>> 0])
    this.s0 = splitmix32(sm)
    this.s1 = splitmix32(sm)
    this.s2 = splitmix32(sm)
    this.s3 = splitmix32(sm)
    // xoshiro is stuck at zero forever if its whole state is zero.
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1
  }

  /** The next 32-bit unsigned integer of the stream. */
  nextU32(): number {
    const s1 = this.s1
    const result = Math.imul(rotl(Math.imul(s1, 5), 7), 9) >>> 0
    const t = s1 << 9
    this.s2 ^= this.s0
    this.s3 ^= s1
    this.s1 ^= this.s2
    this.s0 ^= this.s3
    this.s2 ^= t
    this.s3 = rotl(this.s3, 11)
    return result
  }

  /** A float in [0, 1) with 32 random bits. */
  nextFloat(): number {
    return this.nextU32() / TWO_POW_32
  }

  /** Effect's `Random`: a float in [0, 1). */
  nextDoubleUnsafe(): number {
    return this.nextFloat()
  }

  /** Effect's `Random`: a safe integer in [0, 2^53), from two draws. */
  nextIntUnsafe(): number {
    return this.nextU32() * TWO_POW_21 + (this.nextU32() >>> 11)
  }

  /**
   * An integer in [0, n), for an integer 1 ≤ n ≤ 2^32, without modulo bias: draws
   * at or above the largest multiple of n that fits in 32 bits are rejected,
   * which happens with probability below 1/2 and almost never for small n.
   */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new RangeError(`Prng.nextInt needs an integer 1 ≤ n ≤ 2^32, got ${n}`)
    }
    const limit = TWO_POW_32 - (TWO_POW_32 % n)
    for (;;) {
      const x = this.nextU32()
      if (x < limit) return x % n
    }
  }

  /**
   * A new, independent stream derived from this one. Forking advances this
   * stream by one draw, so the sequence of forks is itself deterministic.
   */
  fork(): Prng {
    return new Prng(this.nextU32())
  }
}

/**
 * The `Random` service roam gives node `node` of a cluster seeded `seed`: a
 * stream of its own, unrelated to the transport's stream of the same seed.
 */
export function nodeRandom(seed: number, node: number): Prng {
  const SALT = 0x5a4d_504c // node streams differ from every other stream of the same seed
  return new Prng(mix32(mix32((seed ^ SALT) >>> 0) ^ node))
}
