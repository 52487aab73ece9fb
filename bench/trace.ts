/**
 * The request trace: its cost on the request hot path (`addRequestCount` +
 * `doneRequestTrace` through the services, tracing on vs off), and one flush of
 * 1,000 models' windows merged into a real redis-server (duration and round
 * trips), beside the same windows as plain SETs.
 */
import type { V1Pod } from "@kubernetes/client-node"
import { Context, Effect, Layer } from "effect"
import { initForTest, withRequestTrace } from "../layers/index.ts"
import {
  type CacheServices,
  CacheWriter,
  DiscoveryEvent,
  Redis,
  RequestTracker,
  type RoutingContext
} from "../src/index.ts"
import { FleetStore } from "../src/store/FleetStore.ts"
import { connectRedis, redisService } from "../src/trace/Redis.ts"
import { RequestTrace } from "../src/trace/RequestTrace.ts"
import { TraceFlusher } from "../src/trace/internal/TraceFlusher.ts"
import { countRoundTrips } from "../test/support/redisClient.ts"
import { startRedisServer } from "../test/support/redisServer.ts"
import { makeContexts, makePods } from "./fleet.ts"
import { opsPerSecond, printComparison, printFigure } from "./report.ts"

const BATCH = 100_000
const FLUSH_MODELS = 1_000
const HOT_PATH_ROUNDS = 8
const FLUSH_ROUNDS = 5

/** Token sizes spread over a few hundred buckets. */
const tokens = Array.from({ length: 1024 }, (_, i) => [1 + ((i * 7919) % 8_000), 1 + ((i * 104_729) % 2_000)] as const)

/** A Redis that takes every write and keeps nothing: the hot path is measured, not the flush. */
const discardingRedis = Layer.succeed(Redis, {
  setWithExpiry: () => Effect.void,
  runScripts: (calls) => Effect.succeed(calls.map(() => 1)),
  reportUnresponsive: () => Effect.void
})

/** The lifecycles through the services of a built cache, as one synchronous batch. */
const lifecyclesOf = Effect.fnUntraced(function* (
  cache: Layer.Layer<CacheServices>,
  pods: ReadonlyArray<V1Pod>,
  contexts: ReadonlyArray<RoutingContext>
) {
  const services = yield* Layer.build(cache)
  yield* CacheWriter.use((writer) => writer.applyAll(pods.map((pod) => DiscoveryEvent.PodAdded({ pod })))).pipe(
    Effect.provideContext(services)
  )
  const tracker = Context.get(services, RequestTracker)
  const lifecycles = Effect.gen(function* () {
    for (let i = 0; i < BATCH; i++) {
      const ctx = contexts[i & 1023]!
      const [input, output] = tokens[i & 1023]!
      const term = yield* tracker.addRequestCount(ctx, ctx.requestId, ctx.model)
      yield* tracker.doneRequestTrace(ctx, ctx.requestId, ctx.model, input, output, term)
    }
  })
  const traced = (yield* tracker.addRequestCount(undefined, "probe", "model-0")) !== 0
  yield* tracker.doneRequestCount(undefined, "probe", "model-0", 0)
  return { traced, run: () => Effect.runSync(lifecycles) }
})

/** Tracing off and on, measured in alternate rounds so a change of load on the machine hits both alike. */
const hotPath = (pods: ReadonlyArray<V1Pod>, contexts: ReadonlyArray<RoutingContext>) =>
  Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const off = yield* lifecyclesOf(initForTest, pods, contexts)
        const on = yield* lifecyclesOf(withRequestTrace(initForTest, discardingRedis), pods, contexts)
        if (off.traced || !on.traced) throw new Error("the trace is not on in exactly one of the two caches")
        let best = { off: 0, on: 0 }
        for (let round = 0; round < HOT_PATH_ROUNDS; round++) {
          best = {
            off: Math.max(best.off, opsPerSecond(off.run, BATCH, 1)),
            on: Math.max(best.on, opsPerSecond(on.run, BATCH, 1))
          }
        }
        return best
      })
    )
  )

