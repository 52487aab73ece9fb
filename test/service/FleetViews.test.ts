import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { DiscoveryEvent } from "../../src/store/DiscoveryEvent.ts"
import { FleetStore } from "../../src/store/FleetStore.ts"
import { ModelPodsCache, modelPods } from "../../src/service/FleetViews.ts"
import { MetricValue } from "../../src/store/MetricValue.ts"
import { RoutingContext } from "../../src/store/RoutingContext.ts"
import { ModelPods } from "../../src/service/ServiceApi.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"
import { isCollected } from "../support/garbage.ts"

const encode = (value: ModelPods): Uint8Array =>
  new TextEncoder().encode(JSON.stringify(Schema.encodeSync(ModelPods)(value)))
const text = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : new TextDecoder().decode(bytes)

describe("ModelPodsCache", () => {
  it("keeps the very body while nothing it shows changes, and matches a fresh view after every change", () => {
    const store = new FleetStore()
    let builds = 0
    let now = 0
    const cache = new ModelPodsCache(
      store,
      (value) => {
        builds++
        return encode(value)
      },
      () => now
    )
    const fresh = (model: string, readyOnly = false) => {
      const view = modelPods(store, model, readyOnly, now)
      return view === undefined ? undefined : text(encode(view))
    }
    const check = (model: string, readyOnly = false) =>
      assert.strictEqual(text(cache.body(model, readyOnly)), fresh(model, readyOnly))

    for (let i = 0; i < 4; i++) {
      store.apply(
        DiscoveryEvent.PodAdded({ pod: makePod({ name: `p${i}`, model: "m", ip: `10.0.0.${i}`, ready: i !== 3 }) })
      )
    }
    store.apply(DiscoveryEvent.AdapterAdded({ adapter: makeAdapter("m-lora", ["p0"]) }))
    check("m")
    check("m", true)
    check("m-lora")
    const first = cache.body("m", false)
    const buildsBefore = builds
    assert.strictEqual(cache.body("m", false), first, "the same bytes while nothing changed")
    assert.strictEqual(builds, buildsBefore)

    const changes: ReadonlyArray<() => void> = [
      () => store.setPodModelMetric("default/p1", "m", "num_requests_running", MetricValue.simple(4)),
      () => store.setPodModelMetric("default/p1", "m", "num_requests_running", MetricValue.simple(4)),
      () => store.setPodModelMetric("default/p2", "m", "gpu_cache_usage_perc", MetricValue.simple(0.5)),
      () => store.setPodMetric("default/p0", "realtime_num_requests_running", MetricValue.simple(2)),
      () => store.setPodModelMetric("default/p0", "m-lora", "num_requests_waiting", MetricValue.simple(1)),
      // A scrape makes p2 fresh; time passing makes it stale again.
      () => store.replaceEngineMetrics(store.podEntry("default", "p2")!, { pod: new Map(), models: new Map() }, now),
      () => {
        now += store.engineFreshness.staleAfterMs + 1
      },
      () =>
        store.addRequest(
          RoutingContext.make({ model: "m", requestId: "r" }).setTargetPod(store.podEntry("default", "p2")!.pod),
          "r",
          "m",
          0
        ),
      () => store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p3", model: "m", ip: "10.0.0.3" }) })),
      () => store.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/p1" })),
      () => store.apply(DiscoveryEvent.AdapterDeleted({ adapter: makeAdapter("m-lora", ["p0"]) }))
    ]
    for (const change of changes) {
      change()
      check("m")
      check("m", true)
      check("m-lora")
    }
    assert.isUndefined(cache.body("m-lora", false), "a model gone has no body")
    assert.isUndefined(cache.body("nope", false))
  })

  it("keeps no body, and no entry, of pods and models that left, once asked for any model after", async () => {
    const store = new FleetStore()
    const cache = new ModelPodsCache(store, encode, () => 0)
    store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "stays", model: "m", ip: "10.0.0.1" }) }))
    const refs = (() => {
      store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "leaves", model: "gone", ip: "10.0.0.2" }) }))
      store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "leaves-too", model: "m", ip: "10.0.0.3" }) }))
      cache.body("gone", false)
      cache.body("m", false)
      const entries = [store.podEntry("default", "leaves")!, store.podEntry("default", "leaves-too")!]
      return entries.map((entry) => new WeakRef(entry))
    })()
    store.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/leaves" }))
    store.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/leaves-too" }))
    cache.body("m", true)
    for (const ref of refs) assert.isTrue(await isCollected(ref))
  })
})
