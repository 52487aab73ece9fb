import { assert, describe, it } from "@effect/vitest"
import { vi } from "vitest"
import { Config, ConfigProvider, Context, Effect, Layer, Redacted } from "effect"
import { Redis, redisConfig } from "../../src/index.ts"
import { connectRedis, redisService } from "../../src/trace/Redis.ts"
import { countRoundTrips, eventually, readerClient, redisOptions } from "../support/redisClient.ts"
import { freePort, redisServer } from "../support/redisServer.ts"
import { captureLogs } from "../support/capturedLogs.ts"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

describe("redisConfig", () => {
  it.effect("defaults to localhost:6379 without a password", () =>
    Effect.gen(function* () {
      const config = yield* redisConfig.pipe(withEnv({}))
      assert.deepStrictEqual(config, { host: "localhost", port: 6379, password: undefined })
    })
  )

  it.effect("reads REDIS_HOST, REDIS_PORT and a redacted REDIS_PASSWORD", () =>
    Effect.gen(function* () {
      const config = yield* redisConfig.pipe(
        withEnv({ REDIS_HOST: "redis.svc", REDIS_PORT: "6380", REDIS_PASSWORD: "s3cret" })
      )
      assert.strictEqual(config.host, "redis.svc")
      assert.strictEqual(config.port, 6380)
      assert.isDefined(config.password)
      assert.strictEqual(Redacted.value(config.password!), "s3cret")
      assert.notInclude(String(config.password), "s3cret")
      assert.notInclude(JSON.stringify(config), "s3cret")
    })
  )

  it.effect("fails on a bad port, naming the variable and the value", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(redisConfig.pipe(withEnv({ REDIS_PORT: "redis:6379" })))
      assert.include(error.message, "REDIS_PORT")
      assert.include(error.message, `"redis:6379"`)
    })
  )
})

/** Whether a write of `k` succeeds again before the deadline. */
const writesAgain = (redis: Redis["Service"]) =>
  eventually(
    redis.setWithExpiry([{ key: "k", value: "after" }], 600).pipe(
      Effect.as(true),
      Effect.orElseSucceed(() => false)
    )
  )

