/**
 * The in-memory view of the fleet: pods, the models and adapters they serve,
 * their metrics, and the gateway's own request counts.
 *
 * Every method is synchronous and does no I/O, so each one is atomic with respect
 * to every fiber of the process: the services over it run each call inside one
 * `Effect.sync`, and no interleaving of fibers can observe a half-applied change.
 * Discovery, the metric refresh and the trace flush feed it from the edges.
 */
import type { V1Pod } from "@kubernetes/client-node"
import type { DiscoveryEvent } from "./DiscoveryEvent.ts"
import {
  DEFAULT_REQUEST_LIFETIME_MS,
  InFlightRequest,
  InFlightRequests,
  type PendingCounter
} from "./InFlightRequests.ts"
import {
  adapterKeyOf,
  describeInvalidAdapter,
  instanceKeysOf,
  isValidModelAdapter,
  type ModelAdapter,
  type ValidModelAdapter
} from "./ModelAdapter.ts"
import { MetricValue } from "./MetricValue.ts"
import {
  describeInvalidPod,
  isValidPod,
  keyOf,
  namespaceOf,
  podIpOf,
  podKey,
  type PodKey,
  trackedModelOf,
  uidOf,
  type ValidPod
} from "./Pod.ts"
import { type EngineMetrics, PodEntry } from "./PodEntry.ts"
import { PodList } from "./PodList.ts"
import type { RoutingContext } from "./RoutingContext.ts"
import type { TokenCounts, TraceRecorder } from "./TraceRecorder.ts"

export type { TokenCounts, TraceRecorder }

export { type EngineMetrics, PodEntry, PodReference } from "./PodEntry.ts"

/** The pod-scope metric that mirrors the gateway's running count of a pod. */
export const REALTIME_RUNNING_METRIC = "realtime_num_requests_running"

/** Running counts below this share their metric value (see `#runningValue`). */
const SHARED_RUNNING_VALUES = 1024

/**
 * How old a pod's engine values may grow, in milliseconds since the scrape
 * that produced them: stale after `staleAfterMs` (still read), removed from
 * reads after `dropAfterMs`.
 */
export interface EngineFreshness {
  readonly staleAfterMs: number
  readonly dropAfterMs: number
}

export const DEFAULT_ENGINE_FRESHNESS: EngineFreshness = { staleAfterMs: 500, dropAfterMs: 10_000 }

/** One model or adapter name and the pods that serve it. */
class ModelEntry {
  readonly name: string
  readonly pods = new Map<PodKey, PodEntry>()
  /** The model's pending count (also in the store's map by name), once a request counted in it. */
  pending: PendingCounter | undefined
  #podList: PodList | undefined

  constructor(name: string, pending: PendingCounter | undefined) {
    this.name = name
    this.pending = pending
  }

  /** The pods as a list, rebuilt only after the model's pods changed. */
  podList(): PodList {
    if (this.#podList === undefined) {
      this.#podList = new PodList(Array.from(this.pods.values(), (entry) => entry.pod))
    }
    return this.#podList
  }

  invalidate(): void {
    this.#podList = undefined
  }
}

/** An adapter as last applied: its name and the key of every pod it lists, known or not. */
interface AppliedAdapter {
  readonly name: string
  readonly adapter: ModelAdapter
  readonly instanceKeys: ReadonlySet<PodKey>
}

/** Why an event was skipped instead of applied. */
export interface Rejection {
  readonly event: DiscoveryEvent["_tag"]
  readonly reason: string
}

/** The number of keys in each of the store's maps (see `FleetStore.sizes`). */
export interface StoreSizes {
  readonly pods: number
  readonly namespaces: number
  readonly models: number
  readonly adapters: number
  /** Pod keys some adapter lists, known or not. */
  readonly rememberedInstances: number
  /** Models with a pending count kept: served ones asked for, and ones gone while requests counted in them are in flight. */
  readonly pendingModels: number
  readonly inFlight: number
}

/** How a store is set up. */
export interface FleetStoreOptions {
  /** How long a request may stay in flight before it is released unfinished (default one hour). */
  readonly requestLifetimeMs?: number
}

