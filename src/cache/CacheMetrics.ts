/**
 * The cache's own families on a `/metrics` page, in Effect's metric registry:
 * whether it is ready, and what its store holds. Every family of the cache is
 * named `aibrix_cache_*`.
 */
import { Effect, Layer, Metric } from "effect"
import { isReady } from "../store/Pod.ts"
import type { FleetStore } from "../store/FleetStore.ts"
import { CacheStore } from "./CacheStore.ts"
import { observeCounter, observeGauge, registerFamilies } from "./ObservedSeries.ts"

/** 1 once the source's initial sync is in the store; raised by the source's readiness signal. */
export const ready = Metric.gauge("aibrix_cache_ready", {
  description: "1 once the source's initial sync is in the store."
})

const podsDescription = "Pods tracked, by readiness."
const readyPods = Metric.gauge("aibrix_cache_pods", { description: podsDescription, attributes: { ready: "true" } })
const unreadyPods = Metric.gauge("aibrix_cache_pods", { description: podsDescription, attributes: { ready: "false" } })
const models = Metric.gauge("aibrix_cache_models", {
  description: "Models and adapters served by at least one tracked pod."
})
const adapters = Metric.gauge("aibrix_cache_adapters", { description: "ModelAdapters applied." })
const requestsInFlight = Metric.gauge("aibrix_cache_requests_in_flight", {
  description: "Requests counted and not yet done."
})

const requestsAbandoned = Metric.counter("aibrix_cache_requests_abandoned_total", {
  description: "Requests released unfinished after AIBRIX_REQUEST_MAX_LIFETIME_MS: their done never came.",
  incremental: true
})

const countReady = (store: FleetStore): number => {
  let count = 0
  for (const entry of store.podEntries()) if (isReady(entry.pod)) count++
  return count
}

/**
 * The store of `CacheStore` observed in the registry for the layer's lifetime
 * (pods by readiness, models, adapters, requests in flight and abandoned), and `ready` at 0
 * until a source raises it.
 */
export const layer: Layer.Layer<never, never, CacheStore> = Layer.effectDiscard(
  Effect.gen(function* () {
    const store = yield* CacheStore
    yield* registerFamilies([ready])
    yield* observeGauge(readyPods, () => countReady(store))
    yield* observeGauge(unreadyPods, () => store.podCount - countReady(store))
    yield* observeGauge(models, () => store.modelCount)
    yield* observeGauge(adapters, () => store.listAdapters().length)
    yield* observeGauge(requestsInFlight, () => store.inFlightCount)
    yield* observeCounter(requestsAbandoned, () => store.abandonedCount)
  })
)
