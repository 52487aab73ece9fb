/**
 * Gateway replicas in one process against a real redis-server, each its own
 * layer and replica id: running counts that add up and expire, hashes in
 * AIBrix's exact layout both ways, and Redis stopped and restarted under load.
 */
import { assert, describe, it } from "@effect/vitest"
import type { V1Pod } from "@kubernetes/client-node"
import { type Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import type { Redis as IORedis } from "ioredis"
import { newTestCacheWithPods, withReplicaSync } from "../../layers/index.ts"
import type { CacheServices } from "../../src/cache/Cache.ts"
import { MetricCache } from "../../src/cache/MetricCache.ts"
import { RequestTracker } from "../../src/cache/RequestTracker.ts"
import { REALTIME_RUNNING_METRIC } from "../../src/store/FleetStore.ts"
import { RoutingContext } from "../../src/store/RoutingContext.ts"
import { connectRedis, Redis, redisService } from "../../src/trace/Redis.ts"
import { announceCall, countsOf, writeCalls } from "../../src/replicas/ReplicaScripts.ts"
import { captureLogs } from "../support/capturedLogs.ts"
import { makePod } from "../support/fixtures.ts"
import { readerClient, redisOptions } from "../support/redisClient.ts"
import { type RedisServer, redisServer } from "../support/redisServer.ts"

const MODEL = "llama"

/** A replica: the test cache over `pods`, synced as `replicaId`, in a scope of its own that `close` ends. */
interface Replica {
  readonly context: Context.Context<CacheServices>
  readonly close: Effect.Effect<void>
}

const startReplica = (server: RedisServer, replicaId: string, pods: ReadonlyArray<V1Pod>) =>
  Effect.gen(function* () {
    const scope = yield* Scope.make()
    const redis = Redis.layer(redisOptions(server))
    const context = yield* Layer.buildWithScope(
      withReplicaSync(newTestCacheWithPods(pods, MODEL), redis, { replicaId }),
      scope
    )
    const close = Scope.close(scope, Exit.void)
    yield* Effect.addFinalizer(() => close)
    return { context, close } satisfies Replica
  })

/** Routes `count` requests to the pod named `name` through the replica; their ids start with `prefix`. */
const route = (replica: Replica, pod: V1Pod, prefix: string, count: number) =>
  RequestTracker.use((tracker) =>
    Effect.forEach(
      Array.from({ length: count }, (_, i) => `${prefix}-${i}`),
      (requestId) =>
        tracker.addRequestCount(RoutingContext.make({ model: MODEL, requestId }).setTargetPod(pod), requestId, MODEL)
    )
  ).pipe(Effect.provideContext(replica.context))

const finish = (replica: Replica, prefix: string, count: number) =>
  RequestTracker.use((tracker) =>
    Effect.forEach(
      Array.from({ length: count }, (_, i) => `${prefix}-${i}`),
      (requestId) => tracker.doneRequestCount(undefined, requestId, MODEL, 0)
    )
  ).pipe(Effect.provideContext(replica.context))

/** The replica's `realtime_num_requests_running` of the pod; undefined while it has none. */
const realtime = (replica: Replica, pod: V1Pod) =>
  MetricCache.use((cache) =>
    cache.getMetricValueByPod(pod.metadata!.name!, pod.metadata!.namespace!, REALTIME_RUNNING_METRIC)
  ).pipe(
    Effect.provideContext(replica.context),
    Effect.map((value) => (value._tag === "Simple" ? value.value : undefined)),
    Effect.orElseSucceed(() => undefined)
  )

const sleep = (ms: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, ms)))

/** How long (real ms) until every replica reads `expected` for the pod; fails after `withinMs`. */
const reads = (replicas: ReadonlyArray<Replica>, pod: V1Pod, expected: number, withinMs: number) =>
  Effect.gen(function* () {
    const start = Date.now()
    while (true) {
      const values = yield* Effect.forEach(replicas, (replica) => realtime(replica, pod))
      if (values.every((value) => value === expected)) return Date.now() - start
      if (Date.now() - start > withinMs) {
        return yield* Effect.die(new Error(`read ${values.join(", ")} instead of ${expected} after ${withinMs} ms`))
      }
      yield* sleep(20)
    }
  })

/** Polls `check` (real time) until it holds; dies naming `what` after `withinMs`. */
const until = (what: string, check: Effect.Effect<boolean>, withinMs: number) =>
  Effect.gen(function* () {
    const deadline = Date.now() + withinMs
    while (Date.now() < deadline) {
      if (yield* check) return
      yield* sleep(20)
    }
    return yield* Effect.die(new Error(`${what} within ${withinMs} ms`))
  })

