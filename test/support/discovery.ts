/** Helpers for discovery tests: the fake cluster in a scope, a source over a fresh store, polling. */
import { Context, Effect, Layer, Metric } from "effect"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { layerEmpty } from "../../src/cache/Cache.ts"
import { CacheReadiness } from "../../src/cache/CacheReadiness.ts"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import type { FleetStore } from "../../src/store/FleetStore.ts"
import { kubernetesDiscovery } from "../../layers/index.ts"
import { informerRelists, informerRestarts, relistCorrections } from "../../src/discovery/DiscoveryMetrics.ts"
import type { KubernetesSourceOptions } from "../../src/discovery/KubernetesSource.ts"
import type { RestartBackoff } from "../../src/discovery/internal/SupervisedInformer.ts"
import { FakeKubernetes, type FakeKubernetesOptions } from "./FakeKubernetes.ts"

/** A fake API server for the test's scope. */
export const fakeKubernetes = (options: FakeKubernetesOptions = {}) =>
  Effect.acquireRelease(
    Effect.promise(() => FakeKubernetes.start(options)),
    (fake) => Effect.promise(() => fake.close())
  )

/** A kubeconfig file pointing at the fake, in a fresh directory removed with the scope. */
export const kubeConfigFile = (fake: FakeKubernetes) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const dir = mkdtempSync(join(tmpdir(), "aibrix-kube-"))
      const file = join(dir, "kubeconfig")
      writeFileSync(file, fake.kubeConfigYaml())
      return { dir, file }
    }),
    ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )

export const fastBackoff: RestartBackoff = { base: "20 millis", cap: "200 millis" }

/** The layer of a store fed by Kubernetes discovery from the fake. */
export const discoveryLayer = (fake: FakeKubernetes, options: KubernetesSourceOptions = {}) =>
  kubernetesDiscovery({ kubeConfig: fake.kubeConfig(), backoff: fastBackoff, ...options }).pipe(
    Layer.provideMerge(layerEmpty)
  )

/** Restarts of each informer, as the metric registry shows them. */
export interface InformerRestarts {
  readonly pods: number
  readonly modelAdapters: number
}

/** One informer's periodic relists and what they corrected, as the metric registry shows them. */
export interface InformerRelists {
  readonly relists: number
  readonly added: number
  readonly updated: number
  readonly deleted: number
}

export interface RunningDiscovery {
  readonly store: FleetStore
  readonly readiness: CacheReadiness["Service"]
  readonly restarts: Effect.Effect<InformerRestarts>
  readonly relists: Effect.Effect<{ readonly pods: InformerRelists; readonly modelAdapters: InformerRelists }>
}

/** The restart counts in a registry. */
export const restartsIn = (registry: Metric.MetricRegistry): Effect.Effect<InformerRestarts> =>
  Effect.sync(() => {
    const context = Context.make(Metric.MetricRegistry, registry)
    const count = (resource: string) => informerRestarts(resource).valueUnsafe(context).count
    return { pods: count("pods"), modelAdapters: count("modeladapters") }
  })

/** The relist counts in a registry. */
export const relistsIn = (
  registry: Metric.MetricRegistry
): Effect.Effect<{ readonly pods: InformerRelists; readonly modelAdapters: InformerRelists }> =>
  Effect.sync(() => {
    const context = Context.make(Metric.MetricRegistry, registry)
    const of = (resource: string): InformerRelists => ({
      relists: informerRelists(resource).valueUnsafe(context).count,
      added: relistCorrections(resource, "added").valueUnsafe(context).count,
      updated: relistCorrections(resource, "updated").valueUnsafe(context).count,
      deleted: relistCorrections(resource, "deleted").valueUnsafe(context).count
    })
    return { pods: of("pods"), modelAdapters: of("modeladapters") }
  })

/** Starts discovery from the fake in the current scope, with a registry of its own; returns once synced. */
export const startDiscovery = (fake: FakeKubernetes, options: KubernetesSourceOptions = {}) =>
  Effect.gen(function* () {
    const registry: Metric.MetricRegistry = new Map()
    const context = yield* Layer.build(discoveryLayer(fake, options)).pipe(
      Effect.provideService(Metric.MetricRegistry, registry)
    )
    return {
      store: Context.get(context, CacheStore),
      readiness: Context.get(context, CacheReadiness),
      restarts: restartsIn(registry),
      relists: relistsIn(registry)
    } satisfies RunningDiscovery
  })

/** Waits this long in real time, whatever clock the test runs on. */
export const realSleep = (ms: number): Effect.Effect<void> =>
  Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

/**
 * Runs `check` until it stops throwing, polling in real time; past the
 * deadline its last error fails the test.
 */
export const eventually = <A>(check: () => A, timeoutMs = 15_000): Effect.Effect<A> =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (true) {
      try {
        return check()
      } catch (error) {
        if (Date.now() > deadline) return yield* Effect.die(error)
      }
      yield* realSleep(10)
    }
  })

/** The store's models, sorted. */
export const modelsOf = (store: FleetStore): ReadonlyArray<string> => [...store.listModels()].sort()

/** The keys of the store's pods, sorted. */
export const podKeysOf = (store: FleetStore): ReadonlyArray<string> =>
  Array.from(store.podEntries(), (entry) => entry.key).sort()

/** The keys of the pods serving a model, sorted. */
export const podsServing = (store: FleetStore, model: string): ReadonlyArray<string> =>
  (store.podList(model)?.all() ?? []).map((pod) => `${pod.metadata?.namespace}/${pod.metadata?.name}`).sort()
