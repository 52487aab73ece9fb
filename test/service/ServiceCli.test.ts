import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect } from "effect"
import { DEFAULT_DRAIN_MS, drainConfig, MAX_DRAIN_MS } from "../../src/service/ServiceCli.ts"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

describe("AIBRIX_SHUTDOWN_DRAIN_MS", () => {
  it.effect("defaults to 2 s, takes 0 to turn the drain off, and up to 3 s", () =>
    Effect.gen(function* () {
      assert.strictEqual(Duration.toMillis(yield* drainConfig.pipe(withEnv({}))), DEFAULT_DRAIN_MS)
      assert.strictEqual(DEFAULT_DRAIN_MS, 2_000)
      assert.strictEqual(Duration.toMillis(yield* drainConfig.pipe(withEnv({ AIBRIX_SHUTDOWN_DRAIN_MS: "0" }))), 0)
      const longest = yield* drainConfig.pipe(withEnv({ AIBRIX_SHUTDOWN_DRAIN_MS: String(MAX_DRAIN_MS) }))
      assert.strictEqual(Duration.toMillis(longest), 3_000)
    })
  )

  it.effect("a value past 3 s, or not a number, fails naming the variable and the value", () =>
    Effect.gen(function* () {
      for (const value of ["5000", "2s", "-1"]) {
        const error = yield* Effect.flip(drainConfig.pipe(withEnv({ AIBRIX_SHUTDOWN_DRAIN_MS: value })))
        assert.include(error.message, "AIBRIX_SHUTDOWN_DRAIN_MS")
        assert.include(error.message, JSON.stringify(value))
      }
    })
  )
})
