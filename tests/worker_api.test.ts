/**
 * Tests of the public surface (`mod.ts`) on `Cluster.local`: every kind of
 * bad input throws the documented tagged error, with a message naming the
 * problem, and changes nothing (values and `cluster.stats()` are compared
 * before and after); calls after `close()` and operations pending at
 * `close()` fail with `ClusterClosed`; and the positive behaviour of the
 * worker API — multi-table batches, `init`, `tryPull` and `localize` under
 * both policies, barriers, duplicate keys, both key array types and the
 * counters of `cluster.stats()`.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { setImmediate } from "node:timers"
import {
  Cluster,
  ClusterClosed,
  type ClusterOptions,
  InvalidArgument,
  InvalidOptions,
  KeyOutOfRange,
  LimitExceeded,
  NodeOutOfRange,
  type PolicyName,
  UnknownTable,
  ValueLengthMismatch,
  type Worker,
} from "../mod.ts"

// Two tables of different value lengths: keys 0..9 have 3 floats, keys 10..17 have 5.
const LEN_A = 3
const LEN_B = 5
const KEYS_A = 10
const KEYS_B = 8
const KEYS = KEYS_A + KEYS_B
const lengthOf = (key: number) => (key < KEYS_A ? LEN_A : LEN_B)
const initial = (key: number, j: number) => key * 10 + j

function tables() {
  const init = (key: number, value: Float32Array) => {
    for (let j = 0; j < value.length; j++) value[j] = initial(key, j)
  }
  return [
    { name: "a", keys: KEYS_A, length: LEN_A, init },
    { name: "b", keys: KEYS_B, length: LEN_B, init },
  ]
}

function start(policy: PolicyName = "lapse", nodes = 3): Promise<Cluster> {
  return Cluster.local({ nodes, tables: tables(), policy, seed: 11 })
}

/** Floats of a batch of keys. */
const floatsOf = (keys: readonly number[]) => keys.reduce((n, k) => n + lengthOf(k), 0)

/** The initial values of `keys`, concatenated. */
function initialOf(keys: readonly number[]): number[] {
  return keys.flatMap((k) => Array.from({ length: lengthOf(k) }, (_, j) => initial(k, j)))
}

/** A Float32Array with each key's value set to `f(key, j)`. */
function valuesOf(keys: readonly number[], f: (key: number, j: number) => number): Float32Array {
  return Float32Array.from(
    keys.flatMap((k) => Array.from({ length: lengthOf(k) }, (_, j) => f(k, j))),
  )
}

const ALL_KEYS = Array.from({ length: KEYS }, (_, k) => k)

function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

async function macrotasks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await nextMacrotask()
}

/** Rejects if `p` has not settled within `ms` (so a hang fails the test instead of the run). */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(timer)
  }
}

type ErrorClass = abstract new (...args: never[]) => Error

/**
 * Runs `fn`, which must fail with an instance of `cls` tagged `tag` whose
 * message matches `message`, either by throwing or by returning a rejected
 * promise. Returns the error.
 */
async function expectError(
  fn: () => unknown,
  cls: ErrorClass,
  tag: string,
  message: RegExp,
): Promise<Error & { _tag: string }> {
  let error: unknown
  let failed = false
  try {
    const result = fn()
    if (result instanceof Promise) {
      try {
        await within(result, 2000, "the call")
      } catch (e) {
        error = e
        failed = true
      }
    }
  } catch (e) {
    error = e
    failed = true
  }
  assert.ok(failed, `expected ${tag}, but the call succeeded`)
  assert.ok(error instanceof cls, `expected an instance of ${cls.name}, got ${String(error)}`)
  const tagged = error as Error & { _tag: string }
  assert.equal(tagged._tag, tag)
  assert.match(tagged.message, message)
  return tagged
}

/** Every key's value as seen by `w` (a pull of the whole key space). */
async function pullAll(w: Worker): Promise<number[]> {
  return Array.from(await within(w.pull(ALL_KEYS), 2000, "pull of every key"))
}

/**
 * Asserts that `bad` fails as described and that nothing changed: the values
 * every node sees, the cluster's counters and the key states of every node.
 */
async function assertRejectedWithoutChange(
  cluster: Cluster,
  readers: readonly Worker[],
  bad: () => unknown,
  expect: { cls: ErrorClass; tag: string; message: RegExp },
  what: string,
): Promise<void> {
  const before = await Promise.all(readers.map(pullAll))
  await macrotasks(3)
  const statsBefore = cluster.stats()
  const statesBefore = cluster.localNodes.map((n) => Array.from(n.runtime.store.state))
  await expectError(bad, expect.cls, expect.tag, expect.message).catch((e) => {
    throw new Error(`${what}: ${e.message}`)
  })
  await macrotasks(5)
  assert.deepEqual(cluster.stats(), statsBefore, `${what}: stats changed`)
  assert.deepEqual(
    cluster.localNodes.map((n) => Array.from(n.runtime.store.state)),
    statesBefore,
    `${what}: key states changed`,
  )
  for (const node of cluster.localNodes) {
    assert.ok(node.runtime.quiet, `${what}: node ${node.id} has an operation pending`)
  }
  const after = await Promise.all(readers.map(pullAll))
  assert.deepEqual(after, before, `${what}: values changed`)
}

