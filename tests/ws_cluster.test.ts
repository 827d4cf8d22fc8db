/**
 * Nodes over the WebSocket transport in one process: `Cluster.start` with
 * explicit placements (ids, peer URLs, secret), so the multi-process code path
 * runs without spawning. Checks that pulls, pushes and relocations work across
 * real links, that a silent peer fails a pending pull with `PeerLost` naming it
 * (instead of hanging) and every later call too, and that without a placement
 * `Cluster.start` is `Cluster.local`. Bad placements (some parts without the
 * others, a peer that is not a ws:// URL, a port in use) and unknown options
 * fail with `InvalidOptions` naming what is wrong and where it came from.
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import { Effect, Exit, Scope } from "effect"
import { createServer } from "node:net"
import process from "node:process"
import { Cluster, type StartOptions, TransportError } from "../mod.ts"
import { placementOf } from "../runtime/start.ts"
import { freePort } from "../runtime/launch.ts"
import { SECRET, waitFor } from "./_ws_harness.ts"

const tables = [{ name: "w", keys: 30, length: 2 }]

async function startAll(nodes: number, config = {}): Promise<Cluster[]> {
  const ports = await Promise.all(Array.from({ length: nodes }, freePort))
  const peers = ports.map((p) => `ws://127.0.0.1:${p}`)
  return await Promise.all(
    peers.map((_, id) =>
      Cluster.start({ nodes, tables, policy: "lapse", config, id, peers, secret: SECRET })
    ),
  )
}

/** An `assert.throws`/`rejects` check: `InvalidOptions` whose message matches `message`. */
const invalidOptions = (message: RegExp) => (e: unknown) => {
  assert.equal((e as { _tag?: string })._tag, "InvalidOptions", String(e))
  assert.match((e as Error).message, message)
  return true
}

