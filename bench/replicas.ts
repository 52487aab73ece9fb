/**
 * The replica sync: the request lifecycle with the sync on (its rounds running
 * against a real redis-server) beside the same with it off, both yielding to
 * the event loop between batches so that the rounds interleave as they would in
 * a gateway; and one sync round with 1,000 pods and 10 replicas in Redis.
 */
import { Context, Duration, Effect, Layer } from "effect"
import { initForTest, withReplicaSync } from "../layers/index.ts"
import { CacheWriter, DiscoveryEvent, PodCache, Redis, RequestTracker } from "../src/index.ts"
import { ReplicaSync } from "../src/replicas/ReplicaSync.ts"
import { FleetStore } from "../src/store/FleetStore.ts"
import { connectRedis, redisService } from "../src/trace/Redis.ts"
import { announceCall, countsOf, type PodSnapshot, writeCalls } from "../src/replicas/ReplicaScripts.ts"
import { countRoundTrips } from "../test/support/redisClient.ts"
import { type RedisServer, startRedisServer } from "../test/support/redisServer.ts"
import { makeContexts, makePods } from "./fleet.ts"
import { printComparison, printFigure } from "./report.ts"

/** Lifecycles per batch; the event loop runs between batches. */
const BATCH = 2_000
const MEASURE_MS = 1_500
const ROUNDS = 4
const SYNC_PODS = 1_000
const SYNC_REPLICAS = 10
const SYNC_ROUNDS = 30

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Runs `batch` for `MEASURE_MS`, yielding to the event loop between batches; lifecycles/s. */
const throughput = async (batch: () => void): Promise<number> => {
  let done = 0
  const start = performance.now()
  while (performance.now() - start < MEASURE_MS) {
    batch()
    done += BATCH
    await yieldToLoop()
  }
  return (done / (performance.now() - start)) * 1000
}

const lifecycleWithSync = async (server: RedisServer): Promise<void> => {
  const pods = makePods()
  const contexts = makeContexts(pods)
  const redis = Redis.layer({ host: server.host, port: server.port, password: undefined })
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const build = <E>(cache: Layer.Layer<PodCache | RequestTracker | CacheWriter, E>) =>
          Effect.gen(function* () {
            const services = yield* Layer.build(cache)
            yield* Context.get(services, CacheWriter).applyAll(pods.map((pod) => DiscoveryEvent.PodAdded({ pod })))
            const podCache = Context.get(services, PodCache)
            const tracker = Context.get(services, RequestTracker)
            const batch = Effect.gen(function* () {
              for (let i = 0; i < BATCH; i++) {
                const ctx = contexts[i & 1023]!
                yield* podCache.listPodsByModel(ctx.model)
                const term = yield* tracker.addRequestCount(ctx, ctx.requestId, ctx.model)
                yield* tracker.doneRequestCount(ctx, ctx.requestId, ctx.model, term)
              }
            })
            return () => Effect.runSync(batch)
          })
        const off = yield* build(initForTest)
        // Nine other replicas' counts in Redis, so that each round reads something.
        const others = yield* connectRedis({ host: server.host, port: server.port, password: undefined })
        const snapshots = pods.map(
          (pod): PodSnapshot => ({
            uid: pod.metadata!.uid!,
            name: pod.metadata!.name!,
            namespace: "default",
            node: "",
            running: 2,
            completed: 0
          })
        )
        const announceOthers = Effect.forEach(
          Array.from({ length: 9 }, (_, i) => `other-${i}`),
          (replica) =>
            redisService(others).runScripts([
              announceCall(replica, 60_000, countsOf(snapshots)),
              ...writeCalls(replica, 60_000, "00:00:00.000", snapshots)
            ])
        )
        yield* announceOthers
        const on = yield* build(withReplicaSync(initForTest, redis, { replicaId: "bench" }))
        let best = { on: 0, off: 0 }
        // Alternate which goes first, so that neither always follows the other's garbage.
        for (let round = 0; round < ROUNDS; round++) {
          const first = round % 2 === 0 ? off : on
          const second = round % 2 === 0 ? on : off
          const a = yield* Effect.promise(() => throughput(first))
          const b = yield* Effect.promise(() => throughput(second))
          const [offRate, onRate] = round % 2 === 0 ? [a, b] : [b, a]
          console.log(`  round ${round}: off ${Math.round(offRate)}, on ${Math.round(onRate)}`)
          best = { on: Math.max(best.on, onRate), off: Math.max(best.off, offRate) }
        }
        printComparison(
          "request lifecycle, 100 pods, 10 replicas in Redis",
          { label: "replica sync on", value: best.on },
          { label: "off", value: best.off },
          "lifecycles/s"
        )
        printFigure("cost of the replica sync (off / on)", best.off / best.on, "x", "<= 1.5x")
      })
    )
  )
}

