import { Context, type Effect } from "effect"
import type { MetricNotFound, PodNotFound } from "../store/Errors.ts"
import type { MetricValue } from "../store/MetricValue.ts"

/** Someone who reads these metrics; the cache may skip work for the others. */
export interface MetricSubscriber {
  readonly subscribedMetrics: ReadonlyArray<string>
}

/** Each pod's load, from its engine, from Prometheus and from the gateway itself. */
export class MetricCache extends Context.Service<
  MetricCache,
  {
    /** A pod-scope metric. */
    getMetricValueByPod(
      name: string,
      namespace: string,
      metric: string
    ): Effect.Effect<MetricValue, PodNotFound | MetricNotFound>
    /** A pod-model-scope metric: the pod's value for one of its models. */
    getMetricValueByPodModel(
      name: string,
      namespace: string,
      model: string,
      metric: string
    ): Effect.Effect<MetricValue, PodNotFound | MetricNotFound>
    addSubscriber(subscriber: MetricSubscriber): Effect.Effect<void>
  }
>()("aibrix-cache/MetricCache") {}
