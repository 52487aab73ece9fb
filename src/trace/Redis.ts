/**
 * The Redis the request trace and the replica sync use: one ioredis
 * connection, opened and PINGed when its layer is built and closed with QUIT
 * when the layer's scope closes; Redis unavailable and available again are
 * logged once each. The service is the little they need (pipelined writes and
 * scripts), so tests can fake it.
 */
import { Config, Context, Effect, Layer, Option, Queue, Redacted, Schema, type Scope } from "effect"
import { Redis as IORedis, ReplyError } from "ioredis"
import { createHash } from "node:crypto"
import { envPort, envString } from "../EnvConfig.ts"
import { logHealthChange, RedisHealth, type RedisHealthChange } from "./RedisHealth.ts"

/** Where Redis is. */
export interface RedisOptions {
  readonly host: string
  readonly port: number
  readonly password: Redacted.Redacted<string> | undefined
}

/** Where Redis is, from `REDIS_HOST`, `REDIS_PORT` and `REDIS_PASSWORD` (localhost:6379, no password). */
export const redisConfig: Config.Config<RedisOptions> = Config.all({
  host: envString("REDIS_HOST", "localhost"),
  port: envPort("REDIS_PORT", 6379),
  password: Config.option(Config.Redacted("REDIS_PASSWORD")).pipe(
    Config.map(Option.filter((password) => Redacted.value(password) !== "")),
    Config.map(Option.getOrUndefined)
  )
})

