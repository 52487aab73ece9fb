/**
 * The service stopping as a process manager stops it: a signal to `npm start`
 * reaches the service, and `/readyz` says 503 for the drain before the
 * listener closes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import { freePort } from "../support/redisServer.ts"
import { get, poll, serviceProcess } from "../support/serviceProcess.ts"

const status = (url: string) => Effect.map(get(url), (response) => response?.status)

describe("the service stopping", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it.live(
      `${signal} to the npm process of \`npm start\` stops the service`,
      () =>
        Effect.gen(function* () {
          const port = yield* Effect.promise(freePort)
          const service = yield* serviceProcess(port, ["--demo"], { AIBRIX_SHUTDOWN_DRAIN_MS: "0" }, "npm start")
          yield* service.waitForLine((line) => line.includes("message=synced"), 60_000)
          const { ms } = yield* service.stop(signal)
          assert.isBelow(ms, 10_000)
          yield* service.waitForLine((line) => line.includes("message=stopped"), 10_000)
          yield* poll(
            "the port to close",
            Effect.map(status(`${service.url}/healthz`), (answer) => (answer === undefined ? true : undefined)),
            5_000
          )
        }).pipe(Effect.scoped),
      90_000
    )
  }

  it.live(
    "on SIGTERM /readyz says 503 for the drain while the server answers, then the listener closes",
    () =>
      Effect.gen(function* () {
        const port = yield* Effect.promise(freePort)
        const service = yield* serviceProcess(port, ["--demo"], { AIBRIX_SHUTDOWN_DRAIN_MS: "1500" })
        yield* service.waitForLine((line) => line.includes("message=synced"))
        assert.strictEqual(yield* status(`${service.url}/readyz`), 200)
        const stopped = yield* Effect.forkChild(service.stop("SIGTERM"))
        const notReady = yield* poll(
          "/readyz 503",
          Effect.map(get(`${service.url}/readyz`), (answer) => (answer?.status === 503 ? answer : undefined)),
          1_000
        )
        assert.include(notReady.text, "stopping")
        const drainStart = Date.now()
        assert.strictEqual(yield* status(`${service.url}/healthz`), 200, "still answering while it drains")
        yield* poll(
          "the port to close",
          Effect.map(status(`${service.url}/healthz`), (answer) => (answer === undefined ? true : undefined)),
          5_000
        )
        assert.isAtLeast(Date.now() - drainStart, 1_000, "open for the drain")
        const { code, ms } = yield* Fiber.join(stopped)
        assert.strictEqual(code, 0)
        assert.isBelow(ms, 10_000)
        assert.isTrue(service.lines.some((line) => line.includes("message=draining") && line.includes("ms=1500")))
      }).pipe(Effect.scoped),
    90_000
  )
})
