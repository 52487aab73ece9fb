/**
 * What the service's API shows of the store: the model list, a model's pods
 * with their load, one pod with all it knows. Plain functions of the store,
 * plus the cache that keeps the hot endpoint's bytes between changes.
 */
import type { V1Pod } from "@kubernetes/client-node"
import type { FleetStore, PodEntry } from "../store/FleetStore.ts"
import { REALTIME_RUNNING_METRIC } from "../store/FleetStore.ts"
import type { MetricValue } from "../store/MetricValue.ts"
import { engineLabelOf, isReady, namespaceOf, podIpOf } from "../store/Pod.ts"
import { DEFAULT_ENGINE } from "../metrics/MetricCatalogue.ts"
import type { KeyMetrics, MetricJson, ModelList, ModelObject, ModelPod, ModelPods, PodDetail } from "./ServiceApi.ts"
import { formatSampleValue } from "../exposition/Render.ts"

export const OWNER = "aibrix"

/** The inference engine a pod runs, as its label names it (`vllm` when absent or empty). */
export const engineOf = (pod: V1Pod): string => engineLabelOf(pod) ?? DEFAULT_ENGINE

const finiteOrNull = (value: number): number | null => (Number.isFinite(value) ? value : null)

/** A `MetricValue` as the API's JSON. */
export const metricJson = (value: MetricValue): MetricJson => {
  switch (value._tag) {
    case "Simple":
      return { type: "simple", value: finiteOrNull(value.value) }
    case "Histogram":
      return {
        type: "histogram",
        sum: finiteOrNull(value.sum),
        count: finiteOrNull(value.count),
        mean: finiteOrNull(value.mean),
        buckets: Array.from(value.buckets, ([bound, count]) => ({
          le: formatSampleValue(bound),
          count: finiteOrNull(count)
        }))
      }
    case "Prometheus":
      return { type: "prometheus", result: value.result }
    case "Label":
      return { type: "label", value: value.value }
  }
}

/** The number a simple metric holds, for the key figures; null when absent or not a number. */
const numberOf = (value: MetricValue | undefined): number | null =>
  value !== undefined && value._tag === "Simple" ? finiteOrNull(value.value) : null

const createdSeconds = (timestamp: unknown): number | undefined => {
  if (!(timestamp instanceof Date) && typeof timestamp !== "string") return undefined
  const millis = new Date(timestamp).getTime()
  return Number.isFinite(millis) ? Math.floor(millis / 1000) : undefined
}

// ---- the model list ---------------------------------------------------------

/** A model the store knows, with the entries of its pods. */
export interface ModelRow {
  readonly id: string
  /** The base model an adapter runs on; null for a base model. */
  readonly parent: string | null
  readonly entries: ReadonlyArray<PodEntry>
  /** Unix seconds: the adapter's creation time, when it is an adapter that has one. */
  readonly adapterCreated: number | undefined
}

/**
 * Base models and adapters in the order the store knows them. An adapter's
 * parent is its `spec.baseModel` when it names one, else the base model of the
 * first pod that loads it.
 */
export const modelRows = (store: FleetStore): Array<ModelRow> => {
  const adapterSpecs = new Map<string, { baseModel: string | undefined; created: number | undefined }>()
  for (const adapter of store.listAdapters()) {
    const name = adapter.metadata?.name
    if (name === undefined) continue
    const spec = adapter.spec
    const baseModel =
      typeof spec === "object" &&
      spec !== null &&
      "baseModel" in spec &&
      typeof spec.baseModel === "string" &&
      spec.baseModel !== ""
        ? spec.baseModel
        : undefined
    adapterSpecs.set(name, { baseModel, created: createdSeconds(adapter.metadata?.["creationTimestamp"]) })
  }
  const rows: Array<ModelRow> = []
  for (const id of store.listModels()) {
    const entries = modelEntries(store, id)
    const isBase = entries.some((entry) => entry.baseModel === id)
    const adapter = isBase ? undefined : adapterSpecs.get(id)
    const parent = isBase ? null : (adapter?.baseModel ?? entries[0]?.baseModel ?? null)
    rows.push({ id, parent, entries, adapterCreated: adapter?.created })
  }
  return rows
}

