/**
 * Tests of the sampling primitives (`prepareSample`, `pullSample`,
 * `tryPullSample`) on `Cluster.local`: the values handed out belong to the
 * keys handed out (compared with pulls of the same keys); each scheme's draws,
 * counted over many samples at a fixed seed, fit the requested distribution
 * by a chi-square test — `reuse` counted per pool draw, `local` against the
 * requested distribution conditioned on locality, its documented bias, with
 * a negative control that the unconditioned one is rejected; `postpone`
 * hands out local samples first; runs replay from the seed; and bad input
 * fails with the documented tagged errors.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import {
  Cluster,
  ClusterClosed,
  type ClusterOptions,
  InvalidArgument,
  InvalidOptions,
  LimitExceeded,
  type PolicyName,
  type SampleHandle,
  type SamplingScheme,
  UnknownSampleHandle,
  UnknownTable,
  ValueLengthMismatch,
  type Worker,
} from "../mod.ts"
import { Prng } from "../runtime/prng.ts"
import { fits } from "./_chi_square.ts"

// Table "w": 40 keys of 2 floats, weighted (a few zeros); table "u": 30 keys of 3 floats, uniform.
const W_KEYS = 40
const W_LEN = 2
const U_KEYS = 30
const U_LEN = 3
const WEIGHTS = Array.from({ length: W_KEYS }, (_, i) => (i % 9 === 4 ? 0 : (1 / (i + 1)) ** 0.75))
const initial = (key: number, j: number) => key * 10 + j

function options(
  extra: Partial<ClusterOptions> = {},
  policy: PolicyName = "lapse",
): ClusterOptions {
  const init = (key: number, value: Float32Array) => {
    for (let j = 0; j < value.length; j++) value[j] = initial(key, j)
  }
  return {
    nodes: 2,
    tables: [
      { name: "w", keys: W_KEYS, length: W_LEN, init, sampling: { weights: WEIGHTS } },
      { name: "u", keys: U_KEYS, length: U_LEN, init },
    ],
    policy,
    seed: 7,
    ...extra,
  }
}

/** Pull `total` samples of `table` in handles of `perHandle`, batches of `batch`; all keys. */
async function drawMany(
  w: Worker,
  table: "w" | "u",
  total: number,
  opts: { scheme?: SamplingScheme; perHandle?: number; batch?: number } = {},
): Promise<number[]> {
  const { perHandle = 500, batch = 64 } = opts
  const length = table === "w" ? W_LEN : U_LEN
  const keysOut = new Uint32Array(batch)
  const valuesOut = new Float32Array(batch * length)
  const keys: number[] = []
  while (keys.length < total) {
    const handle = w.prepareSample(Math.min(perHandle, total - keys.length), {
      table,
      scheme: opts.scheme,
    })
    for (let left = handle.n; left > 0;) {
      const m = await w.pullSample(handle, keysOut, valuesOut)
      assert.ok(m > 0 && m <= left)
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < length; j++) {
          // Nothing pushes in these runs, so every value is its initial value.
          assert.equal(valuesOut[i * length + j], initial(keysOut[i], j), `key ${keysOut[i]}`)
        }
        keys.push(keysOut[i])
      }
      left -= m
    }
  }
  return keys
}

function countsOf(keys: readonly number[], start: number, size: number): number[] {
  const counts = new Array<number>(size).fill(0)
  for (const key of keys) counts[key - start]++
  return counts
}

function assertFits(counts: readonly number[], probabilities: readonly number[], what: string) {
  const result = fits(counts, probabilities)
  assert.ok(result.ok, `${what}: χ² ${result.statistic} > ${result.critical} (df ${result.df})`)
}

const UNIFORM_U = new Array<number>(U_KEYS).fill(1)

