/**
 * The live engine transport, an undici `Client` per origin, against loopback
 * servers on the real clock: a page read whole over one kept-alive
 * connection, error pages read and refused, the size limit kept declared or
 * streamed, the time limit kept however the engine stalls, and errors that
 * say their cause. (Pages cut short: EngineScrape.property.test.ts.)
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber, ManagedRuntime } from "effect"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { PageBody, ScrapeError, type ScrapeLimits } from "../../src/metrics/EngineScrape.ts"
import { type EngineConnection, EngineTransport } from "../../src/metrics/EngineTransport.ts"

type Handler = (request: IncomingMessage, response: ServerResponse) => void

/** A loopback server answering with whatever handler the test sets, counting connections and requests. */
class TestServer {
  handler: Handler = (_, response) => response.end("a 1\n")
  connections = 0
  requests = 0
  /** Requests whose client went away before the answer ended. */
  aborted = 0
  readonly sockets = new Set<Socket>()
  readonly server: Server

  constructor() {
    this.server = createServer((request, response) => {
      this.requests++
      response.on("close", () => {
        if (!response.writableFinished) this.aborted++
      })
      this.handler(request, response)
    })
    this.server.keepAliveTimeout = 60_000
    this.server.on("connection", (socket) => {
      this.connections++
      this.sockets.add(socket)
      socket.on("close", () => this.sockets.delete(socket))
    })
  }

  listen(): Promise<string> {
    return new Promise((resolve) =>
      this.server.listen(0, "127.0.0.1", () =>
        resolve(`http://127.0.0.1:${(this.server.address() as AddressInfo).port}`)
      )
    )
  }

  stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    return new Promise((resolve) => this.server.close(() => resolve()))
  }
}

const runtime = ManagedRuntime.make(EngineTransport.layer)
const server = new TestServer()
let origin = ""
let connection: EngineConnection

beforeAll(async () => {
  origin = await server.listen()
  connection = await runtime.runPromise(EngineTransport.use((engines) => Effect.sync(() => engines.connect(origin))))
})

afterAll(async () => {
  await runtime.dispose()
  await server.stop()
})

const limits: ScrapeLimits = { timeoutMs: 1000, maxPageBytes: 1000 }

const get = (path = "/metrics", within: ScrapeLimits = limits) => Effect.exit(connection.get(path, within))

const failureOf = (exit: Exit.Exit<unknown, ScrapeError>): ScrapeError => {
  assert.isTrue(Exit.isFailure(exit), "the scrape failed")
  const error = Exit.isFailure(exit) ? Cause.findErrorOption(exit.cause) : undefined
  assert.isTrue(error?._tag === "Some" && error.value instanceof ScrapeError)
  return (error as { readonly value: ScrapeError }).value
}

