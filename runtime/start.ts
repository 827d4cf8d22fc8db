/**
 * `Cluster.start`: one node of a multi-process cluster, or `Cluster.local`.
 *
 * Task code calls `Cluster.start(options)` with the options it would give
 * `Cluster.local`. In a process started by the launcher (`runtime/launch.ts`),
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
 *
 * A placement is all or nothing: with some of its parts given (an option or a
 * non-empty variable) but not the id, the peers and the secret, `Cluster.start`
 * fails with `InvalidOptions` naming the missing ones rather than run every
 * node here (on a multi-machine run, the machine that forgot `ROAM_NODE_ID`
 * would train alone). So do a peer that is not a `ws://` or `wss://` URL and
 * an address this node cannot listen on (a port in use), each named with the
 * option or variable it came from. `tls` alone is no placement: a task may
 * pass its certificate always and still run locally.
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
import { configLayer, resolveConfig, type RoamConfigShape } from "./config.ts"
import { invalidOptions } from "./errors.ts"
import { faultLayer } from "./fault.ts"
import { checkKeys } from "./option_keys.ts"
import { resolvePolicy } from "./policy.ts"
import { nodeRandom } from "./prng.ts"
import { makeSamplingContext, resolveSampling } from "./sampling_context.ts"
import { Transport, TransportError } from "./transport.ts"
import { WsEndpoint } from "./ws_transport.ts"
import { clusterShape } from "./handshake.ts"

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
  /** Where `host:port` came from, for messages: "ROAM_LISTEN", "entry 1 of ROAM_PEERS". */
  readonly listenFrom: string
}

/** The keys of `StartOptions`: `ClusterOptions`'s and the placement's. */
export const startOptionKeys = [...clusterOptionKeys, "id", "peers", "secret", "listen", "tls"]

/** Each part of a placement and the variable it is read from when its option is not given. */
const placementVariables = {
  id: "ROAM_NODE_ID",
  peers: "ROAM_PEERS",
  secret: "ROAM_SECRET",
  listen: "ROAM_LISTEN",
} as const
type PlacementPart = keyof typeof placementVariables
/** What a node of a multi-process cluster cannot do without (`listen` has a default). */
const requiredParts = ["id", "peers", "secret"] as const

/**
 * Read the placement from `options`, then the environment (an empty variable
 * is unset); throws `InvalidOptions`. No part at all is a local cluster; some
 * parts without the others are a mistake (a machine that forgot
 * `ROAM_NODE_ID` would otherwise train alone), and so is a malformed part.
 */
export function placementOf(
  options: StartOptions,
  env: Record<string, string | undefined> = process.env,
): Placement | undefined {
  const sourceOf = (part: PlacementPart): string | undefined =>
    options[part] !== undefined
      ? `option ${part}`
      : (env[placementVariables[part]] ?? "") !== ""
      ? placementVariables[part]
      : undefined
  const given = Object.keys(placementVariables).flatMap((part) => {
    const source = sourceOf(part as PlacementPart)
    return source === undefined ? [] : [source]
  })
  if (given.length === 0) return undefined
  const missing = requiredParts.filter((part) => sourceOf(part) === undefined)
  if (missing.length > 0) {
    throw invalidOptions(
      `incomplete placement: missing ` +
        `${missing.map((p) => `${p} (${placementVariables[p]})`).join(", ")} ` +
        `while ${given.join(", ")} ${given.length === 1 ? "is" : "are"} given; ` +
        "a node of a multi-process cluster needs its id, the peers and the secret " +
        "(give none of them to run every node in this process)",
    )
  }
  const peers = peersOf(options.peers ?? env.ROAM_PEERS!, sourceOf("peers")!)
  const id = idOf(options.id ?? env.ROAM_NODE_ID!, sourceOf("id")!, peers.length)
  const secret = options.secret ?? env.ROAM_SECRET!
  if (typeof secret !== "string" || secret === "") {
    throw invalidOptions(`secret (${sourceOf("secret")}) must be a non-empty string`)
  }
  const listenFrom = sourceOf("listen") ?? `entry ${id} of ${sourceOf("peers")}`
  const listen = options.listen ?? env.ROAM_LISTEN ?? hostPortOf(new URL(peers[id]))
  const at = typeof listen === "string" ? listen.lastIndexOf(":") : -1
  const host = at < 0 ? "" : listen.slice(0, at).replace(/^\[|\]$/g, "")
  const port = at < 0 ? NaN : Number(listen.slice(at + 1))
  if (
    at < 0 || listen.slice(at + 1) === "" || !Number.isInteger(port) || port < 0 || port > 65535
  ) {
    throw invalidOptions(`cannot listen on '${listen}' (${listenFrom}): expected host:port`)
  }
  return { id, peers, secret, host, port, listenFrom }
}

/** The peer URLs: `ws://` or `wss://`, at least one; `source` names where they came from. */
function peersOf(value: string | readonly string[], source: string): string[] {
  const peers = typeof value === "string" ? value.split(",").map((p) => p.trim()) : value
  if (!Array.isArray(peers) || peers.length === 0) {
    throw invalidOptions(`peers (${source}) must be a non-empty list of ws:// or wss:// URLs`)
  }
  return peers.map((peer, i) => {
    let url: URL | undefined
    try {
      url = typeof peer === "string" ? new URL(peer) : undefined
    } catch {
      url = undefined
    }
    if (url === undefined || (url.protocol !== "ws:" && url.protocol !== "wss:")) {
      throw invalidOptions(
        `peer URL '${String(peer)}' (entry ${i} of ${source}) is not a ws:// or wss:// URL`,
      )
    }
    return peer
  })
}

/** This node's id: an integer in [0, nodes). */
function idOf(value: number | string, source: string, nodes: number): number {
  const id = typeof value === "string" && /^\s*\d+\s*$/.test(value) ? Number(value) : value
  if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= nodes) {
    throw invalidOptions(
      `node id ${String(value)} (${source}) is not an integer in [0, ${nodes}): ` +
        `one per peer URL`,
    )
  }
  return id
}

/** `host:port` of a URL, with the scheme's default port when it names none. */
function hostPortOf(url: URL): string {
  return `${url.hostname}:${url.port || (url.protocol === "wss:" ? 443 : 80)}`
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
  const shape = clusterShape(space.tables, policy)
  const endpoint = await listen(placement, { tls: options.tls, config, shape })
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

/**
 * This node's endpoint, listening. An address it cannot bind (a port in use,
 * a host not of this machine) is a bad placement: `InvalidOptions` naming the
 * address and the option or variable it came from.
 */
async function listen(
  placement: Placement,
  options: { tls: StartOptions["tls"]; config: RoamConfigShape; shape: string },
): Promise<WsEndpoint> {
  try {
    return await WsEndpoint.listen({
      id: placement.id,
      nodes: placement.peers.length,
      secret: placement.secret,
      host: placement.host,
      port: placement.port,
      tls: options.tls,
      config: options.config,
      shape: options.shape,
    })
  } catch (error) {
    if (!(error instanceof TransportError)) throw error
    throw invalidOptions(`${error.message} (the address is ${placement.listenFrom})`)
  }
}
