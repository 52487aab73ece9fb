/**
 * Discovery from Kubernetes: informers on the pods (all of them, or those a
 * label selector picks) and on the ModelAdapters, in all namespaces, feeding
 * the store through `CacheWriter` with the pods it tracks. A scoped resource:
 * acquiring it registers the handlers, starts both informers and waits until
 * both have listed once; then both are listed again every relist interval,
 * to correct what a watch silently missed. Closing its scope stops them, with
 * no request left open. Each informer's restarts, relists and relist
 * corrections are in the metric registry from its start (see `DiscoveryMetrics`).
 */
import type { KubeConfig, KubernetesObject, V1Pod } from "@kubernetes/client-node"
import { type Config, Deferred, Duration, Effect, Layer, type Scope } from "effect"
import { CacheReadiness, makeReadinessSignal } from "../cache/CacheReadiness.ts"
import { observeCounter } from "../cache/ObservedSeries.ts"
import type { CacheWriter } from "../cache/CacheWriter.ts"
import type { DiscoveryEvent } from "../store/DiscoveryEvent.ts"
import { GROUP, PLURAL, VERSION } from "../store/ModelAdapter.ts"
import { DiscoverySyncTimeout, type KubeConfigInvalid, type KubeConfigNotFound } from "./DiscoveryErrors.ts"
import { podLabelSelectorConfig, relistIntervalConfig } from "./DiscoveryConfig.ts"
import { informerRelists, relistCorrections } from "./DiscoveryMetrics.ts"
import { makeDiscoveryFeed } from "./DiscoveryFeed.ts"
import { checkKubeConfig, loadKubeConfig } from "./KubeConfigLoader.ts"
import {
  type AdapterObject,
  isAdapterObject,
  isPodObject,
  keepPod,
  type TrackedObjects,
  trackAdapters,
  trackPods
} from "./internal/KubernetesEvents.ts"
import { CorrectionCounter, difference, totalOf } from "./internal/RelistCorrections.ts"
import {
  defaultBackoff,
  type InformerSpec,
  type RestartBackoff,
  type SupervisedInformer,
  superviseInformer
} from "./internal/SupervisedInformer.ts"

/**
 * Pods in all namespaces, narrowed by the label selector when one is given.
 * The informer keeps of a pod the store does not track only its key and version.
 */
export const podInformer = (labelSelector: string | undefined): InformerSpec<V1Pod> => ({
  resource: "pods",
  path: "/api/v1/pods",
  labelSelector,
  isObject: isPodObject,
  keep: keepPod
})

/** ModelAdapters, all namespaces. */
export const adapterInformer: InformerSpec<AdapterObject> = {
  resource: PLURAL,
  path: `/apis/${GROUP}/${VERSION}/${PLURAL}`,
  isObject: isAdapterObject
}

export interface KubernetesSourceOptions {
  /** The cluster to watch; by default `KUBECONFIG`, the default kubeconfig file, else in-cluster. */
  readonly kubeConfig?: KubeConfig | undefined
  /** How long both informers may take to list once (default 60 seconds). */
  readonly syncTimeout?: Duration.Input | undefined
  /** The backoff between restarts of an informer that stopped on an error. */
  readonly backoff?: RestartBackoff | undefined
  /**
   * Watches only the pods this label selector picks; by default
   * `AIBRIX_POD_LABEL_SELECTOR`, else every pod (kept when it names a model).
   */
  readonly podLabelSelector?: string | undefined
  /**
   * The time between full relists, zero for none; by default
   * `AIBRIX_KUBE_RELIST_INTERVAL_MS`, else 5 minutes.
   */
  readonly relistInterval?: Duration.Input | undefined
}

export type KubernetesSourceError = KubeConfigNotFound | KubeConfigInvalid | DiscoverySyncTimeout | Config.ConfigError

const awaitSync = (
  informers: ReadonlyArray<SupervisedInformer>,
  timeout: Duration.Input
): Effect.Effect<void, DiscoverySyncTimeout> =>
  Effect.forEach(informers, (informer) => Deferred.await(informer.synced), {
    concurrency: "unbounded",
    discard: true
  }).pipe(
    Effect.timeoutOrElse({
      duration: timeout,
      orElse: () =>
        Effect.suspend(() =>
          Effect.fail(
            new DiscoverySyncTimeout({
              timeout: Duration.format(Duration.fromInputUnsafe(timeout)),
              unsynced: informers
                .filter((informer) => !Deferred.isDoneUnsafe(informer.synced))
                .map((informer) => {
                  const lastError = informer.lastError()
                  return lastError === undefined
                    ? { resource: informer.resource }
                    : { resource: informer.resource, lastError }
                })
            })
          )
        )
    })
  )

/** One informer and what its relists corrected. */
interface Followed {
  readonly informer: SupervisedInformer
  readonly corrections: CorrectionCounter
}

