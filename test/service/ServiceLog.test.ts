import { assert, describe, it } from "@effect/vitest"
import { Effect, Logger } from "effect"
import { type LogFormat, MAX_LOG_VALUE_LENGTH, serviceLogger } from "../../src/service/ServiceLog.ts"

/** Runs `effect` with the service's logger of `format` writing into the returned lines. */
const logged = (format: LogFormat, effect: Effect.Effect<void>): Effect.Effect<ReadonlyArray<string>> => {
  const lines: Array<string> = []
  const logger = serviceLogger(format)
  return effect.pipe(
    Effect.provide(Logger.layer([Logger.make((options) => lines.push(logger.log(options)))])),
    Effect.as(lines)
  )
}

describe("the service's log lines", () => {
  it.effect("logfmt: bare values bare, others quoted, annotations after the message", () =>
    Effect.gen(function* () {
      const [line] = yield* logged(
        "logfmt",
        Effect.logInfo("static fleet loaded").pipe(Effect.annotateLogs({ path: "/tmp/a b", endpoints: 3 }))
      )
      assert.match(
        line!,
        /^timestamp=\S+ level=INFO fiber=#\d+ message="static fleet loaded" path="\/tmp\/a b" endpoints=3$/
      )
    })
  )

  it.effect("json: one object per line with the message and annotations", () =>
    Effect.gen(function* () {
      const [line] = yield* logged("json", Effect.logWarning("stopped").pipe(Effect.annotateLogs({ pods: 2 })))
      const record = JSON.parse(line!) as Record<string, unknown>
      assert.strictEqual(record["message"], "stopped")
      assert.strictEqual(record["level"], "WARN")
      assert.deepStrictEqual(record["annotations"], { pods: 2 })
    })
  )

  for (const format of ["logfmt", "json"] as const) {
    it.effect(`${format}: a value of megabytes is cut to a few KB, saying how much was left out`, () =>
      Effect.gen(function* () {
        const huge = "\u0001binary\u0000".repeat(300_000)
        const [line] = yield* logged(
          format,
          Effect.logError(`failed: ${huge}`).pipe(Effect.annotateLogs({ error: huge, nested: { text: huge } }))
        )
        assert.isBelow(line!.length, 4 * 3 * MAX_LOG_VALUE_LENGTH)
        assert.include(line!, `${huge.length - MAX_LOG_VALUE_LENGTH} more characters`)
      })
    )
  }
})
