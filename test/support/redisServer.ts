/**
 * A real `redis-server` on a free loopback port, for integration tests and
 * benchmarks: started, stopped, and started again on the same port to play an
 * outage. No persistence: each start begins empty.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createConnection, createServer } from "node:net"
import { Effect, type Scope } from "effect"

export interface RedisServer {
  readonly host: string
  readonly port: number
  /** Whether the server process runs. */
  readonly running: boolean
  /** Starts the server again on the same port (after `stop`) and waits until it answers. */
  start(): Promise<void>
  /** Stops the server and waits until its process exited. */
  stop(): Promise<void>
}

const HOST = "127.0.0.1"
const READY_TIMEOUT_MS = 15_000

/** A port nobody listens on now (the kernel's choice). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, HOST, () => {
      const address = server.address()
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))))
    })
  })

/** Whether a server on the port answers PING (with PONG, or asking for the password). */
const answersPing = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port })
    let reply = ""
    const done = (answer: boolean) => {
      socket.destroy()
      resolve(answer)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once("error", () => done(false))
    socket.once("connect", () => socket.write("PING\r\n"))
    socket.on("data", (chunk) => {
      reply += chunk.toString()
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG") || reply.startsWith("-NOAUTH"))
    })
  })

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export interface RedisServerOptions {
  /** Makes the server require this password (`--requirepass`). */
  readonly password?: string
}

class RedisProcess implements RedisServer {
  readonly host = HOST
  readonly port: number
  readonly #password: string | undefined
  #process: ChildProcess | undefined
  #output = ""

  constructor(port: number, options: RedisServerOptions) {
    this.port = port
    this.#password = options.password
  }

  get running(): boolean {
    return this.#process !== undefined
  }

  async start(): Promise<void> {
    if (this.#process !== undefined) return
    this.#output = ""
    const args = ["--port", String(this.port), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", "/tmp"]
    if (this.#password !== undefined) args.push("--requirepass", this.#password)
    const child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] })
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString()).slice(-4_000)
    }
    child.stdout?.on("data", keep)
    child.stderr?.on("data", keep)
    this.#process = child
    let exited = false
    child.once("exit", () => {
      exited = true
      if (this.#process === child) this.#process = undefined
    })
    const deadline = Date.now() + READY_TIMEOUT_MS
    while (!(await answersPing(this.port))) {
      if (exited || Date.now() > deadline) {
        await this.stop()
        throw new Error(`redis-server did not start on port ${this.port}:\n${this.#output}`)
      }
      await sleep(20)
    }
  }

  async stop(): Promise<void> {
    const child = this.#process
    if (child === undefined) return
    this.#process = undefined
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
    child.kill("SIGTERM")
    const killed = await Promise.race([exited.then(() => true), sleep(5_000).then(() => false)])
    if (!killed) {
      child.kill("SIGKILL")
      await exited
    }
  }
}

/** Starts a redis-server on a free loopback port (trying another port if that one was taken meanwhile). */
export const startRedisServer = async (options: RedisServerOptions = {}): Promise<RedisServer> => {
  let lastError: unknown
  for (let attempt = 0; attempt < 3; attempt++) {
    const server = new RedisProcess(await freePort(), options)
    try {
      await server.start()
      return server
    } catch (error) {
      lastError = error
    }
  }
  throw lastError
}

/** A redis-server for the life of the scope. */
export const redisServer = (options: RedisServerOptions = {}): Effect.Effect<RedisServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startRedisServer(options)),
    (server) => Effect.promise(() => server.stop())
  )
