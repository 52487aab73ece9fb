/**
 * The service over a static fleet file of simulated engines the test starts:
 * as a child process (`--static`), and as a small app composing `initStatic`
 * with the request trace on against a real redis-server.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Layer, Result } from "effect"
import { HttpServer } from "effect/http"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { initStatic } from "../../layers/index.ts"
import { EngineSimulator } from "../../src/demo/EngineSimulator.ts"
import { PodCache } from "../../src/cache/PodCache.ts"
import { parse } from "../../src/exposition/Parser.ts"
import { RequestTracker } from "../../src/cache/RequestTracker.ts"
import { RoutingContext } from "../../src/store/RoutingContext.ts"
import { ModelList, ModelPods } from "../../src/service/ServiceApi.ts"
import { serveApi } from "../../src/service/ServiceServer.ts"
import { Schema } from "effect"
import { readAll, readerClient } from "../support/redisClient.ts"
import { freePort, redisServer } from "../support/redisServer.ts"
import { withFreshRegistry } from "../support/metricRegistry.ts"
import { get, poll, serviceProcess } from "../support/serviceProcess.ts"

const decode = <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S, text: string): S["Type"] =>
  Schema.decodeUnknownSync(schema)(JSON.parse(text))

/** A fleet file in a fresh directory, removed after the test. */
const fleetFile = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = mkdtempSync(join(tmpdir(), "aibrix-fleet-"))
    return { dir, path: join(dir, "fleet.yaml") }
  }),
  ({ dir }) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

const fleetYaml = (
  models: ReadonlyArray<{ readonly name: string; readonly engines: ReadonlyArray<EngineSimulator> }>
) =>
  "models:\n" +
  models
    .map(
      ({ engines, name }) =>
        `  - name: ${name}\n    endpoints: [${engines.map((engine) => `"${engine.host}:${engine.port}"`).join(", ")}]\n`
    )
    .join("")

/** The running count the service shows for each pod of a model, by pod IP:port label. */
const runningOf = (pods: ModelPods): ReadonlyArray<number | null> =>
  pods.pods.map((pod) => pod.metrics.num_requests_running).sort()

