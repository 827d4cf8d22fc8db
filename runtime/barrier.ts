/**
 * Barriers: every worker of the cluster waits until all have arrived and all
 * of their earlier operations have been applied.
 *
 * Node 0 coordinates, and every node takes part in every barrier. A node
 * enters generation g (`BarrierEnter`) once all of its workers have arrived
 * and the node is quiet (no operation of its workers unanswered or waiting).
 * On the first entry of a generation the coordinator announces it to every
 * node (`BarrierStart`), so that a node with no workers enters too; once every
 * node has entered, it releases them all (`BarrierRelease`). Counting nodes
 * rather than registered workers means no worker can be missed because news
 * of it is still on a link. A worker created on a node that has already
 * entered a generation passes that barrier with it.
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
  /** The generation this node takes part in next, and whether it has entered it. */
  private generation = 0
  private entered = false
  /** The coordinator announced `generation` (needed by a node with no worker waiting). */
  private announced = false
  private waiters: Waiter[] = []
  // Coordinator state (node 0 only): who entered the open generation.
  private readonly enteredNodes = new Set<number>()
  private started = -1

  constructor(
    private readonly nodes: number,
    private readonly send: Send,
    private readonly isQuiet: () => boolean,
  ) {}

  /** A worker joined this node. */
  addWorker(): void {
    this.localWorkers++
  }

  /** A worker arrives at the barrier; resolves when the barrier is complete. */
  arrive(): Promise<void> {
    this.arrived++
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }))
    this.maybeEnter()
    return done
  }

  /** Enter the generation if every local worker is waiting (or it was announced) and quiet. */
  maybeEnter(): void {
    if (this.entered) return
    // A node without workers enters once the generation is announced; a node
    // with workers, once every one of them has arrived.
    const ready = this.localWorkers === 0 ? this.announced : this.arrived >= this.localWorkers
    if (!ready || !this.isQuiet()) return
    this.entered = true
    this.send(COORDINATOR, FrameType.BarrierEnter, this.generation)
  }

  receive(from: number, type: number, generation: number): void {
    switch (type) {
      case FrameType.BarrierEnter:
        this.onEnter(from, generation)
        break
      case FrameType.BarrierStart:
        if (generation === this.generation) {
          this.announced = true
          this.maybeEnter()
        }
        break
      case FrameType.BarrierRelease:
        this.generation = generation + 1
        this.arrived = 0
        this.entered = false
        this.announced = false
        for (const waiter of this.waiters.splice(0)) waiter.resolve()
        break
    }
  }

  /** Coordinator: count an entry; announce a new generation; release a complete one. */
  private onEnter(from: number, generation: number): void {
    this.enteredNodes.add(from)
    if (this.started !== generation) {
      this.started = generation
      for (let node = 0; node < this.nodes; node++) {
        if (node !== from) this.send(node, FrameType.BarrierStart, generation)
      }
    }
    if (this.enteredNodes.size < this.nodes) return
    this.enteredNodes.clear()
    for (let node = 0; node < this.nodes; node++) {
      this.send(node, FrameType.BarrierRelease, generation)
    }
  }

  close(error: unknown): void {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error)
  }
}