describe("pullSample hands out values that belong to its keys", () => {
  for (const scheme of ["conventional", "reuse", "local", "postpone"] as const) {
    it(`${scheme}: values equal a pull of the same keys, after pushes`, async () => {
      const cluster = await Cluster.local(options({ sampling: { poolSize: 16, reuse: 3 } }))
      try {
        const w = cluster.node(0).worker()
        const other = cluster.node(1).worker()
        // Make values differ from init, from both nodes, and let the pushes land.
        const all = Array.from({ length: W_KEYS + U_KEYS }, (_, k) => k)
        const deltas = Float32Array.from(all.flatMap((k) => (k < W_KEYS ? [k, -k] : [1, 2, 3])))
        w.push(all, deltas)
        other.push(all, deltas)
        await Promise.all([w.barrier(), other.barrier()])
        for (const table of ["w", "u"] as const) {
          const length = table === "w" ? W_LEN : U_LEN
          const handle = w.prepareSample(45, { table, scheme })
          const keysOut = new Uint32Array(10)
          const valuesOut = new Float32Array(10 * length)
          let got = 0
          while (got < 45) {
            const m = await w.pullSample(handle, keysOut, valuesOut)
            const keys = Array.from(keysOut.subarray(0, m))
            const expected = await w.pull(keys)
            assert.deepEqual(Array.from(valuesOut.subarray(0, m * length)), Array.from(expected))
            got += m
          }
          assert.equal(got, 45)
        }
      } finally {
        await cluster.close()
      }
    })
  }

  it("tryPullSample serves local samples synchronously, -1 when they are not local", async () => {
    const cluster = await Cluster.local(options({}, "static"))
    try {
      const w = cluster.node(0).worker()
      const keysOut = new Uint32Array(1)
      const valuesOut = new Float32Array(U_LEN)
      const handle = w.prepareSample(200, { table: "u" })
      let local = 0
      let remote = 0
      for (let left = 200; left > 0;) {
        const m = w.tryPullSample(handle, keysOut, valuesOut)
        if (m === -1) {
          remote++
          assert.equal(await w.pullSample(handle, keysOut, valuesOut), 1)
          assert.equal(w.isLocal(keysOut[0]), false)
        } else {
          local++
          assert.equal(m, 1)
          assert.equal(w.isLocal(keysOut[0]), true)
        }
        assert.deepEqual(Array.from(valuesOut), [0, 1, 2].map((j) => initial(keysOut[0], j)))
        left--
      }
      // Under static, node 0 holds the even keys: about half of the samples.
      assert.ok(local > 60 && remote > 60, `local ${local}, remote ${remote}`)
      const stats = cluster.stats().total
      assert.equal(stats.samplesPulled, 200)
      assert.equal(stats.samplesLocal, local)
    } finally {
      await cluster.close()
    }
  })
})