describe("bad input: the right tagged error, and nothing changes", () => {
  const badKeys: Array<{ name: string; key: number }> = [
    { name: "one past the key space", key: KEYS },
    { name: "far out of range", key: 1_000_000 },
    { name: "2^32", key: 2 ** 32 },
    { name: "negative", key: -1 },
    { name: "non-integer", key: 1.5 },
    { name: "NaN", key: NaN },
    { name: "Infinity", key: Infinity },
  ]

  it("rejects bad keys in pull, tryPull, push, set and localize", async () => {
    const cluster = await start()
    try {
      const workers = cluster.localNodes.map((n) => n.worker())
      const w = workers[0]
      for (const { name, key } of badKeys) {
        // Good keys before and after the bad one: local (0, 3), remote (1, 2), both tables.
        for (const keys of [[key], [0, 3, 1, 12, key], [key, 0, 1, 16], [0, 11, key, 2, 3]]) {
          const floats = floatsOf(keys.filter((k) => Number.isInteger(k) && k >= 0 && k < KEYS))
          const message = new RegExp(
            `key ${String(key).replace(".", "\\.")} is not an integer in \\[0, ${KEYS}\\)`,
          )
          const expect = { cls: KeyOutOfRange, tag: "KeyOutOfRange", message }
          const cases: Array<[string, () => unknown]> = [
            ["pull", () => w.pull(keys)],
            ["pull(out)", () => w.pull(keys, new Float32Array(floats))],
            ["tryPull", () => w.tryPull(keys, new Float32Array(floats))],
            ["push", () => w.push(keys, new Float32Array(floats).fill(1))],
            ["set", () => w.set(keys, new Float32Array(floats).fill(-7))],
            ["localize", () => w.localize(keys)],
          ]
          for (const [op, bad] of cases) {
            await assertRejectedWithoutChange(
              cluster,
              workers,
              bad,
              expect,
              `${op} with ${name} key in [${keys}]`,
            )
          }
        }
        const error = await expectError(
          () => w.push([key], new Float32Array(3)),
          KeyOutOfRange,
          "KeyOutOfRange",
          /not an integer/,
        ) as unknown as KeyOutOfRange
        assert.ok(Object.is(error.key, key), `error.key ${error.key} for ${name}`)
        assert.equal(error.keys, KEYS)
      }
      // A Uint32Array can hold keys past the key space too.
      await assertRejectedWithoutChange(
        cluster,
        workers,
        () => w.push(new Uint32Array([0, 0xffff_ffff]), new Float32Array(6)),
        { cls: KeyOutOfRange, tag: "KeyOutOfRange", message: /key 4294967295 is not/ },
        "push with a Uint32Array key past the key space",
      )
    } finally {
      await cluster.close()
    }
  })

  it("rejects batches that are not batches: keys not an array, values not a Float32Array", async () => {
    // Found by a new-user audit: pull(3) resolved an empty array and made
    // the local share NaN; pull(null) threw an untagged TypeError.
    const cluster = await start()
    try {
      const workers = cluster.localNodes.map((n) => n.worker())
      const w = workers[0]
      const keysMessage = (what: string, got: string) =>
        new RegExp(`${what}: keys must be a Uint32Array or an array of numbers, got ${got}`)
      const notKeys: Array<[unknown, string]> = [
        [3, "3"],
        ["0,1", '"0,1"'],
        [null, "null"],
        [undefined, "undefined"],
        [{ length: 2, 0: 1, 1: 2 }, "Object"],
        [new Int32Array([1]), "Int32Array"],
      ]
      for (const [keys, got] of notKeys) {
        const bad = keys as never
        const cases: Array<[string, () => unknown]> = [
          ["pull", () => w.pull(bad)],
          ["tryPull", () => w.tryPull(bad, new Float32Array(0))],
          ["push", () => w.push(bad, new Float32Array(0))],
          ["set", () => w.set(bad, new Float32Array(0))],
          ["localize", () => w.localize(bad)],
          ["intent", () => w.intent(bad, 1)],
        ]
        for (const [op, call] of cases) {
          await assertRejectedWithoutChange(
            cluster,
            workers,
            call,
            { cls: InvalidArgument, tag: "InvalidArgument", message: keysMessage(op, got) },
            `${op} with keys ${got}`,
          )
        }
      }
      const keys = [0, 1]
      const floats = floatsOf(keys)
      const notFloats: Array<[unknown, string]> = [
        [null, "null"],
        [Array(floats).fill(1), "Array"],
        [new Float64Array(floats), "Float64Array"],
      ]
      for (const [values, got] of notFloats) {
        const bad = values as never
        const cases: Array<[string, () => unknown, string]> = [
          ["pull", () => w.pull(keys, bad), "pull output"],
          ["tryPull", () => w.tryPull(keys, bad), "tryPull output"],
          ["push", () => w.push(keys, bad), "push values"],
          ["set", () => w.set(keys, bad), "set values"],
        ]
        for (const [op, call, what] of cases) {
          await assertRejectedWithoutChange(
            cluster,
            workers,
            call,
            {
              cls: InvalidArgument,
              tag: "InvalidArgument",
              message: new RegExp(`${what} must be a Float32Array, got ${got}`),
            },
            `${op} with values ${got}`,
          )
        }
      }
      assert.ok(Number.isFinite(cluster.stats().localShare), "the stats stay numbers")
    } finally {
      await cluster.close()
    }
  })

  it("refuses, with LimitExceeded and before anything changes, more waiting keys than parkedKeysMax", async () => {
    // Found by a new-user audit: the node threw an internal InvariantViolation
    // with the operation half issued, its keys stayed busy, a later pull of
    // one of them never settled, and close() crashed the process.
    const cluster = await Cluster.local({
      nodes: 2,
      tables: [{ name: "t", keys: 100, length: 1 }],
      policy: "lapse",
      config: { parkedKeysMax: 10 },
    })
    try {
      const w = cluster.node(0).worker()
      const keys = Array.from({ length: 50 }, (_, i) => 2 * i + 1) // Node 1's keys.
      const moving = w.localize(keys)
      const stats = cluster.stats()
      for (
        const [what, call] of [
          ["pull", () => w.pull(keys)],
          ["push", () => w.push(keys, new Float32Array(50).fill(1))],
        ] as const
      ) {
        await expectError(
          call,
          LimitExceeded,
          "LimitExceeded",
          new RegExp(`${what}: 50 keys on their way to node 0 would wait there with 0 already`),
        )
      }
      assert.deepEqual(cluster.stats(), stats, "nothing counted")
      await within(moving, 2000, "the localize")
      w.push(keys.slice(0, 20), new Float32Array(20).fill(2))
      const values = await within(w.pull(keys), 2000, "a pull after the refusal")
      assert.deepEqual(
        Array.from(values.subarray(0, 20)),
        Array(20).fill(2),
        "the push applied once",
      )
      assert.deepEqual(
        Array.from(values.subarray(20)),
        Array(30).fill(0),
        "no refused push applied",
      )
      assert.ok(cluster.node(0).runtime.quiet)
    } finally {
      await cluster.close()
    }
  })

  it("rejects value arrays of the wrong length in push, set, pull(out) and tryPull", async () => {
    const cluster = await start()
    try {
      const workers = cluster.localNodes.map((n) => n.worker())
      const w = workers[0]
      const batches = [
        [0, 3], // local to node 0, table a only
        [0, 12], // local key of a, remote key of b
        [1, 2, 13, 17, 4], // remote keys of both tables
        [15, 15], // a duplicate key
      ]
      for (const keys of batches) {
        const right = floatsOf(keys)
        for (const wrong of [0, right - 1, right + 1, right + LEN_A, right - LEN_B]) {
          if (wrong < 0 || wrong === right) continue
          const what = (op: string) => `${op} of [${keys}] with ${wrong} floats instead of ${right}`
          const message = new RegExp(`has ${wrong} floats, expected ${right}`)
          const expect = { cls: ValueLengthMismatch, tag: "ValueLengthMismatch", message }
          const cases: Array<[string, () => unknown]> = [
            ["push", () => w.push(keys, new Float32Array(wrong).fill(1))],
            ["set", () => w.set(keys, new Float32Array(wrong).fill(-3))],
            ["pull(out)", () => w.pull(keys, new Float32Array(wrong))],
            ["tryPull", () => w.tryPull(keys, new Float32Array(wrong))],
          ]
          for (const [op, bad] of cases) {
            await assertRejectedWithoutChange(cluster, workers, bad, expect, what(op))
          }
          const error = await expectError(
            () => w.push(keys, new Float32Array(wrong)),
            ValueLengthMismatch,
            "ValueLengthMismatch",
            /push values/,
          ) as unknown as ValueLengthMismatch
          assert.equal(error.expected, right)
          assert.equal(error.actual, wrong)
        }
      }
      // The operation names itself in the message.
      await expectError(
        () => w.tryPull([0], new Float32Array(1)),
        ValueLengthMismatch,
        "ValueLengthMismatch",
        /tryPull output has 1 floats, expected 3/,
      )
      await expectError(
        () => w.pull([10], new Float32Array(3)),
        ValueLengthMismatch,
        "ValueLengthMismatch",
        /pull output has 3 floats, expected 5/,
      )
      await expectError(
        () => w.set([10], new Float32Array(3)),
        ValueLengthMismatch,
        "ValueLengthMismatch",
        /set values has 3 floats, expected 5/,
      )
    } finally {
      await cluster.close()
    }
  })

  it("rejects an unknown table, naming it and the tables there are", async () => {
    const cluster = await start()
    try {
      const statsBefore = cluster.stats()
      const error = await expectError(
        () => cluster.table("nope"),
        UnknownTable,
        "UnknownTable",
        /no table 'nope' \(tables: a, b\)/,
      ) as unknown as UnknownTable
      assert.equal(error.table, "nope")
      await expectError(() => cluster.table(""), UnknownTable, "UnknownTable", /no table ''/)
      assert.deepEqual(cluster.stats(), statsBefore)
      // The known tables are still found, with their key ranges.
      assert.deepEqual(
        [cluster.table("a").start, cluster.table("a").end, cluster.table("a").length],
        [0, KEYS_A, LEN_A],
      )
      assert.deepEqual(
        [cluster.table("b").start, cluster.table("b").end, cluster.table("b").length],
        [KEYS_A, KEYS, LEN_B],
      )
    } finally {
      await cluster.close()
    }
  })

  it("rejects a node index out of range", async () => {
    const cluster = await start()
    try {
      const statsBefore = cluster.stats()
      for (const i of [7, 3, -1, 1.5, NaN]) {
        const error = await expectError(
          () => cluster.node(i),
          NodeOutOfRange,
          "NodeOutOfRange",
          new RegExp(`node ${i} is not a node of this process \\(nodes: 0, 1, 2\\)`),
        ) as unknown as NodeOutOfRange
        assert.ok(Object.is(error.node, i))
        assert.equal(error.nodes, 3)
      }
      assert.deepEqual(cluster.stats(), statsBefore)
      assert.deepEqual([0, 1, 2].map((i) => cluster.node(i).id), [0, 1, 2])
    } finally {
      await cluster.close()
    }
  })

  it("rejects invalid options with InvalidOptions through a rejected promise", async () => {
    const good = { nodes: 2, tables: [{ name: "t", keys: 4, length: 2 }] }
    const cases: Array<[string, unknown, RegExp]> = [
      ["nodes 0", { ...good, nodes: 0 }, /nodes must be an integer in \[1, 64\], got 0/],
      ["nodes 1.5", { ...good, nodes: 1.5 }, /nodes must be an integer .* got 1\.5/],
      ["nodes -2", { ...good, nodes: -2 }, /nodes must be an integer/],
      ["nodes 65", { ...good, nodes: 65 }, /nodes must be an integer .* got 65/],
      ["nodes missing", { tables: good.tables }, /nodes must be an integer/],
      ["no tables", { ...good, tables: [] }, /tables must be a non-empty array/],
      ["tables missing", { nodes: 2 }, /tables must be a non-empty array/],
      [
        "duplicate table names",
        { ...good, tables: [good.tables[0], { name: "t", keys: 2, length: 1 }] },
        /table name 't' is used twice/,
      ],
      ["table without name", { ...good, tables: [{ keys: 4, length: 2 }] }, /needs a name/],
      [
        "length 0",
        { ...good, tables: [{ name: "t", keys: 4, length: 0 }] },
        /table 't': length must be a positive integer, got 0/,
      ],
      [
        "length 2.5",
        { ...good, tables: [{ name: "t", keys: 4, length: 2.5 }] },
        /length must be a positive integer/,
      ],
      [
        "keys 0",
        { ...good, tables: [{ name: "t", keys: 0, length: 2 }] },
        /table 't': keys must be a positive integer, got 0/,
      ],
      [
        "init not a function",
        { ...good, tables: [{ name: "t", keys: 4, length: 2, init: 5 }] },
        /init must be a function/,
      ],
      ["unknown policy", { ...good, policy: "nope" }, /unknown policy 'nope'/],
      ["unknown policy object", { ...good, policy: { name: "nope" } }, /unknown policy 'nope'/],
      ["seed 1.5", { ...good, seed: 1.5 }, /seed must be an integer/],
      [
        "config frameKeysMax 0",
        { ...good, config: { frameKeysMax: 0 } },
        /config\.frameKeysMax must be a positive integer, got 0/,
      ],
      ["unknown config field", { ...good, config: { nope: 1 } }, /unknown config field 'nope'/],
      ["options not an object", null, /options must be an object/],
      [
        "unknown option (a near miss)",
        { ...good, polcy: "static" },
        /unknown option 'polcy' \(did you mean 'policy'\?\); known: nodes, tables, policy, seed, sampling, config$/,
      ],
      [
        "unknown option (no near miss)",
        { ...good, workers: 4 },
        /unknown option 'workers'; known: nodes,/,
      ],
      [
        "unknown table option",
        { ...good, tables: [{ name: "t", keys: 4, length: 2, lenght: 2 }] },
        /table 't': unknown option 'lenght' \(did you mean 'length'\?\); known: name, keys, length, init, sampling/,
      ],
      [
        "unknown option of a table without a name",
        { ...good, tables: [{ nmae: "t", keys: 4, length: 2 }] },
        /tables\[0\]: unknown option 'nmae' \(did you mean 'name'\?\)/,
      ],
      ["table not an object", { ...good, tables: [null] }, /tables\[0\] must be an object/],
      [
        "unknown config field (a near miss)",
        { ...good, config: { frameKeyMax: 8 } },
        /unknown config field 'frameKeyMax' \(did you mean 'frameKeysMax'\?\); known: forwardHopsMax,/,
      ],
      ["config not an object", { ...good, config: 5 }, /config must be an object/],
      ["policy neither a name nor an object", { ...good, policy: 5 }, /policy must be a name/],
    ]
    for (const [name, options, message] of cases) {
      let result: Promise<Cluster> | undefined
      assert.doesNotThrow(() => {
        result = Cluster.local(options as ClusterOptions)
      }, `${name}: Cluster.local threw instead of rejecting`)
      assert.ok(result instanceof Promise, name)
      await assert.rejects(result, (e: unknown) => {
        assert.ok(e instanceof InvalidOptions, `${name}: got ${String(e)}`)
        assert.equal((e as InvalidOptions)._tag, "InvalidOptions")
        assert.match((e as InvalidOptions).message, message, name)
        return true
      }, name)
    }
    // The good options work (so the cases above fail for their own reason).
    const cluster = await Cluster.local(good)
    await cluster.close()
  })
})

