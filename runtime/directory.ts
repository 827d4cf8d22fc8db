/**
 * Directory and routing: where this node believes each key lives.
 *
 * Every node keeps, per key, an owner and the epoch of that knowledge. For the
 * keys it is home to (`home(key) = key mod nodes`) this is the directory: every
 * new owner reports there, so it is the freshest record in the cluster. For
 * the other keys it is a location hint, learned from replies and hand-overs.
 * Ownership news is versioned: `learn` takes it only when its epoch is newer
 * than what is known, because news travels on different links and can arrive
 * out of order. A stale hint costs one forward, never a wrong answer, since
 * only the owner serves a key and every other node forwards towards a newer
 * owner (a hint always names the owner of a later epoch than the node's own).
 */
import { assert, InvariantViolation } from "../actors/assert.ts"

export class Directory {
  /** Believed owner per key. */
  readonly owner: Int32Array
  /** Epoch of that belief per key. */
  readonly epoch: Uint32Array

  constructor(readonly self: number, readonly nodes: number, keys: number) {
    this.owner = new Int32Array(keys)
    this.epoch = new Uint32Array(keys)
    // Every key starts owned by its home at epoch 0, which every node can compute.
    for (let k = 0; k < keys; k++) this.owner[k] = k % nodes
  }

  home(key: number): number {
    return key % this.nodes
  }

  /**
   * Take ownership news `(owner, epoch)` for `key` if it is newer than what is
   * known. `ownsKey` says whether this node holds the key as owner right now:
   * news of a newer owner then means two owners, a broken invariant.
   */
  learn(key: number, owner: number, epoch: number, ownsKey: boolean): void {
    const conflict = this.conflict(key, owner, epoch, ownsKey)
    if (conflict !== undefined) throw new InvariantViolation(conflict)
    if (epoch > this.epoch[key]) {
      this.owner[key] = owner
      this.epoch[key] = epoch
    }
  }

  /**
   * Why news that `owner` holds `key` at `epoch` cannot be true here, or
   * undefined: this node owns the key (`ownsKey`) and hears of a newer epoch,
   * or hears of a second owner at the epoch it knows. What `learn` asserts, for
   * checking a peer's frame before applying any of it.
   */
  conflict(key: number, owner: number, epoch: number, ownsKey: boolean): string | undefined {
    const known = this.epoch[key]
    if (epoch > known && ownsKey) {
      return `node ${this.self} owns key ${key} at epoch ${known} but node ${owner} claims epoch ${epoch}`
    }
    if (epoch === known && this.owner[key] !== owner) {
      return `key ${key} has two owners at epoch ${epoch}: ${this.owner[key]} and ${owner}`
    }
    return undefined
  }

  /** Record a move this node made or took part in: the key's owner is now `owner` at `epoch`. */
  record(key: number, owner: number, epoch: number): void {
    assert(
      epoch >= this.epoch[key],
      () => `key ${key}: epoch ${epoch} older than ${this.epoch[key]}`,
    )
    this.owner[key] = owner
    this.epoch[key] = epoch
  }

  /**
   * Where to send a request for `key` that this node cannot serve: the owner it
   * believes in, or the home once the request has been forwarded `forwardHopsMax`
   * times (the home's record is the freshest, so a chase ends there).
   */
  nextHop(key: number, hops: number, forwardHopsMax: number): number {
    const home = key % this.nodes
    if (hops >= forwardHopsMax && home !== this.self) return home
    const owner = this.owner[key]
    assert(owner !== this.self, () => `node ${this.self} routes key ${key} to itself`)
    return owner
  }
}