export class FleetStore {
  readonly #pods = new Map<PodKey, PodEntry>()
  // The lookup of the hot path, which avoids building a `namespace/name` string.
  readonly #podsByNamespace = new Map<string, Map<string, PodEntry>>()
  readonly #models = new Map<string, ModelEntry>()
  readonly #adapters = new Map<string, AppliedAdapter>()
  // Every pod key some adapter lists, known or not: a pod that arrives under
  // the key (late, or recreated) is mapped to these adapters at once.
  readonly #adaptersByInstance = new Map<PodKey, Set<AppliedAdapter>>()
  // Kept by model name, not in the model's entry: requests stay pending for their
  // model even while it has no pods for a moment (all its pods restarting).
  readonly #pending = new Map<string, PendingCounter>()
  readonly #inFlight: InFlightRequests
  #abandoned = 0
  readonly #subscribedMetrics = new Set<string>()
  #trace: TraceRecorder | undefined
  #freshness: EngineFreshness = DEFAULT_ENGINE_FRESHNESS
  readonly #runningValues: Array<MetricValue | undefined> = []
  #version = 0

  constructor(options: FleetStoreOptions = {}) {
    this.#inFlight = new InFlightRequests(options.requestLifetimeMs ?? DEFAULT_REQUEST_LIFETIME_MS)
  }

  // ---- discovery -------------------------------------------------------------

