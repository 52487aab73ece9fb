/**
 * The Redis the request trace is written to: one ioredis connection, opened and
 * PINGed when its layer is built and closed with QUIT when the layer's scope
 * closes; its loss and return are logged once each. The service is the little
 * the trace needs, so tests can fake it.
 */
import { Config, Context, Effect, Layer, Option, Queue, Redacted, Schema, type Scope } from "effect"
import { Redis as IORedis } from "ioredis"
import { envPort, envString } from "../EnvConfig.ts"

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

/** A change of the connection the log is told of: once when it is lost, once when it is back. */
type ConnectionChange =
  | { readonly _tag: "Lost"; readonly reason: string }
  | { readonly _tag: "Back"; readonly afterMs: number }
  | { readonly _tag: "PasswordNotNeeded" }

const logChange = (config: RedisOptions, change: ConnectionChange): Effect.Effect<void> => {
  const where = { host: config.host, port: config.port }
  switch (change._tag) {
    case "Lost":
      return Effect.logWarning("Redis connection lost; writes fail until it is back").pipe(
        Effect.annotateLogs({ ...where, reason: change.reason })
      )
    case "Back":
      return Effect.logInfo("Redis connection back").pipe(
        Effect.annotateLogs({ ...where, down_ms: Math.round(change.afterMs) })
      )
    case "PasswordNotNeeded":
      return Effect.logWarning("Redis needs no password: REDIS_PASSWORD is not used").pipe(Effect.annotateLogs(where))
  }
}

/**
 * Opens a connection and PINGs it; fails with `RedisConnectionError` at the
 * first failure (no retry at start-up). Once connected, a lost connection is
 * re-established in the background while commands fail fast instead of
 * queueing; the loss and the return are logged once each. ioredis itself
 * writes nothing: what it would print comes through the log. Closing the
 * scope sends QUIT.
 */
export const connectRedis = (config: RedisOptions): Effect.Effect<IORedis, RedisConnectionError, Scope.Scope> =>
  Effect.gen(function* () {
    const changes = yield* Queue.unbounded<ConnectionChange>()
    const client = yield* Effect.acquireRelease(
      open(config, (change) => Queue.offerUnsafe(changes, change)),
      close
    )
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(changes), (change) => logChange(config, change))))
    return client
  })

const open = (
  config: RedisOptions,
  report: (change: ConnectionChange) => void
): Effect.Effect<IORedis, RedisConnectionError> =>
  Effect.suspend(() => {
    let connected = false
    let firstError: unknown
    // The connection's state for the log: the error since it was last ready, and when it was lost.
    let lastError: unknown
    let lostAt: number | undefined
    let passwordNoticed = false
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
    reportUnneededPassword(client, () => {
      if (passwordNoticed) return
      passwordNoticed = true
      report({ _tag: "PasswordNotNeeded" })
    })
    // Failures reach the caller through the commands that fail; the socket's
    // own error says more than "Connection is closed".
    client.on("error", (error) => {
      firstError ??= error
      lastError ??= error
    })
    client.on("close", () => {
      if (!connected || lostAt !== undefined) return
      lostAt = performance.now()
      report({
        _tag: "Lost",
        reason: lastError === undefined ? "the server closed the connection" : reasonOf(lastError)
      })
    })
    client.on("ready", () => {
      lastError = undefined
      if (lostAt === undefined) return
      report({ _tag: "Back", afterMs: performance.now() - lostAt })
      lostAt = undefined
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

/** The service over a connected client. */
export const redisService = (client: IORedis): Redis["Service"] => ({
  setWithExpiry: (entries, ttlSeconds) =>
    Effect.tryPromise({
      try: () => {
        const pipeline = client.pipeline()
        for (const entry of entries) pipeline.set(entry.key, entry.value, "EX", ttlSeconds)
        return pipeline.exec()
      },
      catch: (cause) => new RedisWriteError({ reason: reasonOf(cause) })
    }).pipe(
      Effect.flatMap((results) => {
        const failures = (results ?? []).flatMap(([error]) => (error === null ? [] : [error]))
        return failures.length === 0
          ? Effect.void
          : Effect.fail(
              new RedisWriteError({
                reason: `${failures.length} of ${entries.length} SETs failed: ${reasonOf(failures[0])}`
              })
            )
      })
    )
})

export class Redis extends Context.Service<
  Redis,
  {
    /**
     * `SET key value EX ttlSeconds` for every entry, pipelined in one round trip.
     * Fails if any of them failed; writing them all again is harmless.
     */
    setWithExpiry(entries: ReadonlyArray<RedisEntry>, ttlSeconds: number): Effect.Effect<void, RedisWriteError>
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
