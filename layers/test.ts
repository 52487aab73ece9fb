/**
 * The reference's test constructors as layers: a store with no fibers, empty or
 * holding the pods (and pod metrics) a test gives it.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Clock, Effect, Layer } from "effect"
import { type CacheServices, layerEmpty, makeContext } from "../src/cache/Cache.ts"
import { CacheWriter } from "../src/cache/CacheWriter.ts"
import { DiscoveryEvent } from "../src/store/DiscoveryEvent.ts"
import { FleetStore } from "../src/store/FleetStore.ts"
import type { MetricValue } from "../src/store/MetricValue.ts"
import { MODEL_LABEL } from "../src/store/Pod.ts"

/** `InitForTest`: an empty store, no fibers. */
export const initForTest: Layer.Layer<CacheServices> = layerEmpty

/** Pod name -> metric name -> value, as a record or a map. */
export type PodMetrics =
  | Readonly<Record<string, Readonly<Record<string, MetricValue>>>>
  | ReadonlyMap<string, ReadonlyMap<string, MetricValue>>

/**
 * `NewTestCacheWithPods`: a store holding these pods, each given the label
 * `model.aibrix.ai/name: model` (its other labels kept). As in the reference the
 * label is set on the objects given, so `getPod` returns those very objects.
 */
export const newTestCacheWithPods = (pods: ReadonlyArray<V1Pod>, model: string): Layer.Layer<CacheServices> =>
  newTestCacheWithPodsMetrics(pods, model, {})

/** `NewTestCacheWithPodsMetrics`: as `newTestCacheWithPods`, plus pod-scope metrics per pod name. */
export const newTestCacheWithPodsMetrics = (
  pods: ReadonlyArray<V1Pod>,
  model: string,
  podMetrics: PodMetrics
): Layer.Layer<CacheServices> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const store = new FleetStore()
      const context = makeContext(store, yield* Clock.Clock)
      for (const pod of pods) labelWithModel(pod, model)
      yield* CacheWriter.use((writer) => writer.applyAll(pods.map((pod) => DiscoveryEvent.PodAdded({ pod })))).pipe(
        Effect.provideContext(context)
      )
      for (const entry of store.podEntries()) {
        for (const [metric, value] of metricsOf(podMetrics, entry.pod.metadata.name)) {
          store.setPodMetric(entry.key, metric, value)
        }
      }
      return context
    })
  )

const labelWithModel = (pod: V1Pod, model: string): void => {
  if (pod.metadata === undefined) return // malformed: the writer logs and skips it
  pod.metadata.labels = { ...pod.metadata.labels, [MODEL_LABEL]: model }
}

const metricsOf = (podMetrics: PodMetrics, podName: string): Iterable<[string, MetricValue]> => {
  const metrics = isMap(podMetrics) ? podMetrics.get(podName) : podMetrics[podName]
  if (metrics === undefined) return []
  return isMap(metrics) ? metrics : Object.entries(metrics)
}

const isMap = <K, V>(value: ReadonlyMap<K, V> | object): value is ReadonlyMap<K, V> => value instanceof Map
