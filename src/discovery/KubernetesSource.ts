/**
 * Discovery from Kubernetes: informers on the pods that name a base model and
 * on the ModelAdapters, in all namespaces, feeding the store through
 * `CacheWriter`. A scoped resource: acquiring it registers the handlers,
 * starts both informers and waits until both have listed once; closing its
 * scope stops them, with no request left open. Each informer's restarts are
 * in the metric registry from its start (see `DiscoveryMetrics`).
 */
import type { KubeConfig, V1Pod } from "@kubernetes/client-node"
import { Deferred, Duration, Effect, Layer, type Scope } from "effect"
import { CacheReadiness, makeReadinessSignal } from "../cache/CacheReadiness.ts"
import type { CacheWriter } from "../cache/CacheWriter.ts"
import { DiscoveryEvent } from "../store/DiscoveryEvent.ts"
import { DiscoverySyncTimeout, type KubeConfigInvalid, type KubeConfigNotFound } from "./DiscoveryErrors.ts"
import { makeDiscoveryFeed } from "./DiscoveryFeed.ts"
import { checkKubeConfig, loadKubeConfig } from "./KubeConfigLoader.ts"
import {
  type AdapterObject,
  isAdapterObject,
  isPodObject,
  trackAdapters,
  trackPods
} from "./internal/KubernetesEvents.ts"
import { GROUP, PLURAL, VERSION } from "../store/ModelAdapter.ts"
import { MODEL_LABEL } from "../store/Pod.ts"
import {
  defaultBackoff,
  type InformerSpec,
  type RestartBackoff,
  type SupervisedInformer,
  superviseInformer
} from "./internal/SupervisedInformer.ts"

/** Pods that name a base model, all namespaces. */
export const podInformer: InformerSpec<V1Pod> = {
  resource: "pods",
  path: "/api/v1/pods",
  labelSelector: MODEL_LABEL,
  isObject: isPodObject
}

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
}

export type KubernetesSourceError = KubeConfigNotFound | KubeConfigInvalid | DiscoverySyncTimeout

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

/**
 * Starts the source in the current scope and returns once its initial sync has
 * been applied to the store (its readiness is then already true).
 */
export const makeKubernetesSource = (
  options: KubernetesSourceOptions = {}
): Effect.Effect<CacheReadiness["Service"], KubernetesSourceError, CacheWriter | Scope.Scope> =>
  Effect.gen(function* () {
    const kubeConfig = options.kubeConfig ?? (yield* loadKubeConfig)
    yield* checkKubeConfig(kubeConfig)
    const backoff = options.backoff ?? defaultBackoff
    const feed = yield* makeDiscoveryFeed
    const signal = yield* makeReadinessSignal
    const pods = trackPods(feed.emit)
    const adapters = trackAdapters(feed.emit)
    // An adapter maps only the pods known when it is applied, and pods and
    // adapters are listed concurrently: after the initial sync, and after every
    // relist of the pods, every adapter is applied once more.
    let initialSyncDone = false
    const reapplyAdapters = () => {
      for (const adapter of adapters.current()) feed.emit(DiscoveryEvent.AdapterAdded({ adapter }))
    }
    const podsInformer = yield* superviseInformer(
      kubeConfig,
      podInformer,
      {
        ...pods,
        listed: () => {
          if (initialSyncDone) reapplyAdapters()
        }
      },
      backoff
    )
    const adaptersInformer = yield* superviseInformer(
      kubeConfig,
      adapterInformer,
      {
        ...adapters,
        listed: () => {}
      },
      backoff
    )

    yield* awaitSync([podsInformer, adaptersInformer], options.syncTimeout ?? "60 seconds")
    initialSyncDone = true
    reapplyAdapters()
    yield* feed.flushed
    yield* signal.markReady
    yield* Effect.logInfo("Kubernetes discovery synced").pipe(
      Effect.annotateLogs({
        pods: Array.from(pods.current()).length,
        model_adapters: Array.from(adapters.current()).length
      })
    )
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
