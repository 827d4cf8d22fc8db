/**
 * The cluster: options checked, nodes built from Effect layers, handles given out.
 *
 * `Cluster.local` starts every node in this process over the memory
 * transport. Each node is built by `makeNode`, an Effect program that takes its
 * services from layers (Transport, Config, Fault, Clock) and its own seeded
 * Random (`nodeRandom`, one stream per node) inside one Scope; closing
 * the cluster closes that scope, which runs every node's finalizer (pending
 * operations fail with `ClusterClosed`, endpoints close) in reverse order of
 * construction. The same program will build a node of a multi-process cluster
 * from a WebSocket transport layer.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import { KeySpace, type Table, type TableSpec } from "../actors/key_space.ts"
import { configLayer, resolveConfig, RoamConfig, type RoamConfigShape } from "./config.ts"
import { clusterClosed, invalidOptions, NodeOutOfRange, UnknownTable } from "./errors.ts"
import { Fault, faultLayer, type FaultShape } from "./fault.ts"
import { MemoryNetwork } from "./memory_transport.ts"
import { checkKeys } from "./option_keys.ts"
import { watchHandoffs } from "./handoffs.ts"
import { runSyncRounds } from "./replica_sync.ts"
import { NodeRuntime } from "./node.ts"
import { type Policy, type PolicyOption, resolvePolicy } from "./policy.ts"
import { nodeRandom } from "./prng.ts"
import {
  makeSamplingContext,
  resolveSampling,
  type SamplingContext,
  type SamplingOptions,
  tableSamplingProblem,
} from "./sampling_context.ts"
import { localShare, type NodeStats, sumStats } from "./stats.ts"
import { Transport } from "./transport.ts"
import { Worker } from "./worker.ts"
import type { StartOptions } from "./start.ts"

export interface ClusterOptions {
  /** Number of nodes (1 to 64). */
  readonly nodes: number
  /** The key space: tables laid end to end, in this order. */
  readonly tables: readonly TableSpec[]
  /** The placement strategy: "adaptive" (default), "static", ...; see runtime/policy.ts. */
  readonly policy?: PolicyOption
  /** Seed of every random choice roam makes (memory transport scheduling, samples). */
  readonly seed?: number
  /** How `prepareSample` draws: the default scheme and its parameters. */
  readonly sampling?: SamplingOptions
  /** Limits; see `RoamConfigShape`. */
  readonly config?: Partial<RoamConfigShape>
}

/** What `cluster.stats()` reports: per node, the sum, and the local-access share. */
export interface ClusterStats {
  readonly nodes: readonly NodeStats[]
  readonly total: NodeStats
  /** Share of pulled and pushed keys served from the local store, 0 to 1. */
  readonly localShare: number
  /** Sync rounds (with replicas to sync) per second and per node, since the nodes started. */
  readonly syncRoundsPerSecond: number
  /** Replica keys and bytes a sync round sent, on average. */
  readonly syncKeysPerRound: number
  readonly syncBytesPerRound: number
  /** Per local node and worker: how many clocks ahead its intents take effect now. */
  readonly intentWindows: readonly (readonly number[])[]
}

const NODES_MAX = 64

/** The keys of `ClusterOptions`: any other is a mistake, not an option to ignore. */
export const clusterOptionKeys = ["nodes", "tables", "policy", "seed", "sampling", "config"]
const tableKeys = ["name", "keys", "length", "init", "sampling"]

/**
 * Check the options and lay out the key space; throws `InvalidOptions`.
 * `known` are the keys `options` may have (`Cluster.start` takes more).
 */
