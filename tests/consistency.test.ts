/**
 * The consistency contract (DESIGN.md §5) as seeded properties over random
 * workloads: items 1, 3, 4, 5 and 7 under relocation, and with replicas
 * (nups, full-replication) items 1, 2, 4 and 6 as well, sync rounds driven by
 * a TestClock; under intents (adaptive and its ablations) all seven. Plus pinned regression seeds and the negative controls that
 * prove the properties can fail.
 *
 * Runs are deterministic: fast-check's seed fixes the workloads and each
 * workload carries the memory network's seed. A failing run prints its seed
 * and path; set ROAM_PROPERTY_SEED to replay one and ROAM_PROPERTY_RUNS to
 * scale a soak (the suite's defaults total over 1,000 runs).
 */
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import fc from "fast-check"
import { runWorkload, workloadArbitrary } from "./_simulation.ts"

const env = (name: string) => globalThis.process?.env?.[name]
const seed = Number(env("ROAM_PROPERTY_SEED") ?? 20261124)
const scale = Number(env("ROAM_PROPERTY_RUNS") ?? 1)

describe("consistency contract", () => {
  it("holds under random pushes, pulls, sets and localizes on 2-5 nodes (lapse)", async () => {
    await fc.assert(
      fc.asyncProperty(workloadArbitrary(), (w) => runWorkload(w)),
      { seed, numRuns: 500 * scale },
    )
  })

  it("holds under heavy relocation contention on few keys", async () => {
    await fc.assert(
      fc.asyncProperty(
        workloadArbitrary({ laneKeys: { min: 1, max: 4 }, localizeWeight: 8, steps: 150 }),
        (w) => runWorkload(w),
      ),
      { seed: seed + 1, numRuns: 400 * scale },
    )
  })

  it("holds on the static policy (keys never move)", async () => {
    await fc.assert(
      fc.asyncProperty(workloadArbitrary(), (w) => runWorkload(w, { policy: "static" })),
      { seed: seed + 2, numRuns: 150 * scale },
    )
  })

  it("holds with a replicated hot set and relocation of the rest (nups)", async () => {
    await fc.assert(
      fc.asyncProperty(workloadArbitrary(), (w) => runWorkload(w, { policy: "nups" })),
      { seed: seed + 3, numRuns: 300 * scale },
    )
  })

  it("holds with every key replicated on every node (full-replication)", async () => {
    await fc.assert(
      fc.asyncProperty(workloadArbitrary(), (w) => runWorkload(w, { policy: "full-replication" })),
      { seed: seed + 4, numRuns: 300 * scale },
    )
  })

  const intents = workloadArbitrary({ intentWeight: 5 })

  it("holds under random intents and clock advances (adaptive)", async () => {
    await fc.assert(
      fc.asyncProperty(intents, (w) => runWorkload(w, { policy: "adaptive" })),
      { seed: seed + 5, numRuns: 700 * scale },
    )
  })

  it("holds under intent-heavy contention on one or two lane keys (adaptive)", async () => {
    const crowded = workloadArbitrary({
      nodes: { min: 2, max: 3 },
      laneKeys: { min: 1, max: 2 },
      intentWeight: 8,
      steps: 60,
    })
    await fc.assert(
      fc.asyncProperty(crowded, (w) => runWorkload(w, { policy: "adaptive" })),
      { seed: seed + 8, numRuns: 300 * scale },
    )
  })

  it("holds under the ablations replication-only and relocation-only", async () => {
    for (const [i, policy] of (["replication-only", "relocation-only"] as const).entries()) {
      await fc.assert(
        fc.asyncProperty(intents, (w) => runWorkload(w, { policy })),
        { seed: seed + 6 + i, numRuns: 150 * scale },
      )
    }
  })
})

