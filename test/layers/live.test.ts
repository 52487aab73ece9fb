/**
 * The live layers built and disposed twice each in one process, against a fake
 * Kubernetes API server and a real redis-server: each build syncs its own store,
 * and each dispose leaves nothing open (no watch on the fake, no socket, timer
 * or client in this process).
 */
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Layer, ManagedRuntime, Schedule } from "effect"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { init, initForGateway, initForMetadata, initStatic } from "../../layers/index.ts"
import { CacheReadiness } from "../../src/cache/CacheReadiness.ts"
import { CacheStore } from "../../src/cache/CacheStore.ts"
import { EngineSimulator } from "../../src/demo/EngineSimulator.ts"
import { MetricRefresh } from "../../src/metrics/MetricRefresh.ts"
import { RequestTracker } from "../../src/cache/RequestTracker.ts"
import { makeAdapter, makePod } from "../support/fixtures.ts"
import type { FakeKubernetes } from "../support/FakeKubernetes.ts"
import { eventually, fakeKubernetes, kubeConfigFile } from "../support/discovery.ts"
import { redisServer } from "../support/redisServer.ts"
import { readAll, readerClient } from "../support/redisClient.ts"
import { scrapesOf } from "../support/refreshStatistics.ts"

/** Open handles by kind, as Node counts them. */
const activeResources = (): Record<string, number> => {
  const counts: Record<string, number> = {}
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1
  return counts
}

/** Waits (in real time) until the process's handles are back to `before`; returns what is still open. */
const settledResources = (before: Record<string, number>): Effect.Effect<Record<string, number>> =>
  Effect.promise(async () => {
    const deadline = Date.now() + 10_000
    let now = activeResources()
    while (Date.now() < deadline) {
      now = activeResources()
      const extra = Object.entries(now).filter(([kind, count]) => count > (before[kind] ?? 0))
      if (extra.length === 0) return {}
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return Object.fromEntries(
      Object.entries(now)
        .filter(([kind, count]) => count > (before[kind] ?? 0))
        .map(([kind, count]) => [kind, count - (before[kind] ?? 0)])
    )
  })

const seedFleet = (fake: FakeKubernetes): void => {
  fake.put(
    "pods",
    makePod({ name: "engine-0", model: "llama", ip: "127.0.0.1", labels: { "model.aibrix.ai/metric-port": "1" } })
  )
  fake.put(
    "pods",
    makePod({ name: "engine-1", model: "llama", ip: "127.0.0.1", labels: { "model.aibrix.ai/metric-port": "1" } })
  )
  fake.put("modeladapters", makeAdapter("llama-sql", ["engine-0"]))
}

describe("the live layers", () => {
  it.live(
    "init, initForMetadata, initForGateway and initStatic: built and disposed twice each, nothing left open",
    () =>
      Effect.gen(function* () {
        const fake = yield* fakeKubernetes()
        seedFleet(fake)
        const redis = yield* redisServer()
        const { file } = yield* kubeConfigFile(fake)
        const reader = yield* readerClient(redis)
        const env = {
          KUBECONFIG: file,
          REDIS_HOST: redis.host,
          REDIS_PORT: String(redis.port),
          AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: "true",
          AIBRIX_POD_METRIC_REFRESH_INTERVAL_MS: "20"
        }
        const config = ConfigProvider.layer(ConfigProvider.fromEnv({ env }))
        const layers = [
          ["init", init],
          ["initForMetadata", initForMetadata],
          ["initForGateway", initForGateway]
        ] as const
        const before = activeResources()
        for (const [name, layer] of layers) {
          for (let round = 0; round < 2; round++) {
            const runtime = ManagedRuntime.make(layer.pipe(Layer.provide(config)))
            const seen = yield* Effect.promise(() =>
              runtime.runPromise(
                Effect.gen(function* () {
                  const store = yield* CacheStore
                  const readiness = yield* CacheReadiness
                  const refresh = yield* MetricRefresh
                  // The refresh's first scrapes end soon after start (the engines refuse at once); a busy
                  // machine may take longer than a fixed wait.
                  const statistics = yield* refresh.statistics.pipe(
                    Effect.repeat({
                      until: (s) => scrapesOf(s.engine.outcomes) > 0,
                      schedule: Schedule.spaced("10 millis"),
                      times: 500
                    })
                  )
                  if (name === "initForGateway") {
                    const tracker = yield* RequestTracker
                    yield* tracker.addRequestCount(undefined, `r-${round}`, "llama")
                  }
                  return {
                    ready: yield* readiness.isReady,
                    pods: store.podCount,
                    models: [...store.listModels()].sort(),
                    scrapes: scrapesOf(statistics.engine.outcomes)
                  }
                })
              )
            )
            assert.isTrue(seen.ready, name)
            assert.strictEqual(seen.pods, 2, name)
            assert.deepStrictEqual(seen.models, ["llama", "llama-sql"], name)
            assert.isAbove(seen.scrapes, 0, `${name}: the refresh runs`)
            assert.isAbove(fake.openWatches(), 0, `${name}: the informers watch`)
            yield* Effect.promise(() => runtime.dispose())
            yield* eventually(() => assert.strictEqual(fake.openWatches(), 0, `${name}: no watch left open`), 5_000)
            const clients = yield* Effect.promise(() => reader.client("LIST"))
            assert.strictEqual(
              String(clients).trim().split("\n").length,
              1,
              `${name}: only the reader is connected to Redis`
            )
          }
        }
        // Idle keep-alive connections of the Kubernetes client close within seconds.
        assert.deepStrictEqual(yield* settledResources(before), {}, "handles left open")
        // The gateway layer's last flush at dispose wrote the requests it counted.
        const keys = [...(yield* readAll(reader)).keys()].filter((key) => key.startsWith("aibrix:llama_request_trace_"))
        assert.isAbove(keys.length, 0)
        // The static source over a simulated engine: scraped over kept-alive connections.
        const engine = yield* EngineSimulator.scoped({ models: ["mistral"] })
        const { dir } = yield* kubeConfigFile(fake)
        const fleet = join(dir, "fleet.yaml")
        writeFileSync(fleet, `models:\n  - name: mistral\n    endpoints: ["${engine.host}:${engine.port}"]\n`)
        const before2 = activeResources()
        for (let round = 0; round < 2; round++) {
          const runtime = ManagedRuntime.make(initStatic(fleet).pipe(Layer.provide(config)))
          const scraped = yield* Effect.promise(() =>
            runtime.runPromise(
              Effect.gen(function* () {
                const store = yield* CacheStore
                const refresh = yield* MetricRefresh
                while ((yield* refresh.statistics).engine.outcomes.ok < 3) yield* Effect.sleep("20 millis")
                return [...store.listModels()]
              })
            )
          )
          assert.deepStrictEqual(scraped, ["mistral"])
          yield* Effect.promise(() => runtime.dispose())
        }
        assert.deepStrictEqual(yield* settledResources(before2), {}, "initStatic: handles left open")
      }).pipe(Effect.scoped),
    120_000
  )
})
