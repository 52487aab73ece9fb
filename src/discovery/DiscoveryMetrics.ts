/**
 * Kubernetes discovery's families in Effect's metric registry: restarts of
 * each informer, its periodic relists and what they corrected, observed from
 * the time the informer starts, so the page shows them while the initial sync
 * is still failing.
 */
import { Metric } from "effect"

/** Restarts of one informer (`pods`, `modeladapters`) after it stopped on an error. */
export const informerRestarts = (resource: string): Metric.Counter<number> =>
  Metric.counter("aibrix_cache_informer_restarts_total", {
    description: "Restarts of a Kubernetes informer after it stopped on an error.",
    attributes: { informer: resource }
  })

/** Periodic relists of one informer (`AIBRIX_KUBE_RELIST_INTERVAL_MS`) delivered in full. */
export const informerRelists = (resource: string): Metric.Counter<number> =>
  Metric.counter("aibrix_cache_informer_relists_total", {
    description: "Periodic relists of a Kubernetes informer, delivered in full.",
    attributes: { informer: resource }
  })

/** What the periodic relists of one informer corrected: `change` is `added`, `updated` or `deleted`. */
export const relistCorrections = (resource: string, change: "added" | "updated" | "deleted"): Metric.Counter<number> =>
  Metric.counter("aibrix_cache_informer_relist_corrections_total", {
    description: "Changes a periodic relist found that the informer's watch had not delivered.",
    attributes: { informer: resource, change }
  })
