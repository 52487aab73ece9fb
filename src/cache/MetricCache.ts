import { Context, type Effect } from "effect"
import type { MetricNotFound, PodNotFound } from "../store/Errors.ts"
import type { MetricValue } from "../store/MetricValue.ts"

/** Someone who reads these metrics; the cache may skip work for the others. */
export interface MetricSubscriber {
  readonly subscribedMetrics: ReadonlyArray<string>
}

/**
 * Each pod's load, from its engine, from Prometheus and from the gateway itself.
 *
 * Engine values are as fresh as the pod's last good scrape. The value reads
 * (two map lookups each) say nothing of age; `getEngineScrapedAt` tells when
 * the values they return were scraped, so a router that cares computes
 * `now - scrapedAt`. A pod's engine values are stale once older than
 * `AIBRIX_POD_METRIC_STALE_AFTER_MS`, or while it has none; they stay
 * readable until `AIBRIX_POD_METRIC_DROP_AFTER_MS`, then the reads fail with
 * `MetricNotFound` until a scrape succeeds again. PromQL values and the
 * gateway's own running count carry no scrape time.
 */
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
    /**
     * When the engine values the reads return for this pod were scraped, in
     * milliseconds since the epoch (the cache's clock); `undefined` while it
     * has none (never scraped well, or dropped after failing past the drop
     * horizon).
     */
    getEngineScrapedAt(name: string, namespace: string): Effect.Effect<number | undefined, PodNotFound>
    addSubscriber(subscriber: MetricSubscriber): Effect.Effect<void>
  }
>()("aibrix-cache/MetricCache") {}
