/**
 * A task for the multi-process tests, written only against `mod.ts` and run
 * unchanged by the launcher (one node per process) or directly (all nodes in
 * one process).
 *
 *   push: for 12 rounds every node localizes a rotating third of the keys
 *         (so they relocate every round), then pushes (node + 1) * (round + 1)
 *         to every key; after a barrier every node pulls every key and checks
 *         the owner's value is exactly the sum of all pushes. Exit 0 if so.
 *         An extra argument is added to the expected sum (a negative control).
 *   intent: the same pushes under `adaptive`, placed by intents instead: each
 *         round a node signals intent for a rotating third of the keys (they
 *         relocate), and for every tenth key all along (wanted by every node,
 *         so replicated), pushes, and advances its clock; after waitSync every node reads every key from
 *         its own copy where it has one (item 2) and checks the exact sum.
 *   kill: node 2 SIGKILLs itself while the others keep pulling keys it owns;
 *         they must fail with PeerLost naming node 2 (exit 3), not hang.
 *   wait: once every node has joined, each prints its pid and then runs until
 *         it is killed (the launcher's signal tests kill it through the launcher).
 *   stubborn: the same, but every node ignores SIGTERM, so that only SIGKILL
 *         ends it.
 */
import process from "node:process"
import { Cluster, type Worker } from "../mod.ts"

const mode = process.argv[2] ?? "push"
/** Added to the expected sum: a negative control that must make every node fail. */
const expectOffset = Number(process.argv[3] ?? 0)
const KEYS = 90
const LENGTH = 2
const ROUNDS = 12

const cluster = await Cluster.start({
  nodes: 3,
  tables: [{ name: "w", keys: KEYS, length: LENGTH }],
  policy: mode === "intent" ? "adaptive" : "lapse",
  config: { heartbeatMs: 100, peerTimeoutMs: 2_000 },
})
const nodes = cluster.localNodes[0].runtime.nodes
const allKeys = Uint32Array.from({ length: KEYS }, (_, k) => k)

async function push(worker: Worker, id: number): Promise<boolean> {
  // Every tenth key is wanted by all nodes for the whole run: replicated.
  if (mode === "intent") worker.intent(allKeys.filter((k) => k % 10 === 0), 0, ROUNDS + 1)
  for (let round = 0; round < ROUNDS; round++) {
    const mine = allKeys.filter((k) => (k + round) % nodes === id)
    if (mode === "intent") worker.intent(mine, round)
    else await worker.localize(mine)
    worker.push(allKeys, new Float32Array(KEYS * LENGTH).fill((id + 1) * (round + 1)))
    worker.advanceClock()
    await worker.barrier()
  }
  if (mode === "intent") {
    await worker.waitSync()
    await worker.barrier()
    const stats = cluster.localNodes[0].stats()
    console.log(
      `node ${id}: ${stats.relocationsIn} keys moved in, ${stats.replicasCreated} replicas`,
    )
  }
  const expected = (nodes * (nodes + 1) / 2) * (ROUNDS * (ROUNDS + 1) / 2) + expectOffset
  const values = await worker.pull(allKeys)
  const wrong = values.findIndex((v) => v !== expected)
  await worker.barrier()
  if (wrong >= 0) {
    console.log(
      `node ${id}: key ${Math.floor(wrong / LENGTH)} is ${values[wrong]}, not ${expected}`,
    )
    return false
  }
  console.log(`node ${id}: all ${KEYS} keys exact (${expected})`)
  return true
}

async function kill(worker: Worker, id: number): Promise<boolean> {
  await worker.barrier()
  if (id === 2) process.kill(process.pid, "SIGKILL")
  const owned = allKeys.filter((k) => k % nodes === 2)
  try {
    for (;;) await worker.pull(owned)
  } catch (error) {
    const e = error as { _tag?: string; node?: number; message?: string }
    console.log(`node ${id}: ${e._tag} node=${e.node}: ${e.message}`)
    if (e._tag === "PeerLost" && e.node === 2) process.exitCode = 3
    return false
  }
}

async function wait(worker: Worker, id: number): Promise<boolean> {
  if (mode === "stubborn") process.on("SIGTERM", () => console.log(`node ${id}: ignoring SIGTERM`))
  await worker.barrier()
  console.log(`node ${id}: pid ${process.pid}`)
  // A timer keeps the process up even if the cluster's own links and timers
  // stop: only a signal may end it.
  setInterval(() => {}, 60_000)
  return await new Promise<boolean>(() => {})
}

const run = mode === "kill" ? kill : mode === "wait" || mode === "stubborn" ? wait : push
const results = await Promise.all(cluster.localNodes.map((node) => run(node.worker(), node.id)))
await cluster.close()
if (process.exitCode === undefined || process.exitCode === 0) {
  process.exitCode = results.every(Boolean) ? 0 : 1
}