describe("each scheme draws from the requested distribution (chi-square, fixed seed)", () => {
  it("conventional: weighted and uniform tables, with relocation (lapse)", async () => {
    const cluster = await Cluster.local(options())
    try {
      const w = cluster.node(0).worker()
      const keys = await drawMany(w, "w", 30_000, { scheme: "conventional" })
      const counts = countsOf(keys, 0, W_KEYS)
      for (let i = 0; i < W_KEYS; i++) if (WEIGHTS[i] === 0) assert.equal(counts[i], 0)
      assertFits(counts, WEIGHTS, "conventional, weighted")
      const uKeys = await drawMany(w, "u", 6_000, { scheme: "conventional" })
      assertFits(countsOf(uKeys, W_KEYS, U_KEYS), UNIFORM_U, "conventional, uniform")
      // Relocation made sampled keys local: later samples were mostly served locally.
      const stats = cluster.stats().total
      assert.equal(stats.samplesPulled, 36_000)
      assert.ok(stats.samplesLocal > 30_000, `${stats.samplesLocal} local`)
    } finally {
      await cluster.close()
    }
  })

  it("negative control: conventional draws do not fit a different distribution", async () => {
    const cluster = await Cluster.local(options())
    try {
      const keys = await drawMany(cluster.node(0).worker(), "w", 30_000)
      const counts = countsOf(keys, 0, W_KEYS)
      const wrong = WEIGHTS.map((x, i) => (i === 0 ? x * 1.3 : x))
      assert.equal(fits(counts, wrong).ok, false)
    } finally {
      await cluster.close()
    }
  })

  it("reuse: each pool draw is handed out exactly `reuse` times; pool draws fit", async () => {
    const reuse = 4
    const poolSize = 100
    const cluster = await Cluster.local(options({ sampling: { scheme: "reuse", reuse, poolSize } }))
    try {
      // 100 full pools of 100 draws, each handed out 4 times.
      const keys = await drawMany(cluster.node(0).worker(), "w", 40_000, { perHandle: 300 })
      const counts = countsOf(keys, 0, W_KEYS)
      for (const c of counts) assert.equal(c % reuse, 0)
      // Within a pool's 4 passes, pass p hands out the same keys in the same order.
      for (let pool = 0; pool < 100; pool++) {
        const first = keys.slice(pool * 400, pool * 400 + 100)
        for (let pass = 1; pass < reuse; pass++) {
          const at = pool * 400 + pass * 100
          assert.deepEqual(keys.slice(at, at + 100), first)
        }
      }
      assertFits(counts.map((c) => c / reuse), WEIGHTS, "reuse, per pool draw")
    } finally {
      await cluster.close()
    }
  })

  it("postpone: the same distribution, local samples handed out first", async () => {
    // Under static no key moves, so locality at pull time is known: node 0 holds even keys.
    const cluster = await Cluster.local(options({ sampling: { scheme: "postpone" } }, "static"))
    try {
      const w = cluster.node(0).worker()
      const keys = await drawMany(w, "w", 30_000, { perHandle: 600, batch: 50 })
      assertFits(countsOf(keys, 0, W_KEYS), WEIGHTS, "postpone")
      // In every handle, once a non-local sample is out, no local one follows.
      for (let h = 0; h < keys.length; h += 600) {
        const local = keys.slice(h, h + 600).map((k) => k % 2 === 0)
        const firstRemote = local.indexOf(false)
        assert.ok(firstRemote > 0)
        assert.ok(local.slice(firstRemote).every((l) => !l), `handle at ${h}`)
      }
    } finally {
      await cluster.close()
    }
  })

  it("local: the requested distribution conditioned on locality (its documented bias)", async () => {
    const cluster = await Cluster.local(options({ sampling: { scheme: "local" } }, "static"))
    try {
      const w = cluster.node(0).worker()
      const keys = await drawMany(w, "w", 20_000)
      const counts = countsOf(keys, 0, W_KEYS)
      const conditioned = WEIGHTS.map((x, k) => (w.isLocal(k) ? x : 0))
      for (let k = 1; k < W_KEYS; k += 2) assert.equal(counts[k], 0, `non-local key ${k} drawn`)
      assertFits(counts, conditioned, "local, conditioned on locality")
      // The bias is real: the unconditioned distribution is rejected.
      assert.equal(fits(counts, WEIGHTS).ok, false)
      const stats = cluster.stats().total
      assert.equal(stats.samplesLocal, 20_000)
      assert.ok(stats.sampleDrawsRejected > 5_000, `${stats.sampleDrawsRejected} rejections`)
    } finally {
      await cluster.close()
    }
  })

  it("local: follows locality as keys move, and ends when nothing is local", async () => {
    const cluster = await Cluster.local(
      options({ sampling: { scheme: "local" } }),
    )
    try {
      const w = cluster.node(0).worker()
      // Localize keys 1, 3, 5 of "u" too: node 0 then holds every even key and those.
      const moved = [W_KEYS + 1, W_KEYS + 3, W_KEYS + 5]
      await w.localize(moved)
      const keys = await drawMany(w, "u", 6_000)
      const conditioned = UNIFORM_U.map((x, i) => (w.isLocal(W_KEYS + i) ? x : 0))
      assertFits(countsOf(keys, W_KEYS, U_KEYS), conditioned, "local after localize")
      // A worker on node 1 of a one-key table owned by node 0: nothing is local.
      const one = await Cluster.local({
        nodes: 2,
        tables: [{ name: "t", keys: 1, length: 1 }],
        policy: "static",
        sampling: { scheme: "local", localDrawsMax: 8 },
      })
      try {
        const v = one.node(1).worker()
        const handle = v.prepareSample(3)
        const keysOut = new Uint32Array(3)
        assert.equal(v.tryPullSample(handle, keysOut, new Float32Array(3)), -1)
        assert.equal(await v.pullSample(handle, keysOut, new Float32Array(3)), 3)
        assert.deepEqual(Array.from(keysOut), [0, 0, 0])
        assert.equal(one.stats().total.sampleDrawsRejected, 3 * 7)
      } finally {
        await one.close()
      }
    } finally {
      await cluster.close()
    }
  })
})

