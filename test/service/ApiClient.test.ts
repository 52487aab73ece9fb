/**
 * The API as an Effect app sees it through the package: a typed
 * `HttpApiClient` of `CacheApi` against the real server, the OpenAPI document
 * the server publishes, and the docs page made from it.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { FetchHttpClient } from "effect/http"
import { HttpApiClient, OpenApi } from "effect/http-api"
import { initForTest } from "../../layers/index.ts"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import { CacheWriter } from "../../src/cache/CacheWriter.ts"
import { CacheApi, DiscoveryEvent, MetricValue, ServiceApi } from "../../src/index.ts"
import { apiServer, synced } from "../support/apiServer.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"
import { withFreshRegistry } from "../support/metricRegistry.ts"

/** The API on a real server on port 0 over a synced test cache; its base URL. */
const server = Effect.gen(function* () {
  const url = yield* apiServer(synced)
  const writer = yield* CacheWriter
  yield* writer.applyAll([
    DiscoveryEvent.PodAdded({ pod: makePod({ name: "a", model: "llama", ip: "10.0.0.1" }) }),
    DiscoveryEvent.PodAdded({ pod: makePod({ name: "b", model: "llama", ip: "10.0.0.2", ready: false }) }),
    DiscoveryEvent.AdapterAdded({ adapter: makeAdapter("llama-sql", ["a"]) })
  ])
  const store = yield* CacheStore
  store.setPodModelMetric("default/a", "llama", "num_requests_running", MetricValue.simple(3))
  store.setPodModelMetric("default/a", "llama", "gpu_cache_usage_perc", MetricValue.simple(Number.NaN))
  return url
})

const withClient = <A, E>(
  body: (
    client: HttpApiClient.ForApi<typeof CacheApi>,
    get: (path: string) => Effect.Effect<{ status: number; type: string | null; text: string }>
  ) => Effect.Effect<A, E>
) =>
  Effect.gen(function* () {
    const baseUrl = yield* server
    const client = yield* HttpApiClient.make(CacheApi, { baseUrl })
    const get = (path: string) =>
      Effect.promise(async () => {
        const response = await fetch(baseUrl + path)
        return { status: response.status, type: response.headers.get("content-type"), text: await response.text() }
      })
    return yield* body(client, get)
  }).pipe(Effect.scoped, Effect.provide([initForTest, FetchHttpClient.layer]), withFreshRegistry)

describe("the API through HttpApiClient", () => {
  it.effect("reads models, a model's pods and a pod, typed by the package's CacheApi", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const models = yield* client.listModels()
        assert.deepStrictEqual(models.data.map((model) => model.id).sort(), ["llama", "llama-sql"])
        assert.strictEqual(models.data.find((model) => model.id === "llama-sql")?.parent, "llama")

        const all = yield* client.listModelPods({ params: { model: "llama" }, query: {} })
        assert.deepStrictEqual(all.pods.map((pod) => pod.name).sort(), ["a", "b"])
        const ready = yield* client.listModelPods({ params: { model: "llama" }, query: { ready: "true" } })
        assert.deepStrictEqual(
          ready.pods.map((pod) => [pod.name, pod.metrics.num_requests_running, pod.metrics.gpu_cache_usage_perc]),
          [["a", 3, null]],
          "a NaN is null, as the schema says"
        )

        const pod = yield* client.getPod({ params: { namespace: "default", name: "a" } })
        assert.deepStrictEqual(pod.models, ["llama", "llama-sql"])
        assert.deepStrictEqual(pod.model_metrics["llama"]?.["num_requests_running"], { type: "simple", value: 3 })
      })
    )
  )

  it.effect("misses come back as the API's typed errors", () =>
    withClient((client) =>
      Effect.gen(function* () {
        const model = yield* Effect.flip(client.listModelPods({ params: { model: "nope" }, query: {} }))
        assert.instanceOf(model, ServiceApi.NotFound)
        assert.include(model.message, "nope")
        const pod = yield* Effect.flip(client.getPod({ params: { namespace: "default", name: "gone" } }))
        assert.instanceOf(pod, ServiceApi.NotFound)
      })
    )
  )

  it.effect("the probes and /metrics", () =>
    withClient((client) =>
      Effect.gen(function* () {
        assert.deepStrictEqual(yield* client.healthz(), { status: "ok" })
        assert.deepStrictEqual(yield* client.readyz(), { ready: true, pods: 2, models: 2 })
        assert.include(yield* client.metrics(), 'aibrix_cache_pods{ready="true"} 1')
      })
    )
  )
})

describe("the API's documents", () => {
  it.effect("/openapi.json is the OpenAPI 3 document of CacheApi, listing every endpoint", () =>
    withClient((_, get) =>
      Effect.gen(function* () {
        const response = yield* get("/openapi.json")
        assert.strictEqual(response.status, 200)
        assert.strictEqual(response.type, "application/json")
        const document = JSON.parse(response.text) as OpenApi.OpenAPISpec
        assert.match(document.openapi, /^3\./)
        assert.deepStrictEqual(document, JSON.parse(JSON.stringify(OpenApi.fromApi(CacheApi))))
        assert.strictEqual(document.paths["/v1/models"]?.get?.operationId, "listModels")
        const operations = Object.values(document.paths).flatMap((item) => (item.get ? [item.get.operationId] : []))
        assert.sameMembers(operations, ["listModels", "listModelPods", "getPod", "healthz", "readyz", "metrics"])
        const pods = document.paths["/v1/models/{model}/pods"]?.get
        assert.sameMembers(Object.keys(pods?.responses ?? {}), ["200", "400", "404"])
        // Numbers are numbers: no string encodings of NaN or infinities in the document.
        assert.notInclude(response.text, "Infinity")
      })
    )
  )

  it.effect("/docs lists every operation, and loads nothing from anywhere", () =>
    withClient((_, get) =>
      Effect.gen(function* () {
        const page = yield* get("/docs")
        assert.strictEqual(page.status, 200)
        assert.match(page.type ?? "", /^text\/html/)
        const document = OpenApi.fromApi(CacheApi)
        for (const [path, item] of Object.entries(document.paths)) {
          assert.include(page.text, `<code>${path}</code>`)
          assert.include(page.text, item.get!.summary!)
        }
        assert.include(page.text, "NotFound")
        assert.include(page.text, 'href="/openapi.json"')
        // No script, no external stylesheet, font or image: nothing the browser would fetch but the page itself.
        assert.notMatch(page.text, /<script|<link|<img|<iframe|@import|url\(|src=/i)
        for (const [, target] of page.text.matchAll(/href="([^"]*)"/g)) assert.match(target!, /^\/[^/]/)
      })
    )
  )
})