export function checkOptions(
  options: ClusterOptions,
  known: readonly string[] = clusterOptionKeys,
): KeySpace {
  if (typeof options !== "object" || options === null) {
    throw invalidOptions("options must be an object")
  }
  checkKeys(options, known, { what: "option" })
  const { nodes, tables } = options
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > NODES_MAX) {
    throw invalidOptions(`nodes must be an integer in [1, ${NODES_MAX}], got ${nodes}`)
  }
  if (!Array.isArray(tables) || tables.length === 0) {
    throw invalidOptions("tables must be a non-empty array of { name, keys, length }")
  }
  const names = new Set<string>()
  for (const [i, table] of tables.entries()) {
    if (typeof table !== "object" || table === null) {
      throw invalidOptions(`tables[${i}] must be an object { name, keys, length }`)
    }
    const name = table.name
    const context = typeof name === "string" && name !== "" ? `table '${name}'` : `tables[${i}]`
    checkKeys(table, tableKeys, { what: "option", context })
    if (typeof name !== "string" || name === "") throw invalidOptions("every table needs a name")
    if (names.has(name)) throw invalidOptions(`table name '${name}' is used twice`)
    names.add(name)
    if (!Number.isInteger(table.keys) || table.keys < 1) {
      throw invalidOptions(`table '${name}': keys must be a positive integer, got ${table.keys}`)
    }
    if (!Number.isInteger(table.length) || table.length < 1) {
      throw invalidOptions(
        `table '${name}': length must be a positive integer, got ${table.length}`,
      )
    }
    if (table.init !== undefined && typeof table.init !== "function") {
      throw invalidOptions(`table '${name}': init must be a function (key, value) => void`)
    }
    if (typeof table.sampling === "object" && table.sampling !== null) {
      checkKeys(table.sampling, ["weights"], { what: "sampling option", context })
    }
    const samplingProblem = tableSamplingProblem(table)
    if (samplingProblem !== undefined) throw invalidOptions(`table '${name}': ${samplingProblem}`)
  }
  const space = new KeySpace(tables)
  if (space.keys > 0xffff_fffe) throw invalidOptions(`${space.keys} keys exceed the u32 key space`)
  if (options.seed !== undefined && !Number.isInteger(options.seed)) {
    throw invalidOptions(`seed must be an integer, got ${options.seed}`)
  }
  resolveSampling(options.sampling)
  return space
}

/** Build one node from the services in context; its finalizer closes it. */
export const makeNode = (id: number, space: KeySpace, policy: Policy) =>
  Effect.gen(function* () {
    const transport = yield* Transport
    const config = yield* RoamConfig
    const faults = yield* Fault
    const clock = yield* Clock.Clock
    const random = yield* Random.Random
    const endpoint = transport.endpoint(id)
    const node = new NodeRuntime({
      id,
      nodes: endpoint.nodes,
      space,
      policy,
      config,
      faults,
      endpoint,
      nowMs: () => clock.currentTimeMillisUnsafe(),
      random,
    })
    yield* Effect.addFinalizer(() => Effect.promise(() => node.close()))
    yield* Effect.forkScoped(watchHandoffs(node, config.handoffTimeoutMs))
    yield* Effect.forkScoped(runSyncRounds(node.sync, config.syncRoundsPerSecondMax))
    return node
  })

/** The policy's hot keys must be keys of the key space. */
export function checkHotKeys(policy: Policy, space: KeySpace): void {
  if (policy.replicateAtStart === "all") return
  for (const key of policy.replicateAtStart) {
    if (key >= space.keys) {
      throw invalidOptions(`policy ${policy.name}: hot key ${key} is outside [0, ${space.keys})`)
    }
  }
}

/**
 * Ask for the replicas a node holds from the start. Not awaited: until a
 * replica arrives, the node's operations on the key wait for it (the key is
 * expected), so the cluster is usable at once.
 */
export function startReplicas(node: NodeRuntime, policy: Policy, space: KeySpace): void {
  const wanted = policy.replicateAtStart
  const keys: number[] = []
  if (wanted === "all") {
    for (let key = 0; key < space.keys; key++) if (key % node.nodes !== node.id) keys.push(key)
  } else for (const key of wanted) if (key % node.nodes !== node.id) keys.push(key)
  if (keys.length > 0) node.keeper.replicate(keys).catch(() => {})
}

/** A node of the cluster as task code sees it. */
export class Node {
  private workers = 0

  constructor(readonly runtime: NodeRuntime, private readonly sampling?: SamplingContext) {}

  get id(): number {
    return this.runtime.id
  }

  /** A new worker (training actor) on this node; a node may have several. */
  worker(): Worker {
    this.runtime.assertOpen("worker")
    return new Worker(this.runtime, this.workers++, this.sampling)
  }

  stats(): NodeStats {
    return { ...this.runtime.stats, replicasHeld: this.runtime.replicas.count }
  }
}

/** Options only tests and the simulator use: a network to drive by hand, faults. */
export interface ClusterInternals {
  readonly network?: MemoryNetwork
  readonly faults?: Partial<FaultShape>
  /** The Clock the nodes run on (a TestClock in simulations); the live clock otherwise. */
  readonly clock?: Clock.Clock
  /** Each node's Random service; `nodeRandom(seed, node)` otherwise. */
  readonly random?: (node: number) => Random.Random
}