describe("close", () => {
  it("makes every later call fail with ClusterClosed", async () => {
    const cluster = await start()
    const node = cluster.node(1)
    const w = node.worker()
    const w0 = cluster.node(0).worker()
    assert.equal(w.tryPull([1], new Float32Array(LEN_A)), true)
    await cluster.close()
    const message = /the cluster is closed/
    const expect = (what: string, fn: () => unknown) =>
      expectError(fn, ClusterClosed, "ClusterClosed", message).catch((e) => {
        throw new Error(`${what}: ${e.message}`)
      })
    await expect("pull", () => w.pull([1]))
    await expect("pull of a remote key", () => w0.pull([1]))
    await expect("push", () => w.push([1], new Float32Array(LEN_A)))
    await expect("set", () => w.set([1], new Float32Array(LEN_A)))
    await expect("tryPull", () => w.tryPull([1], new Float32Array(LEN_A)))
    await expect("localize", () => w.localize([0]))
    await expect("barrier", () => w.barrier())
    await expect("advanceClock", () => w.advanceClock())
    await expect("yieldIfDue", () => w.yieldIfDue())
    await expect("isLocal", () => w.isLocal(1))
    await expect("worker()", () => node.worker())
    await expect("node()", () => cluster.node(0))
    // Closing twice is harmless.
    await cluster.close()
  })

  it("rejects pending operations with ClusterClosed instead of hanging", async () => {
    const cluster = await start()
    const w0 = cluster.node(0).worker()
    const w0b = cluster.node(0).worker()
    cluster.node(1).worker()
    // A remote pull, a localize of remote keys, and a barrier the other workers never join.
    const pull = w0.pull([1, 2, 13])
    const localize = w0b.localize([4, 5])
    const barrier = w0.barrier()
    // A pull that waits behind an earlier push on the same key (the deferred queue).
    w0b.push([7], new Float32Array(LEN_A).fill(1))
    const deferred = w0b.pull([7])
    const settled = Promise.allSettled([pull, localize, barrier, deferred])
    await cluster.close()
    const results = await within(settled, 2000, "pending operations")
    for (const [i, result] of results.entries()) {
      assert.equal(result.status, "rejected", `operation ${i} was not rejected`)
      const reason = (result as PromiseRejectedResult).reason
      assert.ok(reason instanceof ClusterClosed, `operation ${i}: ${String(reason)}`)
      assert.equal(reason._tag, "ClusterClosed")
      assert.match(reason.message, /the cluster is closed/)
    }
  })
})

