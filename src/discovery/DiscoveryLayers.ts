/**
 * Discovery layers: they feed the store of a cache layer (its `CacheWriter`)
 * and provide `CacheReadiness`, true once the initial sync is in the store.
 * Scoped: closing the layer's scope stops the informers or the file poller.
 *
 * ```ts
 * const cache = kubernetesDiscovery.pipe(Layer.provideMerge(initForTest))
 * ```
 */
import type { Layer } from "effect"
import type { CacheReadiness } from "../cache/CacheReadiness.ts"
import type { CacheWriter } from "../cache/CacheWriter.ts"
import type { StaticFleetInvalid } from "./DiscoveryErrors.ts"
import { type KubernetesSourceError, type KubernetesSourceOptions, layerKubernetesSource } from "./KubernetesSource.ts"
import { layerStaticSource, type StaticSourceOptions } from "./StaticSource.ts"

/**
 * Pods and ModelAdapters from Kubernetes (`KUBECONFIG`, the default kubeconfig
 * file, else in-cluster); built once both informers have listed (60 s at most).
 */
export const kubernetesDiscovery: Layer.Layer<CacheReadiness, KubernetesSourceError, CacheWriter> =
  layerKubernetesSource()

/** `kubernetesDiscovery` with another kubeconfig, sync timeout or restart backoff. */
export const kubernetesDiscoveryWith = (
  options: KubernetesSourceOptions
): Layer.Layer<CacheReadiness, KubernetesSourceError, CacheWriter> => layerKubernetesSource(options)

/** The fleet of a static YAML or JSON file, followed as it changes. */
export const staticDiscovery = (
  path: string,
  options: StaticSourceOptions = {}
): Layer.Layer<CacheReadiness, StaticFleetInvalid, CacheWriter> => layerStaticSource(path, options)
