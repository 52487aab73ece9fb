import { assert, describe, it } from "@effect/vitest"
import { DiscoveryEvent, FleetStore, MetricValue, REALTIME_RUNNING_METRIC, RoutingContext } from "../src/index.ts"
import type { EngineMetrics, PodEntry } from "../src/FleetStore.ts"
import { makePod } from "./fixtures.ts"

const storeWithPod = (): { store: FleetStore; entry: PodEntry } => {
  const store = new FleetStore()
  const pod = makePod({ name: "p1", model: "m1" })
  store.apply(DiscoveryEvent.PodAdded({ pod }))
  return { store, entry: store.podEntry("default", "p1")! }
}

const scrape = (
  pod: Record<string, MetricValue>,
  models: Record<string, Record<string, MetricValue>>
): EngineMetrics => ({
  pod: new Map(Object.entries(pod)),
  models: new Map(Object.entries(models).map(([model, values]) => [model, new Map(Object.entries(values))]))
})

describe("FleetStore engine metrics", () => {
  it("a scrape replaces the previous scrape's values in one step", () => {
    const { store, entry } = storeWithPod()
    store.replaceEngineMetrics(entry, scrape({ max_lora: MetricValue.label("4") }, {
      m1: { num_requests_running: MetricValue.simple(1), num_requests_waiting: MetricValue.simple(2) },
      gone: { num_requests_running: MetricValue.simple(9) }
    }))
    assert.deepStrictEqual(entry.modelMetrics.get("m1")?.get("num_requests_waiting"), MetricValue.simple(2))
    store.replaceEngineMetrics(entry, scrape({}, { m1: { num_requests_running: MetricValue.simple(3) } }))
    assert.deepStrictEqual(entry.modelMetrics.get("m1")?.get("num_requests_running"), MetricValue.simple(3))
    assert.isFalse(entry.modelMetrics.get("m1")?.has("num_requests_waiting"))
    assert.isFalse(entry.modelMetrics.has("gone"))
    assert.isFalse(entry.podMetrics.has("max_lora"))
  })

  it("keeps the gateway's running count and PromQL values across scrapes and drops", () => {
    const { store, entry } = storeWithPod()
    store.addRequest(RoutingContext.make({ model: "m1", requestId: "r1" }).setTargetPod(entry.pod), "r1", "m1")
    store.setEntryMetric(entry, undefined, "avg_ttft_5m_pod", MetricValue.simple(0.2))
    store.setEntryMetric(entry, "m1", "p95_ttft_5m", MetricValue.simple(0.4))
    store.replaceEngineMetrics(entry, scrape({ max_lora: MetricValue.label("4") }, {
      m1: { num_requests_running: MetricValue.simple(1) }
    }))
    store.replaceEngineMetrics(entry, scrape({}, {}))
    assert.deepStrictEqual(entry.podMetrics.get(REALTIME_RUNNING_METRIC), MetricValue.simple(1))
    assert.deepStrictEqual(entry.podMetrics.get("avg_ttft_5m_pod"), MetricValue.simple(0.2))
    assert.deepStrictEqual(entry.modelMetrics.get("m1")?.get("p95_ttft_5m"), MetricValue.simple(0.4))
    store.replaceEngineMetrics(entry, scrape({}, { m1: { num_requests_running: MetricValue.simple(1) } }))
    store.dropEngineMetrics(entry)
    assert.isFalse(entry.modelMetrics.get("m1")?.has("num_requests_running"))
    assert.deepStrictEqual(entry.modelMetrics.get("m1")?.get("p95_ttft_5m"), MetricValue.simple(0.4))
    assert.deepStrictEqual(entry.podMetrics.get(REALTIME_RUNNING_METRIC), MetricValue.simple(1))
  })

  it("the same values again keep what is in place and clear the stale mark", () => {
    const { store, entry } = storeWithPod()
    const values = scrape({ max_lora: MetricValue.label("4") }, { m1: { num_requests_running: MetricValue.simple(1) } })
    store.replaceEngineMetrics(entry, values)
    store.markEngineMetricsStale(entry)
    assert.isTrue(store.replaceEngineMetrics(entry, values))
    assert.isFalse(entry.engineMetricsStale)
    assert.deepStrictEqual(entry.modelMetrics.get("m1")?.get("num_requests_running"), MetricValue.simple(1))
    assert.deepStrictEqual(entry.podMetrics.get("max_lora"), MetricValue.label("4"))
    // Dropped, then the same values: written again.
    store.dropEngineMetrics(entry)
    store.replaceEngineMetrics(entry, values)
    assert.deepStrictEqual(entry.podMetrics.get("max_lora"), MetricValue.label("4"))
  })

  it("stale marks the values without removing them; a new scrape clears the mark", () => {
    const { store, entry } = storeWithPod()
    store.markEngineMetricsStale(entry)
    assert.isFalse(entry.engineMetricsStale, "nothing to mark before any scrape")
    store.replaceEngineMetrics(entry, scrape({}, { m1: { num_requests_running: MetricValue.simple(1) } }))
    store.markEngineMetricsStale(entry)
    assert.isTrue(entry.engineMetricsStale)
    assert.deepStrictEqual(entry.modelMetrics.get("m1")?.get("num_requests_running"), MetricValue.simple(1))
    store.replaceEngineMetrics(entry, scrape({}, { m1: { num_requests_running: MetricValue.simple(2) } }))
    assert.isFalse(entry.engineMetricsStale)
    store.markEngineMetricsStale(entry)
    store.dropEngineMetrics(entry)
    assert.isFalse(entry.engineMetricsStale)
    assert.isFalse(entry.modelMetrics.has("m1"))
  })

  it("never writes to an entry that left the store, nor to the pod recreated under its name", () => {
    const { store, entry } = storeWithPod()
    store.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/p1" }))
    store.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "p1", model: "m1", uid: "other" }) }))
    const recreated = store.podEntry("default", "p1")!
    assert.isFalse(store.replaceEngineMetrics(entry, scrape({}, { m1: { num_requests_running: MetricValue.simple(1) } })))
    assert.isFalse(store.setEntryMetric(entry, undefined, "avg_ttft_5m_pod", MetricValue.simple(1)))
    assert.strictEqual(recreated.modelMetrics.size, 0)
    assert.strictEqual(recreated.podMetrics.size, 0)
  })
})
