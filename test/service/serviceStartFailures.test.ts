/**
 * The service failing to start: one short `failed` line that says why (the
 * address and the system's error, the file's problem), and exit 1.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { randomBytes } from "node:crypto"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "../support/redisServer.ts"
import { failedStart, serviceProcess } from "../support/serviceProcess.ts"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "aibrix-start-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** A listener holding a loopback port for the scope. */
const busyPort = Effect.acquireRelease(
  Effect.promise(
    () =>
      new Promise<{ readonly server: Server; readonly port: number }>((resolve) => {
        const server = createServer()
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          resolve({ server, port: typeof address === "object" && address !== null ? address.port : 0 })
        })
      })
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
)

describe("the service failing to start", () => {
  it.live(
    "on a busy port, naming the address, the port and EADDRINUSE",
    () =>
      Effect.gen(function* () {
        const { port } = yield* busyPort
        const last = yield* failedStart(yield* serviceProcess(port, ["--demo"]))
        assert.include(last, `127.0.0.1:${port}`)
        assert.include(last, "EADDRINUSE")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "on a host that does not resolve, naming it and the system's error",
    () =>
      Effect.gen(function* () {
        const port = yield* Effect.promise(freePort)
        const last = yield* failedStart(yield* serviceProcess(port, ["--demo", "--host", "no-such-host.invalid"]))
        assert.include(last, `no-such-host.invalid:${port}`)
        assert.include(last, "ENOTFOUND")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "on a static file that is missing or a directory, naming the cause",
    () =>
      Effect.gen(function* () {
        const dir = yield* tempDir
        const missing = yield* failedStart(
          yield* serviceProcess(yield* Effect.promise(freePort), ["--static", join(dir, "nope.yaml")])
        )
        assert.include(missing, "ENOENT")
        const directory = yield* failedStart(yield* serviceProcess(yield* Effect.promise(freePort), ["--static", dir]))
        assert.include(directory, "EISDIR")
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "on a 3 MB binary static file, with a short line",
    () =>
      Effect.gen(function* () {
        const file = join(yield* tempDir, "fleet.yaml")
        writeFileSync(file, randomBytes(3_000_000))
        const last = yield* failedStart(yield* serviceProcess(yield* Effect.promise(freePort), ["--static", file]))
        assert.isBelow(last.length, 1_000, last.slice(0, 2_000))
        assert.include(last, "not a UTF-8 text file")
      }).pipe(Effect.scoped),
    60_000
  )
})