/** Supervises an informer whose objects `track` turns into the feed's events, counting relist corrections. */
const follow = <T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  spec: InformerSpec<T>,
  track: (emit: (event: DiscoveryEvent) => void) => TrackedObjects<T>,
  emit: (event: DiscoveryEvent) => void,
  backoff: RestartBackoff
): Effect.Effect<Followed & { readonly objects: TrackedObjects<T> }, never, Scope.Scope> =>
  Effect.gen(function* () {
    const corrections = new CorrectionCounter()
    const objects = track((event) => {
      corrections.count(event)
      emit(event)
    })
    const informer = yield* superviseInformer(
      kubeConfig,
      spec,
      {
        ...objects,
        listing: (requested) => corrections.listing(requested),
        listed: () => corrections.listed()
      },
      backoff
    )
    yield* observeCounter(informerRelists(spec.resource), () => corrections.relists)
    for (const change of ["added", "updated", "deleted"] as const) {
      yield* observeCounter(relistCorrections(spec.resource, change), () => corrections.corrections[change])
    }
    return { informer, corrections, objects }
  })

/**
 * Every `interval`, lists both resources again and lets the informers deliver
 * what their watches missed; logs one line when that corrected something.
 */
const relistEvery = (
  interval: Duration.Duration,
  followed: { readonly pods: Followed; readonly modelAdapters: Followed },
  flushed: Effect.Effect<void>
): Effect.Effect<never> => {
  const relistOnce = Effect.gen(function* () {
    const before = {
      pods: followed.pods.corrections.corrections,
      adapters: followed.modelAdapters.corrections.corrections
    }
    yield* Effect.all([followed.pods.informer.relist, followed.modelAdapters.informer.relist], {
      concurrency: "unbounded",
      discard: true
    })
    yield* flushed
    const pods = difference(followed.pods.corrections.corrections, before.pods)
    const adapters = difference(followed.modelAdapters.corrections.corrections, before.adapters)
    if (totalOf(pods) + totalOf(adapters) === 0) return
    yield* Effect.logInfo("Kubernetes relist corrected the store").pipe(
      Effect.annotateLogs({
        pods_added: pods.added,
        pods_updated: pods.updated,
        pods_deleted: pods.deleted,
        model_adapters_added: adapters.added,
        model_adapters_updated: adapters.updated,
        model_adapters_deleted: adapters.deleted
      })
    )
  })
  return Effect.forever(Effect.andThen(Effect.sleep(interval), relistOnce))
}

/**
 * Starts the source in the current scope and returns once its initial sync has
 * been applied to the store (its readiness is then already true).
 */
export const makeKubernetesSource = (
  options: KubernetesSourceOptions = {}
): Effect.Effect<CacheReadiness["Service"], KubernetesSourceError, CacheWriter | Scope.Scope> =>
  Effect.gen(function* () {
    const podLabelSelector = options.podLabelSelector ?? (yield* podLabelSelectorConfig)
    const relistInterval =
      options.relistInterval === undefined
        ? yield* relistIntervalConfig
        : Duration.fromInputUnsafe(options.relistInterval)
    const kubeConfig = options.kubeConfig ?? (yield* loadKubeConfig)
    yield* checkKubeConfig(kubeConfig)
    const backoff = options.backoff ?? defaultBackoff
    const feed = yield* makeDiscoveryFeed
    const signal = yield* makeReadinessSignal
    const pods = yield* follow(kubeConfig, podInformer(podLabelSelector), trackPods, feed.emit, backoff)
    const modelAdapters = yield* follow(kubeConfig, adapterInformer, trackAdapters, feed.emit, backoff)

    yield* awaitSync([pods.informer, modelAdapters.informer], options.syncTimeout ?? "60 seconds")
    yield* feed.flushed
    yield* signal.markReady
    yield* Effect.logInfo("Kubernetes discovery synced").pipe(
      Effect.annotateLogs({
        pods: Array.from(pods.objects.current()).length,
        model_adapters: Array.from(modelAdapters.objects.current()).length
      })
    )
    if (Duration.isGreaterThan(relistInterval, Duration.zero)) {
      yield* Effect.forkScoped(relistEvery(relistInterval, { pods, modelAdapters }, feed.flushed))
    }
    return signal.readiness
  })

/**
 * Pods and ModelAdapters from Kubernetes as a layer over a cache layer's
 * `CacheWriter`, providing `CacheReadiness`: built once both informers have
 * listed and their objects are in the store (60 s at most by default), torn
 * down with every informer stopped. The cluster is `options.kubeConfig`, else
 * `KUBECONFIG`, the default kubeconfig file, or in-cluster.
 *
 * ```ts
 * const cache = kubernetesDiscovery().pipe(Layer.provideMerge(initForTest))
 * ```
 */
export const kubernetesDiscovery = (
  options: KubernetesSourceOptions = {}
): Layer.Layer<CacheReadiness, KubernetesSourceError, CacheWriter> =>
  Layer.effect(CacheReadiness, makeKubernetesSource(options))