export class Cluster {
  readonly space: KeySpace
  readonly policy: Policy
  /** The nodes living in this process (all of them, for `Cluster.local`). */
  readonly localNodes: readonly Node[]
  /** Number of nodes in the whole cluster, in this process or not. */
  readonly nodes: number
  private closed = false

  private constructor(
    space: KeySpace,
    policy: Policy,
    nodes: readonly Node[],
    private readonly scope: Scope.Closeable,
    private readonly network: { close(): Promise<void> },
  ) {
    this.space = space
    this.policy = policy
    this.localNodes = nodes
    this.nodes = nodes[0].runtime.nodes
  }

  /** Start `options.nodes` nodes in this process over the memory transport. */
  static local(options: ClusterOptions, internals: ClusterInternals = {}): Promise<Cluster> {
    try {
      const space = checkOptions(options)
      const policy = resolvePolicy(options.policy)
      const config = resolveConfig(options.config)
      const sampling = makeSamplingContext(space, {
        sampling: resolveSampling(options.sampling),
        config,
      })
      const seed = options.seed ?? 0
      const network = internals.network ?? new MemoryNetwork({ nodes: options.nodes, seed })
      if (network.nodes !== options.nodes) throw invalidOptions("network size differs from nodes")
      checkHotKeys(policy, space)
      const layer = Layer.mergeAll(
        network.layer(),
        configLayer(config),
        faultLayer(internals.faults),
        internals.clock ? Layer.succeed(Clock.Clock, internals.clock) : Layer.empty,
      )
      const program = Effect.gen(function* () {
        const scope = yield* Scope.make()
        const nodes = yield* Effect.forEach(
          Array.from({ length: options.nodes }, (_, id) => id),
          (id) =>
            makeNode(id, space, policy).pipe(
              Effect.provideService(Random.Random, internals.random?.(id) ?? nodeRandom(seed, id)),
              Scope.provide(scope),
            ),
        )
        for (const node of nodes) startReplicas(node, policy, space)
        const handles = nodes.map((n) => new Node(n, sampling))
        return new Cluster(space, policy, handles, scope, network)
      })
      return Effect.runPromise(program.pipe(Effect.provide(layer)))
    } catch (error) {
      return Promise.reject(error)
    }
  }

  /**
   * Join a multi-process cluster as one node when this process was started by
   * the launcher (or `options` give `id`, `peers`, `secret`); otherwise the
   * same as `Cluster.local`. See `runtime/start.ts`.
   */
  static async start(options: StartOptions): Promise<Cluster> {
    const { startCluster } = await import("./start.ts")
    return await startCluster(options)
  }

  /** Internal (`start.ts`): a cluster of already-built nodes and what closes their transport. */
  static assemble(
    parts: { space: KeySpace; policy: Policy; nodes: readonly Node[]; scope: Scope.Closeable },
    network: { close(): Promise<void> },
  ): Cluster {
    return new Cluster(parts.space, parts.policy, parts.nodes, parts.scope, network)
  }

  /** Node `i` of the cluster. */
  node(i: number): Node {
    if (this.closed) throw clusterClosed("node")
    const node = this.localNodes.find((n) => n.id === i)
    if (!Number.isInteger(i) || node === undefined) {
      throw new NodeOutOfRange({
        message: `node ${i} is not a node of this process (nodes: ${
          this.localNodes.map((n) => n.id).join(", ")
        })`,
        node: i,
        nodes: this.localNodes.length,
      })
    }
    return node
  }

  /** The table named `name` (its key range and value length); throws `UnknownTable`. */
  table(name: string): Table {
    const table = this.space.table(name)
    if (!table) {
      throw new UnknownTable({
        message: `no table '${name}' (tables: ${this.space.tables.map((t) => t.name).join(", ")})`,
        table: name,
      })
    }
    return table
  }

  stats(): ClusterStats {
    const nodes = this.localNodes.map((n) => n.stats())
    const total = sumStats(nodes)
    const seconds = Math.max(1e-3, this.localNodes[0].runtime.uptimeMs / 1000)
    const rounds = Math.max(1, total.syncRounds)
    return {
      nodes,
      total,
      localShare: localShare(total),
      syncRoundsPerSecond: total.syncRounds / this.localNodes.length / seconds,
      syncKeysPerRound: total.syncKeysSent / rounds,
      syncBytesPerRound: total.syncBytesSent / rounds,
      intentWindows: this.localNodes.map((n) => n.runtime.intents.windows()),
    }
  }

  /** Shut every node down: pending operations fail with `ClusterClosed`. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await Effect.runPromise(Scope.close(this.scope, Exit.void))
    await this.network.close()
  }
}
