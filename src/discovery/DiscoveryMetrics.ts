/**
 * Kubernetes discovery's family in Effect's metric registry: restarts of each
 * informer, observed from the time the informer starts, so the page shows it
 * while the initial sync is still failing.
 */
import { Metric } from "effect"

/** Restarts of one informer (`pods`, `modeladapters`) after it stopped on an error. */
export const informerRestarts = (resource: string): Metric.Counter<number> =>
  Metric.counter("aibrix_cache_informer_restarts_total", {
    description: "Restarts of a Kubernetes informer after it stopped on an error.",
    attributes: { informer: resource }
  })
