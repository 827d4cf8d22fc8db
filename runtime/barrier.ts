/**
 * Barriers: every worker of the cluster waits until all have arrived and all
 * of their earlier operations have been applied.
 *
 * Node 0 coordinates. Each node tells it how many workers it has (`Workers`);
 * when all of a node's workers have arrived and the node is quiet (no
 * operation of its workers unanswered or waiting), the node sends
 * `BarrierEnter` for the current generation; once every node with workers has
 * entered, node 0 sends `BarrierRelease` to them and each node resolves its
 * waiting workers. A worker created while a barrier is under way takes part
 * from the next one: its `Workers` frame and any `BarrierEnter` of its node
 * travel the same FIFO link.
 */
import { FrameType } from "./codec.ts"

const COORDINATOR = 0

type Send = (to: number, type: number, id: number) => void

interface Waiter {
  readonly resolve: () => void
  readonly reject: (error: unknown) => void
}

export class Barrier {
  private localWorkers = 0
  private arrived = 0
  private entered = false
  private generation = 0
  private waiters: Waiter[] = []
  // Coordinator state (node 0 only).
  private readonly workersOf: Int32Array
  private readonly enteredNodes = new Set<number>()

  constructor(
    nodes: number,
    private readonly send: Send,
    private readonly isQuiet: () => boolean,
  ) {
    this.workersOf = new Int32Array(nodes)
  }

  /** A worker joined this node. */
  addWorker(): void {
    this.localWorkers++
    this.send(COORDINATOR, FrameType.Workers, this.localWorkers)
  }

  /** A worker arrives at the barrier; resolves when the barrier is complete. */
  arrive(): Promise<void> {
    this.arrived++
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }))
    this.maybeEnter()
    return done
  }

  /** The node may have become quiet: enter if every local worker is waiting. */
  maybeEnter(): void {
    if (this.entered || this.arrived === 0 || this.arrived < this.localWorkers) return
    if (!this.isQuiet()) return
    this.entered = true
    this.send(COORDINATOR, FrameType.BarrierEnter, this.generation)
  }

  receive(from: number, type: number, id: number): void {
    switch (type) {
      case FrameType.Workers:
        this.workersOf[from] = id
        this.maybeRelease()
        break
      case FrameType.BarrierEnter:
        if (id === this.coordinatorGeneration) {
          this.enteredNodes.add(from)
          this.maybeRelease()
        }
        break
      case FrameType.BarrierRelease: {
        this.generation = id + 1
        this.arrived = 0
        this.entered = false
        for (const waiter of this.waiters.splice(0)) waiter.resolve()
        break
      }
    }
  }

  private coordinatorGeneration = 0

  private maybeRelease(): void {
    if (this.enteredNodes.size === 0) return
    for (let node = 0; node < this.workersOf.length; node++) {
      if (this.workersOf[node] > 0 && !this.enteredNodes.has(node)) return
    }
    const generation = this.coordinatorGeneration++
    this.enteredNodes.clear()
    for (let node = 0; node < this.workersOf.length; node++) {
      if (this.workersOf[node] > 0) this.send(node, FrameType.BarrierRelease, generation)
    }
  }

  close(error: unknown): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error)
  }
}
