/**
 * The memory transport: in-process links between the endpoints of one network.
 *
 * `MemoryNetwork` owns one FIFO queue per directed link and a seeded scheduler
 * over them. Each frame gets a random extra delay (0..`delayMax` ticks, clamped
 * so it never overtakes an earlier frame on its link), and each delivery step
 * picks, with the network's `Prng`, one link whose head frame is due and
 * delivers that frame. Picking the link at random is what interleaves links;
 * the per-link queue is what keeps each link FIFO. Nothing else is random, so
 * the same seed and the same sends give the same delivery order, and a failing
 * simulation replays from its seed. Tests, the simulator and `Cluster.local`
 * run on it.
 *
 * In manual mode the owner drives delivery with `step()`/`drain()` and so
 * controls every interleaving. In auto mode a pump runs as a macrotask
 * (`setImmediate`): this module is the real implementation of the scheduling
 * service, so it may touch timers. Delivering in a macrotask lets the promise
 * continuations of earlier deliveries run between pumps.
 *
 * Virtual time advances one tick per delivery and jumps ahead when no head
 * frame is due, so delays count deliveries and cannot starve a delayed frame.
 */
import * as Layer from "effect/Layer"
import { clearImmediate, setImmediate } from "node:timers"
import { Prng } from "./prng.ts"
import { type Endpoint, type FrameHandler, Transport, TransportError } from "./transport.ts"

/** Options of a `MemoryNetwork`; only `nodes` is required. */
export interface MemoryNetworkOptions {
  readonly nodes: number
  /** Seed of the scheduler's random stream (default 0). */
  readonly seed?: number
  /** Largest random extra delay of a frame, in scheduler ticks (default 0). */
  readonly delayMax?: number
  /** When true, nothing is delivered until `step()` or `drain()` is called. */
  readonly manual?: boolean
  /** Most frames one auto-mode pump delivers before yielding (default 4096). */
  readonly framesPerPumpMax?: number
}

/** The frames queued on one directed link, in send order, with their due ticks. */
class LinkQueue {
  frames: Array<Uint8Array | undefined> = []
  dueTick: number[] = []
  head = 0

  get size(): number {
    return this.frames.length - this.head
  }

  shift(): Uint8Array {
    const frame = this.frames[this.head]!
    // Release the delivered frame. Reset the arrays once the link is empty, and
    // compact a link that never empties, so that memory follows the backlog.
    this.frames[this.head++] = undefined
    if (this.head === this.frames.length) {
      this.frames.length = this.dueTick.length = this.head = 0
    } else if (this.head >= 1024 && this.head * 2 >= this.frames.length) {
      this.frames.splice(0, this.head)
      this.dueTick.splice(0, this.head)
      this.head = 0
    }
    return frame
  }
}

const NODES_MAX = 64

function requireInt(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `MemoryNetwork option ${name} must be an integer in [${min}, ${max}], got ${value}`,
    )
  }
}

/** In-process links between `nodes` endpoints, with a seeded delivery scheduler. */
export class MemoryNetwork {
  readonly nodes: number
  private readonly prng: Prng
  private readonly options: Required<MemoryNetworkOptions>
  private readonly links: LinkQueue[] = []
  /** Indices (from * nodes + to) of the non-empty links, in a deterministic order. */
  private readonly active: Int32Array
  private readonly activePos: Int32Array
  private activeCount = 0
  private readonly endpoints: Array<Endpoint | undefined>
  private readonly handlers: Array<FrameHandler | undefined>
  private readonly closedNodes: boolean[]
  private tick = 0
  private pendingCount = 0
  private deliveredCount = 0
  private droppedCount = 0
  private pump: ReturnType<typeof setImmediate> | undefined

  constructor(options: MemoryNetworkOptions) {
    const { nodes, seed = 0, delayMax = 0, manual = false, framesPerPumpMax = 4096 } = options
    requireInt("nodes", nodes, 1, NODES_MAX)
    requireInt("delayMax", delayMax, 0, Number.MAX_SAFE_INTEGER)
    requireInt("framesPerPumpMax", framesPerPumpMax, 1, Number.MAX_SAFE_INTEGER)
    this.nodes = nodes
    this.prng = new Prng(seed)
    this.options = { nodes, seed, delayMax, manual, framesPerPumpMax }
    for (let i = 0; i < nodes * nodes; i++) this.links.push(new LinkQueue())
    this.active = new Int32Array(nodes * nodes)
    this.activePos = new Int32Array(nodes * nodes)
    this.endpoints = new Array(nodes).fill(undefined)
    this.handlers = new Array(nodes).fill(undefined)
    this.closedNodes = new Array(nodes).fill(false)
  }

  /** Frames sent but neither delivered nor dropped yet. */
  get pending(): number {
    return this.pendingCount
  }

  /** Frames handed to a handler so far. */
  get delivered(): number {
    return this.deliveredCount
  }

  /** Frames dropped because their sender or receiver was closed. */
  get dropped(): number {
    return this.droppedCount
  }

  /** The endpoint of node `nodeId`, created on first use and the same object afterwards. */
  endpoint(nodeId: number): Endpoint {
    if (!this.isNode(nodeId)) {
      throw new TransportError({ message: `no node ${nodeId} in a network of ${this.nodes}` })
    }
    return (this.endpoints[nodeId] ??= this.makeEndpoint(nodeId))
  }

  /** The value of the `Transport` service backed by this network. */
  get transport(): Transport["Service"] {
    return { endpoint: (nodeId) => this.endpoint(nodeId) }
  }

  /** A layer providing `Transport` from this network. */
  layer(): Layer.Layer<Transport> {
    return Layer.succeed(Transport, this.transport)
  }