describe("the service over a static fleet file", () => {
  it.live(
    "serves the engines the file lists, follows their figures and the file's changes, stops on SIGTERM",
    () =>
      Effect.gen(function* () {
        const llama = [
          yield* EngineSimulator.scoped({ models: ["llama"] }),
          yield* EngineSimulator.scoped({ models: ["llama"] })
        ]
        const mistral = yield* EngineSimulator.scoped({ models: ["mistral"] })
        llama[0]!.metrics.setGauge("llama", "num_requests_running", 3)
        llama[1]!.metrics.setGauge("llama", "num_requests_running", 4)
        const { path } = yield* fleetFile
        writeFileSync(path, fleetYaml([{ name: "llama", engines: llama }]))

        const service = yield* serviceProcess(yield* Effect.promise(freePort), ["--static", path])
        assert.include(yield* service.waitForLine((line) => line.length > 0), path)
        yield* poll(
          "/readyz 200",
          Effect.map(get(`${service.url}/readyz`), (r) => (r?.status === 200 ? true : undefined))
        )
        const models = decode(ModelList, (yield* get(`${service.url}/v1/models`))!.text)
        assert.deepStrictEqual(
          models.data.map((model) => model.id),
          ["llama"]
        )

        const pods = (model: string, expected: ReadonlyArray<number | null>) =>
          poll(
            `${model} pods running ${JSON.stringify(expected)}`,
            Effect.map(get(`${service.url}/v1/models/${model}/pods`), (r) => {
              if (r?.status !== 200) return undefined
              const pods = decode(ModelPods, r.text)
              return JSON.stringify(runningOf(pods)) === JSON.stringify(expected) ? pods : undefined
            })
          )
        const seen = yield* pods("llama", [3, 4])
        assert.isTrue(seen.pods.every((pod) => pod.ready && pod.ip === "127.0.0.1"))
        llama[1]!.metrics.setGauge("llama", "num_requests_running", 9)
        yield* pods("llama", [3, 9])

        mistral.metrics.setGauge("mistral", "num_requests_running", 2)
        writeFileSync(
          path,
          fleetYaml([
            { name: "llama", engines: [llama[0]!] },
            { name: "mistral", engines: [mistral] }
          ])
        )
        yield* pods("mistral", [2])
        yield* pods("llama", [3])

        const { code, ms } = yield* service.stop("SIGTERM")
        assert.strictEqual(code, 0, service.stderr())
        assert.isBelow(ms, 10_000)
      }).pipe(Effect.scoped),
    90_000
  )

  it.live(
    "an app composing initStatic with the trace: a request recorded through the library lands in Redis",
    () =>
      Effect.gen(function* () {
        const engine = yield* EngineSimulator.scoped({ models: ["llama"] })
        engine.metrics.setGauge("llama", "num_requests_running", 5)
        const { path } = yield* fleetFile
        writeFileSync(path, fleetYaml([{ name: "llama", engines: [engine] }]))
        const redis = yield* redisServer()
        const reader = yield* readerClient(redis)
        const config = ConfigProvider.layer(
          ConfigProvider.fromEnv({
            env: {
              AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: "true",
              REDIS_HOST: redis.host,
              REDIS_PORT: String(redis.port),
              AIBRIX_POD_METRIC_REFRESH_INTERVAL_MS: "50"
            }
          })
        )

        // The app: the live cache and the API over it, in one scope.
        const live = yield* Layer.build(initStatic(path).pipe(Layer.provide(config)))
        const server = yield* Layer.build(
          serveApi({ host: "127.0.0.1", port: 0 }).pipe(Layer.provide(Layer.succeedContext(live)))
        )
        const url = HttpServer.formatAddress(Context.get(server, HttpServer.HttpServer).address)

        const { ctx, term } = yield* Effect.gen(function* () {
          const pods = yield* PodCache
          const tracker = yield* RequestTracker
          const target = (yield* pods.listPodsByModel("llama")).all()[0]!
          const ctx = RoutingContext.make({ model: "llama", requestId: "request-1" }).setTargetPod(target)
          const term = yield* tracker.addRequestCount(ctx, "request-1", "llama")
          return { ctx, term }
        }).pipe(Effect.provideContext(live))

        // While it runs, the API shows the gateway's count beside the engine's.
        const inFlight = yield* poll(
          "the pod's figures",
          Effect.map(get(`${url}/v1/models/llama/pods`), (r) => {
            const pods = r?.status === 200 ? decode(ModelPods, r.text) : undefined
            return pods?.pods[0]?.metrics.num_requests_running === 5 ? pods : undefined
          })
        )
        assert.strictEqual(inFlight.pods[0]?.metrics.realtime_num_requests_running, 1)

        yield* RequestTracker.use((tracker) =>
          tracker.doneRequestTrace(ctx, "request-1", "llama", 20, 1024, term)
        ).pipe(Effect.provideContext(live))
        // The flush writes the window at the next 10 s boundary. A boundary may
        // fall between the add and the done: the request then spans two windows.
        const windows = yield* poll(
          "the trace of the finished request in Redis",
          Effect.map(readAll(reader), (all) => {
            const written = [...all].filter(([key]) => key.startsWith("aibrix:llama_request_trace_"))
            const counts = written.map(([, value]) => JSON.parse(value) as Record<string, number>)
            return counts.some((window) => window["42:100"] !== undefined)
              ? { keys: written.map(([key]) => key), counts }
              : undefined
          }),
          25_000
        )
        assert.isTrue(
          windows.keys.every((key) => /^aibrix:llama_request_trace_\d+0$/.test(key)),
          windows.keys.join()
        )
        const sum = (name: string) => windows.counts.reduce((total, window) => total + (window[name] ?? 0), 0)
        assert.strictEqual(sum("meta_total_reqs"), 1)
        assert.strictEqual(sum("42:100"), 1)
        // The API's /metrics reports the flush.
        const flushes = yield* poll(
          "the flush in /metrics",
          Effect.map(get(`${url}/metrics`), (r) => {
            const families = r === undefined ? undefined : Result.getOrUndefined(parse(r.text))?.families
            const written = families?.get("aibrix_cache_trace_windows_written_total")?.samples[0]?.value ?? 0
            return written >= 1 ? families : undefined
          })
        )
        assert.strictEqual(flushes.get("aibrix_cache_trace_flush_failures_total")?.samples[0]?.value, 0)
        assert.strictEqual(flushes.get("aibrix_cache_trace_backlog_windows")?.samples[0]?.value, 0)
      }).pipe(Effect.scoped, withFreshRegistry),
    90_000
  )
})
