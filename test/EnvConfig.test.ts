import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { envListenPort, envPort } from "../src/EnvConfig.ts"
import { traceEnabled } from "../src/index.ts"

const withEnv = (env: Record<string, string>) =>
  Effect.provideService(ConfigProvider.ConfigProvider, ConfigProvider.fromEnv({ env }))

describe("traceEnabled", () => {
  it.effect("is false when AIBRIX_GPU_OPTIMIZER_TRACING_FLAG is unset", () =>
    Effect.gen(function* () {
      assert.isFalse(yield* traceEnabled.pipe(withEnv({})))
    })
  )

  it.effect("reads the flag as Go's ParseBool does, and the words Effect accepts", () =>
    Effect.gen(function* () {
      for (const value of ["true", "True", "TRUE", "t", "1", "yes", "on"]) {
        assert.isTrue(yield* traceEnabled.pipe(withEnv({ AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: value })), value)
      }
      for (const value of ["false", "False", "f", "0", "no", "off"]) {
        assert.isFalse(yield* traceEnabled.pipe(withEnv({ AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: value })), value)
      }
    })
  )

  it.effect("fails on a bad value, naming the variable and the value", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(traceEnabled.pipe(withEnv({ AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: "maybe" })))
      assert.include(error.message, "AIBRIX_GPU_OPTIMIZER_TRACING_FLAG")
      assert.include(error.message, `"maybe"`)
    })
  )
})

describe("envPort", () => {
  it.effect("accepts 1 to 65535 and names a bad value", () =>
    Effect.gen(function* () {
      const port = envPort("P", 6379)
      assert.strictEqual(yield* port.pipe(withEnv({})), 6379)
      assert.strictEqual(yield* port.pipe(withEnv({ P: "6380" })), 6380)
      for (const value of ["0", "65536", "63.5", "http", "-1"]) {
        const error = yield* Effect.flip(port.pipe(withEnv({ P: value })))
        assert.include(error.message, `"${value}"`)
        assert.include(error.message, `"P"`)
      }
    })
  )
})

describe("envListenPort", () => {
  it.effect("accepts 0 (any free port) to 65535 and names a bad value", () =>
    Effect.gen(function* () {
      const port = envListenPort("AIBRIX_PORT", 8080)
      assert.strictEqual(yield* port.pipe(withEnv({})), 8080)
      assert.strictEqual(yield* port.pipe(withEnv({ AIBRIX_PORT: "0" })), 0)
      assert.strictEqual(yield* port.pipe(withEnv({ AIBRIX_PORT: "65535" })), 65535)
      for (const value of ["65536", "-1", "80a"]) {
        const error = yield* Effect.flip(port.pipe(withEnv({ AIBRIX_PORT: value })))
        assert.include(error.message, `"${value}"`)
        assert.include(error.message, "AIBRIX_PORT")
      }
    })
  )
})