describe("the undici engine transport", () => {
  it.live("reads pages whole over one kept-alive connection, error pages read to their end and refused", () =>
    Effect.gen(function* () {
      const before = server.connections
      server.handler = (_, response) => response.writeHead(200, { "content-length": 4 }).end("a 1\n")
      for (let i = 0; i < 5; i++) {
        const exit = yield* get()
        assert.deepStrictEqual(exit, Exit.succeed(new PageBody(Buffer.from("a 1\n"))))
      }
      server.handler = (_, response) => response.writeHead(503).end("overloaded\n")
      const refused = failureOf(yield* get())
      assert.strictEqual(refused.reason, "status")
      assert.strictEqual(refused.status, 503)
      assert.strictEqual(refused.url, `${origin}/metrics`)
      server.handler = (_, response) => response.end("b 2\n")
      assert.deepStrictEqual(yield* get(), Exit.succeed(new PageBody(Buffer.from("b 2\n"))), "chunked")
      assert.strictEqual(server.connections - before, 1, "one connection for all of them")
    })
  )

  it.live("a page not all UTF-8 says so; one in UTF-8 is decoded", () =>
    Effect.gen(function* () {
      server.handler = (_, response) =>
        response.end(Buffer.from([0x61, 0x7b, 0x78, 0x3d, 0x22, 0xff, 0x22, 0x7d, 0x20, 0x31, 0x0a]))
      const bad = yield* get()
      assert.isTrue(Exit.isSuccess(bad) && !bad.value.utf8 && bad.value.text.includes("\uFFFD"))
      server.handler = (_, response) => response.end('a{x="é"} 1\n')
      assert.deepStrictEqual(yield* get(), Exit.succeed(new PageBody(Buffer.from('a{x="é"} 1\n'))))
    })
  )

  it.live("a page over the size limit is refused, declared at once or streamed as soon as it passes it", () =>
    Effect.gen(function* () {
      server.handler = (_, response) => response.writeHead(200, { "content-length": 5000 }).end("#".repeat(5000))
      assert.strictEqual(failureOf(yield* get()).reason, "too_large")
      let written = 0
      server.handler = (_, response) => {
        // An endless body: chunk after chunk until the client goes.
        const more = () => {
          if (response.destroyed) return
          written += 256
          response.write(`${"#".repeat(255)}\n`, () => setImmediate(more))
        }
        more()
      }
      const aborted = server.aborted
      assert.strictEqual(failureOf(yield* get()).reason, "too_large")
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      assert.strictEqual(server.aborted - aborted, 1, "the request was aborted")
      assert.isBelow(written, 64_000, "not read far past the limit")
      server.handler = (_, response) => response.end("a 1\n")
      assert.isTrue(Exit.isSuccess(yield* get()), "the next scrape connects again")
    })
  )

  it.live("the time limit holds whether the engine never answers or stalls in the body", () =>
    Effect.gen(function* () {
      server.handler = () => undefined
      const quick = { timeoutMs: 100, maxPageBytes: 1000 }
      const started = Date.now()
      const silent = failureOf(yield* get("/metrics", quick))
      assert.strictEqual(silent.reason, "timeout")
      assert.include(silent.detail, "100 ms")
      server.handler = (_, response) => response.writeHead(200, { "content-length": 100 }).write("a 1\n")
      assert.strictEqual(failureOf(yield* get("/metrics", quick)).reason, "timeout")
      assert.isBelow(Date.now() - started, 1000)
      server.handler = (_, response) => response.end("a 1\n")
      assert.isTrue(Exit.isSuccess(yield* get()))
    })
  )

  it.live("interrupting a scrape aborts its request", () =>
    Effect.gen(function* () {
      server.handler = () => undefined
      const aborted = server.aborted
      const fiber = yield* Effect.forkChild(get())
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      yield* Fiber.interrupt(fiber)
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      assert.strictEqual(server.aborted - aborted, 1)
      server.handler = (_, response) => response.end("a 1\n")
      assert.isTrue(Exit.isSuccess(yield* get()))
    })
  )

  it.live("errors say their cause: a refused connection, an unknown host", () =>
    Effect.gen(function* () {
      const engines = yield* Effect.promise(() =>
        runtime.runPromise(EngineTransport.use((transport) => Effect.succeed(transport)))
      )
      const closed = new TestServer()
      const closedOrigin = yield* Effect.promise(() => closed.listen())
      yield* Effect.promise(() => closed.stop())
      const refused = engines.connect(closedOrigin)
      const refusal = failureOf(yield* Effect.exit(refused.get("/metrics", limits)))
      refused.close()
      assert.strictEqual(refusal.reason, "transport")
      assert.include(refusal.detail, "ECONNREFUSED")
      const unknown = engines.connect("http://no-such-engine.invalid:8000")
      const lookup = failureOf(yield* Effect.exit(unknown.get("/metrics", { timeoutMs: 5000, maxPageBytes: 1000 })))
      unknown.close()
      assert.include(["transport", "timeout"], lookup.reason)
      if (lookup.reason === "transport") assert.match(lookup.detail, /ENOTFOUND|EAI_AGAIN/)
    })
  )

  it.live("a closed connection fails its scrape in flight, and the layer's scope closes those left open", () =>
    Effect.gen(function* () {
      const engines = yield* Effect.promise(() =>
        runtime.runPromise(EngineTransport.use((transport) => Effect.succeed(transport)))
      )
      server.handler = () => undefined
      const own = engines.connect(origin)
      const fiber = yield* Effect.forkChild(Effect.exit(own.get("/metrics", limits)))
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      own.close()
      const exit = yield* Fiber.join(fiber)
      assert.include(["transport", "truncated"], failureOf(exit).reason)

      const scoped = ManagedRuntime.make(EngineTransport.layer)
      const left = yield* Effect.promise(() =>
        scoped.runPromise(EngineTransport.use((transport) => Effect.sync(() => transport.connect(origin))))
      )
      const pending = yield* Effect.forkChild(Effect.exit(left.get("/metrics", limits)))
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
      yield* Effect.promise(() => scoped.dispose())
      assert.isTrue(Exit.isFailure(yield* Fiber.join(pending)))
      server.handler = (_, response) => response.end("a 1\n")
    })
  )
})