/** Opens 1,000 windows, each with 10 requests over a few buckets. */
const fillWindows = (store: FleetStore, round: number): void => {
  for (let m = 0; m < FLUSH_MODELS; m++) {
    for (let r = 0; r < 10; r++) {
      const id = `flush-${round}-${m}-${r}`
      const term = store.addRequest(undefined, id, `model-${m}`, Date.now())
      const [input, output] = tokens[(m * 10 + r) & 1023]!
      store.doneRequest(id, term, { input, output })
    }
  }
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const flush = async (): Promise<void> => {
  const server = await startRedisServer()
  try {
    await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const connection = yield* connectRedis({ host: server.host, port: server.port, password: undefined })
          const client = connection.client
          const redis = redisService(connection)
          const store = new FleetStore()
          const flusher = new TraceFlusher(store, new RequestTrace(1), redis, { partId: "gateway-a" })
          store.setTraceRecorder(flusher.trace)
          // A second replica flushing the same models and ts: its windows are summed with the first's.
          const secondStore = new FleetStore()
          const second = new TraceFlusher(secondStore, new RequestTrace(1), redis, { partId: "gateway-b" })
          secondStore.setTraceRecorder(second.trace)
          const roundTrips = countRoundTrips(client)
          const durations: Array<number> = []
          const summed: Array<number> = []
          const tripsPerFlush: Array<number> = []
          for (let round = 0; round < FLUSH_ROUNDS; round++) {
            fillWindows(store, round)
            fillWindows(secondStore, round)
            const before = roundTrips.count
            const start = performance.now()
            yield* flusher.flush(1_735_689_600 + round * 10)
            durations.push(performance.now() - start)
            tripsPerFlush.push(roundTrips.count - before)
            const secondStart = performance.now()
            yield* second.flush(1_735_689_600 + round * 10)
            summed.push(performance.now() - secondStart)
          }
          if (flusher.statistics.written !== FLUSH_MODELS * FLUSH_ROUNDS)
            throw new Error(`wrote ${flusher.statistics.written}`)
          // The baseline: the same 1,000 windows as plain SETs in one pipeline, the write before windows merged.
          const keys = Array.from({ length: FLUSH_MODELS }, (_, m) => `aibrix:model-${m}_request_trace_1735689600`)
          const values = yield* Effect.promise(() => client.mget(keys))
          const entries = keys.map((key, m) => ({ key, value: values[m] ?? "{}" }))
          const plain: Array<number> = []
          for (let round = 0; round < FLUSH_ROUNDS; round++) {
            const start = performance.now()
            yield* redis.setWithExpiry(entries, 600)
            plain.push(performance.now() - start)
          }
          const best = Math.min(...durations)
          const models = FLUSH_MODELS.toLocaleString("en-US")
          printFigure(
            `merged flush of ${models} models in one tick ` +
              `(best of ${FLUSH_ROUNDS}, median ${median(durations).toFixed(1)} ms)`,
            best,
            "ms",
            "< 50 ms"
          )
          printFigure(
            `flush of ${models} models onto another replica's windows, summed ` +
              `(best of ${FLUSH_ROUNDS}, median ${median(summed).toFixed(1)} ms)`,
            Math.min(...summed),
            "ms",
            "< 50 ms"
          )
          printFigure("round trips per flush", Math.max(...tripsPerFlush), "round trips", "1 pipeline")
          printComparison(
            `${FLUSH_MODELS.toLocaleString("en-US")} windows in one pipeline`,
            { label: "merged on the server", value: best },
            { label: "plain SETs", value: Math.min(...plain) },
            "ms"
          )
        })
      )
    )
  } finally {
    await server.dispose()
  }
}

export const run = async (): Promise<void> => {
  const pods = makePods()
  const contexts = makeContexts(pods)
  const { off, on } = await hotPath(pods, contexts)
  printComparison("trace hot path", { label: "tracing on", value: on }, { label: "off", value: off }, "lifecycles/s")
  printFigure("cost of tracing (off / on)", off / on, "x", "<= 1.2x")
  await flush()
}