  /** Applies one discovery event; returns why it was skipped, if it was. */
  apply(event: DiscoveryEvent): Rejection | undefined {
    switch (event._tag) {
      case "PodAdded":
        if (!isValidPod(event.pod)) return this.#rejectPod(event, event.pod)
        this.#upsertPod(event.pod)
        return undefined
      case "PodUpdated": {
        const newPod = event.newPod
        if (!isValidPod(newPod)) return this.#rejectPod(event, newPod)
        // Of the old object only the key matters (the rename case): validating all
        // of it would double the cost of every update.
        const oldPod = event.oldPod
        const oldName = oldPod.metadata?.name
        if (
          typeof oldName === "string" &&
          oldName !== "" &&
          (oldName !== newPod.metadata.name || namespaceOf(oldPod) !== namespaceOf(newPod))
        ) {
          this.#removePod(podKey(namespaceOf(oldPod), oldName))
        }
        this.#upsertPod(newPod)
        return undefined
      }
      case "PodDeleted":
        if (!isValidPod(event.pod)) return this.#rejectPod(event, event.pod)
        this.#removePod(keyOf(event.pod))
        return undefined
      case "PodDeletedByKey":
        this.#removePod(event.key)
        return undefined
      case "AdapterAdded":
        return this.#withValidAdapter(event, event.adapter, (adapter) => this.#applyAdapter(adapter))
      case "AdapterUpdated":
        return this.#withValidAdapter(event, event.newAdapter, (newAdapter) => {
          if (isValidModelAdapter(event.oldAdapter)) this.#unmapAdapter(adapterKeyOf(event.oldAdapter))
          this.#applyAdapter(newAdapter)
        })
      case "AdapterDeleted":
        return this.#withValidAdapter(event, event.adapter, (adapter) => this.#unmapAdapter(adapterKeyOf(adapter)))
    }
  }

  #rejectPod(event: DiscoveryEvent, pod: V1Pod): Rejection {
    return { event: event._tag, reason: `malformed pod: ${describeInvalidPod(pod)}` }
  }

  #withValidAdapter(
    event: DiscoveryEvent,
    adapter: ModelAdapter,
    change: (adapter: ValidModelAdapter) => void
  ): Rejection | undefined {
    if (!isValidModelAdapter(adapter)) {
      return { event: event._tag, reason: `malformed ModelAdapter: ${describeInvalidAdapter(adapter)}` }
    }
    change(adapter)
    return undefined
  }

  /**
   * Stores a pod that was added or changed. The same running engine (same key,
   * UID and IP) keeps its adapters, metrics and running count; anything else
   * replaces the entry as a new pod.
   */
  #upsertPod(pod: ValidPod): void {
    // Found by namespace and name: the update of a known pod builds no key string.
    const namespace = namespaceOf(pod)
    const existing = this.podEntry(namespace, pod.metadata.name)
    const baseModel = trackedModelOf(pod)
    if (baseModel === undefined) {
      if (existing !== undefined) this.#removeEntry(existing)
      return
    }
    if (existing !== undefined && existing.uid === uidOf(pod) && existing.podIp === podIpOf(pod)) {
      this.#refreshPod(existing, pod, baseModel)
      return
    }
    if (existing !== undefined) this.#removeEntry(existing)
    const key = podKey(namespace, pod.metadata.name)
    const entry = new PodEntry(key, pod, baseModel)
    this.#pods.set(key, entry)
    this.#namespacePods(namespace).set(pod.metadata.name, entry)
    this.#link(entry, baseModel)
    const listing = this.#adaptersByInstance.get(key)
    if (listing !== undefined) for (const applied of listing) this.#mapAdapter(entry, applied.name)
    this.#version++
  }

  #refreshPod(entry: PodEntry, pod: ValidPod, baseModel: string): void {
    entry.pod = pod
    if (baseModel !== entry.baseModel) {
      const previous = entry.baseModel
      entry.baseModel = baseModel
      this.#link(entry, baseModel)
      this.#unlinkUnlessServed(entry, previous)
    }
    // The lists hand out pod objects, so they must show the new one.
    for (const model of entry.models) this.#models.get(model)?.invalidate()
    this.#version++
  }

  #removePod(key: PodKey): void {
    const entry = this.#pods.get(key)
    if (entry !== undefined) this.#removeEntry(entry)
  }

  #removeEntry(entry: PodEntry): void {
    this.#pods.delete(entry.key)
    this.#dropFromNamespace(entry)
    entry.reference.entry = undefined
    for (const name of entry.models) this.#detach(entry, name)
    entry.models.clear()
    this.#version++
  }

  #namespacePods(namespace: string): Map<string, PodEntry> {
    let pods = this.#podsByNamespace.get(namespace)
    if (pods === undefined) {
      pods = new Map()
      this.#podsByNamespace.set(namespace, pods)
    }
    return pods
  }

  #dropFromNamespace(entry: PodEntry): void {
    const namespace = namespaceOf(entry.pod)
    const pods = this.#podsByNamespace.get(namespace)
    if (pods === undefined) return
    pods.delete(entry.pod.metadata.name)
    if (pods.size === 0) this.#podsByNamespace.delete(namespace)
  }

  /**
   * Maps the adapter to every listed pod that is known, and remembers the
   * others for when they arrive. An adapter applied again replaces itself.
   */
  #applyAdapter(adapter: ValidModelAdapter): void {
    const key = adapterKeyOf(adapter)
    this.#unmapAdapter(key)
    const applied: AppliedAdapter = {
      name: adapter.metadata.name,
      adapter,
      instanceKeys: new Set(instanceKeysOf(adapter))
    }
    this.#adapters.set(key, applied)
    for (const instance of applied.instanceKeys) {
      let listing = this.#adaptersByInstance.get(instance)
      if (listing === undefined) {
        listing = new Set()
        this.#adaptersByInstance.set(instance, listing)
      }
      listing.add(applied)
      const entry = this.#pods.get(instance)
      if (entry !== undefined) this.#mapAdapter(entry, applied.name)
    }
    this.#version++
  }

  /** Removes the adapter's mappings and forgets the pods it was waiting for. */
  #unmapAdapter(key: string): void {
    const applied = this.#adapters.get(key)
    if (applied === undefined) return
    this.#adapters.delete(key)
    for (const instance of applied.instanceKeys) {
      const listing = this.#adaptersByInstance.get(instance)
      if (listing?.delete(applied) && listing.size === 0) {
        this.#adaptersByInstance.delete(instance)
      }
      const entry = this.#pods.get(instance)
      if (entry === undefined || !entry.adapters.delete(applied.name)) continue
      this.#unlinkUnlessServed(entry, applied.name)
    }
    this.#version++
  }

  #mapAdapter(entry: PodEntry, name: string): void {
    entry.adapters.add(name)
    this.#link(entry, name)
  }

  #link(entry: PodEntry, name: string): void {
    if (entry.models.has(name)) return
    entry.models.add(name)
    let model = this.#models.get(name)
    if (model === undefined) {
      // A model back while requests counted in it are in flight counts on in the same counter.
      const pending = this.#pending.get(name)
      if (pending !== undefined) pending.modelGone = false
      model = new ModelEntry(name, pending)
      this.#models.set(name, model)
    }
    model.pods.set(entry.key, entry)
    model.invalidate()
  }

  /** Unmaps a model from a pod unless the pod still serves it as base model or adapter. */
  #unlinkUnlessServed(entry: PodEntry, name: string): void {
    if (name === entry.baseModel || entry.adapters.has(name) || !entry.models.delete(name)) return
    this.#detach(entry, name)
  }

  /** Removes the model -> pod mapping; the last one removed deletes the model. */
  #detach(entry: PodEntry, name: string): void {
    const model = this.#models.get(name)
    if (model === undefined || model.pods.get(entry.key) !== entry) return
    model.pods.delete(entry.key)
    model.invalidate()
    if (model.pods.size !== 0) return
    this.#models.delete(name)
    // A model gone keeps its pending count only while requests counted in it are in flight.
    const pending = model.pending
    if (pending === undefined) return
    if (pending.count === 0) this.#pending.delete(name)
    else pending.modelGone = true
  }

  // ---- reads -----------------------------------------------------------------

  /** Grows by one on every change of pods, models or adapters. */
  get version(): number {
    return this.#version
  }

  podEntry(namespace: string, name: string): PodEntry | undefined {
    return this.#podsByNamespace.get(namespace)?.get(name)
  }

  podEntryByKey(key: PodKey): PodEntry | undefined {
    return this.#pods.get(key)
  }

  podEntries(): IterableIterator<PodEntry> {
    return this.#pods.values()
  }

  get podCount(): number {
    return this.#pods.size
  }

  listPods(): ReadonlyArray<V1Pod> {
    return Array.from(this.#pods.values(), (entry) => entry.pod)
  }

  podList(model: string): PodList | undefined {
    return this.#models.get(model)?.podList()
  }

  hasModel(model: string): boolean {
    return this.#models.has(model)
  }

  listModels(): ReadonlyArray<string> {
    return Array.from(this.#models.keys())
  }

  get modelCount(): number {
    return this.#models.size
  }

  /**
   * How many keys each of the store's maps holds: what a long run must see
   * come back down once pods, adapters and requests have gone.
   */
  sizes(): StoreSizes {
    return {
      pods: this.#pods.size,
      namespaces: this.#podsByNamespace.size,
      models: this.#models.size,
      adapters: this.#adapters.size,
      rememberedInstances: this.#adaptersByInstance.size,
      pendingModels: this.#pending.size,
      inFlight: this.#inFlight.size
    }
  }

  /** The adapters as last applied. */
  listAdapters(): ReadonlyArray<ModelAdapter> {
    return Array.from(this.#adapters.values(), (applied) => applied.adapter)
  }

  // ---- metrics ---------------------------------------------------------------

  /** Sets a pod-scope metric; false when the pod is not tracked. */
  setPodMetric(key: PodKey, metric: string, value: MetricValue): boolean {
    const entry = this.#pods.get(key)
    if (entry === undefined) return false
    entry.podMetrics.set(metric, value)
    return true
  }

  /** Sets a pod-model-scope metric; false when the pod is not tracked. */
  setPodModelMetric(key: PodKey, model: string, metric: string, value: MetricValue): boolean {
    const entry = this.#pods.get(key)
    if (entry === undefined) return false
    this.#modelMetrics(entry, model).set(metric, value)
    return true
  }

  /**
   * Sets a metric on this very entry (pod scope when `model` is undefined);
   * false when the entry left the store meanwhile, so a value fetched for a pod
   * never lands on a pod recreated under its name.
   */
  setEntryMetric(entry: PodEntry, model: string | undefined, metric: string, value: MetricValue): boolean {
    if (entry.removed) return false
    if (model === undefined) entry.podMetrics.set(metric, value)
    else this.#modelMetrics(entry, model).set(metric, value)
    return true
  }

  /**
   * Replaces, in one step, the metrics the previous scrape of this entry's
   * engine wrote with those of a new scrape made at `scrapedAt` (ms since the
   * epoch); values from elsewhere (the gateway's running count, PromQL) stay.
   * False when the entry left the store meanwhile.
   */
  replaceEngineMetrics(entry: PodEntry, metrics: EngineMetrics, scrapedAt: number): boolean {
    if (entry.removed) return false
    entry.engineScrapedAt = scrapedAt
    // The very values already in place (an engine page read as before): nothing to write.
    if (entry.engineMetrics === metrics) return true
    // The new values over the old ones, then the old ones the new scrape lacks removed.
    for (const [metric, value] of metrics.pod) entry.podMetrics.set(metric, value)
    for (const [model, values] of metrics.models) {
      const stored = this.#modelMetrics(entry, model)
      for (const [metric, value] of values) stored.set(metric, value)
    }
    const previous = entry.engineMetrics
    entry.engineMetrics = metrics
    if (previous !== undefined) this.#clearEngineMetrics(entry, previous, metrics)
    return true
  }

  /** Removes the engine's values from reads; other values stay. The pod stays stale until a scrape succeeds. */
  dropEngineMetrics(entry: PodEntry): void {
    if (entry.engineMetrics !== undefined) this.#clearEngineMetrics(entry, entry.engineMetrics)
    entry.engineMetrics = undefined
    entry.engineScrapedAt = undefined
  }

  /** How old engine values may grow; the refresh sets it from its settings. */
  get engineFreshness(): EngineFreshness {
    return this.#freshness
  }

  setEngineFreshness(freshness: EngineFreshness): void {
    this.#freshness = freshness
  }

  /**
   * Whether the pod's engine values are stale at `now` (ms since the epoch):
   * their scrape is older than the stale horizon, or there is none (never
   * scraped well, or dropped).
   */
  isEngineStale(entry: PodEntry, now: number): boolean {
    const scrapedAt = entry.engineScrapedAt
    return scrapedAt === undefined || now - scrapedAt > this.#freshness.staleAfterMs
  }

  /** Removes from reads the engine values `previous` wrote that `kept` (when given) does not write again. */
  #clearEngineMetrics(entry: PodEntry, previous: EngineMetrics, kept?: EngineMetrics): void {
    for (const metric of previous.pod.keys()) {
      if (kept === undefined || !kept.pod.has(metric)) entry.podMetrics.delete(metric)
    }
    for (const [model, values] of previous.models) {
      const stored = entry.modelMetrics.get(model)
      if (stored === undefined) continue
      const keptValues = kept?.models.get(model)
      for (const metric of values.keys()) if (keptValues === undefined || !keptValues.has(metric)) stored.delete(metric)
      if (stored.size === 0) entry.modelMetrics.delete(model)
    }
  }

  #modelMetrics(entry: PodEntry, model: string): Map<string, MetricValue> {
    let metrics = entry.modelMetrics.get(model)
    if (metrics === undefined) {
      metrics = new Map()
      entry.modelMetrics.set(model, metrics)
    }
    return metrics
  }

  /** Records metric names that someone reads; the refresh may skip the others. */
  subscribe(metrics: Iterable<string>): void {
    for (const metric of metrics) this.#subscribedMetrics.add(metric)
  }

  get subscribedMetrics(): ReadonlySet<string> {
    return this.#subscribedMetrics
  }

  // ---- request tracking ------------------------------------------------------

  /** Turns the workload trace on (a recorder) or off (undefined). */
  setTraceRecorder(recorder: TraceRecorder | undefined): void {
    this.#trace = recorder
  }

  /**
   * Counts a request added at `now` (milliseconds) once: pending for its model
   * if the model exists, running on the routed pod if routing chose one.
   * Returns the trace term (0 untraced). An id already in flight counts nothing
   * again. First releases the requests whose lifetime ended by `now`.
   */
  addRequest(ctx: RoutingContext | undefined, requestId: string, model: string, now: number): number {
    if (this.#inFlight.hasExpired(now)) this.releaseExpired(now)
    if (this.#inFlight.has(requestId)) return this.#trace === undefined ? 0 : this.#trace.currentTerm(model)
    const modelEntry = this.#models.get(model)
    const pending = modelEntry === undefined ? undefined : (modelEntry.pending ?? this.#newPendingCounter(modelEntry))
    if (pending !== undefined) pending.count++
    const pod = this.#routedEntry(ctx)
    if (pod !== undefined) this.#setRunning(pod, pod.running + 1)
    this.#inFlight.add(new InFlightRequest(requestId, model, pending, pod?.reference), now)
    return this.#trace === undefined ? 0 : this.#trace.addRequest(model)
  }

  /**
   * Gives back exactly what the request's add counted, to the very entries that
   * counted it; an id not in flight (never added, done, or released) changes nothing.
   */
  doneRequest(requestId: string, term: number, tokens?: TokenCounts): void {
    const request = this.#inFlight.take(requestId)
    if (request === undefined) return
    this.#giveBack(request, true)
    this.#trace?.doneRequest(request.model, term, tokens)
  }

  /**
   * Releases every request whose lifetime ended by `now`: its counts go back as
   * on a done, it is counted abandoned, and a later done is ignored. Returns how
   * many were released. The trace does not count them completed, nor the pod.
   */
  releaseExpired(now: number): number {
    const released = this.#inFlight.takeExpired(now, (request) => this.#giveBack(request, false))
    this.#abandoned += released
    return released
  }

  #giveBack(request: InFlightRequest, completed: boolean): void {
    if (request.pending !== undefined) this.#releasePending(request.model, request.pending)
    // The very entry that counted, while it is in the store; never one recreated under its name.
    const pod = request.pod?.entry
    if (pod === undefined || pod.running === 0) return
    if (completed) pod.completed++
    this.#setRunning(pod, pod.running - 1)
  }

  #setRunning(pod: PodEntry, running: number): void {
    pod.running = running
    pod.podMetrics.set(REALTIME_RUNNING_METRIC, this.#runningValue(running + pod.remoteRunning))
  }

  /**
   * Sets what the other gateway replicas run on the pod; its
   * `realtime_num_requests_running` becomes this replica's count plus theirs.
   * An entry that left the store, or a count that did not change, is left alone.
   */
  setRemoteRunning(entry: PodEntry, count: number): void {
    if (entry.removed || entry.remoteRunning === count) return
    entry.remoteRunning = count
    entry.podMetrics.set(REALTIME_RUNNING_METRIC, this.#runningValue(entry.running + count))
  }

  /** The running count as a metric value; values are immutable, so small counts share one. */
  #runningValue(count: number): MetricValue {
    if (count >= SHARED_RUNNING_VALUES) return MetricValue.simple(count)
    this.#runningValues[count] ??= MetricValue.simple(count)
    return this.#runningValues[count]
  }

  #newPendingCounter(model: ModelEntry): PendingCounter {
    const pending: PendingCounter = { count: 0, modelGone: false }
    model.pending = pending
    this.#pending.set(model.name, pending)
    return pending
  }

  #releasePending(model: string, pending: PendingCounter): void {
    if (pending.count > 0) pending.count--
    // Forget the counter of a model that is gone once nothing is pending for it: no request holds it then.
    if (pending.count === 0 && pending.modelGone) this.#pending.delete(model)
  }

  /** The tracked entry of the routed pod, unless the pod was recreated since routing. */
  #routedEntry(ctx: RoutingContext | undefined): PodEntry | undefined {
    const target = ctx?.targetPod
    if (target === undefined) return undefined
    const name = target.metadata?.name
    if (name === undefined) return undefined
    const entry = this.podEntry(namespaceOf(target), name)
    if (entry === undefined || entry.pod === target) return entry
    const uid = uidOf(target)
    return uid === "" || entry.uid === "" || uid === entry.uid ? entry : undefined
  }

  pendingRequests(model: string): number {
    return this.#pending.get(model)?.count ?? 0
  }

  runningRequests(key: PodKey): number {
    return this.#pods.get(key)?.running ?? 0
  }

  get inFlightCount(): number {
    return this.#inFlight.size
  }

  /** Requests released unfinished after their lifetime, since the store was made. */
  get abandonedCount(): number {
    return this.#abandoned
  }

  /** How long a request may stay in flight; a new value holds for requests added after. */
  get requestLifetimeMs(): number {
    return this.#inFlight.lifetimeMs
  }

  set requestLifetimeMs(lifetimeMs: number) {
    this.#inFlight.lifetimeMs = lifetimeMs
  }
}
