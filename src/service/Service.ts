/**
 * The cache service: a live cache layer behind the HTTP API. The server starts
 * first, over the empty store, so `/healthz` answers at once and `/readyz`
 * says 503 until the source has synced; the live layer is then built over that
 * store. Server and live layer share one metric registry, the service's own,
 * which `/metrics` renders. Closing the scope first drains (`/readyz` says 503
 * for a moment while the server still answers), then stops the server (no new
 * connections, the responses in flight finish), then the live layer (the
 * refresh, the trace's last flush before Redis quits, the informers).
 */
import { Context, Deferred, type Duration, Effect, Layer, Metric, Ref, Scope } from "effect"
import { HttpServer } from "effect/http"
import { type CacheServices, layerEmpty } from "../cache/Cache.ts"
import { CacheReadiness } from "../cache/CacheReadiness.ts"
import { CacheStore } from "../cache/CacheStore.ts"
import { Draining, drain } from "./ServiceDrain.ts"
import { serveApi, type ServerOptions } from "./ServiceServer.ts"

/** Builds the live cache over the given cache layer (the server's store). */
export type LiveLayerOver<E> = (cacheLayer: Layer.Layer<CacheServices>) => Layer.Layer<CacheStore | CacheReadiness, E>

export interface ServiceOptions<E> extends ServerOptions {
  /** The source in words, for the first log line. */
  readonly source: string
  /** Where OpenTelemetry traces go, when they do, for the first log line. */
  readonly traces?: string
  readonly live: LiveLayerOver<E>
  /** How long `/readyz` says 503 before the listener closes, once the service stops. */
  readonly drain: Duration.Duration
}

/** The readiness of a live layer not built yet: not ready until it is built and its own readiness says so. */
export const readinessOnceBuilt = (live: Deferred.Deferred<CacheReadiness["Service"]>): CacheReadiness["Service"] =>
  CacheReadiness.of({
    isReady: Effect.suspend(() =>
      Deferred.isDoneUnsafe(live)
        ? Effect.flatMap(Deferred.await(live), (built) => built.isReady)
        : Effect.succeed(false)
    ),
    awaitReady: Effect.flatMap(Deferred.await(live), (built) => built.awaitReady)
  })

/** Runs the service until interrupted; fails when the server cannot listen or the live layer cannot start. */
export const runService = <E>(options: ServiceOptions<E>) =>
  Effect.gen(function* () {
    yield* Effect.logInfo("starting").pipe(
      Effect.annotateLogs(
        options.traces === undefined ? { source: options.source } : { source: options.source, traces: options.traces }
      )
    )
    const scope = yield* Effect.scope
    // Forked first, so it closes after the server.
    const liveScope = yield* Scope.fork(scope, "sequential")
    const store = yield* Layer.buildWithScope(layerEmpty, liveScope)
    const liveReadiness = yield* Deferred.make<CacheReadiness["Service"]>()
    const draining = yield* Ref.make(false)
    const server = yield* Layer.buildWithScope(
      serveApi(options).pipe(
        Layer.provide(Layer.succeedContext(store)),
        Layer.provide(Layer.succeed(CacheReadiness, readinessOnceBuilt(liveReadiness))),
        Layer.provide(Layer.succeed(Draining, Ref.get(draining)))
      ),
      scope
    )
    const address = HttpServer.formatAddress(Context.get(server, HttpServer.HttpServer).address)
    yield* Effect.logInfo("listening").pipe(Effect.annotateLogs({ url: address }))
    // Added after the server, so it runs before the server closes.
    yield* Effect.addFinalizer(() => drain(draining, options.drain))

    const live = yield* Layer.buildWithScope(options.live(Layer.succeedContext(store)), liveScope)
    yield* Deferred.succeed(liveReadiness, Context.get(live, CacheReadiness))
    const fleet = Context.get(live, CacheStore)
    yield* Effect.logInfo("synced").pipe(
      Effect.annotateLogs({
        pods: fleet.podCount,
        models: fleet.modelCount,
        adapters: fleet.listAdapters().length
      })
    )
    return yield* Effect.never
  }).pipe(
    Effect.onInterrupt(() => Effect.logInfo("stopping")),
    Effect.scoped,
    Effect.ensuring(Effect.logInfo("stopped")),
    Effect.provideServiceEffect(
      Metric.MetricRegistry,
      Effect.sync((): Metric.MetricRegistry => new Map())
    )
  )