const median = (values: ReadonlyArray<number>): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/** One replica's round with 1,000 pods, the nine others' counts and hashes in Redis. */
const syncRound = async (server: RedisServer): Promise<void> => {
  await Effect.runPromise(
    Effect.scoped(
      Effect.gen(function* () {
        const connection = yield* connectRedis({ host: server.host, port: server.port, password: undefined })
        const redis = redisService(connection)
        const pods = Array.from({ length: SYNC_PODS }, (_, i) => ({
          metadata: {
            name: `engine-${i}`,
            namespace: "default",
            uid: `0f6c3a52-7d1e-4b7a-9c1e-${String(i).padStart(12, "0")}`,
            labels: { "model.aibrix.ai/name": `model-${i % 50}` }
          },
          status: { podIP: `10.1.${i >> 8}.${i & 255}`, conditions: [{ type: "Ready", status: "True" }] }
        }))
        const store = new FleetStore()
        for (const pod of pods) store.apply(DiscoveryEvent.PodAdded({ pod }))
        const snapshots = pods.map(
          (pod): PodSnapshot => ({
            uid: pod.metadata.uid,
            name: pod.metadata.name,
            namespace: "default",
            node: "node-1",
            running: 3,
            completed: 100
          })
        )
        const others = Array.from({ length: SYNC_REPLICAS - 1 }, (_, i) => `gateway-${i + 1}`)
        const refreshOthers = Effect.forEach(others, (replica) =>
          redis.runScripts([
            announceCall(replica, 60_000, countsOf(snapshots)),
            ...writeCalls(replica, 60_000, "00:00:00.000", snapshots)
          ])
        )
        yield* refreshOthers
        const sync = new ReplicaSync(store, redis, {
          replicaId: "gateway-0",
          interval: Duration.millis(100),
          ttl: Duration.millis(500)
        })
        const trips = countRoundTrips(connection.client)
        const durations: Array<number> = []
        let maxTrips = 0
        for (let round = 0; round < SYNC_ROUNDS; round++) {
          const before = trips.count
          const start = performance.now()
          yield* sync.round
          durations.push(performance.now() - start)
          maxTrips = Math.max(maxTrips, trips.count - before)
        }
        const remote = store.podEntry("default", "engine-0")?.remoteRunning
        if (remote !== 3 * (SYNC_REPLICAS - 1)) throw new Error(`read ${remote} from the other replicas`)
        printFigure(
          `sync round, ${SYNC_PODS.toLocaleString("en-US")} pods x ${SYNC_REPLICAS} replicas ` +
            `(best of ${SYNC_ROUNDS}, median ${median(durations).toFixed(1)} ms)`,
          Math.min(...durations),
          "ms",
          "< 20 ms"
        )
        printFigure("round trips per sync round", maxTrips, "round trips", "1")
        // The baseline: AIBrix's read of the same keys, SCAN then HGETALL batches of 100, as its Go code does.
        const client = connection.client
        const start = performance.now()
        let cursor = "0"
        const keys: Array<string> = []
        do {
          const [next, found] = yield* Effect.promise(() => client.scan(cursor, "MATCH", "aibrix:pod:*", "COUNT", 500))
          cursor = next
          keys.push(...found)
        } while (cursor !== "0")
        for (let at = 0; at < keys.length; at += 100) {
          const pipeline = client.pipeline()
          for (const key of keys.slice(at, at + 100)) pipeline.hgetall(key)
          yield* Effect.promise(() => pipeline.exec())
        }
        printComparison(
          "reading the other replicas",
          { label: "our round (writes included)", value: median(durations) },
          { label: "AIBrix's SCAN + HGETALL read alone", value: performance.now() - start },
          "ms"
        )
      })
    )
  )
}

export const run = async (): Promise<void> => {
  const server = await startRedisServer()
  try {
    await lifecycleWithSync(server)
    await syncRound(server)
  } finally {
    await server.dispose()
  }
}
