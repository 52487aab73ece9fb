/**
 * The handlers of the service's API, reading the store behind the cache layer.
 * Each is a few map reads; the hot one (a model's pods) serves bytes kept
 * between changes of what it shows. `/metrics` renders the metric registry of
 * the context the handlers are built in.
 */
import { Clock, Effect, Layer, Schema } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { CacheReadiness } from "../../cache/CacheReadiness.ts"
import { CacheStore } from "../../cache/CacheStore.ts"
import { docsRoute, OPENAPI_PATH } from "../ApiDocs.ts"
import { ModelPodsCache, modelList, podDetail } from "../FleetViews.ts"
import { CacheApi, ModelPods, NotFound, NotReady } from "../ServiceApi.ts"
import { Draining } from "../ServiceDrain.ts"

const encodeModelPods = Schema.encodeSync(ModelPods)
const utf8 = new TextEncoder()

const modelsHandlers = HttpApiBuilder.group(
  CacheApi,
  "models",
  Effect.fnUntraced(function* (handlers) {
    const store = yield* CacheStore
    const clock = yield* Clock.Clock
    const now = () => clock.currentTimeMillisUnsafe()
    const startedAt = Math.floor(now() / 1000)
    const modelPods = new ModelPodsCache(store, (value) => utf8.encode(JSON.stringify(encodeModelPods(value))), now)
    return handlers
      .handle("listModels", () => Effect.sync(() => modelList(store, startedAt)))
      .handle("listModelPods", ({ params, query }) =>
        Effect.suspend(() => {
          const body = modelPods.body(params.model, query.ready === "true")
          return body === undefined
            ? Effect.fail(new NotFound({ message: `no pod serves model ${JSON.stringify(params.model)}` }))
            : Effect.succeed(HttpServerResponse.uint8Array(body, { contentType: "application/json" }))
        })
      )
      .handle("getPod", ({ params }) =>
        Effect.suspend(() => {
          const entry = store.podEntry(params.namespace, params.name)
          return entry === undefined
            ? Effect.fail(new NotFound({ message: `no pod ${params.namespace}/${params.name} is tracked` }))
            : Effect.succeed(podDetail(store, entry, now()))
        })
      )
  })
)

const opsHandlers = HttpApiBuilder.group(
  CacheApi,
  "ops",
  Effect.fnUntraced(function* (handlers) {
    const store = yield* CacheStore
    const readiness = yield* CacheReadiness
    const draining = yield* Draining
    const context = yield* Effect.context<never>()
    return handlers
      .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
      .handle("readyz", () =>
        Effect.flatMap(Effect.all([draining, readiness.isReady]), ([isDraining, isReady]) => {
          if (isDraining) return Effect.fail(new NotReady({ message: "the service is stopping" }))
          const readiness = { ready: isReady, pods: store.podCount, models: store.modelCount }
          return isReady
            ? Effect.succeed(readiness)
            : Effect.fail(
                new NotReady({
                  message: `the initial sync is not done (${readiness.pods} pods, ${readiness.models} models so far)`
                })
              )
        })
      )
      .handle("metrics", () => Effect.sync(() => PrometheusMetrics.formatUnsafe(context)))
  })
)

/** The API's routes over the cache layer's store and readiness, with its documents. */
export const apiRoutes = Layer.merge(
  HttpApiBuilder.layer(CacheApi, { openapiPath: OPENAPI_PATH }).pipe(Layer.provide([modelsHandlers, opsHandlers])),
  docsRoute
)