describe("prepareSample with clocks places its samples by intent", () => {
  const N = 24

  /** Tries `tryPullSample` of the whole handle until it serves, or `ms` pass; returns its result. */
  async function tryPullAll(w: Worker, handle: SampleHandle, ms = 5_000): Promise<number> {
    const keysOut = new Uint32Array(handle.n)
    const valuesOut = new Float32Array(handle.n * U_LEN)
    const until = Date.now() + ms
    let m = w.tryPullSample(handle, keysOut, valuesOut)
    while (m === -1 && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 2))
      m = w.tryPullSample(handle, keysOut, valuesOut)
    }
    for (let i = 0; i < Math.max(m, 0); i++) {
      for (let j = 0; j < U_LEN; j++) {
        assert.equal(valuesOut[i * U_LEN + j], initial(keysOut[i], j), `key ${keysOut[i]}`)
      }
    }
    return m
  }

  it("adaptive: the samples move at their start clock, not when prepared", async () => {
    const cluster = await Cluster.local(options({}, "adaptive"))
    try {
      const w = cluster.node(0).worker()
      // Far beyond any window (config.intentWindowInitial, or one measured from a still clock).
      const start = 1_000
      const handle = w.prepareSample(N, { table: "u", start, end: start + 2 })
      await new Promise((resolve) => setTimeout(resolve, 20))
      const before = cluster.stats().nodes[0]
      assert.equal(before.relocationsIn + before.replicasCreated, 0, "a sample moved early")
      // 24 uniform draws of 30 keys, half of them homed on node 1: some are not local.
      assert.equal(w.tryPullSample(handle, new Uint32Array(N), new Float32Array(N * U_LEN)), -1)
      while (w.clock < start) w.advanceClock()
      assert.equal(await tryPullAll(w, handle), N, "a sample was not local at its start clock")
      const after = cluster.stats().nodes[0]
      assert.ok(after.relocationsIn > 0, "no sample moved")
      assert.equal(after.intentKeys, N)
      assert.equal(after.intentKeysLocal, N)
    } finally {
      await cluster.close()
    }
  })

  it("control: without clocks (adaptive), or under lapse, samples are localized when prepared", async () => {
    for (const [policy, clocks] of [["adaptive", {}], ["lapse", { start: 1_000 }]] as const) {
      const cluster = await Cluster.local(options({}, policy))
      try {
        const w = cluster.node(0).worker()
        const handle = w.prepareSample(N, { table: "u", ...clocks })
        assert.equal(await tryPullAll(w, handle), N, `${policy}: not localized`)
        assert.equal(w.clock, 0)
        assert.ok(cluster.stats().nodes[0].relocationsIn > 0, `${policy}: nothing moved`)
      } finally {
        await cluster.close()
      }
    }
  })
})

describe("determinism", () => {
  it("replays the same samples from the same seed; workers draw different streams", async () => {
    const run = async (seed: number) => {
      const cluster = await Cluster.local(options({ seed }))
      try {
        const [a, b] = [cluster.node(0).worker(), cluster.node(0).worker()]
        return [await drawMany(a, "w", 300), await drawMany(b, "w", 300)]
      } finally {
        await cluster.close()
      }
    }
    const [a1, b1] = await run(3)
    const [a2, b2] = await run(3)
    const [a3] = await run(4)
    assert.deepEqual(a1, a2)
    assert.deepEqual(b1, b2)
    assert.notDeepEqual(a1, b1)
    assert.notDeepEqual(a1, a3)
  })

  it("the streams come from each node's Random service, which a cluster may be given", async () => {
    const run = async (random?: (node: number) => Prng) => {
      const cluster = await Cluster.local(options({ seed: 3 }), { random })
      try {
        return await drawMany(cluster.node(0).worker(), "w", 300)
      } finally {
        await cluster.close()
      }
    }
    const draws: number[] = []
    const given = (node: number) => {
      const prng = new Prng(1_000 + node)
      const next = prng.nextIntUnsafe.bind(prng)
      prng.nextIntUnsafe = () => (draws.push(node), next())
      return prng
    }
    const [seeded, injected, again] = [await run(), await run(given), await run(given)]
    assert.deepEqual(injected, again)
    assert.notDeepEqual(injected, seeded)
    // One draw per worker made, from its own node's service.
    assert.deepEqual(draws, [0, 0])
  })
})

type ErrorClass = abstract new (...args: never[]) => Error

/** `fn` must throw synchronously, or reject, with `cls` tagged `tag`, message matching `message`. */
async function expectError(fn: () => unknown, cls: ErrorClass, tag: string, message: RegExp) {
  let error: unknown
  try {
    await fn()
  } catch (e) {
    error = e
  }
  assert.ok(error instanceof cls, `expected ${tag}, got ${String(error)}`)
  assert.equal((error as Error & { _tag: string })._tag, tag)
  assert.match((error as Error).message, message)
}

