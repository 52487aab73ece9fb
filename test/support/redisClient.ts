/** A plain ioredis client, apart from the one under test, to read back what it wrote. */
import { Effect, type Scope } from "effect"
import { Redis as IORedis } from "ioredis"
import type { RedisOptions } from "../../src/trace/Redis.ts"
import type { RedisServer } from "./redisServer.ts"

/** Where the server is, as the library's Redis takes it (no password). */
export const redisOptions = (server: RedisServer): RedisOptions => ({
  host: server.host,
  port: server.port,
  password: undefined
})

export const readerClient = (server: RedisServer, password?: string): Effect.Effect<IORedis, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const client = new IORedis({
        host: server.host,
        port: server.port,
        lazyConnect: true,
        ...(password === undefined ? {} : { password })
      })
      client.on("error", () => {})
      await client.connect()
      return client
    }),
    (client) => Effect.promise(() => client.quit().catch(() => client.disconnect()))
  )

/** Every string key and its value (hashes, such as the trace's parts, are left out). */
export const readAll = (client: IORedis): Effect.Effect<ReadonlyMap<string, string>> =>
  Effect.promise(async () => {
    const all = (await client.keys("*")).sort()
    const types = all.length === 0 ? [] : ((await all.reduce((p, key) => p.type(key), client.pipeline()).exec()) ?? [])
    const keys = all.filter((_, i) => types[i]?.[1] === "string")
    const values = keys.length === 0 ? [] : await client.mget(keys)
    return new Map(keys.map((key, i) => [key, values[i] ?? ""]))
  })

/** Runs `attempt` until it returns true, sleeping (real time) between tries; false at the deadline. */
export const eventually = <E, R>(
  attempt: Effect.Effect<boolean, E, R>,
  timeoutMs = 15_000
): Effect.Effect<boolean, E, R> =>
  Effect.gen(function* () {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (yield* attempt) return true
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 50)))
    }
    return yield* attempt
  })

/** Counts the writes to a client's socket: a pipeline is one, each lone command one more. */
export const countRoundTrips = (client: IORedis): { count: number } => {
  const counter = { count: 0 }
  const stream = client.stream
  const write = stream.write.bind(stream) as (...args: Array<unknown>) => boolean
  stream.write = ((...args: Array<unknown>) => {
    counter.count++
    return write(...args)
  }) as typeof stream.write
  return counter
}
