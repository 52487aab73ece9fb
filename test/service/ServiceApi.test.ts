import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Deferred, Effect, Layer, Metric, Result, Schema } from "effect"
import { TestClock } from "effect/testing"
import { HttpRouter, HttpServer } from "effect/http"
import { NodeHttpServer } from "@effect/platform-node"
import { createServer } from "node:http"
import { createConnection } from "node:net"
import { initForTest } from "../../layers/index.ts"
import { CacheReadiness, makeReadinessSignal } from "../../src/cache/CacheReadiness.ts"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import { CacheWriter } from "../../src/cache/CacheWriter.ts"
import { DiscoveryEvent } from "../../src/store/DiscoveryEvent.ts"
import { MetricValue } from "../../src/store/MetricValue.ts"
import { parse } from "../../src/exposition/Parser.ts"
import { scrapeDuration, scrapes, valueAge } from "../../src/metrics/RefreshMetrics.ts"
import { RoutingContext } from "../../src/store/RoutingContext.ts"
import {
  ErrorBody,
  EXPOSITION_CONTENT_TYPE,
  ModelList,
  ModelPods,
  PodDetail,
  Readiness
} from "../../src/service/ServiceApi.ts"
import { readinessOnceBuilt } from "../../src/service/Service.ts"
import { jsonErrors } from "../../src/service/ServiceServer.ts"
import { captureLogs } from "../support/capturedLogs.ts"
import { apiServer, synced } from "../support/apiServer.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"
import { withFreshRegistry } from "../support/metricRegistry.ts"

interface Fetched {
  readonly status: number
  readonly contentType: string | null
  readonly text: string
}

/** What the server answered to bytes sent as they are, on a connection of their own. */
interface RawAnswer {
  readonly status: number
  readonly headers: string
  readonly body: string
}

const sendRaw = (url: string, request: string): Effect.Effect<RawAnswer> =>
  Effect.promise(
    () =>
      new Promise<RawAnswer>((resolve, reject) => {
        const { hostname, port } = new URL(url)
        const socket = createConnection({ host: hostname, port: Number(port) })
        let answer = ""
        socket.setTimeout(5_000, () =>
          socket.destroy(new Error(`no answer to ${JSON.stringify(request.slice(0, 60))}`))
        )
        socket.on("data", (chunk) => (answer += chunk.toString()))
        socket.on("error", reject)
        socket.on("close", () => {
          const [head = "", ...rest] = answer.split("\r\n\r\n")
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? Number.NaN)
          resolve({ status, headers: head.toLowerCase(), body: rest.join("\r\n\r\n") })
        })
        socket.write(request)
      })
  )

/**
 * The API on a real server on port 0, over the test cache and its families in
 * a registry of the test's own, with the given readiness.
 */
const withServer = <A, E>(
  readiness: Layer.Layer<CacheReadiness>,
  body: (
    get: (path: string) => Effect.Effect<Fetched>,
    raw: (request: string) => Effect.Effect<RawAnswer>
  ) => Effect.Effect<A, E, CacheWriter | CacheStore>
) =>
  Effect.gen(function* () {
    const url = yield* apiServer(readiness)
    const get = (path: string) =>
      Effect.promise(async () => {
        const response = await fetch(url + path)
        return {
          status: response.status,
          contentType: response.headers.get("content-type"),
          text: await response.text()
        }
      })
    return yield* body(get, (request) => sendRaw(url, request))
  }).pipe(Effect.scoped, Effect.provide(initForTest), withFreshRegistry)

const decode = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, text: string): S["Type"] =>
  Schema.decodeUnknownSync(schema)(JSON.parse(text))

const seed = Effect.gen(function* () {
  const writer = yield* CacheWriter
  const store = yield* CacheStore
  yield* writer.applyAll([
    DiscoveryEvent.PodAdded({ pod: makePod({ name: "a", model: "llama", ip: "10.0.0.1" }) }),
    DiscoveryEvent.PodAdded({ pod: makePod({ name: "b", model: "llama", ip: "10.0.0.2", ready: false }) }),
    DiscoveryEvent.PodAdded({
      pod: makePod({
        name: "c",
        model: "qwen",
        ip: "10.0.0.3",
        namespace: "team",
        labels: { "model.aibrix.ai/engine": "sglang" }
      })
    }),
    DiscoveryEvent.AdapterAdded({ adapter: makeAdapter("llama-sql", ["a"]) })
  ])
  // Pod a's engine values, as a scrape of it just now would write them.
  store.replaceEngineMetrics(
    store.podEntry("default", "a")!,
    {
      pod: new Map([["max_lora", MetricValue.label("4")]]),
      models: new Map([
        [
          "llama",
          new Map<string, MetricValue>([
            ["num_requests_running", MetricValue.simple(3)],
            ["num_requests_waiting", MetricValue.simple(1)],
            ["gpu_cache_usage_perc", MetricValue.simple(0.25)],
            [
              "time_to_first_token_seconds",
              MetricValue.histogram({ sum: 1.5, count: 4, buckets: { "0.1": 1, "1": 3, "+Inf": 4 } })
            ]
          ])
        ]
      ])
    },
    yield* Clock.currentTimeMillis
  )
  return store
})