describe("negative controls: the properties catch a broken protocol", () => {
  const contention = workloadArbitrary({
    laneKeys: { min: 1, max: 3 },
    localizeWeight: 8,
    steps: 150,
  })

  // Adaptive holds replicas only where intents overlap, so its sync controls
  // need intent-heavy workloads: with few intents, seed 777 took 474 runs to
  // catch unversioned sync checks, against 1 to 15 with intentWeight 5 over
  // ten seeds (nups and full-replication: 1 or 2).
  const replicating = (policy: string) =>
    policy === "adaptive" ? workloadArbitrary({ intentWeight: 5 }) : workloadArbitrary()

  it("catches a relocation that drops the requests it parked", async () => {
    const result = await fc.check(
      fc.asyncProperty(contention, (w) => runWorkload(w, { faults: { dropParkedRequests: true } })),
      { seed, numRuns: 300, endOnFailure: true },
    )
    assert.equal(result.failed, true, "dropping parked requests went unnoticed")
  })

  it("catches a forwarded push applied twice", async () => {
    const result = await fc.check(
      fc.asyncProperty(
        contention,
        (w) => runWorkload(w, { faults: { duplicateForwardedPushes: true } }),
      ),
      { seed, numRuns: 300, endOnFailure: true },
    )
    assert.equal(result.failed, true, "a duplicated push went unnoticed")
  })

  it("catches a home that never hears of a key's new owner", async () => {
    const result = await fc.check(
      fc.asyncProperty(contention, (w) => runWorkload(w, { faults: { dropOwnerUpdates: true } })),
      { seed, numRuns: 300, endOnFailure: true },
    )
    assert.equal(result.failed, true, "a home left with a stale owner went unnoticed")
  })

  it("catches intent-driven moves that drop the requests they parked", async () => {
    const result = await fc.check(
      fc.asyncProperty(
        workloadArbitrary({ laneKeys: { min: 1, max: 3 }, intentWeight: 8 }),
        (w) => runWorkload(w, { policy: "adaptive", faults: { dropParkedRequests: true } }),
      ),
      { seed, numRuns: 300, endOnFailure: true },
    )
    assert.equal(result.failed, true, "dropping requests parked for intents went unnoticed")
  })

  it("catches a dropped replica whose last delta never reaches the owner", async () => {
    const result = await fc.check(
      fc.asyncProperty(
        // intentWeight 8: first failure within 48 runs over ten seeds (with 5: up to 94).
        workloadArbitrary({ intentWeight: 8 }),
        (w) => runWorkload(w, { policy: "adaptive", faults: { loseReplicaDropDeltas: true } }),
      ),
      { seed, numRuns: 300, endOnFailure: true },
    )
    assert.equal(result.failed, true, "a lost replica-drop delta went unnoticed")
  })

  it("catches a sync delta applied twice at the owner", async () => {
    for (const policy of ["nups", "full-replication", "adaptive"] as const) {
      const result = await fc.check(
        fc.asyncProperty(
          replicating(policy),
          (w) => runWorkload(w, { policy, faults: { duplicateSyncDeltas: true } }),
        ),
        { seed, numRuns: 300, endOnFailure: true },
      )
      assert.equal(result.failed, true, `a duplicated sync delta went unnoticed (${policy})`)
    }
  })

  it("catches an owner that answers sync checks without comparing versions", async () => {
    for (const policy of ["nups", "full-replication", "adaptive"] as const) {
      const result = await fc.check(
        fc.asyncProperty(
          replicating(policy),
          (w) => runWorkload(w, { policy, faults: { ignoreSyncVersions: true } }),
        ),
        { seed, numRuns: 300, endOnFailure: true },
      )
      assert.equal(result.failed, true, `a stale replica went unnoticed (${policy})`)
    }
  })
})

