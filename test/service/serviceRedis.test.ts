/**
 * The service with the trace on, as Redis goes away and comes back: one log
 * line each way, in the service's own format, and nothing printed by the Redis
 * client itself.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { freePort, redisServer } from "../support/redisServer.ts"
import { serviceProcess } from "../support/serviceProcess.ts"

describe("the service and its Redis", () => {
  it.live(
    "logs Redis lost and back once each; a password Redis does not need is logged, not printed",
    () =>
      Effect.gen(function* () {
        const redis = yield* redisServer()
        const service = yield* serviceProcess(yield* Effect.promise(freePort), ["--demo"], {
          AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: "true",
          REDIS_HOST: redis.host,
          REDIS_PORT: String(redis.port),
          REDIS_PASSWORD: "not-needed",
          AIBRIX_SHUTDOWN_DRAIN_MS: "0"
        })
        yield* service.waitForLine((line) => line.includes("message=synced"))
        yield* Effect.promise(() => redis.stop())
        yield* service.waitForLine((line) => line.includes("Redis unavailable"), 10_000)
        // Reconnection attempts fail meanwhile, and say nothing more.
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 1_500)))
        yield* Effect.promise(() => redis.start())
        yield* service.waitForLine((line) => line.includes("Redis available again"), 10_000)
        const { code } = yield* service.stop("SIGTERM")
        assert.strictEqual(code, 0)
        const lines = service.lines.filter((line) => line.length > 0)
        assert.isTrue(
          lines.every((line) => line.startsWith("timestamp=")),
          `every line is the service's own:\n${lines.join("\n")}`
        )
        assert.strictEqual(service.stderr(), "")
        const count = (text: string) => lines.filter((line) => line.includes(text)).length
        assert.strictEqual(count("Redis unavailable"), 1)
        assert.strictEqual(count("Redis available again"), 1)
        assert.strictEqual(count("needs no password"), 1)
        assert.strictEqual(count("not-needed"), 0)
      }).pipe(Effect.scoped),
    90_000
  )
})