describe("Cluster.start over WebSocket, in one process", () => {
  it("pushes, relocates and pulls across real links, exactly", async () => {
    const clusters = await startAll(3)
    try {
      assert.deepEqual(clusters.map((c) => c.localNodes.map((n) => n.id)), [[0], [1], [2]])
      const workers = clusters.map((c) => c.localNodes[0].worker())
      const keys = Uint32Array.from({ length: 30 }, (_, k) => k)
      const ones = new Float32Array(60).fill(1)
      for (let round = 0; round < 5; round++) {
        // Each node takes a different third of the keys each round, and all push everywhere.
        await Promise.all(
          workers.map((w, i) => w.localize(keys.filter((k) => (k + round) % 3 === i))),
        )
        for (const w of workers) w.push(keys, ones)
        await Promise.all(workers.map((w) => w.barrier()))
      }
      const values = await workers[1].pull(keys)
      assert.deepEqual([...values], new Array(60).fill(15))
      const moved = clusters.reduce((sum, c) => sum + c.stats().total.relocationsIn, 0)
      assert.ok(moved >= 30, `only ${moved} relocations: the keys did not move`)
    } finally {
      await Promise.all(clusters.map((c) => c.close()))
    }
  })

  it("a node judges every frame once: a malformed one closes its link and loses that peer", async () => {
    const clusters = await startAll(3)
    const warnings: string[] = []
    const warn = console.warn
    console.warn = (message: string) => warnings.push(message)
    try {
      const endpointOf = (c: Cluster) =>
        (c.localNodes[0].runtime as unknown as {
          endpoint: { send(to: number, frame: Uint8Array): void }
        }).endpoint
      // Node 2's endpoint sends node 1 bytes that are no frame: only node 1's
      // own decode and check stand between them and its protocol.
      endpointOf(clusters[2]).send(1, Uint8Array.of(0xde, 0xad, 0xbe, 0xef))
      const node1 = clusters[1].localNodes[0].runtime
      await waitFor(() => node1.lost !== undefined, "node 1 to lose node 2")
      assert.equal(node1.lost!.node, 2)
      assert.match(node1.lost!.message, /malformed frame from node 2/)
      assert.equal(clusters[1].stats().total.framesRejected, 1)
      assert.ok(warnings.some((m) => /roam node 1: closing the link: malformed frame/.test(m)))
    } finally {
      console.warn = warn
      await Promise.all(clusters.map((c) => c.close()))
    }
  })

  it("fails a pending pull with PeerLost naming a silent node, and later calls too", async () => {
    const clusters = await startAll(3, { heartbeatMs: 50, peerTimeoutMs: 400 })
    try {
      const worker = clusters[0].localNodes[0].worker()
      // Key 2 lives at node 2 (home = key mod nodes): a remote pull answers while node 2 is alive.
      assert.equal((await worker.pull([2]))[0], 0)
      // Silence node 2 without closing anything: it stops answering frames, and
      // closing the scope of its heartbeat fiber stops its heartbeats.
      const runtime = clusters[2].localNodes[0].runtime as unknown as {
        endpoint: { onFrame(h: () => void): void; scope: Scope.Closeable }
      }
      runtime.endpoint.onFrame(() => {})
      await Effect.runPromise(Scope.close(runtime.endpoint.scope, Exit.void))
      const started = performance.now()
      await assert.rejects(worker.pull([2]), (e: unknown) => {
        assert.equal((e as { _tag?: string })._tag, "PeerLost")
        assert.equal((e as { node?: number }).node, 2)
        assert.match((e as Error).message, /node 2 is lost \(silent for \d+ ms/)
        return true
      })
      assert.ok(performance.now() - started < 3_000, "failed within the timeout, not by a hang")
      assert.throws(() => worker.push([1], Float32Array.of(1, 1)), { _tag: "PeerLost" })
      await waitFor(() => clusters[1].localNodes[0].runtime.lost !== undefined, "node 1 to notice")
    } finally {
      await Promise.all(clusters.map((c) => c.close()))
    }
  })

  it("is Cluster.local without a placement, and reads one from the environment", async () => {
    const cluster = await Cluster.start({ nodes: 2, tables })
    assert.deepEqual(cluster.localNodes.map((n) => n.id), [0, 1])
    await cluster.close()
    const env = { ROAM_NODE_ID: "1", ROAM_PEERS: "ws://127.0.0.1:4001,ws://127.0.0.1:4002" }
    assert.deepEqual(placementOf({ nodes: 2, tables }, { ...env, ROAM_SECRET: "s" }), {
      id: 1,
      peers: ["ws://127.0.0.1:4001", "ws://127.0.0.1:4002"],
      secret: "s",
      host: "127.0.0.1",
      port: 4002,
      listenFrom: "entry 1 of ROAM_PEERS",
    })
    assert.throws(() => placementOf({ nodes: 2, tables }, env), { _tag: "InvalidOptions" })
    assert.equal(placementOf({ nodes: 2, tables }, {}), undefined)
    assert.equal(placementOf({ nodes: 2, tables }, { ROAM_NODE_ID: "", ROAM_PEERS: "" }), undefined)
  })

  it("rejects a partial placement, naming what is missing, instead of running locally", async () => {
    const peers = ["ws://127.0.0.1:4001", "ws://127.0.0.1:4002"]
    const cases: Array<[StartOptions, Record<string, string>, RegExp]> = [
      [
        { nodes: 2, tables },
        { ROAM_PEERS: peers.join(","), ROAM_SECRET: "s" },
        /^incomplete placement: missing id \(ROAM_NODE_ID\) while ROAM_PEERS, ROAM_SECRET are given/,
      ],
      [
        { nodes: 2, tables, id: 0 },
        {},
        /missing peers \(ROAM_PEERS\), secret \(ROAM_SECRET\) while option id is given/,
      ],
      [
        { nodes: 2, tables },
        { ROAM_LISTEN: "0.0.0.0:9400" },
        /missing id \(ROAM_NODE_ID\), peers \(ROAM_PEERS\), secret \(ROAM_SECRET\) while ROAM_LISTEN/,
      ],
      [
        { nodes: 2, tables, peers },
        { ROAM_NODE_ID: "1" },
        /missing secret \(ROAM_SECRET\) while ROAM_NODE_ID, option peers are given/,
      ],
    ]
    for (const [options, env, message] of cases) {
      assert.throws(() => placementOf(options, env), invalidOptions(message), JSON.stringify(env))
    }
    // Through Cluster.start: options without the id fail rather than start every node here.
    await assert.rejects(
      Cluster.start({ nodes: 2, tables, peers, secret: SECRET }),
      invalidOptions(/missing id \(ROAM_NODE_ID\)/),
    )
  })

  it("rejects peers that are not ws:// or wss:// URLs, naming the URL and its source", () => {
    const env = { ROAM_NODE_ID: "0", ROAM_SECRET: "s" }
    const cases: Array<[StartOptions, Record<string, string>, RegExp]> = [
      [
        { nodes: 2, tables },
        { ...env, ROAM_PEERS: "foo,bar" },
        /^peer URL 'foo' \(entry 0 of ROAM_PEERS\) is not a ws:\/\/ or wss:\/\/ URL$/,
      ],
      [
        { nodes: 2, tables },
        { ...env, ROAM_PEERS: "ws://127.0.0.1:4001,127.0.0.1:4002" },
        /^peer URL '127.0.0.1:4002' \(entry 1 of ROAM_PEERS\) is not a ws:\/\/ or wss:\/\/ URL$/,
      ],
      [
        { nodes: 2, tables, id: 0, secret: "s", peers: ["ws://127.0.0.1:4001", "http://h:4002"] },
        {},
        /^peer URL 'http:\/\/h:4002' \(entry 1 of option peers\) is not a ws:\/\/ or wss:\/\/ URL$/,
      ],
      [
        { nodes: 2, tables },
        { ...env, ROAM_NODE_ID: "1.5", ROAM_PEERS: "ws://a:1,ws://b:2" },
        /^node id 1\.5 \(ROAM_NODE_ID\) is not an integer in \[0, 2\)/,
      ],
    ]
    for (const [options, env, message] of cases) {
      assert.throws(() => placementOf(options, env), invalidOptions(message), JSON.stringify(env))
    }
  })

  it("rejects unknown options of Cluster.start and of tls, naming them", async () => {
    const cases: Array<[unknown, RegExp]> = [
      [
        { nodes: 2, tables, secert: SECRET },
        /^unknown option 'secert' \(did you mean 'secret'\?\); known: nodes, tables, policy, seed, sampling, config, id, peers, secret, listen, tls$/,
      ],
      [
        { nodes: 2, tables, tls: { cert: "c", key: "k", cert_ca: "a" } },
        /^unknown tls option 'cert_ca'; known: cert, key, ca$/,
      ],
    ]
    for (const [options, message] of cases) {
      await assert.rejects(Cluster.start(options as StartOptions), invalidOptions(message))
    }
  })

  it("fails with InvalidOptions naming the address when its port is in use, and leaves nothing open", async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", () => resolve()))
    const busy = (blocker.address() as { port: number }).port
    const peers = [`ws://127.0.0.1:${busy}`, `ws://127.0.0.1:${await freePort()}`]
    try {
      const handles = openHandles()
      await assert.rejects(
        Cluster.start({ nodes: 2, tables, id: 0, peers, secret: SECRET }),
        (e: unknown) => {
          assert.equal((e as { _tag?: string })._tag, "InvalidOptions", String(e))
          assert.equal(
            (e as Error).message,
            `cannot listen on 127.0.0.1:${busy}: the port is in use (EADDRINUSE) ` +
              "(the address is entry 0 of option peers)",
          )
          return true
        },
      )
      assert.deepEqual(openHandles(), handles, "the failed start left a handle open")
      // ROAM_LISTEN (or the listen option) is named when the address comes from it.
      await assert.rejects(
        Cluster.start({
          nodes: 2,
          tables,
          id: 1,
          peers,
          secret: SECRET,
          listen: `127.0.0.1:${busy}`,
        }),
        /the port is in use \(EADDRINUSE\) \(the address is option listen\)/,
      )
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })

  it(
    "refuses to link nodes that run different tables or policies, naming what differs",
    { timeout: 30_000 },
    async () => {
      // Found by a new-user audit: nodes with different value lengths linked,
      // then failed at the first push on a malformed frame; with different
      // policies they ran on with no word.
      const cases: Array<[string, object, object, RegExp]> = [
        [
          "value length",
          { tables: [{ name: "w", keys: 30, length: 2 }] },
          { tables: [{ name: "w", keys: 30, length: 3 }] },
          /tables w:30x2 there, w:30x3 here/,
        ],
        [
          "key count",
          { tables: [{ name: "w", keys: 30, length: 2 }] },
          { tables: [{ name: "w", keys: 20, length: 2 }] },
          /tables w:30x2 there, w:20x2 here/,
        ],
        [
          "policy",
          { tables, policy: "static" },
          { tables, policy: "full-replication" },
          /policy static #[0-9a-f]{8} there, full-replication #[0-9a-f]{8} here/,
        ],
        [
          "nups hot list",
          { tables, policy: { name: "nups", hot: [1, 2] } },
          { tables, policy: { name: "nups", hot: [1, 3] } },
          /policy nups #([0-9a-f]{8}) there, nups #(?!\1)[0-9a-f]{8} here/,
        ],
      ]
      for (const [what, zero, one, message] of cases) {
        const peers = [`ws://127.0.0.1:${await freePort()}`, `ws://127.0.0.1:${await freePort()}`]
        const config = { connectTimeoutMs: 1_000 }
        const common = { nodes: 2, peers, secret: SECRET, config }
        const results = await Promise.allSettled([
          Cluster.start({ ...common, ...zero, id: 0 } as never),
          Cluster.start({ ...common, ...one, id: 1 } as never),
        ])
        for (const r of results) if (r.status === "fulfilled") await r.value.close()
        assert.equal(results[0].status, "rejected", what)
        const error = (results[0] as PromiseRejectedResult).reason
        assert.ok(error instanceof TransportError, `${what}: ${error}`)
        assert.match(error.message, /node 0: node 1 refused the link/, what)
        assert.match(error.message, /node 0 runs another cluster/, what)
        assert.match(error.message, message, what)
        assert.equal(results[1].status, "rejected", `${what}: node 1 links with nobody`)
      }
    },
  )

  it("fails with TransportError, exported by mod.ts, when a peer never answers", async () => {
    const peers = [`ws://127.0.0.1:${await freePort()}`, `ws://127.0.0.1:${await freePort()}`]
    const started = performance.now()
    await assert.rejects(
      Cluster.start({
        nodes: 2,
        tables,
        id: 0,
        peers,
        secret: SECRET,
        config: { connectTimeoutMs: 300 },
      }),
      (e: unknown) => {
        assert.ok(e instanceof TransportError, String(e))
        assert.equal(e._tag, "TransportError")
        assert.match(e.message, /no link to node\(s\) 1 after connectTimeoutMs \(300 ms\)/)
        return true
      },
    )
    assert.ok(performance.now() - started < 5_000, "failed at the connect timeout, not a hang")
  })
})

/** Sockets and servers this process holds (Deno and Node list them; Bun lists nothing). */
function openHandles(): string[] {
  const info = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo
  return (info?.() ?? []).filter((name) => /TCP|Pipe|Server|Socket/i.test(name)).sort()
}
