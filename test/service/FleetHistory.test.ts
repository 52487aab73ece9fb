import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { DiscoveryEvent } from "../../src/store/DiscoveryEvent.ts"
import { FleetStore } from "../../src/store/FleetStore.ts"
import { MetricValue } from "../../src/store/MetricValue.ts"
import { RoutingContext } from "../../src/store/RoutingContext.ts"
import { FleetHistory, type LoadHistory, podFigures } from "../../src/service/FleetHistory.ts"
import { makePod } from "../support/fixtures.ts"
import { isCollected } from "../support/garbage.ts"

const engineValues = (running: number, waiting: number, kv: number) => ({
  pod: new Map(),
  models: new Map([
    [
      "m",
      new Map([
        ["num_requests_running", MetricValue.simple(running)],
        ["num_requests_waiting", MetricValue.simple(waiting)],
        ["gpu_cache_usage_perc", MetricValue.simple(kv)]
      ])
    ]
  ])
})

const storeWith = (...names: ReadonlyArray<string>) => {
  const store = new FleetStore()
  for (const name of names) store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name, model: "m" }) }))
  return store
}

describe("FleetHistory", () => {
  it("keeps each pod's figures per sample, oldest first, null where unknown", () => {
    const store = storeWith("a")
    const entry = store.podEntry("default", "a")!
    const history = new FleetHistory(4)
    history.sample(store, 1000)
    store.replaceEngineMetrics(entry, engineValues(3, 1, 0.5), 1500)
    history.sample(store, 2000)
    store.addRequest(RoutingContext.make({ model: "m", requestId: "r" }).setTargetPod(entry.pod), "r", "m", 0)
    history.sample(store, 3000)
    assert.strictEqual(history.seq, 3)
    assert.strictEqual(history.at, 3000)
    assert.deepStrictEqual(history.history(entry, undefined), {
      running: [null, 3, 3],
      waiting: [null, 1, 1],
      kv_cache: [null, 0.5, 0.5],
      // The gateway's own count is 0 before any request moved it, then the metric that mirrors it.
      gateway_running: [0, 0, 1]
    })
    assert.deepStrictEqual(history.history(entry, 2), {
      running: [3],
      waiting: [1],
      kv_cache: [0.5],
      gateway_running: [1]
    })
    assert.deepStrictEqual(history.history(entry, 3).running, [])
  })

  it("holds the last `capacity` samples, a new pod from its first sample, and forgets a removed or recreated pod", () => {
    const store = storeWith("a")
    const history = new FleetHistory(3)
    const a = store.podEntry("default", "a")!
    for (let i = 1; i <= 5; i++) {
      store.replaceEngineMetrics(a, engineValues(i, 0, 0), i * 1000)
      if (i === 4) store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "b", model: "m" }) }))
      history.sample(store, i * 1000)
    }
    assert.deepStrictEqual(history.history(a, undefined).running, [3, 4, 5])
    assert.deepStrictEqual(history.history(a, 0).running, [3, 4, 5], "a cursor older than the window gets what is left")
    const b = store.podEntry("default", "b")!
    assert.strictEqual(history.history(b, undefined).running.length, 2)

    store.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/b" }))
    store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "a", model: "m", uid: "another", ip: "10.0.0.9" }) }))
    history.sample(store, 6000)
    assert.deepStrictEqual(history.history(b, undefined).running, [], "a removed pod's history is gone")
    assert.deepStrictEqual(history.history(a, undefined).running, [], "so is the old entry of a recreated pod")
    assert.deepStrictEqual(history.history(store.podEntry("default", "a")!, undefined).running, [null])
  })

  it("keeps no entry of a pod that left, or of a recreated pod's old one, after the next sample", async () => {
    const store = storeWith("a", "b")
    const history = new FleetHistory(3)
    history.sample(store, 1000)
    const refs = (() => [store.podEntry("default", "a")!, store.podEntry("default", "b")!].map((e) => new WeakRef(e)))()
    store.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/b" }))
    store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "a", model: "m", uid: "another", ip: "10.0.0.9" }) }))
    history.sample(store, 2000)
    for (const ref of refs) assert.isTrue(await isCollected(ref))
  })

  it("refuses a capacity that is no positive integer", () => {
    assert.throws(() => new FleetHistory(0), RangeError)
    assert.throws(() => new FleetHistory(1.5), RangeError)
  })

  it("reads every pod's history as a plain list of every sample would (property)", () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant("sample" as const), running: fc.option(fc.nat(50), { nil: undefined }) }),
      fc.record({ kind: fc.constant("add" as const), name: fc.constantFrom("a", "b", "c") }),
      fc.record({ kind: fc.constant("remove" as const), name: fc.constantFrom("a", "b", "c") })
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.array(step, { maxLength: 40 }),
        fc.nat(45),
        (capacity, steps, after) => {
          const store = new FleetStore()
          const history = new FleetHistory(capacity)
          // The reference: every sample of every entry, by entry.
          const plain = new Map<object, Array<{ seq: number; figures: LoadHistory }>>()
          let seq = 0
          for (const s of steps) {
            if (s.kind === "add") store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: s.name, model: "m" }) }))
            if (s.kind === "remove") store.apply(DiscoveryEvent.PodDeletedByKey({ key: `default/${s.name}` }))
            if (s.kind !== "sample") continue
            seq++
            for (const entry of store.podEntries()) {
              if (s.running !== undefined) store.replaceEngineMetrics(entry, engineValues(s.running + seq, 0, 0), seq)
              const f = podFigures(entry)
              const samples = plain.get(entry) ?? []
              samples.push({
                seq,
                figures: {
                  running: [f.num_requests_running],
                  waiting: [f.num_requests_waiting],
                  kv_cache: [f.gpu_cache_usage_perc],
                  gateway_running: [f.realtime_num_requests_running]
                }
              })
              plain.set(entry, samples)
            }
            history.sample(store, seq * 1000)
          }
          for (const entry of store.podEntries()) {
            const kept = (plain.get(entry) ?? []).filter((sample) => sample.seq > seq - capacity)
            const expected = (from: number | undefined) => {
              const samples = kept.filter((sample) => from === undefined || sample.seq > from)
              return {
                running: samples.flatMap((sample) => sample.figures.running),
                waiting: samples.flatMap((sample) => sample.figures.waiting),
                kv_cache: samples.flatMap((sample) => sample.figures.kv_cache),
                gateway_running: samples.flatMap((sample) => sample.figures.gateway_running)
              }
            }
            assert.deepStrictEqual(history.history(entry, undefined), expected(undefined))
            assert.deepStrictEqual(history.history(entry, after), expected(after))
          }
        }
      )
    )
  })
})