describe("the service's API", () => {
  it.effect("lists base models and adapters, OpenAI style, an adapter with its parent", () =>
    withServer(synced, (get) =>
      Effect.gen(function* () {
        yield* seed
        const response = yield* get("/v1/models")
        assert.strictEqual(response.status, 200)
        assert.strictEqual(response.contentType, "application/json")
        const list = decode(ModelList, response.text)
        assert.strictEqual(list.object, "list")
        const byId = new Map(list.data.map((model) => [model.id, model]))
        assert.deepStrictEqual([...byId.keys()].sort(), ["llama", "llama-sql", "qwen"])
        const llama = byId.get("llama")!
        assert.strictEqual(llama.object, "model")
        assert.strictEqual(llama.parent, null)
        assert.strictEqual(llama.pods, 2)
        assert.strictEqual(llama.ready_pods, 1)
        const adapter = byId.get("llama-sql")!
        assert.strictEqual(adapter.parent, "llama")
        assert.strictEqual(adapter.root, "llama")
        assert.strictEqual(adapter.pods, 1)
        assert.isNumber(adapter.created)
      })
    )
  )

  it.effect("a model's pods with readiness and key metrics, and only the ready ones on ?ready=true", () =>
    withServer(synced, (get) =>
      Effect.gen(function* () {
        yield* seed
        const all = decode(ModelPods, (yield* get("/v1/models/llama/pods")).text)
        assert.strictEqual(all.model, "llama")
        const a = all.pods.find((pod) => pod.name === "a")!
        assert.deepStrictEqual(a, {
          name: "a",
          namespace: "default",
          ip: "10.0.0.1",
          ready: true,
          engine: "vllm",
          base_model: "llama",
          stale: false,
          metrics: {
            num_requests_running: 3,
            num_requests_waiting: 1,
            gpu_cache_usage_perc: 0.25,
            realtime_num_requests_running: null
          }
        })
        assert.isFalse(all.pods.find((pod) => pod.name === "b")!.ready)
        const readyOnly = decode(ModelPods, (yield* get("/v1/models/llama/pods?ready=true")).text)
        assert.deepStrictEqual(
          readyOnly.pods.map((pod) => pod.name),
          ["a"]
        )
        // An adapter's pods show the base model's load.
        const adapter = decode(ModelPods, (yield* get("/v1/models/llama-sql/pods")).text)
        assert.deepStrictEqual(
          adapter.pods.map((pod) => [pod.name, pod.metrics.num_requests_running]),
          [["a", 3]]
        )
      })
    )
  )

  it.effect("the kept body follows every change it shows: metrics, running counts, pods", () =>
    withServer(synced, (get) =>
      Effect.gen(function* () {
        const store = yield* seed
        const running = (pods: ModelPods) => pods.pods.find((pod) => pod.name === "a")?.metrics
        const first = decode(ModelPods, (yield* get("/v1/models/llama/pods")).text)
        assert.strictEqual(running(first)?.num_requests_running, 3)
        store.setPodModelMetric("default/a", "llama", "num_requests_running", MetricValue.simple(7))
        const second = decode(ModelPods, (yield* get("/v1/models/llama/pods")).text)
        assert.strictEqual(running(second)?.num_requests_running, 7)
        const pod = store.podEntry("default", "a")!.pod
        store.addRequest(RoutingContext.make({ model: "llama", requestId: "r1" }).setTargetPod(pod), "r1", "llama", 0)
        const third = decode(ModelPods, (yield* get("/v1/models/llama/pods")).text)
        assert.strictEqual(running(third)?.realtime_num_requests_running, 1)
        const scraped = yield* Clock.currentTimeMillis
        store.replaceEngineMetrics(store.podEntry("default", "a")!, { pod: new Map(), models: new Map() }, scraped)
        const fresh = decode(ModelPods, (yield* get("/v1/models/llama/pods")).text)
        assert.isFalse(fresh.pods.find((pod) => pod.name === "a")!.stale)
        yield* TestClock.adjust(store.engineFreshness.staleAfterMs + 1)
        const stale = decode(ModelPods, (yield* get("/v1/models/llama/pods")).text)
        assert.isTrue(stale.pods.find((pod) => pod.name === "a")!.stale)
        const writer = yield* CacheWriter
        yield* writer.apply(DiscoveryEvent.PodAdded({ pod: makePod({ name: "d", model: "llama", ip: "10.0.0.4" }) }))
        const fourth = decode(ModelPods, (yield* get("/v1/models/llama/pods")).text)
        assert.deepStrictEqual(fourth.pods.map((p) => p.name).sort(), ["a", "b", "d"])
        yield* writer.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/b" }))
        yield* writer.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/d" }))
        yield* writer.apply(DiscoveryEvent.PodDeletedByKey({ key: "default/a" }))
        assert.strictEqual((yield* get("/v1/models/llama/pods")).status, 404)
      })
    )
  )

  it.effect("one pod with its models and every metric as JSON", () =>
    withServer(synced, (get) =>
      Effect.gen(function* () {
        yield* seed
        const response = yield* get("/v1/pods/default/a")
        assert.strictEqual(response.status, 200)
        const pod = decode(PodDetail, response.text)
        assert.deepStrictEqual(pod.models, ["llama", "llama-sql"])
        assert.deepStrictEqual(pod.metrics["max_lora"], { type: "label", value: "4" })
        assert.deepStrictEqual(pod.model_metrics["llama"]?.["time_to_first_token_seconds"], {
          type: "histogram",
          sum: 1.5,
          count: 4,
          mean: 0.375,
          buckets: [
            { le: "0.1", count: 1 },
            { le: "1", count: 3 },
            { le: "+Inf", count: 4 }
          ]
        })
        assert.deepStrictEqual(pod.model_metrics["llama"]?.["num_requests_running"], { type: "simple", value: 3 })
        const other = decode(PodDetail, (yield* get("/v1/pods/team/c")).text)
        assert.strictEqual(other.base_model, "qwen")
        assert.strictEqual(other.engine, "sglang", "the engine as the pod label names it")
        assert.strictEqual(pod.engine, "vllm", "vllm when the label is absent")
      })
    )
  )

  it.effect("unknown models, pods and routes are JSON 404s; bad parameters JSON 400s", () =>
    withServer(synced, (get) =>
      Effect.gen(function* () {
        yield* seed
        const cases: ReadonlyArray<readonly [string, number, string]> = [
          ["/v1/models/nope/pods", 404, "NotFound"],
          ["/v1/pods/default/nope", 404, "NotFound"],
          ["/v1/pods/other/a", 404, "NotFound"],
          ["/v2/anything", 404, "NotFound"],
          ["/v1/models/llama/pods?ready=maybe", 400, "BadRequest"],
          ["/v1/pods/Not_A_Namespace/a", 400, "BadRequest"]
        ]
        for (const [path, status, tag] of cases) {
          const response = yield* get(path)
          assert.strictEqual(response.status, status, path)
          assert.strictEqual(response.contentType, "application/json", path)
          const error = decode(ErrorBody, response.text)
          assert.strictEqual(error._tag, tag, path)
          assert.isAbove(error.message.length, 0, path)
        }
      })
    )
  )

  it.effect("names up to 253 characters route, plain or percent-encoded; longer ones are a JSON 400", () =>
    withServer(synced, (get) =>
      Effect.gen(function* () {
        const writer = yield* CacheWriter
        const long150 = "m".repeat(150)
        const long253 = `org/${"é".repeat(249)}`
        const podName = "p".repeat(253)
        yield* writer.applyAll([
          DiscoveryEvent.PodAdded({ pod: makePod({ name: "a", model: long150, ip: "10.0.0.1" }) }),
          DiscoveryEvent.PodAdded({ pod: makePod({ name: podName, model: long253, ip: "10.0.0.2" }) })
        ])
        const first = yield* get(`/v1/models/${long150}/pods`)
        assert.strictEqual(first.status, 200, first.text)
        assert.deepStrictEqual(
          decode(ModelPods, first.text).pods.map((pod) => pod.name),
          ["a"]
        )
        const second = yield* get(`/v1/models/${encodeURIComponent(long253)}/pods`)
        assert.strictEqual(second.status, 200, second.text)
        assert.strictEqual(decode(ModelPods, second.text).model, long253)
        const pod = yield* get(`/v1/pods/default/${podName}`)
        assert.strictEqual(pod.status, 200, pod.text)
        const tooLong = yield* get(`/v1/models/${"m".repeat(254)}/pods`)
        assert.strictEqual(tooLong.status, 400)
        assert.strictEqual(decode(ErrorBody, tooLong.text)._tag, "BadRequest")
      })
    )
  )

  it.effect("every error of the HTTP layer, Node's parser included, is a JSON error with its 4xx", () =>
    withServer(synced, (get, raw) =>
      Effect.gen(function* () {
        yield* seed
        const cases: ReadonlyArray<readonly [what: string, request: string, status: number, tag: string]> = [
          [
            "a 40 KB URL",
            `GET /v1/models/${"x".repeat(40_000)}/pods HTTP/1.1\r\nHost: a\r\n\r\n`,
            431,
            "HeadersTooLarge"
          ],
          ["a bad request line", "GARBAGE\r\n\r\n", 400, "BadRequest"],
          ["a bad header line", "GET /v1/models HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n", 400, "BadRequest"],
          [
            "both Content-Length and chunked",
            "GET /v1/models HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            400,
            "BadRequest"
          ],
          ["HTTP/1.1 without Host", "GET /v1/models HTTP/1.1\r\nConnection: close\r\n\r\n", 400, "BadRequest"],
          [
            "%zz in the path",
            "GET /v1/models/%zz/pods HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            400,
            "BadRequest"
          ],
          [
            "a POST",
            "POST /v1/models HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            405,
            "MethodNotAllowed"
          ]
        ]
        for (const [what, request, status, tag] of cases) {
          const answer = yield* raw(request)
          assert.strictEqual(answer.status, status, what)
          assert.include(answer.headers, "content-type: application/json", what)
          const error = decode(ErrorBody, answer.body)
          assert.strictEqual(error._tag, tag, what)
          assert.isAbove(error.message.length, 0, what)
        }
        assert.include((yield* raw(cases.at(-1)![1])).headers, "allow: get, head")
        // A long unknown path is quoted short.
        const unknown = yield* get(`/v2/${"y".repeat(10_000)}`)
        assert.strictEqual(unknown.status, 404)
        assert.isBelow(decode(ErrorBody, unknown.text).message.length, 300)
        // HTTP/1.0 needs no Host.
        assert.strictEqual((yield* raw("GET /healthz HTTP/1.0\r\n\r\n")).status, 200)
      })
    )
  )

  it.effect("a failure of the server itself is a JSON 500, logged", () => {
    const logs: Array<string> = []
    return Effect.gen(function* () {
      const routes = Layer.mergeAll(HttpRouter.add("GET", "/boom", Effect.die(new Error("boom"))), jsonErrors)
      const context = yield* Layer.build(
        HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
          Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 0 }))
        )
      )
      const url = HttpServer.formatAddress(Context.get(context, HttpServer.HttpServer).address)
      const response = yield* Effect.promise(() => fetch(`${url}/boom`))
      assert.strictEqual(response.status, 500)
      assert.strictEqual(response.headers.get("content-type"), "application/json")
      const body = decode(ErrorBody, yield* Effect.promise(() => response.text()))
      assert.strictEqual(body._tag, "InternalError")
      assert.isTrue(
        logs.some((line) => line.startsWith("Error: request failed")),
        logs.join("\n")
      )
    }).pipe(Effect.scoped, captureLogs(logs))
  })

  it.effect("healthz always; readyz 503 until the live cache is built and synced, then 200", () =>
    Effect.gen(function* () {
      const notBuilt = Layer.effect(
        CacheReadiness,
        Effect.map(Deferred.make<CacheReadiness["Service"]>(), readinessOnceBuilt)
      )
      yield* withServer(notBuilt, (get) =>
        Effect.gen(function* () {
          assert.strictEqual((yield* get("/healthz")).status, 200)
          const response = yield* get("/readyz")
          assert.strictEqual(response.status, 503)
          assert.strictEqual(decode(ErrorBody, response.text)._tag, "NotReady")
        })
      )
      const unsynced = Layer.effect(
        CacheReadiness,
        Effect.map(makeReadinessSignal, (signal) => signal.readiness)
      )
      yield* withServer(unsynced, (get) =>
        Effect.map(get("/readyz"), (response) => assert.strictEqual(response.status, 503))
      )
      yield* withServer(synced, (get) =>
        Effect.gen(function* () {
          yield* seed
          const response = yield* get("/readyz")
          assert.strictEqual(response.status, 200)
          assert.deepStrictEqual(decode(Readiness, response.text), { ready: true, pods: 3, models: 3 })
        })
      )
    })
  )

  it.effect("/metrics is Prometheus text our own parser reads", () =>
    withServer(synced, (get) =>
      Effect.gen(function* () {
        yield* seed
        const response = yield* get("/metrics")
        assert.strictEqual(response.status, 200)
        assert.strictEqual(response.contentType, EXPOSITION_CONTENT_TYPE)
        const page = parse(response.text)
        assert.isTrue(Result.isSuccess(page), response.text)
        const families = Result.getOrThrow(page).families
        const value = (name: string, labels: Record<string, string> = {}) =>
          families
            .get(name)
            ?.samples.find((sample) => Object.entries(labels).every(([key, v]) => sample.labels[key] === v))?.value
        assert.strictEqual(value("aibrix_cache_ready"), 1)
        assert.strictEqual(value("aibrix_cache_pods", { ready: "true" }), 2)
        assert.strictEqual(value("aibrix_cache_pods", { ready: "false" }), 1)
        assert.strictEqual(value("aibrix_cache_models"), 3)
        assert.strictEqual(value("aibrix_cache_adapters"), 1)
      })
    )
  )

  it.effect("/metrics shows each family before its first update: ready at 0 before the source's sync", () =>
    withServer(
      Layer.effect(
        CacheReadiness,
        Effect.map(makeReadinessSignal, (signal) => signal.readiness)
      ),
      (get) =>
        Effect.gen(function* () {
          const families = Result.getOrThrow(parse((yield* get("/metrics")).text)).families
          assert.strictEqual(families.get("aibrix_cache_ready")?.samples[0]?.value, 0)
          assert.deepStrictEqual(
            families.get("aibrix_cache_pods")?.samples.map((sample) => [sample.labels["ready"], sample.value]),
            [
              ["true", 0],
              ["false", 0]
            ]
          )
          for (const name of ["aibrix_cache_models", "aibrix_cache_adapters", "aibrix_cache_requests_in_flight"]) {
            assert.strictEqual(families.get(name)?.samples[0]?.value, 0, name)
          }
        })
    )
  )

  it.effect(
    "/metrics shows the refresh's scrape durations and value ages as cumulative histograms, and scrapes by outcome",
    () =>
      withServer(synced, (get) =>
        Effect.gen(function* () {
          for (const ms of [0.5, 3, 3, 40, 2_000]) yield* Metric.update(scrapeDuration, ms / 1000)
          yield* Metric.update(valueAge, 0.045)
          yield* Metric.update(scrapes.ok, 4)
          yield* Metric.update(scrapes.timeout, 1)
          const families = Result.getOrThrow(parse((yield* get("/metrics")).text)).families
          const scrape = families.get("aibrix_cache_scrape_duration_seconds")!
          assert.strictEqual(scrape.type, "histogram")
          const bucket = (le: string) =>
            scrape.samples.find((sample) => sample.name.endsWith("_bucket") && sample.labels["le"] === le)?.value
          assert.strictEqual(bucket("0.001"), 1)
          assert.strictEqual(bucket("0.005"), 3)
          assert.strictEqual(bucket("0.05"), 4)
          assert.strictEqual(bucket("2.5"), 5)
          assert.strictEqual(bucket("+Inf"), 5)
          assert.strictEqual(scrape.samples.find((sample) => sample.name.endsWith("_count"))?.value, 5)
          assert.closeTo(scrape.samples.find((sample) => sample.name.endsWith("_sum"))?.value ?? 0, 2.0465, 1e-9)
          const age = families.get("aibrix_cache_value_age_seconds")!
          assert.strictEqual(age.samples.find((sample) => sample.name.endsWith("_count"))?.value, 1)
          assert.strictEqual(age.samples.find((sample) => sample.labels["le"] === "0.05")?.value, 1)
          assert.strictEqual(age.samples.find((sample) => sample.labels["le"] === "0.025")?.value, 0)
          const outcomes = families.get("aibrix_cache_scrapes_total")!.samples
          assert.strictEqual(outcomes.find((sample) => sample.labels["outcome"] === "timeout")?.value, 1)
          assert.strictEqual(outcomes.find((sample) => sample.labels["outcome"] === "ok")?.value, 4)
        })
      )
  )
})