describe("pinned regressions (each a counterexample a property once found)", () => {
  it("a barrier waits for a worker whose node's news is still on a link", async () => {
    // Seed 20261126 of the static-policy property: node 0 released the barrier
    // before it knew node 1 had a worker at all, and node 1's worker hung.
    await runWorkload({ nodes: 2, workersPerNode: 1, laneKeys: 3, seed: 0, delayMax: 0, steps: [] })
  })

  it("a replica dropped with operations waiting on it serves them before its last delta leaves", async () => {
    // Seed 20261130 of the ablations property (replication-only): a push and
    // then a pull parked for a replica; the intent ended before it arrived,
    // and the drop's delta was queued behind the pull, which read the owner
    // without the worker's own push (read-your-writes).
    await runWorkload({
      nodes: 2,
      workersPerNode: 1,
      laneKeys: 3,
      seed: 0,
      delayMax: 0,
      steps: [
        { kind: "intent", worker: 0, keys: [654, 0], ahead: 0, clocks: 1 },
        { kind: "write", worker: 0, slot: 0, set: false },
        { kind: "pull", worker: 0, keys: [955, 0], sync: false },
        { kind: "advance", worker: 0 },
      ],
    }, { policy: "replication-only" })
  })

  it("a replica that comes and goes within one frame is not taken for a single copy", async () => {
    // Seed 3777 of the adaptive property at 4x runs: an intent replica
    // arrived after its intent had ended, served the read parked for it and
    // was dropped in the same frame. The harness, which looked for replicas
    // only between frames, held that read to item 5's single serial history.
    // It now records every replica install.
    await runWorkload({
      nodes: 4,
      workersPerNode: 1,
      laneKeys: 3,
      seed: 0,
      delayMax: 0,
      steps: [
        { kind: "intent", worker: 0, keys: [35], ahead: 0, clocks: 1 },
        { kind: "intent", worker: 313, keys: [255, 0], ahead: 0, clocks: 1 },
        { kind: "push", worker: 981, keys: [44], delta: 1 },
        { kind: "pull", worker: 29, keys: [343], sync: false },
        { kind: "advance", worker: 145 },
        { kind: "deliver", frames: 2 },
        { kind: "pull", worker: 183, keys: [57, 0], sync: false },
        { kind: "push", worker: 178, keys: [950], delta: 1 },
      ],
    }, { policy: "adaptive" })
  })

  it("frames a final sync round leaves behind are delivered before the last check", async () => {
    // Found by the intent-heavy property (then at seed 424242): the last
    // round's new clock-rate estimate widened a window, an intent came into
    // it and its frame was still in the network when the harness checked
    // quiescence, so key 4 looked stuck expected. The simulator now delivers
    // what the last round leaves before checking.
    await runWorkload({
      nodes: 2,
      workersPerNode: 1,
      laneKeys: 2,
      seed: 2147483626,
      delayMax: 0,
      steps: [
        { kind: "intent", worker: 301, keys: [812, 888, 727], ahead: 12, clocks: 6 },
        { kind: "localize", worker: 630, keys: [176, 472] },
        { kind: "intent", worker: 779, keys: [158, 396, 66], ahead: 4, clocks: 4 },
        { kind: "advance", worker: 959 },
        { kind: "write", worker: 664, slot: 0, set: false },
        { kind: "intent", worker: 796, keys: [626, 911, 166, 384], ahead: 10, clocks: 6 },
        { kind: "pull", worker: 939, keys: [333, 533, 448], sync: true },
        { kind: "localize", worker: 282, keys: [62, 932] },
        { kind: "intent", worker: 711, keys: [31, 367, 69, 366], ahead: 0, clocks: 4 },
        { kind: "turn" },
        { kind: "intent", worker: 417, keys: [737, 273, 865, 395], ahead: 8, clocks: 1 },
        { kind: "intent", worker: 653, keys: [454, 39, 326, 934], ahead: 5, clocks: 1 },
        { kind: "advance", worker: 949 },
      ],
    }, { policy: "adaptive" })
  })

  it("a key localized away from its replicas' owner still bumps its version at the new owner", async () => {
    // Seed 20261132 of the intent-heavy property, when local writes bumped
    // versions only while the owner had granted replicas: key 2, replicated on
    // node 0, was localized to node 1 (a hand-over that ignores holders), whose
    // empty holder record then skipped the bumps, so node 0's version check
    // answered "unchanged" and its replica never converged (item 2).
    await runWorkload({
      nodes: 3,
      workersPerNode: 1,
      laneKeys: 1,
      seed: 0,
      delayMax: 0,
      steps: [
        { kind: "intent", worker: 0, keys: [128], ahead: 0, clocks: 1 },
        { kind: "intent", worker: 521, keys: [919, 0], ahead: 0, clocks: 1 },
        { kind: "deliver", frames: 1 },
        { kind: "localize", worker: 895, keys: [961, 0] },
        { kind: "deliver", frames: 3 },
        { kind: "write", worker: 445, slot: 0, set: false },
      ],
    }, { policy: "adaptive" })
  })

  it("a push applied locally after waiting for its key bumps the key's version", async () => {
    // Seed 20261129 of the adaptive property, once sync rounds sent values only
    // for changed keys: a deferred push applied at the owner (applyLocal) left
    // the version as it was, so a replica's version check answered
    // "unchanged" and the replica never converged (item 2).
    await runWorkload({
      nodes: 4,
      workersPerNode: 3,
      laneKeys: 6,
      seed: 343673433,
      delayMax: 0,
      steps: [
        { kind: "intent", worker: 33, keys: [604, 91], ahead: 0, clocks: 1 },
        { kind: "push", worker: 789, keys: [0], delta: 1 },
        { kind: "intent", worker: 3, keys: [4], ahead: 0, clocks: 1 },
        { kind: "push", worker: 189, keys: [0, 652], delta: 1 },
      ],
    }, { policy: "adaptive" })
  })

  // Seed 271828 of the adaptive property at 3x runs (ROAM_PROPERTY_RUNS=3).
  // Node 0 owns key 3 and grants node 1 an intent replica (value 3) before a
  // push of worker 8 (node 4) to key 3, forwarded by the old owner, merges at
  // node 0. Worker 8's waitSync asks every node for a sync round after its
  // question; node 1 still expected the replica, had none to sync, and
  // answered at once. The stale replica then arrived and waitSync resolved
  // with node 1 showing lane 8 as 3, not 4. Now a node answers only once the
  // keys it expected when asked have arrived and a round started after that
  // has completed (runtime/replica_sync.ts).
  it("waitSync covers a push whose key's replica is on its way (seed 271828)", async () => {
    await runWorkload({
      nodes: 5,
      workersPerNode: 2,
      laneKeys: 13,
      seed: 154799764,
      delayMax: 0,
      steps: [
        { kind: "intent", worker: 0, keys: [333, 0], ahead: 0, clocks: 1 },
        { kind: "push", worker: 568, keys: [900, 0], delta: 1 },
        { kind: "intent", worker: 272, keys: [597, 829], ahead: 0, clocks: 1 },
        { kind: "deliver", frames: 3 },
        { kind: "write", worker: 291, slot: 0, set: false },
        { kind: "localize", worker: 0, keys: [903, 67] },
        { kind: "waitSync", worker: 278 },
        { kind: "pull", worker: 0, keys: [706, 0], sync: false },
        { kind: "waitSync", worker: 384 },
        { kind: "deliver", frames: 10 },
        { kind: "deliver", frames: 11 },
        { kind: "deliver", frames: 6 },
      ],
    }, { policy: "adaptive" })
  })
})