/** Redis did not answer when its layer was built. */
export class RedisConnectionError extends Schema.TaggedError<RedisConnectionError>()("RedisConnectionError", {
  host: Schema.String,
  port: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot connect to Redis at ${this.host}:${this.port}: ${this.reason}`
  }
}

/** A write to Redis failed (some or all of its commands). */
export class RedisWriteError extends Schema.TaggedError<RedisWriteError>()("RedisWriteError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `Redis write failed: ${this.reason}`
  }
}

/** A command or script sent to Redis failed (some or all of a round trip). */
export class RedisCommandError extends Schema.TaggedError<RedisCommandError>()("RedisCommandError", {
  reason: Schema.String
}) {
  override get message(): string {
    return `Redis command failed: ${this.reason}`
  }
}

/** One key and the string to store under it. */
export interface RedisEntry {
  readonly key: string
  readonly value: string
}

/** How long the first connection may take before the layer fails. */
const CONNECT_TIMEOUT_MS = 3_000
/** A command with no reply after this long fails instead of holding up the writer. */
const COMMAND_TIMEOUT_MS = 5_000
/** Reconnection backoff after a lost connection: 100 ms more per attempt, at most this. */
const MAX_RECONNECT_DELAY_MS = 2_000
/** How long QUIT may wait for its reply before the connection is just closed. */
const QUIT_TIMEOUT_MS = 1_000

const reasonOf = (cause: unknown): string => (cause instanceof Error ? cause.message : String(cause))

/** Redis refused a password it does not need; ioredis would print a warning of its own. */
const isUnneededPassword = (error: unknown): boolean => {
  const message = reasonOf(error)
  return message.includes("no password is set") || message.includes("without any password configured")
}

/**
 * Makes the client report a password Redis does not need through `notice`
 * (and go on without it) where ioredis would write to the console.
 */
const reportUnneededPassword = (client: IORedis, notice: () => void): void => {
  const auth = client.auth.bind(client) as (...args: ReadonlyArray<unknown>) => Promise<unknown>
  client.auth = ((...args: ReadonlyArray<unknown>) =>
    auth(...args).catch((error: unknown) => {
      if (!isUnneededPassword(error)) throw error
      notice()
      return "OK"
    })) as IORedis["auth"]
}

/** A connected client and what the log knows of its health. */
export interface RedisConnection {
  readonly client: IORedis
  readonly health: RedisHealth
}

/**
 * Opens a connection and PINGs it; fails with `RedisConnectionError` at the
 * first failure (no retry at start-up). Once connected, a lost connection is
 * re-established in the background while commands fail fast instead of
 * queueing; Redis unavailable and available again are logged once each (see
 * `RedisHealth`). ioredis itself writes nothing: what it would print comes
 * through the log. Closing the scope sends QUIT.
 */
export const connectRedis = (config: RedisOptions): Effect.Effect<RedisConnection, RedisConnectionError, Scope.Scope> =>
  Effect.gen(function* () {
    const changes = yield* Queue.unbounded<RedisHealthChange>()
    const health = new RedisHealth((change) => Queue.offerUnsafe(changes, change))
    const where = { host: config.host, port: config.port }
    yield* Effect.forkScoped(
      Effect.forever(Effect.flatMap(Queue.take(changes), (change) => logHealthChange(where, change)))
    )
    const client = yield* Effect.acquireRelease(open(config, health), close)
    return { client, health }
  })

const open = (config: RedisOptions, health: RedisHealth): Effect.Effect<IORedis, RedisConnectionError> =>
  Effect.suspend(() => {
    let connected = false
    let firstError: unknown
    // The error since the connection was last ready: why it was lost.
    let lastError: unknown
    const client = new IORedis({
      host: config.host,
      port: config.port,
      ...(config.password === undefined ? {} : { password: Redacted.value(config.password) }),
      protocol: 2,
      lazyConnect: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      commandTimeout: COMMAND_TIMEOUT_MS,
      enableOfflineQueue: false,
      // The ready check's INFO, refused to a restricted user, makes ioredis print a warning.
      enableReadyCheck: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => (connected ? Math.min(attempt * 100, MAX_RECONNECT_DELAY_MS) : null)
    })
    reportUnneededPassword(client, () => health.passwordNotNeeded())
    // Failures reach the caller through the commands that fail; the socket's
    // own error says more than "Connection is closed".
    client.on("error", (error) => {
      firstError ??= error
      lastError ??= error
    })
    client.on("close", () => {
      if (!connected) return
      health.down(lastError === undefined ? "the server closed the connection" : reasonOf(lastError))
    })
    client.on("ready", () => {
      lastError = undefined
      if (connected) health.up()
    })
    return Effect.tryPromise({
      try: async () => {
        await client.connect()
        await client.ping()
        connected = true
        return client
      },
      catch: (cause) => {
        client.disconnect()
        const reason = reasonOf(firstError ?? cause)
        return new RedisConnectionError({ host: config.host, port: config.port, reason })
      }
    })
  })

const close = (client: IORedis): Effect.Effect<void> =>
  Effect.promise(() => {
    // Closing on purpose is no loss to report.
    client.removeAllListeners("close")
    return client.quit().catch(() => undefined)
  }).pipe(Effect.timeoutOption(QUIT_TIMEOUT_MS), Effect.ensuring(Effect.sync(() => client.disconnect())))

/** A script Redis runs (with `EVALSHA`, loaded on first use): a name for errors, its Lua and its SHA1. */
export interface RedisScript {
  readonly name: string
  readonly lua: string
  readonly sha: string
}

export const redisScript = (name: string, lua: string): RedisScript => ({
  name,
  lua,
  sha: createHash("sha1").update(lua).digest("hex")
})

/** One run of a script: its keys and arguments. */
export interface ScriptCall {
  readonly script: RedisScript
  readonly keys: ReadonlyArray<string>
  readonly args: ReadonlyArray<string | number>
}

/** An error Redis itself replied (a bad command, a script error): Redis answered, so it is available. */
const isReply = (error: unknown): boolean => error instanceof ReplyError

const isNoScript = (error: unknown): boolean => isReply(error) && reasonOf(error).startsWith("NOSCRIPT")

type PipelineResults = ReadonlyArray<readonly [Error | null, unknown]>

/**
 * Sends the calls as `EVALSHA`s in one pipeline, after a `SCRIPT LOAD` of each
 * script not loaded on this connection yet; the calls' results, in order.
 */
const evalPipelined = async (
  client: IORedis,
  calls: ReadonlyArray<ScriptCall>,
  loaded: Set<string>
): Promise<PipelineResults> => {
  const pipeline = client.pipeline()
  const loading = new Map<string, RedisScript>()
  for (const { script } of calls) if (!loaded.has(script.sha)) loading.set(script.sha, script)
  for (const script of loading.values()) pipeline.script("LOAD", script.lua)
  for (const call of calls) pipeline.evalsha(call.script.sha, call.keys.length, ...call.keys, ...call.args)
  const results = (await pipeline.exec()) ?? []
  results.slice(0, loading.size).forEach(([error], i) => {
    if (error === null) loaded.add([...loading.keys()][i]!)
  })
  return results.slice(loading.size)
}

/**
 * Runs the calls in one round trip; after a restart of Redis (its script cache
 * empty) the refused calls are sent again, with their scripts, once.
 */
const runPipelined = async (
  client: IORedis,
  calls: ReadonlyArray<ScriptCall>,
  loaded: Set<string>
): Promise<PipelineResults> => {
  const results = [...(await evalPipelined(client, calls, loaded))]
  const refused = calls.flatMap((_call, i) => (isNoScript(results[i]?.[0]) ? [i] : []))
  if (refused.length === 0) return results
  for (const i of refused) loaded.delete(calls[i]!.script.sha)
  const again = await evalPipelined(
    client,
    refused.map((i) => calls[i]!),
    loaded
  )
  refused.forEach((i, n) => {
    results[i] = again[n] ?? [new Error("no reply"), null]
  })
  return results
}

/** Tells the health what a round trip showed: Redis answered, or did not (and why). */
const observe = (health: RedisHealth, outcome: Error | undefined): void => {
  if (outcome === undefined || isReply(outcome)) health.up()
  else health.down(reasonOf(outcome))
}

/** The service over a connected client. */
export const redisService = ({ client, health }: RedisConnection): Redis["Service"] => {
  // The scripts this connection's server is known to have (lost with a restart: see runPipelined).
  const loaded = new Set<string>()
  return {
    setWithExpiry: (entries, ttlSeconds) =>
      Effect.tryPromise({
        try: () => {
          const pipeline = client.pipeline()
          for (const entry of entries) pipeline.set(entry.key, entry.value, "EX", ttlSeconds)
          return pipeline.exec()
        },
        catch: (cause) => {
          observe(health, cause instanceof Error ? cause : new Error(String(cause)))
          return new RedisWriteError({ reason: reasonOf(cause) })
        }
      }).pipe(
        Effect.flatMap((results) => {
          const failures = (results ?? []).flatMap(([error]) => (error === null ? [] : [error]))
          observe(health, failures[0])
          return failures.length === 0
            ? Effect.void
            : Effect.fail(
                new RedisWriteError({
                  reason: `${failures.length} of ${entries.length} SETs failed: ${reasonOf(failures[0])}`
                })
              )
        })
      ),
    runScripts: (calls) =>
      Effect.tryPromise({
        try: () => runPipelined(client, calls, loaded),
        catch: (cause) => {
          observe(health, cause instanceof Error ? cause : new Error(String(cause)))
          return new RedisCommandError({ reason: reasonOf(cause) })
        }
      }).pipe(
        Effect.flatMap((results) => {
          const failed = results.findIndex(([error]) => error !== null)
          observe(health, failed === -1 ? undefined : (results[failed]![0] ?? undefined))
          if (failed === -1) return Effect.succeed(results.map(([, reply]) => reply))
          const count = results.filter(([error]) => error !== null).length
          return Effect.fail(
            new RedisCommandError({
              reason: `${count} of ${calls.length} scripts failed (${calls[failed]!.script.name}: ${reasonOf(results[failed]![0])})`
            })
          )
        })
      ),
    reportUnresponsive: (reason) => Effect.sync(() => health.down(reason))
  }
}

export class Redis extends Context.Service<
  Redis,
  {
    /**
     * `SET key value EX ttlSeconds` for every entry, pipelined in one round trip.
     * Fails if any of them failed; writing them all again is harmless.
     */
    setWithExpiry(entries: ReadonlyArray<RedisEntry>, ttlSeconds: number): Effect.Effect<void, RedisWriteError>
    /**
     * Runs the scripts in one round trip (pipelined `EVALSHA`s); their replies
     * in order. Fails if any of them failed.
     */
    runScripts(calls: ReadonlyArray<ScriptCall>): Effect.Effect<ReadonlyArray<unknown>, RedisCommandError>
    /**
     * Says that Redis did not answer within a caller's own deadline: logged
     * once, as a lost connection is, until Redis answers again.
     */
    reportUnresponsive(reason: string): Effect.Effect<void>
  }
>()("aibrix-cache/Redis") {
  /** A connection to Redis at `options`, for the layer's lifetime. */
  static readonly layer = (options: RedisOptions): Layer.Layer<Redis, RedisConnectionError> =>
    Layer.effect(Redis, Effect.map(connectRedis(options), redisService))

  /**
   * A connection to Redis where the configs say, for the layer's lifetime;
   * `Redis.layerConfig(redisConfig)` reads `REDIS_*`.
   */
  static readonly layerConfig = (
    options: Config.Wrap<RedisOptions>
  ): Layer.Layer<Redis, RedisConnectionError | Config.ConfigError> =>
    Layer.unwrap(Effect.map(Config.unwrap(options), Redis.layer))
}

/**
 * The Redis of `REDIS_*` (`Redis.layerConfig(redisConfig)`), as one value: the
 * layers built together that use it (the trace, the replica sync) share one
 * connection.
 */
export const redisFromEnvironment: Layer.Layer<Redis, RedisConnectionError | Config.ConfigError> =
  Redis.layerConfig(redisConfig)

/**
 * `user` (a layer that needs Redis and what `layer` provides) on top of
 * `layer`, over the Redis of `redis`, else of `REDIS_*`: one connection for
 * every user built together with `redisFromEnvironment`.
 */
export const withRedisUser = <S, A, E, R, RE, RR>(
  user: Layer.Layer<never, never, S | Redis>,
  layer: Layer.Layer<A, E, R>,
  redis: Layer.Layer<Redis, RE, RR> | undefined
): Layer.Layer<A, E | RE | RedisConnectionError | Config.ConfigError, R | Exclude<RR | S, A>> => {
  const connection: Layer.Layer<Redis, RE | RedisConnectionError | Config.ConfigError, RR> =
    redis ?? redisFromEnvironment
  return user.pipe(Layer.provide(connection), Layer.provideMerge(layer))
}
