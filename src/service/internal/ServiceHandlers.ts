/**
 * The handlers of the service's API, reading the store behind the cache layer.
 * Each is a few map reads; the hot one (a model's pods) serves bytes kept
 * between changes of what it shows.
 */
import { Clock, Effect, Layer, Schema } from "effect"
import { HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { CacheStore } from "../../cache/CacheStore.ts"
import { docsRoute, OPENAPI_PATH } from "../ApiDocs.ts"
import { ModelPodsCache, modelList, podDetail } from "../FleetViews.ts"
import { isLiveReady, LiveCache } from "../LiveCache.ts"
import { CacheApi, ModelPods, NotFound, NotReady } from "../ServiceApi.ts"
import { renderServiceMetrics } from "../ServiceMetrics.ts"

const encodeModelPods = Schema.encodeSync(ModelPods)
const utf8 = new TextEncoder()

const modelsHandlers = HttpApiBuilder.group(
  CacheApi,
  "models",
  Effect.fnUntraced(function* (handlers) {
    const store = yield* CacheStore
    const startedAt = Math.floor((yield* Clock.currentTimeMillis) / 1000)
    const modelPods = new ModelPodsCache(store, (value) => utf8.encode(JSON.stringify(encodeModelPods(value))))
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
            : Effect.succeed(podDetail(entry))
        })
      )
  })
)

const opsHandlers = HttpApiBuilder.group(
  CacheApi,
  "ops",
  Effect.fnUntraced(function* (handlers) {
    const store = yield* CacheStore
    const live = yield* LiveCache
    const context = yield* Effect.context<LiveCache>()
    const ready = Effect.provideContext(isLiveReady, context)
    return handlers
      .handle("healthz", () => Effect.succeed({ status: "ok" as const }))
      .handle("readyz", () =>
        Effect.flatMap(ready, (isReady) => {
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
      .handle("metrics", () =>
        Effect.flatMap(Effect.all([live.current, ready]), ([current, isReady]) =>
          renderServiceMetrics(store, current, isReady)
        )
      )
  })
)

/** The API's routes over the cache layer's store, reporting on the live cache, with its documents. */
export const apiRoutes = Layer.merge(
  HttpApiBuilder.layer(CacheApi, { openapiPath: OPENAPI_PATH }).pipe(Layer.provide([modelsHandlers, opsHandlers])),
  docsRoute
)
