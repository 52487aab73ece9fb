/**
 * A small gateway app composing `initForGateway`: Kubernetes discovery from the
 * fake API server, pods whose engines are simulated on loopback, and, with the
 * trace flag on, a real redis-server that the trace flush writes to.
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, ManagedRuntime, Option } from "effect"
import { initForGateway } from "../../layers/index.ts"
import { CacheReadiness } from "../../src/cache/CacheReadiness.ts"
import { EngineSimulator } from "../../src/demo/EngineSimulator.ts"
import { MetricCache } from "../../src/cache/MetricCache.ts"
import { MetricValue } from "../../src/store/MetricValue.ts"
import { PodCache } from "../../src/cache/PodCache.ts"
import { RequestTracker } from "../../src/cache/RequestTracker.ts"
import { RoutingContext } from "../../src/store/RoutingContext.ts"
import { makePod } from "../support/fixtures.ts"
import { fakeKubernetes, kubeConfigFile } from "../support/discovery.ts"
import { clusterOf } from "../support/liveService.ts"
import { readAll, readerClient } from "../support/redisClient.ts"
import { freePort, redisServer } from "../support/redisServer.ts"
import { poll } from "../support/serviceProcess.ts"

/** The gateway layer over these variables, as a runtime disposed with the test's scope. */
const gatewayRuntime = (env: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.sync(() =>
      ManagedRuntime.make(initForGateway.pipe(Layer.provide(ConfigProvider.layer(ConfigProvider.fromEnv({ env })))))
    ),
    (runtime) => Effect.promise(() => runtime.dispose())
  )