describe("Redis (real redis-server)", () => {
  it.live("fails at once with a typed error naming host and port when nothing answers", () =>
    Effect.gen(function* () {
      const port = yield* Effect.promise(freePort)
      const error = yield* Effect.flip(
        Layer.build(Redis.layer({ host: "127.0.0.1", port, password: undefined })).pipe(Effect.scoped)
      )
      assert.strictEqual(error._tag, "RedisConnectionError")
      assert.strictEqual(error.port, port)
      assert.include(error.message, `127.0.0.1:${port}`)
    })
  )

  it.live("fails with a wrong password, never showing it", () =>
    Effect.gen(function* () {
      const server = yield* redisServer({ password: "right-password" })
      const config = { host: server.host, port: server.port, password: Redacted.make("wrong-password") }
      const error = yield* Effect.flip(Layer.build(Redis.layer(config)).pipe(Effect.scoped))
      assert.strictEqual(error._tag, "RedisConnectionError")
      assert.include(error.message, `${server.host}:${server.port}`)
      assert.notInclude(error.message, "wrong-password")
      const ok = { host: server.host, port: server.port, password: Redacted.make("right-password") }
      yield* Effect.scoped(Layer.build(Redis.layer(ok)))
    }).pipe(Effect.scoped)
  )

  it.live("layerConfig connects where its configs say: redisConfig reads REDIS_*", () =>
    Effect.gen(function* () {
      const server = yield* redisServer()
      const reader = yield* readerClient(server)
      const env = { REDIS_HOST: server.host, REDIS_PORT: String(server.port) }
      const redis = yield* Layer.build(Redis.layerConfig(redisConfig)).pipe(
        withEnv(env),
        Effect.map((context) => Context.get(context, Redis))
      )
      yield* redis.setWithExpiry([{ key: "from-env", value: "1" }], 600)
      assert.strictEqual(yield* Effect.promise(() => reader.get("from-env")), "1")
      const error = yield* Effect.flip(
        Layer.build(
          Redis.layerConfig({
            host: Config.succeed(server.host),
            port: Config.succeed(1),
            password: Config.succeed(undefined)
          })
        ).pipe(Effect.scoped)
      )
      assert.strictEqual(error._tag, "RedisConnectionError")
    }).pipe(Effect.scoped)
  )

  it.live("writes every entry with its TTL in one round trip", () =>
    Effect.gen(function* () {
      const server = yield* redisServer()
      const reader = yield* readerClient(server)
      const connection = yield* connectRedis(redisOptions(server))
      const client = connection.client
      const redis = redisService(connection)
      const entries = Array.from({ length: 50 }, (_, i) => ({
        key: `aibrix:m${i}_request_trace_10`,
        value: `{"meta_v":${i}}`
      }))
      const writes = countRoundTrips(client)
      yield* redis.setWithExpiry(entries, 600)
      assert.strictEqual(writes.count, 1)
      for (const entry of entries) {
        assert.strictEqual(yield* Effect.promise(() => reader.get(entry.key)), entry.value)
        const ttl = yield* Effect.promise(() => reader.ttl(entry.key))
        assert.isTrue(ttl > 590 && ttl <= 600, `ttl ${ttl}`)
      }
    }).pipe(Effect.scoped)
  )

  it.live("fails fast while the server is down and writes again once it is back", () =>
    Effect.gen(function* () {
      const server = yield* redisServer()
      const connection = yield* connectRedis(redisOptions(server))
      const redis = redisService(connection)
      yield* Effect.promise(() => server.stop())
      const error = yield* Effect.flip(redis.setWithExpiry([{ key: "k", value: "during" }], 600))
      assert.strictEqual(error._tag, "RedisWriteError")
      yield* Effect.promise(() => server.start())
      assert.isTrue(yield* writesAgain(redis))
      const reader = yield* readerClient(server)
      assert.strictEqual(yield* Effect.promise(() => reader.get("k")), "after")
    }).pipe(Effect.scoped)
  )

  it.live("logs the loss of the connection and its return once each, however long it is down", () =>
    Effect.gen(function* () {
      const server = yield* redisServer()
      const logs: Array<string> = []
      const connection = yield* connectRedis(redisOptions(server)).pipe(captureLogs(logs))
      const redis = redisService(connection)
      yield* Effect.promise(() => server.stop())
      // Several reconnection attempts fail meanwhile.
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1_000)))
      yield* Effect.promise(() => server.start())
      assert.isTrue(yield* writesAgain(redis))
      yield* eventually(Effect.sync(() => logs.some((line) => line.includes("available again"))))
      const lost = logs.filter((line) => line.includes("Redis unavailable"))
      const back = logs.filter((line) => line.includes("Redis available again"))
      assert.strictEqual(lost.length, 1, logs.join("\n"))
      assert.strictEqual(back.length, 1, logs.join("\n"))
      assert.match(lost[0]!, /^Warn/)
    }).pipe(Effect.scoped)
  )

  it.live("a password Redis does not need is said through the log, and ioredis prints nothing", () =>
    Effect.gen(function* () {
      const server = yield* redisServer()
      const printed = vi.spyOn(console, "warn").mockImplementation(() => {})
      const errors = vi.spyOn(console, "error").mockImplementation(() => {})
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          printed.mockRestore()
          errors.mockRestore()
        })
      )
      const logs: Array<string> = []
      const config = { host: server.host, port: server.port, password: Redacted.make("not-needed") }
      const connection = yield* connectRedis(config).pipe(captureLogs(logs))
      yield* redisService(connection).setWithExpiry([{ key: "k", value: "v" }], 600)
      yield* Effect.promise(() => server.stop())
      yield* Effect.promise(() => server.start())
      yield* eventually(Effect.sync(() => logs.some((line) => line.includes("Redis available again"))))
      assert.strictEqual(printed.mock.calls.length + errors.mock.calls.length, 0, String(printed.mock.calls))
      assert.strictEqual(logs.filter((line) => line.includes("needs no password")).length, 1, logs.join("\n"))
      assert.isTrue(logs.every((line) => !line.includes("not-needed")))
    }).pipe(Effect.scoped)
  )

  it.live("sends QUIT when its scope closes", () =>
    Effect.gen(function* () {
      const server = yield* redisServer()
      const reader = yield* readerClient(server)
      const clients = Effect.promise(() => reader.client("LIST")).pipe(
        Effect.map((list) => String(list).trim().split("\n").length)
      )
      const { client } = yield* Effect.scoped(
        connectRedis(redisOptions(server)).pipe(
          Effect.tap(() => Effect.map(clients, (count) => assert.strictEqual(count, 2)))
        )
      )
      assert.isTrue(yield* eventually(Effect.map(clients, (count) => count === 1)))
      assert.isTrue(yield* eventually(Effect.sync(() => client.status === "end")))
    }).pipe(Effect.scoped)
  )
})
