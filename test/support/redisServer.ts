/**
 * A real `redis-server` on a free loopback port, for integration tests and
 * benchmarks: started, stopped, and started again on the same port to play an
 * outage. No persistence of its own: a restart begins empty unless the data
 * was saved on the way down (`stop({ save: true })`).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createConnection, createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, type Scope } from "effect"

export interface RedisServer {
  readonly host: string
  readonly port: number
  /** Whether the server process runs. */
  readonly running: boolean
  /** Starts the server again on the same port (after `stop`) and waits until it answers. */
  start(): Promise<void>
  /**
   * Stops the server and waits until its process exited. With `save`, the data
   * is saved first and the next `start` loads it: a restart, not a wipe.
   */
  stop(options?: { readonly save?: boolean }): Promise<void>
  /** Stops the server for good and removes its files. */
  dispose(): Promise<void>
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
      server.close(() =>
        typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))
      )
    })
  })

/** Sends inline commands on a fresh connection; resolves with the last reply line (undefined if none came). */
const command = (port: number, lines: ReadonlyArray<string>, timeoutMs = 1_000): Promise<string | undefined> =>
  new Promise((resolve) => {
    const socket = createConnection({ host: HOST, port })
    let reply = ""
    const done = (answer: string | undefined) => {
      socket.destroy()
      resolve(answer)
    }
    socket.setTimeout(timeoutMs, () => done(undefined))
    socket.once("error", () => done(undefined))
    socket.once("connect", () => socket.write(lines.map((line) => `${line}\r\n`).join("")))
    socket.on("data", (chunk) => {
      reply += chunk.toString()
      const replies = reply.split("\r\n").slice(0, -1)
      if (replies.length >= lines.length) done(replies[lines.length - 1])
    })
  })

/** Whether a server on the port answers PING (with PONG, or asking for the password). */
const answersPing = async (port: number): Promise<boolean> => {
  const reply = await command(port, ["PING"])
  return reply !== undefined && (reply.startsWith("+PONG") || reply.startsWith("-NOAUTH"))
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export interface RedisServerOptions {
  /** Makes the server require this password (`--requirepass`). */
  readonly password?: string
}

class RedisProcess implements RedisServer {
  readonly host = HOST
  readonly port: number
  readonly #password: string | undefined
  readonly #dir = mkdtempSync(join(tmpdir(), "aibrix-cache-redis-"))
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
    const args = ["--port", String(this.port), "--bind", HOST, "--save", "", "--appendonly", "no", "--dir", this.#dir]
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

  async stop(options: { readonly save?: boolean } = {}): Promise<void> {
    const child = this.#process
    if (child === undefined) return
    if (options.save === true) {
      const auth = this.#password === undefined ? [] : [`AUTH ${this.#password}`]
      const reply = await command(this.port, [...auth, "SAVE"], 10_000)
      if (reply !== "+OK") throw new Error(`redis-server on port ${this.port} did not save: ${reply}`)
    }
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

  async dispose(): Promise<void> {
    await this.stop()
    rmSync(this.#dir, { recursive: true, force: true })
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
      await server.dispose()
    }
  }
  throw lastError
}

/** A redis-server for the life of the scope. */
export const redisServer = (options: RedisServerOptions = {}): Effect.Effect<RedisServer, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(() => startRedisServer(options)),
    (server) => Effect.promise(() => server.dispose())
  )