/** The oldest creation time of the pods (unix seconds); undefined when none says. */
const oldestCreated = (entries: ReadonlyArray<PodEntry>): number | undefined => {
  let created: number | undefined
  for (const entry of entries) {
    const podCreated = createdSeconds(entry.pod.metadata.creationTimestamp)
    if (podCreated !== undefined && (created === undefined || podCreated < created)) created = podCreated
  }
  return created
}

/** The OpenAI-compatible model list (see `modelRows`). */
export const modelList = (store: FleetStore, fallbackCreated: number): ModelList => ({
  object: "list",
  data: modelRows(store).map(
    ({ id, parent, entries, adapterCreated }): ModelObject => ({
      id,
      object: "model",
      created: adapterCreated ?? oldestCreated(entries) ?? fallbackCreated,
      owned_by: OWNER,
      root: parent ?? id,
      parent,
      pods: entries.length,
      ready_pods: entries.filter((entry) => isReady(entry.pod)).length
    })
  )
})

/** The store's entries of the pods that serve a model (empty when it has none). */
export const modelEntries = (store: FleetStore, model: string): ReadonlyArray<PodEntry> => {
  const list = store.podList(model)
  if (list === undefined) return []
  const entries: Array<PodEntry> = []
  for (const pod of list.all()) {
    const entry = entryOf(store, pod)
    if (entry !== undefined) entries.push(entry)
  }
  return entries
}

const entryOf = (store: FleetStore, pod: V1Pod): PodEntry | undefined => {
  const name = pod.metadata?.name
  return name === undefined ? undefined : store.podEntry(namespaceOf(pod), name)
}

// ---- one model's pods -------------------------------------------------------

/** The metrics read for the key figures, in the order `KeyMetrics` lists them. */
const KEY_MODEL_METRICS = ["num_requests_running", "num_requests_waiting", "gpu_cache_usage_perc"] as const

/**
 * The values behind a pod's key figures for a model: the model's own
 * pod-model metrics when the engine reports any under its name, else those of
 * the pod's base model (engines report an adapter's load under the base model).
 */
export const keyValues = (
  entry: PodEntry,
  model: string
): [MetricValue | undefined, MetricValue | undefined, MetricValue | undefined, MetricValue | undefined] => {
  const metrics = entry.modelMetrics.get(model) ?? entry.modelMetrics.get(entry.baseModel)
  return [
    metrics?.get(KEY_MODEL_METRICS[0]),
    metrics?.get(KEY_MODEL_METRICS[1]),
    metrics?.get(KEY_MODEL_METRICS[2]),
    entry.podMetrics.get(REALTIME_RUNNING_METRIC)
  ]
}

export const keyMetrics = (values: ReadonlyArray<MetricValue | undefined>): KeyMetrics => ({
  num_requests_running: numberOf(values[0]),
  num_requests_waiting: numberOf(values[1]),
  gpu_cache_usage_perc: numberOf(values[2]),
  realtime_num_requests_running: numberOf(values[3])
})

export const modelPod = (
  entry: PodEntry,
  values: ReadonlyArray<MetricValue | undefined>,
  stale: boolean
): ModelPod => ({
  name: entry.pod.metadata.name,
  namespace: namespaceOf(entry.pod),
  ip: podIpOf(entry.pod),
  ready: isReady(entry.pod),
  engine: engineOf(entry.pod),
  base_model: entry.baseModel,
  stale,
  metrics: keyMetrics(values)
})

/**
 * A model's pods with their key figures; `readyOnly` keeps the ready ones.
 * `now` (ms since the epoch) tells which pods' engine values are stale.
 */
export const modelPods = (store: FleetStore, model: string, readyOnly: boolean, now: number): ModelPods | undefined => {
  if (!store.hasModel(model)) return undefined
  const pods: Array<ModelPod> = []
  for (const entry of modelEntries(store, model)) {
    if (readyOnly && !isReady(entry.pod)) continue
    pods.push(modelPod(entry, keyValues(entry, model), store.isEngineStale(entry, now)))
  }
  return { model, pods }
}

interface CachedModelPods {
  readonly entries: ReadonlyArray<PodEntry>
  /** Four values per entry, as `keyValues` gave them when the body was built. */
  readonly values: Array<MetricValue | undefined>
  /** Whether each entry's engine values were stale when the body was built. */
  readonly stale: Array<boolean>
  readonly body: Uint8Array
}

