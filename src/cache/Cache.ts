/**
 * `Cache`, the four services in one, and the wiring that serves all of them
 * (and `CacheWriter`) from one store.
 */
import { Clock, Context, Effect, Exit, Layer } from "effect"
import { CacheStore } from "./CacheStore.ts"
import { CacheWriter } from "./CacheWriter.ts"
import type { DiscoveryEvent } from "../store/DiscoveryEvent.ts"
import { MetricNotFound, ModelNotFound, PodNotFound } from "../store/Errors.ts"
import { FleetStore, type Rejection } from "../store/FleetStore.ts"
import { MetricCache } from "./MetricCache.ts"
import type { MetricValue } from "../store/MetricValue.ts"
import { ModelCache } from "./ModelCache.ts"
import { podKey } from "../store/Pod.ts"
import { PodCache } from "./PodCache.ts"
import { RequestTracker } from "./RequestTracker.ts"

export type CacheService = PodCache["Service"] &
  ModelCache["Service"] &
  MetricCache["Service"] &
  RequestTracker["Service"]

/** All four read and tracking services as one. */
export class Cache extends Context.Service<Cache, CacheService>()("aibrix-cache/Cache") {}

/** Every service a cache layer provides. */
export type CacheServices = Cache | PodCache | ModelCache | MetricCache | RequestTracker | CacheWriter | CacheStore

// The methods below sit on the request hot path: each builds one `Effect.sync`
// (or a `suspend` that returns an `Exit`), never a generator. The clock is the
// one of the layer's build (a TestClock in tests), read without an Effect.

const makeService = (store: FleetStore, clock: Clock.Clock): CacheService => {
  const podNotFound = (name: string, namespace: string) => Exit.fail(new PodNotFound({ key: podKey(namespace, name) }))
  return {
    getPod: (name, namespace) =>
      Effect.suspend(() => {
        const entry = store.podEntry(namespace, name)
        return entry === undefined ? podNotFound(name, namespace) : Exit.succeed(entry.pod)
      }),
    listPodsByModel: (model) =>
      Effect.suspend(() => {
        const list = store.podList(model)
        return list === undefined ? Exit.fail(new ModelNotFound({ model })) : Exit.succeed(list)
      }),
    listPods: Effect.sync(() => store.listPods()),
    hasModel: (model) => Effect.sync(() => store.hasModel(model)),
    listModels: Effect.sync(() => store.listModels()),
    listModelsByPod: (name, namespace) =>
      Effect.suspend(() => {
        const entry = store.podEntry(namespace, name)
        return entry === undefined ? podNotFound(name, namespace) : Exit.succeed(entry.modelNames())
      }),
    getMetricValueByPod: (name, namespace, metric) =>
      Effect.suspend((): Exit.Exit<MetricValue, PodNotFound | MetricNotFound> => {
        const entry = store.podEntry(namespace, name)
        if (entry === undefined) return podNotFound(name, namespace)
        const value = entry.podMetrics.get(metric)
        return value === undefined ? Exit.fail(new MetricNotFound({ key: entry.key, metric })) : Exit.succeed(value)
      }),
    getMetricValueByPodModel: (name, namespace, model, metric) =>
      Effect.suspend((): Exit.Exit<MetricValue, PodNotFound | MetricNotFound> => {
        const entry = store.podEntry(namespace, name)
        if (entry === undefined) return podNotFound(name, namespace)
        const value = entry.modelMetrics.get(model)?.get(metric)
        return value === undefined
          ? Exit.fail(new MetricNotFound({ key: entry.key, metric, model }))
          : Exit.succeed(value)
      }),
    getEngineScrapedAt: (name, namespace) =>
      Effect.suspend(() => {
        const entry = store.podEntry(namespace, name)
        return entry === undefined ? podNotFound(name, namespace) : Exit.succeed(entry.engineScrapedAt)
      }),
    addSubscriber: (subscriber) => Effect.sync(() => store.subscribe(subscriber.subscribedMetrics)),
    addRequestCount: (ctx, requestId, model) =>
      Effect.sync(() => store.addRequest(ctx ?? undefined, requestId, model, clock.currentTimeMillisUnsafe())),
    doneRequestCount: (_ctx, requestId, _model, term) => Effect.sync(() => store.doneRequest(requestId, term)),
    doneRequestTrace: (_ctx, requestId, _model, inputTokens, outputTokens, term) =>
      Effect.sync(() => store.doneRequest(requestId, term, { input: inputTokens, output: outputTokens }))
  }
}

const logRejections = (rejections: ReadonlyArray<Rejection>): Effect.Effect<void> =>
  Effect.forEach(rejections, (rejection) => Effect.logWarning(`skipped ${rejection.event}: ${rejection.reason}`), {
    discard: true
  })

const makeWriter = (store: FleetStore): CacheWriter["Service"] => ({
  apply: (event) =>
    Effect.suspend(() => {
      const rejection = store.apply(event)
      return rejection === undefined ? Effect.void : logRejections([rejection])
    }),
  applyAll: (events: Iterable<DiscoveryEvent>) =>
    Effect.suspend(() => {
      const rejections: Array<Rejection> = []
      for (const event of events) {
        const rejection = store.apply(event)
        if (rejection !== undefined) rejections.push(rejection)
      }
      return logRejections(rejections)
    })
})

/**
 * Every cache service, served from the given store; `clock` times the
 * requests' lifetimes, so expired requests are released on the request path.
 */
export const makeContext = (store: FleetStore, clock: Clock.Clock): Context.Context<CacheServices> => {
  const service = makeService(store, clock)
  return Context.make(Cache, service).pipe(
    Context.add(PodCache, service),
    Context.add(ModelCache, service),
    Context.add(MetricCache, service),
    Context.add(RequestTracker, service),
    Context.add(CacheWriter, makeWriter(store)),
    Context.add(CacheStore, store)
  )
}

/**
 * A cache over a fresh, empty store: each build of the layer has its own,
 * timed by the `Clock` of the build.
 */
export const layerEmpty: Layer.Layer<CacheServices> = Layer.effectContext(
  Effect.map(Clock.Clock, (clock) => makeContext(new FleetStore(), clock))
)