  /** Delivers one due frame; false when no frame can be delivered. */
  step(): boolean {
    const link = this.pickLink()
    if (link < 0) return false
    const queue = this.links[link]
    const frame = queue.shift()
    if (queue.size === 0) this.deactivate(link)
    this.pendingCount--
    this.deliveredCount++
    this.tick++
    const from = Math.floor(link / this.nodes)
    this.handlers[link % this.nodes]!(from, frame)
    return true
  }

  /** Steps until nothing can be delivered; throws if `maxSteps` run out first. */
  drain(maxSteps = 1e7): number {
    let steps = 0
    while (steps < maxSteps && this.step()) steps++
    if (steps === maxSteps && this.hasDeliverable()) {
      throw new Error(
        `MemoryNetwork.drain hit its limit of ${maxSteps} steps with ${this.pendingCount} frames still pending`,
      )
    }
    return steps
  }

  /** Closes every endpoint, drops every queued frame and cancels the pump. */
  close(): Promise<void> {
    for (let node = 0; node < this.nodes; node++) this.closeNode(node)
    if (this.pump !== undefined) clearImmediate(this.pump)
    this.pump = undefined
    return Promise.resolve()
  }

  private makeEndpoint(nodeId: number): Endpoint {
    return {
      nodeId,
      nodes: this.nodes,
      send: (to, frame) => {
        if (this.closedNodes[nodeId]) {
          throw new TransportError({ message: `node ${nodeId} is closed and cannot send` })
        }
        this.enqueue(nodeId, to, frame)
      },
      onFrame: (handler) => {
        if (this.closedNodes[nodeId]) return
        this.handlers[nodeId] = handler
        // Frames may be waiting for this handler, so an auto network must wake up.
        this.wake()
      },
      close: () => {
        this.closeNode(nodeId)
        return Promise.resolve()
      },
    }
  }

  private enqueue(from: number, to: number, frame: Uint8Array): void {
    if (!this.isNode(to) || to === from) {
      throw new TransportError({ message: `node ${from} cannot send to node ${to}` })
    }
    if (this.closedNodes[to]) {
      this.droppedCount++
      return
    }
    const link = from * this.nodes + to
    const queue = this.links[link]
    const drawn = this.tick +
      (this.options.delayMax > 0 ? this.prng.nextInt(this.options.delayMax + 1) : 0)
    // Clamp: a frame is never due before the frame sent ahead of it on its link.
    queue.dueTick.push(queue.size > 0 ? Math.max(drawn, queue.dueTick.at(-1)!) : drawn)
    queue.frames.push(frame)
    if (queue.size === 1) this.activate(link)
    this.pendingCount++
    this.wake()
  }

  /** Marks a node closed and drops the frames queued to or from it. */
  private closeNode(node: number): void {
    this.closedNodes[node] = true
    this.handlers[node] = undefined
    for (let other = 0; other < this.nodes; other++) {
      if (other === node) continue
      this.dropLink(node * this.nodes + other)
      this.dropLink(other * this.nodes + node)
    }
  }

  private readonly runPump = (): void => {
    this.pump = undefined
    let steps = 0
    try {
      while (steps < this.options.framesPerPumpMax && this.step()) steps++
    } finally {
      // Reschedule even when a handler threw, so one bad frame does not stall the rest.
      this.wake()
    }
  }

  /** Schedules an auto-mode pump if a frame can be delivered and none is scheduled. */
  private wake(): void {
    if (!this.options.manual && this.pump === undefined && this.hasDeliverable()) {
      this.pump = setImmediate(this.runPump)
    }
  }

  /** Whether some queued frame has a handler to go to (however late it is due). */
  private hasDeliverable(): boolean {
    for (let i = 0; i < this.activeCount; i++) {
      if (this.headDue(this.active[i]) < Infinity) return true
    }
    return false
  }

  /**
   * Chooses the link to deliver from, or -1. If no head frame is due, the tick
   * jumps to the earliest head and the scan repeats. Two passes over the active
   * links (count, then select) avoid allocating a candidate list.
   */
  private pickLink(): number {
    let due = 0
    let earliest = Infinity
    for (let i = 0; i < this.activeCount; i++) {
      const at = this.headDue(this.active[i])
      if (at <= this.tick) due++
      else if (at < earliest) earliest = at
    }
    if (due === 0) {
      if (earliest === Infinity) return -1
      this.tick = earliest
      return this.pickLink()
    }
    let chosen = this.prng.nextInt(due)
    for (let i = 0; i < this.activeCount; i++) {
      if (this.headDue(this.active[i]) <= this.tick && chosen-- === 0) return this.active[i]
    }
    throw new Error("MemoryNetwork.pickLink: a due link counted in the first pass went missing")
  }

  /**
   * The due tick of a link's head frame, or Infinity while the receiver has no
   * handler: frames wait for a node to install one rather than being lost.
   */
  private headDue(link: number): number {
    if (this.handlers[link % this.nodes] === undefined) return Infinity
    const queue = this.links[link]
    return queue.dueTick[queue.head]
  }

  private dropLink(link: number): void {
    const queue = this.links[link]
    if (queue.size === 0) return
    this.pendingCount -= queue.size
    this.droppedCount += queue.size
    queue.frames.length = queue.dueTick.length = queue.head = 0
    this.deactivate(link)
  }

  private activate(link: number): void {
    this.activePos[link] = this.activeCount
    this.active[this.activeCount++] = link
  }

  private deactivate(link: number): void {
    const pos = this.activePos[link]
    const last = this.active[--this.activeCount]
    this.active[pos] = last
    this.activePos[last] = pos
  }

  private isNode(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.nodes
  }
}