describe("worker API behaviour", () => {
  it("pulls, pushes and sets multi-table batches across 3 nodes", async () => {
    const cluster = await start()
    try {
      const ws = cluster.localNodes.map((n) => n.worker())
      // Mixed tables, keys of every home, in no particular order.
      const keys = [12, 0, 16, 4, 11, 2, 17, 9, 10, 5]
      const floats = floatsOf(keys)
      assert.equal(floats, 5 * LEN_A + 5 * LEN_B)
      for (const w of ws) assert.deepEqual(Array.from(await w.pull(keys)), initialOf(keys))

      // Read-your-writes through a push and a set, from node 1.
      const deltas = valuesOf(keys, (k, j) => k + j / 4)
      ws[1].push(keys, deltas)
      const pushed = Array.from(valuesOf(keys, (k, j) => initial(k, j) + k + j / 4))
      assert.deepEqual(Array.from(await ws[1].pull(keys)), pushed)

      const setKeys = [17, 3, 10, 8]
      const set = valuesOf(setKeys, (k, j) => -k - j)
      ws[2].set(setKeys, set)
      // Push right after the set, before either is answered: applied after it.
      ws[2].push(setKeys, valuesOf(setKeys, () => 0.5))
      const out = new Float32Array(floatsOf(setKeys))
      const result = await ws[2].pull(setKeys, out)
      assert.equal(result, out, "pull(keys, out) resolves to out")
      assert.deepEqual(Array.from(out), Array.from(valuesOf(setKeys, (k, j) => -k - j + 0.5)))

      // Every node then agrees on every key.
      await Promise.all(ws.map((w) => w.barrier()))
      const expected = ALL_KEYS.flatMap((k) =>
        Array.from({ length: lengthOf(k) }, (_, j) => {
          if (setKeys.includes(k)) return -k - j + 0.5
          if (keys.includes(k)) return initial(k, j) + k + j / 4
          return initial(k, j)
        })
      )
      for (const w of ws) assert.deepEqual(await pullAll(w), expected)
    } finally {
      await cluster.close()
    }
  })

  it("serves batches mixing local and remote keys of both tables after a localize", async () => {
    const cluster = await start()
    try {
      const w = cluster.node(1).worker()
      await w.localize([0, 2, 12, 14]) // now local to node 1, with 1, 4, 7, 10, 13, 16 (homes)
      const keys = [0, 3, 12, 15, 1, 11, 10, 2, 17]
      assert.deepEqual(Array.from(await w.pull(keys)), initialOf(keys))
      w.push(keys, valuesOf(keys, (k) => k))
      assert.deepEqual(
        Array.from(await w.pull(keys)),
        Array.from(valuesOf(keys, (k, j) => initial(k, j) + k)),
      )
      const local = [0, 2, 12, 14, 1, 10]
      const out = new Float32Array(floatsOf(local))
      assert.equal(w.tryPull(local, out), true)
      assert.deepEqual(
        Array.from(out),
        Array.from(valuesOf(local, (k, j) => initial(k, j) + (keys.includes(k) ? k : 0))),
      )
    } finally {
      await cluster.close()
    }
  })

  it("serves single-table batches with remote keys right after mixed ones, and back", async () => {
    // The scan records per-key tables only for batches spanning two tables;
    // the split of a one-table batch must not read what a mixed one left.
    const cluster = await start()
    try {
      const w = cluster.node(0).worker()
      const mixed = [4, 13, 1, 10, 5]
      const onlyB = [16, 11, 12, 15, 10] // Homes 1, 2, 0, 0, 1 on 3 nodes.
      const onlyA = [1, 2, 3, 0, 8]
      for (const keys of [mixed, onlyB, mixed, onlyA, onlyB]) {
        assert.deepEqual(Array.from(await w.pull(keys)), initialOf(keys), String(keys))
      }
      for (const keys of [mixed, onlyB, onlyA]) w.push(keys, valuesOf(keys, (k) => k))
      const times = (k: number) => [mixed, onlyB, onlyA].filter((b) => b.includes(k)).length
      for (const keys of [onlyB, mixed, onlyA]) {
        assert.deepEqual(
          Array.from(await w.pull(keys)),
          Array.from(valuesOf(keys, (k, j) => initial(k, j) + k * times(k))),
          String(keys),
        )
      }
    } finally {
      await cluster.close()
    }
  })

  it("fills every key with its table's init on every node", async () => {
    const cluster = await start("lapse", 3)
    try {
      for (const node of cluster.localNodes) {
        const w = node.worker()
        assert.deepEqual(await pullAll(w), initialOf(ALL_KEYS))
      }
      // A table without init starts at zeros.
      const plain = await Cluster.local({
        nodes: 2,
        tables: [{ name: "z", keys: 5, length: 4 }],
      })
      try {
        const w = plain.node(1).worker()
        assert.deepEqual(Array.from(await w.pull([0, 1, 2, 3, 4])), new Array(20).fill(0))
      } finally {
        await plain.close()
      }
    } finally {
      await cluster.close()
    }
  })

  it("tryPull is false for a remote key and true after localize (lapse)", async () => {
    const cluster = await start("lapse")
    try {
      const w = cluster.node(0).worker()
      const keys = [1, 11, 0] // homes 1, 2, 0
      const out = new Float32Array(floatsOf(keys))
      assert.equal(w.tryPull(keys, out), false)
      assert.equal(w.tryPull([1], new Float32Array(LEN_A)), false)
      assert.equal(w.tryPull([0], new Float32Array(LEN_A)), true)
      await within(w.localize(keys), 2000, "localize")
      assert.equal(w.tryPull(keys, out), true)
      assert.deepEqual(Array.from(out), initialOf(keys))
      const stats = cluster.stats()
      assert.equal(stats.total.relocationsIn, 2)
      assert.equal(stats.nodes[0].relocationsIn, 2)
      assert.equal(stats.nodes[1].relocationsOut, 1)
      assert.equal(stats.nodes[2].relocationsOut, 1)
      // Node 1 now sees key 1 as remote, and its reads still reach the new owner.
      const w1 = cluster.node(1).worker()
      assert.equal(w1.tryPull([1], new Float32Array(LEN_A)), false)
      w.push([1], new Float32Array([1, 1, 1]))
      assert.deepEqual(Array.from(await w1.pull([1])), [11, 12, 13])
      // Localizing what is already local changes nothing.
      await w.localize([1, 0])
      assert.equal(cluster.stats().total.relocationsIn, 2)
    } finally {
      await cluster.close()
    }
  })

  it("static policy leaves keys at home after localize", async () => {
    const cluster = await start("static")
    try {
      const w = cluster.node(0).worker()
      const keys = [1, 11, 2, 13]
      await within(w.localize(keys), 2000, "localize")
      await macrotasks(10)
      const out = new Float32Array(floatsOf(keys))
      assert.equal(w.tryPull(keys, out), false)
      const total = cluster.stats().total
      assert.equal(total.relocationsIn, 0)
      assert.equal(total.relocationsOut, 0)
      assert.deepEqual(Array.from(await w.pull(keys)), initialOf(keys))
      assert.equal(cluster.policy.name, "static")
    } finally {
      await cluster.close()
    }
  })

  describe("barrier", () => {
    /** Calls barrier on `order` (indices into `ws`), waiting macrotasks in between. */
    async function arriveAll(ws: Worker[], order: number[]) {
      const resolved = new Array(ws.length).fill(false)
      const promises: Promise<void>[] = []
      for (const [n, i] of order.entries()) {
        const arrived = ws[i].barrier().then(() => {
          resolved[i] = true
        })
        // If an assertion below fails, closing the cluster rejects this barrier: keep that quiet.
        arrived.catch(() => {})
        promises.push(arrived)
        await macrotasks(20)
        if (n < order.length - 1) {
          assert.deepEqual(
            resolved.filter(Boolean).length,
            0,
            `a barrier resolved after only ${n + 1} of ${ws.length} calls (order ${order})`,
          )
        }
      }
      await within(Promise.all(promises), 2000, "barrier")
      assert.ok(resolved.every(Boolean))
    }

    async function sixWorkers(): Promise<{ cluster: Cluster; ws: Worker[] }> {
      const cluster = await start()
      // Workers 0,1 on node 0; 2,3 on node 1; 4,5 on node 2.
      const ws = [0, 0, 1, 1, 2, 2].map((i) => cluster.node(i).worker())
      return { cluster, ws }
    }

    it("resolves only after all 6 workers of 3 nodes called it", async () => {
      const { cluster, ws } = await sixWorkers()
      try {
        await macrotasks(10) // let every node learn of every worker
        await arriveAll(ws, [2, 4, 0, 3, 1, 5])
        // A second generation, in another order.
        await arriveAll(ws, [5, 4, 3, 2, 1, 0])
      } finally {
        await cluster.close()
      }
    })

    it("waits for every worker even when one node's workers all arrive first", async () => {
      const { cluster, ws } = await sixWorkers()
      try {
        // No pause after creating the workers: node 0's workers arrive before anything else.
        await arriveAll(ws, [0, 1, 2, 3, 4, 5])
        await arriveAll(ws, [4, 5, 0, 1, 2, 3])
      } finally {
        await cluster.close()
      }
    })

    it("waits for node 0's workers when the other nodes complete first", async () => {
      const { cluster, ws } = await sixWorkers()
      try {
        // Nodes 1 and 2 complete; node 0 has one of two workers waiting.
        await arriveAll(ws, [2, 3, 4, 5, 0, 1])
      } finally {
        await cluster.close()
      }
    })

    it("makes every earlier push visible everywhere", async () => {
      const { cluster, ws } = await sixWorkers()
      try {
        // Every worker pushes 1 to every key; after the barrier all see initial + 6.
        for (const w of ws) w.push(ALL_KEYS, new Float32Array(floatsOf(ALL_KEYS)).fill(1))
        await within(Promise.all(ws.map((w) => w.barrier())), 2000, "barrier")
        const expected = initialOf(ALL_KEYS).map((v) => v + 6)
        for (const w of ws) assert.deepEqual(await pullAll(w), expected)
      } finally {
        await cluster.close()
      }
    })
  })

  it("adds both deltas of a key pushed twice in one batch", async () => {
    const cluster = await start()
    try {
      const w = cluster.node(0).worker()
      // 0: local; 1: remote, table a; 13: remote, table b; 3: local; each twice or more.
      const keys = [0, 1, 13, 0, 1, 13, 3, 13]
      const deltas = valuesOf(keys, () => 0)
      let at = 0
      for (const [i, k] of keys.entries()) {
        deltas.fill(i + 1, at, at + lengthOf(k))
        at += lengthOf(k)
      }
      w.push(keys, deltas)
      const unique = [0, 1, 13, 3]
      const sum = new Map([[0, 1 + 4], [1, 2 + 5], [13, 3 + 6 + 8], [3, 7]])
      const expected = Array.from(valuesOf(unique, (k, j) => initial(k, j) + sum.get(k)!))
      assert.deepEqual(Array.from(await w.pull(unique)), expected)
      // The other nodes see the same sums.
      const w2 = cluster.node(2).worker()
      assert.deepEqual(Array.from(await w2.pull(unique)), expected)
      // A duplicate key in a pull returns the value twice.
      assert.deepEqual(
        Array.from(await w2.pull([13, 13])),
        [
          ...expected.slice(2 * LEN_A, 2 * LEN_A + LEN_B),
          ...expected.slice(2 * LEN_A, 2 * LEN_A + LEN_B),
        ],
      )
    } finally {
      await cluster.close()
    }
  })

  it("adds a pushed batch exactly when it looks like one just pulled (the warm-row check)", async () => {
    // A push of a batch pulled just before skips the prefetch of its rows; it
    // must not skip anything else. Batch B has A's length and first, middle
    // and last keys, and other keys between: it looks warm and is not.
    const cluster = await Cluster.local({
      nodes: 1,
      tables: [{ name: "t", keys: 64, length: 3, init: (key, v) => v.fill(key) }],
    })
    try {
      const w = cluster.node(0).worker()
      const a = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
      const b = [0, 20, 21, 22, 23, 5, 24, 25, 26, 27, 10]
      w.tryPull(a, new Float32Array(a.length * 3))
      w.push(b, new Float32Array(b.length * 3).fill(0.5))
      w.push(a, new Float32Array(a.length * 3).fill(0.25))
      const keys = Array.from({ length: 28 }, (_, k) => k)
      const out = new Float32Array(keys.length * 3)
      assert.ok(w.tryPull(keys, out))
      for (const key of keys) {
        const added = (b.filter((k) => k === key).length * 0.5) + (a.includes(key) ? 0.25 : 0)
        assert.deepEqual(
          Array.from(out.subarray(key * 3, key * 3 + 3)),
          [0, 1, 2].map(() => key + added),
          `key ${key}`,
        )
      }
    } finally {
      await cluster.close()
    }
  })

  it("gives the same results for Uint32Array and number[] keys", async () => {
    const keys = [14, 2, 0, 9, 17, 1, 10]
    const deltas = valuesOf(keys, (k, j) => k * 0.25 + j)
    const results: number[][] = []
    for (const asTyped of [false, true]) {
      const cluster = await start()
      try {
        const w = cluster.node(2).worker()
        const batch = asTyped ? Uint32Array.from(keys) : keys
        const pulled = Array.from(await w.pull(batch))
        assert.deepEqual(pulled, initialOf(keys))
        w.push(batch, deltas)
        w.set(asTyped ? new Uint32Array([9]) : [9], new Float32Array([1, 2, 3]))
        await w.localize(batch)
        const out = new Float32Array(floatsOf(keys))
        assert.equal(w.tryPull(batch, out), true)
        results.push(Array.from(out))
      } finally {
        await cluster.close()
      }
    }
    assert.deepEqual(results[1], results[0])
    assert.deepEqual(
      results[0],
      Array.from(valuesOf(keys, (k, j) => (k === 9 ? j + 1 : initial(k, j) + k * 0.25 + j))),
    )
  })

  it("counts local and remote keys in cluster.stats()", async () => {
    const cluster = await start("static")
    try {
      const fresh = cluster.stats()
      assert.equal(fresh.localShare, 1)
      assert.equal(fresh.total.pullKeysLocal + fresh.total.pullKeysRemote, 0)
      const w = cluster.node(0).worker()
      // Keys 0, 3, 12 are at node 0 (home); 1, 2, 10 are not.
      await w.pull([0, 1, 2, 3, 10, 12])
      let s = cluster.stats().nodes[0]
      assert.equal(s.pullKeysLocal, 3)
      assert.equal(s.pullKeysRemote, 3)
      assert.equal(s.pullBatchesRemote, 1)
      assert.equal(s.pullBatchesLocal, 0)
      assert.equal(w.tryPull([0, 3, 12], new Float32Array(LEN_A * 2 + LEN_B)), true)
      assert.equal(w.tryPull([0, 1], new Float32Array(LEN_A * 2)), false)
      s = cluster.stats().nodes[0]
      assert.equal(s.pullKeysLocal, 6)
      assert.equal(s.pullBatchesLocal, 1)
      assert.equal(s.pullKeysRemote, 3, "a failed tryPull counts nothing")
      w.push([0, 1, 2], new Float32Array(3 * LEN_A))
      w.set([3], new Float32Array(LEN_A))
      await w.pull([1, 2]) // waits for the push's acknowledgement
      s = cluster.stats().nodes[0]
      assert.equal(s.pushKeysLocal, 2)
      assert.equal(s.pushBatchesLocal, 1)
      assert.equal(s.pushKeysRemote, 2)
      assert.equal(s.pushBatchesRemote, 1)
      assert.equal(s.pullKeysRemote, 5)
      const stats = cluster.stats()
      // Pulled 6 local and 5 remote keys; pushed or set 2 local and 2 remote ones.
      assert.equal(stats.localShare, (6 + 2) / (6 + 5 + 2 + 2))
      // Other nodes served, but did not issue, operations.
      for (const other of stats.nodes.slice(1)) {
        assert.equal(other.pullKeysLocal + other.pullKeysRemote + other.pushKeysLocal, 0)
        assert.ok(other.framesReceived > 0 && other.framesSent > 0)
      }
      // The total is the sum, and every frame sent was received (nothing in flight).
      assert.equal(stats.total.pullKeysLocal, 6)
      assert.equal(stats.total.framesSent, stats.total.framesReceived)
      assert.equal(stats.total.bytesSent, stats.total.bytesReceived)
      assert.equal(stats.total.framesRejected, 0)
      // Node stats are copies: changing them does not change the cluster's.
      const copy = cluster.node(0).stats()
      copy.pullKeysLocal = -1
      assert.equal(cluster.node(0).stats().pullKeysLocal, 6)
    } finally {
      await cluster.close()
    }
  })

  describe("yieldIfDue", () => {
    /** Spin for `ms` of wall time. */
    const spin = (ms: number) => {
      const until = performance.now() + ms
      while (performance.now() < until) { /* compute */ }
    }

    it("returns no promise within a slice, and one that resolves after it", async () => {
      const cluster = await Cluster.local({
        nodes: 2,
        tables: tables(),
        config: { workerSliceMs: 20 },
      })
      try {
        const w = cluster.node(0).worker()
        assert.equal(w.yieldIfDue(), undefined, "a new worker is within its first slice")
        spin(25)
        const turn = w.yieldIfDue()
        assert.ok(turn instanceof Promise, "a slice has passed")
        await turn
        assert.equal(w.yieldIfDue(), undefined, "the turn starts a new slice")
      } finally {
        await cluster.close()
      }
    })

    it("lets a node busy on local keys answer another node's pull; without it, no answer comes", async () => {
      const cluster = await Cluster.local({ nodes: 2, tables: tables(), policy: "static" })
      try {
        const [busy, asker] = [cluster.node(0).worker(), cluster.node(1).worker()]
        const local = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].filter((k) => busy.isLocal(k))
        const remote = local.find((k) => !asker.isLocal(k))
        assert.ok(remote !== undefined && local.length > 0)
        const out = new Float32Array(floatsOf(local))
        const deltas = new Float32Array(floatsOf(local)).fill(1)
        /** A training loop on `busy`'s local keys until `asker`'s pull resolves or `ms` pass. */
        const train = async (ms: number, yielding: boolean) => {
          let answered = false
          const pulled = asker.pull([remote]).then(() => answered = true)
          const until = performance.now() + ms
          let steps = 0
          while (!answered && performance.now() < until) {
            assert.ok(busy.tryPull(local, out))
            busy.push(local, deltas)
            steps++
            const turn = yielding ? busy.yieldIfDue() : undefined
            if (turn !== undefined) await turn
          }
          const duringLoop = answered
          await pulled
          return { duringLoop, steps }
        }
        // Negative control: a loop that never yields starves the node; the pull waits for its end.
        const starved = await train(50, false)
        assert.equal(starved.duringLoop, false)
        // With a turn about every millisecond, the pull is answered while the loop runs.
        const served = await train(2_000, true)
        assert.equal(served.duringLoop, true, `unanswered after ${served.steps} steps`)
        assert.ok(served.steps > 0)
        // Every push of both loops landed once.
        const values = await asker.pull(local)
        const total = starved.steps + served.steps
        assert.deepEqual(Array.from(values), initialOf(local).map((v) => v + total))
      } finally {
        await cluster.close()
      }
    })
  })
})
