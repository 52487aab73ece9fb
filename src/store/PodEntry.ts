/**
 * One tracked pod as the store keeps it, and the reference to it that
 * requests routed to it hold.
 */
import type { MetricValue } from "./MetricValue.ts"
import { podIpOf, type PodKey, uidOf, type ValidPod } from "./Pod.ts"

/**
 * What one scrape of a pod's engine yields, whole: pod-scope values by metric
 * name, and pod-model-scope values by model, then metric name.
 */
export interface EngineMetrics {
  readonly pod: ReadonlyMap<string, MetricValue>
  readonly models: ReadonlyMap<string, ReadonlyMap<string, MetricValue>>
}

/**
 * What a request routed to a pod holds instead of the pod's entry: the entry
 * while it is in the store, nothing once it left. A pod gone from the store is
 * then not kept alive by the requests routed to it, and a pod recreated under
 * the same name has an entry, and a reference, of its own.
 */
export class PodReference {
  entry: PodEntry | undefined

  constructor(entry: PodEntry) {
    this.entry = entry
  }
}

/** One tracked pod: the latest object discovered, and everything the cache knows of it. */
export class PodEntry {
  readonly key: PodKey
  /** Held by the requests routed here; cleared when the pod leaves the store. */
  readonly reference: PodReference = new PodReference(this)
  pod: ValidPod
  readonly uid: string
  readonly podIp: string
  baseModel: string
  /** Names of the adapters loaded on this pod. */
  readonly adapters = new Set<string>()
  /** Every model name the pod maps to: its base model and its adapters. */
  readonly models = new Set<string>()
  /** Requests the gateway routed here and has not seen finish. */
  running = 0
  /** Requests the gateway routed here and saw finish (AIBrix's `seq`). */
  completed = 0
  /** The other gateway replicas' running requests on this pod, as last read (0 without replica sync). */
  remoteRunning = 0
  readonly podMetrics = new Map<string, MetricValue>()
  /** model name -> metric name -> value */
  readonly modelMetrics = new Map<string, Map<string, MetricValue>>()
  /** The engine's metrics as last written, so the next scrape replaces exactly those. */
  engineMetrics: EngineMetrics | undefined = undefined
  /**
   * When the scrape that produced `engineMetrics` happened, in milliseconds
   * since the epoch by the refresh's clock; undefined while there are none
   * (never scraped well, or dropped).
   */
  engineScrapedAt: number | undefined = undefined

  constructor(key: PodKey, pod: ValidPod, baseModel: string) {
    this.key = key
    this.pod = pod
    this.uid = uidOf(pod)
    this.podIp = podIpOf(pod)
    this.baseModel = baseModel
  }

  /** True once the pod left the store (its reference let go); a refresh in progress may still hold the entry. */
  get removed(): boolean {
    return this.reference.entry === undefined
  }

  /** Base model first, then the adapters. */
  modelNames(): ReadonlyArray<string> {
    const names = [this.baseModel]
    for (const adapter of this.adapters) if (adapter !== this.baseModel) names.push(adapter)
    return names
  }
}