/** Replicas a and b over one pod, a running 2 requests on it and b 3, both reading 5. */
const twoReplicasRouted = (server: RedisServer, pod: V1Pod) =>
  Effect.gen(function* () {
    const a = yield* startReplica(server, "gateway-a", [pod])
    const b = yield* startReplica(server, "gateway-b", [pod])
    yield* route(a, pod, "a", 2)
    yield* route(b, pod, "b", 3)
    const elapsed = yield* reads([a, b], pod, 5, 1_000)
    return { a, b, elapsed }
  })

const hashOf = (reader: IORedis, key: string) => Effect.promise(() => reader.hgetall(key))

describe("replica sync (real redis-server)", () => {
  it.live(
    "two replicas that each routed requests to one pod both read the sum within a second; one closing drops out",
    () =>
      Effect.gen(function* () {
        const server = yield* redisServer()
        const pod = makePod({ name: "engine-0", model: MODEL, uid: "uid-engine-0", ip: "10.0.0.1" })
        const { a, b, elapsed } = yield* twoReplicasRouted(server, pod)
        assert.isBelow(elapsed, 1_000)
        yield* b.close
        assert.isBelow(yield* reads([a], pod, 2, 1_500), 1_500)
      }).pipe(Effect.scoped)
  )

  it.live("a replica killed without a goodbye drops out when its keys expire", () =>
    Effect.gen(function* () {
      const server = yield* redisServer()
      const pod = makePod({ name: "engine-0", model: MODEL, uid: "uid-engine-0", ip: "10.0.0.1" })
      const a = yield* startReplica(server, "gateway-a", [pod])
      yield* route(a, pod, "a", 2)
      // One round of a replica that then dies: its registry entry and counts, written once.
      const connection = yield* connectRedis(redisOptions(server))
      const ghost = [
        { uid: "uid-engine-0", name: "engine-0", namespace: "default", node: "", running: 6, completed: 0 }
      ]
      yield* redisService(connection).runScripts([
        announceCall("gateway-ghost", 500, countsOf(ghost)),
        ...writeCalls("gateway-ghost", 500, "10:00:00.000", ghost)
      ])
      const seen = Date.now()
      yield* reads([a], pod, 8, 300)
      yield* reads([a], pod, 2, 1_000)
      assert.isAtLeast(Date.now() - seen, 300, "counted until its keys expired")
    }).pipe(Effect.scoped)
  )

  it.live("three replicas add up; counts follow requests finishing; a recreated pod inherits nothing", () =>
    Effect.gen(function* () {
      const server = yield* redisServer()
      const pod = makePod({ name: "engine-0", model: MODEL, uid: "uid-1", ip: "10.0.0.1" })
      const other = makePod({ name: "engine-1", model: MODEL, uid: "uid-other", ip: "10.0.0.2" })
      const replicas = yield* Effect.forEach(["a", "b", "c"], (id) =>
        startReplica(server, `gateway-${id}`, [pod, other])
      )
      const [a, b, c] = replicas as [Replica, Replica, Replica]
      yield* route(a, pod, "a", 1)
      yield* route(b, pod, "b", 2)
      yield* route(c, pod, "c", 4)
      yield* route(c, other, "c-other", 1)
      yield* reads(replicas, pod, 7, 1_000)
      yield* reads(replicas, other, 1, 1_000)
      yield* finish(c, "c", 4)
      yield* reads(replicas, pod, 3, 1_000)
      // The pod recreated under its name (a new UID) in a fourth replica's view: the others' counts are of the old pod.
      const recreated = makePod({ name: "engine-0", model: MODEL, uid: "uid-2", ip: "10.0.0.1" })
      const d = yield* startReplica(server, "gateway-d", [recreated])
      yield* route(d, recreated, "d", 1)
      yield* sleep(400)
      assert.strictEqual(yield* realtime(d, recreated), 1)
      yield* reads([a, b, c], pod, 3, 1_000)
    }).pipe(Effect.scoped)
  )

  it.live("writes AIBrix's hashes, and reads hashes written by hand in AIBrix's layout as another replica's", () =>
    Effect.gen(function* () {
      const server = yield* redisServer()
      const reader = yield* readerClient(server)
      const pod = makePod({ name: "engine-0", model: MODEL, uid: "uid-engine-0", ip: "10.0.0.1" })
      pod.spec = { containers: [], nodeName: "node-7" }
      const a = yield* startReplica(server, "gateway-a", [pod])
      yield* route(a, pod, "a", 2)
      yield* finish(a, "a", 1)
      yield* sleep(300)
      const key = "aibrix:pod:gateway-a:default:engine-0"
      const mine = yield* hashOf(reader, key)
      assert.deepStrictEqual(Object.keys(mine).sort(), [
        "gateway_instance_id",
        "namespace",
        "node_name",
        "pod_name",
        "pod_uid",
        "requests_running",
        "seq",
        "update_time"
      ])
      assert.deepStrictEqual(
        { ...mine, update_time: "" },
        {
          gateway_instance_id: "gateway-a",
          pod_uid: "uid-engine-0",
          pod_name: "engine-0",
          namespace: "default",
          node_name: "node-7",
          requests_running: "1",
          seq: "1",
          update_time: ""
        }
      )
      assert.match(mine["update_time"]!, /^\d\d:\d\d:\d\d\.\d{3}$/)
      const ttl = yield* Effect.promise(() => reader.pttl(key))
      assert.isTrue(ttl > 0 && ttl <= 500, `pttl ${ttl}`)

      // An AIBrix Go gateway's hash, as its appendGatewayPodSnapshotToPipeline writes it.
      const write = (running: number, uid = "uid-engine-0") =>
        Effect.promise(() =>
          reader
            .multi()
            .hset("aibrix:pod:aibrix-gateway-plugins-5f7d9:default:engine-0", {
              gateway_instance_id: "aibrix-gateway-plugins-5f7d9",
              pod_uid: uid,
              pod_name: "engine-0",
              namespace: "default",
              node_name: "node-7",
              requests_running: String(running),
              seq: "42",
              update_time: "10:11:12.345"
            })
            .pexpire("aibrix:pod:aibrix-gateway-plugins-5f7d9:default:engine-0", 500)
            .exec()
        )
      const writing = yield* Effect.forkScoped(Effect.forever(Effect.andThen(write(4), sleep(100))))
      yield* reads([a], pod, 5, 1_000)
      yield* Fiber.interrupt(writing)
      // It stops writing: its hash expires and it drops out.
      yield* reads([a], pod, 1, 1_500)
      // A hash of another pod that had the name (another UID) counts for nothing.
      yield* write(9, "uid-of-an-older-pod")
      yield* sleep(300)
      assert.strictEqual(yield* realtime(a, pod), 1)
    }).pipe(Effect.scoped)
  )

  it.live(
    "Redis stopped and restarted under load: each replica on its own counts, logged once each way, then the sum again",
    () => {
      const logs: Array<string> = []
      return Effect.gen(function* () {
        const server = yield* redisServer()
        const pod = makePod({ name: "engine-0", model: MODEL, uid: "uid-engine-0", ip: "10.0.0.1" })
        const { a, b } = yield* twoReplicasRouted(server, pod)
        // Load: each replica routes and finishes a request every few ms throughout; the request path never waits.
        let finished = 0
        const load = (replica: Replica, prefix: string) =>
          Effect.forever(
            Effect.gen(function* () {
              const id = `${prefix}-${Math.random()}`
              yield* route(replica, pod, id, 1)
              yield* finish(replica, id, 1)
              finished++
              yield* sleep(5)
            })
          )
        yield* Effect.forkScoped(load(a, "load-a"))
        yield* Effect.forkScoped(load(b, "load-b"))
        yield* Effect.promise(() => server.stop())
        const finishedBefore = finished
        const both = (holds: (a: number, b: number) => boolean) =>
          Effect.map(Effect.all([realtime(a, pod), realtime(b, pod)]), ([va, vb]) =>
            va !== undefined && vb !== undefined ? holds(va, vb) : false
          )
        // Within the TTL and a round or two, each counts only its own (2 and 3; the load adds at most one in flight).
        yield* until(
          "each replica on its own counts",
          both((va, vb) => va <= 3 && vb <= 4),
          1_500
        )
        yield* sleep(1_000)
        // Requests went on being routed and finished all the while Redis was away.
        const finishedWhileDown = finished - finishedBefore
        yield* Effect.promise(() => server.start())
        yield* until(
          "the sum back",
          both((va, vb) => va >= 5 && vb >= 5),
          5_000
        )
        assert.isAbove(finishedWhileDown, 100, "the request path never waits on Redis")
        yield* a.close
        yield* b.close
        const count = (text: string) => logs.filter((line) => line.includes(text)).length
        // Two replicas, two connections: one line each way for each.
        assert.strictEqual(count("Redis unavailable"), 2, logs.join("\n"))
        assert.strictEqual(count("Redis available again"), 2, logs.join("\n"))
      }).pipe(Effect.scoped, captureLogs(logs))
    }
  )
})