/**
 * The encoded body of a model's pods, kept until something it shows changes.
 * Metric values are immutable and replaced on every change, so comparing the
 * values behind a body with the current ones (four map reads per pod) tells
 * whether the body still holds, for far less than building it anew (with the
 * stale marks); pod objects, readiness and the model's pods change only with
 * the store's version.
 */
export class ModelPodsCache {
  readonly #store: FleetStore
  readonly #encode: (value: ModelPods) => Uint8Array
  readonly #now: () => number
  readonly #cached = new Map<string, CachedModelPods>()
  /** The store's version the cached bodies were built at. */
  #version = -1

  /** `now` is the clock (ms since the epoch) that tells which pods' engine values are stale. */
  constructor(store: FleetStore, encode: (value: ModelPods) => Uint8Array, now: () => number) {
    this.#store = store
    this.#encode = encode
    this.#now = now
  }

  /** The body for the model; undefined when no pod serves it. */
  body(model: string, readyOnly: boolean): Uint8Array | undefined {
    const key = readyOnly ? `ready\u0000${model}` : model
    const version = this.#store.version
    // After a change of pods or models every body is built anew anyway: drop
    // them all, and with them the entries of pods (and models) that left.
    if (version !== this.#version) {
      this.#cached.clear()
      this.#version = version
    }
    const cached = this.#cached.get(key)
    if (cached !== undefined && this.#unchanged(cached, model)) return cached.body
    if (!this.#store.hasModel(model)) return undefined
    const fresh = this.#build(model, readyOnly)
    this.#cached.set(key, fresh)
    return fresh.body
  }

  #unchanged(cached: CachedModelPods, model: string): boolean {
    const { entries, stale, values } = cached
    const now = this.#now()
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!
      if (this.#store.isEngineStale(entry, now) !== stale[i]) return false
      const metrics = entry.modelMetrics.get(model) ?? entry.modelMetrics.get(entry.baseModel)
      const at = i * 4
      if (
        metrics?.get(KEY_MODEL_METRICS[0]) !== values[at] ||
        metrics?.get(KEY_MODEL_METRICS[1]) !== values[at + 1] ||
        metrics?.get(KEY_MODEL_METRICS[2]) !== values[at + 2] ||
        entry.podMetrics.get(REALTIME_RUNNING_METRIC) !== values[at + 3]
      )
        return false
    }
    return true
  }

  #build(model: string, readyOnly: boolean): CachedModelPods {
    const entries: Array<PodEntry> = []
    const values: Array<MetricValue | undefined> = []
    const stale: Array<boolean> = []
    const pods: Array<ModelPod> = []
    const now = this.#now()
    for (const entry of modelEntries(this.#store, model)) {
      if (readyOnly && !isReady(entry.pod)) continue
      const entryValues = keyValues(entry, model)
      const entryStale = this.#store.isEngineStale(entry, now)
      entries.push(entry)
      values.push(...entryValues)
      stale.push(entryStale)
      pods.push(modelPod(entry, entryValues, entryStale))
    }
    return { entries, values, stale, body: this.#encode({ model, pods }) }
  }
}

// ---- one pod ----------------------------------------------------------------

/** One pod in full; `now` (ms since the epoch) tells whether its engine values are stale. */
export const podDetail = (store: FleetStore, entry: PodEntry, now: number): PodDetail => {
  const metrics: Record<string, MetricJson> = {}
  for (const [name, value] of entry.podMetrics) metrics[name] = metricJson(value)
  const modelMetrics: Record<string, Record<string, MetricJson>> = {}
  for (const [model, values] of entry.modelMetrics) {
    const byName: Record<string, MetricJson> = {}
    for (const [name, value] of values) byName[name] = metricJson(value)
    modelMetrics[model] = byName
  }
  return {
    name: entry.pod.metadata.name,
    namespace: namespaceOf(entry.pod),
    ip: podIpOf(entry.pod),
    ready: isReady(entry.pod),
    engine: engineOf(entry.pod),
    base_model: entry.baseModel,
    models: entry.modelNames(),
    running_requests: entry.running,
    stale: store.isEngineStale(entry, now),
    metrics,
    model_metrics: modelMetrics
  }
}