describe("bad input gives tagged errors and changes nothing", () => {
  it("rejects a bad n, table, scheme or clocks in prepareSample", async () => {
    const cluster = await Cluster.local(options({ config: { sampleKeysMax: 1_000 } }))
    try {
      const w = cluster.node(0).worker()
      const before = cluster.stats()
      for (const n of [0, -1, 1.5, NaN, Infinity, "3" as unknown as number]) {
        await expectError(
          () => w.prepareSample(n, { table: "w" }),
          InvalidArgument,
          "InvalidArgument",
          /n must be a positive integer/,
        )
      }
      await expectError(
        () => w.prepareSample(1_001, { table: "w" }),
        LimitExceeded,
        "LimitExceeded",
        /n = 1001 exceeds config.sampleKeysMax = 1000/,
      )
      await expectError(
        () => w.prepareSample(5),
        InvalidArgument,
        "InvalidArgument",
        /name the table to sample \(tables: w, u\)/,
      )
      await expectError(
        () => w.prepareSample(5, { table: "nope" }),
        UnknownTable,
        "UnknownTable",
        /no table 'nope'/,
      )
      await expectError(
        () => w.prepareSample(5, { table: "w", scheme: "best" as SamplingScheme }),
        InvalidArgument,
        "InvalidArgument",
        /unknown sampling scheme 'best'/,
      )
      await expectError(
        () => w.prepareSample(5, { table: "w", sheme: "local" } as never),
        InvalidArgument,
        "InvalidArgument",
        /prepareSample: unknown option 'sheme' \(did you mean 'scheme'\?\); known: table, start, end, scheme/,
      )
      const clocks: Array<[number | undefined, number | undefined, RegExp]> = [
        [-1, undefined, /start must be a clock/],
        [0.5, 2, /start must be a clock/],
        [undefined, NaN, /end must be a clock/],
        [5, 4, /end \(4\) must be after start \(5\)/],
        [5, 5, /end \(5\) must be after start \(5\)/],
        ["1" as never, 3, /start must be a clock \(an integer ≥ 0\), got "1"/],
      ]
      for (const [start, end, message] of clocks) {
        await expectError(
          () => w.prepareSample(5, { table: "w", start, end }),
          InvalidArgument,
          "InvalidArgument",
          message,
        )
      }
      assert.deepEqual(cluster.stats(), before)
      // Good clocks are kept on the handle.
      const handle = w.prepareSample(5, { table: "u", start: 2, end: 4, scheme: "reuse" })
      assert.deepEqual({ ...handle }, {
        id: handle.id,
        n: 5,
        table: "u",
        scheme: "reuse",
        start: 2,
        end: 4,
      })
    } finally {
      await cluster.close()
    }
  })

  it("rejects bad keysOut and valuesOut, and unknown, used-up or finished handles", async () => {
    const cluster = await Cluster.local(options())
    try {
      const w = cluster.node(0).worker()
      const other = cluster.node(0).worker()
      const handle = w.prepareSample(4, { table: "w" })
      const keys4 = new Uint32Array(4)
      const calls = (h: SampleHandle, k: Uint32Array, v: Float32Array) => [
        () => w.pullSample(h, k, v),
        () => w.tryPullSample(h, k, v),
      ]
      for (const call of calls(handle, new Uint32Array(0), new Float32Array(0))) {
        await expectError(call, InvalidArgument, "InvalidArgument", /keysOut must be a non-empty/)
      }
      const numbers = [0, 0] as unknown as Uint32Array
      for (const call of calls(handle, numbers, new Float32Array(4))) {
        await expectError(call, InvalidArgument, "InvalidArgument", /keysOut must be a non-empty/)
      }
      for (const wrong of [0, 7, 9, 4]) {
        for (const call of calls(handle, keys4, new Float32Array(wrong))) {
          await expectError(
            call,
            ValueLengthMismatch,
            "ValueLengthMismatch",
            new RegExp(`valuesOut has ${wrong} floats, expected 8`),
          )
        }
      }
      // Nothing was handed out by the failed calls: all 4 samples are still there.
      assert.equal(await w.pullSample(handle, keys4, new Float32Array(8)), 4)
      const fake = { ...handle }
      const finished = w.prepareSample(3, { table: "w" })
      w.finishSample(finished)
      const foreign = other.prepareSample(3, { table: "w" })
      for (const h of [handle, fake, finished, foreign, undefined as unknown as SampleHandle]) {
        for (const call of calls(h, keys4, new Float32Array(8))) {
          await expectError(
            call,
            UnknownSampleHandle,
            "UnknownSampleHandle",
            /not a sample handle of this worker, or already used up or finished/,
          )
        }
      }
      await expectError(
        () => w.finishSample(finished),
        UnknownSampleHandle,
        "UnknownSampleHandle",
        /finishSample/,
      )
      assert.equal(cluster.stats().total.samplesPulled, 4)
    } finally {
      await cluster.close()
    }
  })

  it("caps open handles at config.sampleHandlesMax", async () => {
    const cluster = await Cluster.local(options({ config: { sampleHandlesMax: 3 } }))
    try {
      const w = cluster.node(0).worker()
      const handles = [1, 2, 3].map(() => w.prepareSample(2, { table: "u" }))
      await expectError(
        () => w.prepareSample(2, { table: "u" }),
        LimitExceeded,
        "LimitExceeded",
        /3 handles are open \(config.sampleHandlesMax\)/,
      )
      w.finishSample(handles[0])
      await w.pullSample(handles[1], new Uint32Array(2), new Float32Array(2 * U_LEN))
      w.prepareSample(2, { table: "u" })
      w.prepareSample(2, { table: "u" })
    } finally {
      await cluster.close()
    }
  })

  it("rejects bad sampling options and weights with InvalidOptions", async () => {
    const base = options()
    const withWeights = (weights: unknown) => ({
      ...base,
      tables: [{ name: "w", keys: 4, length: 1, sampling: { weights } as never }],
    })
    const bad: Array<[ClusterOptions, RegExp]> = [
      [withWeights([1, 2, 3]), /table 'w': sampling: 3 weights for 4 keys/],
      [withWeights([1, -2, 3, 4]), /table 'w': sampling: weight 1 is -2/],
      [withWeights([0, 0, 0, 0]), /all weights are zero/],
      [withWeights([1, NaN, 1, 1]), /weight 1 is NaN/],
      [withWeights("heavy"), /must be a Float64Array/],
      [
        { ...base, tables: [{ name: "w", keys: 4, length: 1, sampling: "zipf" as never }] },
        /sampling must be "uniform" or \{ weights \}/,
      ],
      [
        { ...base, sampling: { scheme: "best" as SamplingScheme } },
        /unknown sampling scheme 'best'/,
      ],
      [{ ...base, sampling: { reuse: 0 } }, /sampling.reuse must be a positive integer, got 0/],
      [{ ...base, sampling: { poolSize: 2.5 } }, /sampling.poolSize must be a positive integer/],
      [{ ...base, sampling: { pool: 3 } as never }, /unknown sampling option 'pool'/],
      [{ ...base, sampling: 3 as never }, /sampling must be an object/],
      [
        { ...base, sampling: { poolsize: 3 } as never },
        /unknown sampling option 'poolsize' \(did you mean 'poolSize'\?\); known: scheme, reuse, poolSize, localDrawsMax/,
      ],
      [
        {
          ...base,
          tables: [{ name: "w", keys: 2, length: 1, sampling: { weight: [1, 1] } as never }],
        },
        /table 'w': unknown sampling option 'weight' \(did you mean 'weights'\?\); known: weights/,
      ],
    ]
    for (const [opts, message] of bad) {
      await expectError(() => Cluster.local(opts), InvalidOptions, "InvalidOptions", message)
    }
  })

  it("fails with ClusterClosed after close", async () => {
    const cluster = await Cluster.local(options())
    const w = cluster.node(0).worker()
    const handle = w.prepareSample(2, { table: "u" })
    await cluster.close()
    const out = () => [new Uint32Array(2), new Float32Array(2 * U_LEN)] as const
    await expectError(
      () => w.prepareSample(2, { table: "u" }),
      ClusterClosed,
      "ClusterClosed",
      /prepareSample/,
    )
    await expectError(
      () => w.pullSample(handle, ...out()),
      ClusterClosed,
      "ClusterClosed",
      /pullSample/,
    )
    await expectError(
      () => w.tryPullSample(handle, ...out()),
      ClusterClosed,
      "ClusterClosed",
      /tryPullSample/,
    )
    await expectError(() => w.finishSample(handle), ClusterClosed, "ClusterClosed", /finishSample/)
  })
})