describe("initForGateway in an app", () => {
  it.live(
    "with the trace on: a request recorded through the library lands in Redis at the next flush",
    () =>
      Effect.gen(function* () {
        const engine = yield* EngineSimulator.scoped({ models: ["llama"] })
        engine.metrics.setGauge("llama", "num_requests_running", 4)
        const fake = yield* clusterOf(engine)
        const redis = yield* redisServer()
        const reader = yield* readerClient(redis)
        const runtime = yield* gatewayRuntime({
          KUBECONFIG: (yield* kubeConfigFile(fake)).file,
          AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: "true",
          REDIS_HOST: redis.host,
          REDIS_PORT: String(redis.port)
        })
        const run = <A, E>(effect: Effect.Effect<A, E, RequestTracker | PodCache | MetricCache | CacheReadiness>) =>
          Effect.promise(() => runtime.runPromise(effect))

        assert.isTrue(yield* run(CacheReadiness.use((readiness) => readiness.isReady)))
        // The gateway routes by the engine's figures, scraped by the layer's refresh.
        const running = yield* poll(
          "the engine's running count",
          run(
            MetricCache.use((metrics) =>
              metrics.getMetricValueByPodModel("engine-0", "default", "llama", "num_requests_running")
            ).pipe(Effect.option, Effect.map(Option.getOrUndefined))
          ),
          15_000
        )
        assert.deepStrictEqual(running, MetricValue.simple(4))

        yield* run(
          Effect.gen(function* () {
            const pods = yield* PodCache
            const tracker = yield* RequestTracker
            const target = (yield* pods.listPodsByModel("llama")).all()[0]!
            const ctx = RoutingContext.make({ model: "llama", requestId: "request-1" }).setTargetPod(target)
            const term = yield* tracker.addRequestCount(ctx, "request-1", "llama")
            assert.isAbove(term, 0, "the trace is on: the request has a window's term")
            yield* tracker.doneRequestTrace(ctx, "request-1", "llama", 20, 1024, term)
          })
        )

        // The flush fiber writes the window at the next 10 s boundary, not only at shutdown.
        const written = yield* poll(
          "the finished request's window in Redis",
          Effect.gen(function* () {
            const found = [...(yield* readAll(reader))].find(
              ([key, value]) => key.startsWith("aibrix:llama_request_trace_") && value.includes("42:100")
            )
            if (found === undefined) return undefined
            return { key: found[0], value: found[1], ttl: yield* Effect.promise(() => reader.ttl(found[0])) }
          }),
          15_000
        )
        assert.match(written.key, /^aibrix:llama_request_trace_\d+0$/)
        // Added and finished in one go: in one window, unless a boundary fell in between.
        const oneWindow =
          '{"42:100":1,"meta_interval_sec":10,"meta_pending_reqs":0,"meta_precision":10,"meta_total_reqs":1,"meta_v":3}'
        const secondOfTwo = oneWindow.replace('"meta_total_reqs":1', '"meta_total_reqs":0')
        assert.include([oneWindow, secondOfTwo], written.value)
        assert.isAbove(written.ttl, 590)
        assert.isAtMost(written.ttl, 600)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "with AIBRIX_REPLICA_SYNC and the trace on: two gateways read each other's running counts over one Redis connection each",
    () =>
      Effect.gen(function* () {
        const fake = yield* fakeKubernetes()
        fake.put("pods", makePod({ name: "engine-0", model: "llama", ip: "127.0.0.1" }))
        const redis = yield* redisServer()
        const reader = yield* readerClient(redis)
        const env = (podName: string) => ({
          KUBECONFIG: "",
          AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: "true",
          AIBRIX_REPLICA_SYNC: "true",
          POD_NAME: podName,
          REDIS_HOST: redis.host,
          REDIS_PORT: String(redis.port)
        })
        const kubeConfig = (yield* kubeConfigFile(fake)).file
        const gateways = yield* Effect.forEach(["gateway-0", "gateway-1"], (podName) =>
          gatewayRuntime({ ...env(podName), KUBECONFIG: kubeConfig })
        )
        const routeTo = (runtime: (typeof gateways)[number], requestId: string) =>
          Effect.promise(() =>
            runtime.runPromise(
              Effect.gen(function* () {
                const pods = yield* PodCache
                const target = (yield* pods.listPodsByModel("llama")).all()[0]!
                const ctx = RoutingContext.make({ model: "llama", requestId }).setTargetPod(target)
                yield* (yield* RequestTracker).addRequestCount(ctx, requestId, "llama")
              })
            )
          )
        yield* routeTo(gateways[0]!, "request-0")
        yield* routeTo(gateways[1]!, "request-1")
        yield* routeTo(gateways[1]!, "request-2")
        for (const runtime of gateways) {
          yield* poll(
            "the sum of both gateways",
            Effect.promise(() =>
              runtime.runPromise(
                MetricCache.use((metrics) =>
                  metrics.getMetricValueByPod("engine-0", "default", "realtime_num_requests_running")
                ).pipe(Effect.map((value) => (value._tag === "Simple" && value.value === 3 ? true : undefined)))
              )
            ),
            5_000
          )
        }
        assert.deepStrictEqual((yield* Effect.promise(() => reader.keys("aibrix:pod:*"))).sort(), [
          "aibrix:pod:gateway-0:default:engine-0",
          "aibrix:pod:gateway-1:default:engine-0"
        ])
        const clients = String(yield* Effect.promise(() => reader.client("LIST")))
          .trim()
          .split("\n")
        assert.strictEqual(clients.length, 3, "the reader and one connection per gateway")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "with the trace off: no Redis is needed, and requests are counted with term 0",
    () =>
      Effect.gen(function* () {
        const fake = yield* fakeKubernetes()
        fake.put("pods", makePod({ name: "engine-0", model: "llama", ip: "127.0.0.1" }))
        // Nobody listens there: a layer that tried Redis would fail to build.
        const closedPort = yield* Effect.promise(freePort)
        const runtime = yield* gatewayRuntime({
          KUBECONFIG: (yield* kubeConfigFile(fake)).file,
          AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: "false",
          REDIS_HOST: "127.0.0.1",
          REDIS_PORT: String(closedPort)
        })
        const counted = yield* Effect.promise(() =>
          runtime.runPromise(
            Effect.gen(function* () {
              const tracker = yield* RequestTracker
              const pods = yield* PodCache
              const term = yield* tracker.addRequestCount(undefined, "request-1", "llama")
              const listed = (yield* pods.listPodsByModel("llama")).len
              yield* tracker.doneRequestCount(undefined, "request-1", "llama", term)
              return { term, listed }
            })
          )
        )
        assert.deepStrictEqual(counted, { term: 0, listed: 1 })
      }).pipe(Effect.scoped),
    30_000
  )
})
