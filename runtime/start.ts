/**
 * `Cluster.start`: one node of a multi-process cluster, or `Cluster.local`.
 *
 * Task code calls `Cluster.start(options)` with the options it would give
 * `Cluster.local`. In a process started by the launcher (`scripts/launch.ts`),
 * or when `options` name this node's `id`, the `peers` (one URL per node,
 * indexed by node id) and the `secret`, this process becomes that one node: it
 * listens on its own entry of `peers` (or on `listen`), links to every other
 * node over the WebSocket transport, and the returned cluster's `localNodes`
 * holds just that node. Otherwise it starts every node in this process. So
 * `for (const node of cluster.localNodes) ...` runs unchanged either way.
 *
 * The launcher passes the node's place through the environment:
 * `ROAM_NODE_ID`, `ROAM_PEERS` (comma-separated URLs), `ROAM_SECRET`, and
 * optionally `ROAM_LISTEN` (`host:port`, when the address to listen on is not
 * the one peers dial, as behind NAT or with `0.0.0.0`). In a multi-process
 * cluster the number of nodes is the length of the peer list; it overrides
 * `options.nodes`, so one task file runs with any `--nodes`.
 */
import process from "node:process"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import {
  checkHotKeys,
  checkOptions,
  Cluster,
  clusterOptionKeys,
  type ClusterOptions,
  makeNode,
  Node,
  startReplicas,
} from "./cluster.ts"
import { configLayer, resolveConfig } from "./config.ts"
import { invalidOptions } from "./errors.ts"
import { faultLayer } from "./fault.ts"
import { checkKeys } from "./option_keys.ts"
import { resolvePolicy } from "./policy.ts"
import { nodeRandom } from "./prng.ts"
import { makeSamplingContext, resolveSampling } from "./sampling_context.ts"
import { Transport, TransportError } from "./transport.ts"
import { WsEndpoint } from "./ws_transport.ts"

export interface StartOptions extends ClusterOptions {
  /** This process's node id (env `ROAM_NODE_ID`). */
  readonly id?: number
  /** One `ws://host:port` (or `wss://`) URL per node, by id (env `ROAM_PEERS`). */
  readonly peers?: readonly string[]
  /** The cluster secret (env `ROAM_SECRET`). */
  readonly secret?: string
  /** `host:port` to listen on, when not this node's entry of `peers` (env `ROAM_LISTEN`). */
  readonly listen?: string
  /** PEM certificate and key to serve `wss://`; `ca` to trust peers' self-signed certificates. */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string }
}

/** Where this process sits in a multi-process cluster, or undefined for a local one. */
export interface Placement {
  readonly id: number
  readonly peers: readonly string[]
  readonly secret: string
  readonly host: string
  readonly port: number
}

/** The keys of `StartOptions`: `ClusterOptions`'s and the placement's. */
export const startOptionKeys = [...clusterOptionKeys, "id", "peers", "secret", "listen", "tls"]

/** Read the placement from `options`, then the environment; throws `InvalidOptions`. */
export function placementOf(
  options: StartOptions,
  env: Record<string, string | undefined> = process.env,
): Placement | undefined {
  const idText = options.id ?? env.ROAM_NODE_ID
  if (idText === undefined || idText === "") return undefined
  const id = Number(idText)
  const peers = options.peers ?? env.ROAM_PEERS?.split(",").map((p) => p.trim()) ?? []
  const secret = options.secret ?? env.ROAM_SECRET ?? ""
  if (peers.length < 1) throw invalidOptions("a multi-process node needs peers (ROAM_PEERS)")
  if (!Number.isInteger(id) || id < 0 || id >= peers.length) {
    throw invalidOptions(`node id ${idText} is not in [0, ${peers.length})`)
  }
  if (secret === "") throw invalidOptions("a multi-process node needs a secret (ROAM_SECRET)")
  const listen = options.listen ?? env.ROAM_LISTEN ?? new URL(peers[id]).host
  const at = listen.lastIndexOf(":")
  const host = listen.slice(0, at).replace(/^\[|\]$/g, "")
  const port = Number(listen.slice(at + 1))
  if (at < 0 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw invalidOptions(`cannot listen on '${listen}': expected host:port`)
  }
  return { id, peers, secret, host, port }
}

/** The `tls` option: PEM `cert` and `key`, optionally `ca`. */
function checkTls(tls: StartOptions["tls"]): void {
  if (tls === undefined) return
  if (typeof tls !== "object" || tls === null) {
    throw invalidOptions("tls must be an object { cert, key, ca? } of PEM strings")
  }
  checkKeys(tls, ["cert", "key", "ca"], { what: "tls option" })
  for (const name of ["cert", "key", "ca"] as const) {
    const optional = name === "ca" && tls[name] === undefined
    if (!optional && typeof tls[name] !== "string") {
      throw invalidOptions(`tls.${name} must be a PEM string`)
    }
  }
}

/** `Cluster.start`: see the module note. */
export async function startCluster(options: StartOptions): Promise<Cluster> {
  if (typeof options !== "object" || options === null) {
    throw invalidOptions("options must be an object")
  }
  checkKeys(options, startOptionKeys, { what: "option" })
  checkTls(options.tls)
  const placement = placementOf(options)
  if (placement === undefined) {
    // `tls` applies only to a node of a multi-process cluster; the rest are `ClusterOptions`.
    const { tls: _, ...local } = options
    return Cluster.local(local)
  }
  const nodes = placement.peers.length
  const clusterOptions = { ...options, nodes }
  const space = checkOptions(clusterOptions, startOptionKeys)
  const policy = resolvePolicy(options.policy)
  const config = resolveConfig(options.config)
  checkHotKeys(policy, space)
  const sampling = makeSamplingContext(space, {
    sampling: resolveSampling(options.sampling),
    config,
  })
  const endpoint = await WsEndpoint.listen({
    id: placement.id,
    nodes,
    secret: placement.secret,
    host: placement.host,
    port: placement.port,
    tls: options.tls,
    config,
  })
  try {
    await endpoint.connect(placement.peers)
  } catch (error) {
    await endpoint.close()
    throw error
  }
  const transport = Transport.of({
    endpoint: (i) => {
      if (i !== placement.id) {
        throw new TransportError({ message: `node ${i} lives in another process` })
      }
      return endpoint
    },
  })
  const layer = Layer.mergeAll(
    Layer.succeed(Transport, transport),
    configLayer(config),
    faultLayer(),
  )
  const program = Effect.gen(function* () {
    const scope = yield* Scope.make()
    const node = yield* makeNode(placement.id, space, policy).pipe(
      // The same stream as the node's in Cluster.local: a run replays in either form.
      Effect.provideService(Random.Random, nodeRandom(options.seed ?? 0, placement.id)),
      Scope.provide(scope),
    )
    startReplicas(node, policy, space)
    return Cluster.assemble({ space, policy, nodes: [new Node(node, sampling)], scope }, endpoint)
  })
  return await Effect.runPromise(program.pipe(Effect.provide(layer)))
}
