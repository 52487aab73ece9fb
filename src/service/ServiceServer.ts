/**
 * The service's HTTP server: the API's routes on a Node server, with every
 * error answered as the API's JSON `{"_tag","message"}` (those of the router,
 * the schemas and Node's own HTTP parser alike), and a graceful close (stop
 * accepting, let the responses in flight finish) when its scope closes.
 */
import { NodeHttpServer, NodeHttpServerRequest } from "@effect/platform-node"
import { Cause, Duration, Effect, Layer, Predicate, Schema } from "effect"
import { HttpMiddleware, HttpRouter, type HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiError } from "effect/http-api"
import { createServer, type Server } from "node:http"
import type { Socket } from "node:net"
import type { ErrorBody } from "./ServiceApi.ts"
import { apiRoutes } from "./internal/ServiceHandlers.ts"
import { FEED_PATH, pageRoutes } from "./FleetPage.ts"
import { RequestSampler } from "./TraceSampling.ts"

export interface ServerOptions {
  readonly host: string
  readonly port: number
}

/** The server cannot listen where it was told: the address, the port and the system's reason (`EADDRINUSE`, …). */
export class ListenError extends Schema.TaggedError<ListenError>()("ListenError", {
  host: Schema.String,
  port: Schema.Number,
  /** The system error code, when there is one. */
  code: Schema.optional(Schema.String),
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot listen on ${this.host}:${this.port}: ${this.reason}`
  }
}

const listenError = (options: ServerOptions, cause: unknown): ListenError => {
  const code = Predicate.hasProperty(cause, "code") && typeof cause.code === "string" ? cause.code : undefined
  const reason = cause instanceof Error ? cause.message : String(cause)
  return new ListenError({
    host: options.host,
    port: options.port,
    ...(code === undefined ? {} : { code }),
    reason: code === undefined || reason.includes(code) ? reason : `${code}: ${reason}`
  })
}

/**
 * How long a closing server waits for the responses in flight: every answer is
 * read from memory, so this is for slow readers only, and keeps the whole stop
 * within seconds.
 */
export const GRACEFUL_SHUTDOWN = Duration.seconds(2)

/**
 * The longest path parameter the router takes, in characters as sent: a
 * 253-character name (a Kubernetes name, or a model name) even when every
 * character is percent-encoded UTF-8. The schemas then hold names to 253.
 */
export const MAX_PARAM_LENGTH = 253 * 12

/** The most of a request's URL an error message quotes. */
const MAX_QUOTED_URL = 200

const quoteUrl = (url: string): string =>
  url.length <= MAX_QUOTED_URL ? url : `${url.slice(0, MAX_QUOTED_URL)}… (${url.length} characters)`

const errorResponse = (status: number, body: ErrorBody): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(body, { status })

/** The API serves GET (and so HEAD) only. */
const ALLOWED_METHODS = "GET, HEAD"

const isRouteNotFound = (error: unknown): error is HttpServerError.HttpServerError =>
  Predicate.isTagged(error, "HttpServerError") &&
  Predicate.hasProperty(error, "reason") &&
  Predicate.isTagged(error.reason, "RouteNotFound")

const isRequestParseError = (error: unknown): error is HttpServerError.HttpServerError =>
  Predicate.isTagged(error, "HttpServerError") &&
  Predicate.hasProperty(error, "reason") &&
  Predicate.isTagged(error.reason, "RequestParseError")

/** A request the API could not decode (path parameters, query, headers, body). */
const isBadRequest = (defect: unknown): defect is HttpApiError.HttpApiSchemaError =>
  HttpApiError.HttpApiSchemaError.is(defect) && defect.kind !== "Body" && defect.kind !== "ResponseHeaders"

const hasMalformedEscape = (url: string): boolean => {
  const path = url.split("?", 1)[0] ?? ""
  try {
    decodeURIComponent(path)
    return false
  } catch {
    return true
  }
}

/** The answer to a request no route took: 405 for another method than GET, 400 for a bad escape, else 404. */
const noRoute = (request: HttpServerRequest.HttpServerRequest): HttpServerResponse.HttpServerResponse => {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return errorResponse(405, {
      _tag: "MethodNotAllowed",
      message: `${request.method} is not served: only ${ALLOWED_METHODS}`
    }).pipe(HttpServerResponse.setHeader("allow", ALLOWED_METHODS))
  }
  if (hasMalformedEscape(request.url)) {
    return errorResponse(400, {
      _tag: "BadRequest",
      message: `malformed percent-encoding in the path ${quoteUrl(request.url)}`
    })
  }
  return errorResponse(404, { _tag: "NotFound", message: `no route ${request.method} ${quoteUrl(request.url)}` })
}

/** The JSON answer to a failed request, if it is the client's fault (else undefined). */
const clientError = (cause: Cause.Cause<unknown>): HttpServerResponse.HttpServerResponse | undefined => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail" && isRouteNotFound(reason.error)) return noRoute(reason.error.request)
    if (reason._tag === "Fail" && isRequestParseError(reason.error)) {
      const tooLarge = Predicate.isTagged(reason.error.reason, "RequestParseError") && reason.error.reason.reason
      return tooLarge === "BodyTooLarge"
        ? errorResponse(413, { _tag: "ContentTooLarge", message: "the request body is too large" })
        : errorResponse(400, { _tag: "BadRequest", message: "the request cannot be read" })
    }
    if (reason._tag === "Die" && isBadRequest(reason.defect)) {
      const defect = reason.defect
      return errorResponse(400, {
        _tag: "BadRequest",
        message: `invalid ${defect.kind.toLowerCase()}: ${defect.cause.message}`
      })
    }
  }
  return undefined
}

/** An HTTP/1.1 request must name its host (RFC 9112, 3.2); Node's own check would answer it with an empty 400. */
const missingHost = (request: HttpServerRequest.HttpServerRequest): boolean =>
  request.headers["host"] === undefined && NodeHttpServerRequest.toIncomingMessage(request).httpVersion === "1.1"

/**
 * Unknown routes, other methods, undecodable requests and failures of the
 * server itself get the API's JSON error body instead of an empty response.
 * A request the client gave up on is left alone.
 */
export const jsonErrors = HttpRouter.middleware(
  (httpEffect) =>
    Effect.gen(function* () {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (missingHost(request)) {
        return errorResponse(400, { _tag: "BadRequest", message: "an HTTP/1.1 request needs a Host header" })
      }
      return yield* httpEffect
    }).pipe(
      Effect.catchCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
        const response = clientError(cause)
        if (response !== undefined) return Effect.succeed(response)
        return Effect.logError("request failed").pipe(
          Effect.annotateLogs({ cause: Cause.pretty(cause) }),
          Effect.as(errorResponse(500, { _tag: "InternalError", message: "the service failed to answer" }))
        )
      })
    ),
  { global: true }
)

/** Node's answer to a request its parser refused, as the status and the API's error body. */
const parserRefusal = (code: string | undefined): readonly [status: number, text: string, body: ErrorBody] => {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return [
        431,
        "Request Header Fields Too Large",
        { _tag: "HeadersTooLarge", message: "the request line and headers are too large" }
      ]
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return [413, "Content Too Large", { _tag: "ContentTooLarge", message: "the chunk extensions are too large" }]
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return [408, "Request Timeout", { _tag: "RequestTimeout", message: "the request did not arrive in time" }]
    default:
      return [400, "Bad Request", { _tag: "BadRequest", message: "the request is not valid HTTP/1.1" }]
  }
}

/**
 * Answers what Node's HTTP parser refuses (an oversized URL or header, a bad
 * request line) with the API's JSON error, where Node would send an empty
 * body; like Node, only when no response is under way on the connection.
 */
const answerParserErrors = (server: Server): Server =>
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
    if (error.code === "ECONNRESET" || !socket.writable || inFlight?.headersSent === true) {
      socket.destroy()
      return
    }
    const [status, text, body] = parserRefusal(error.code)
    const json = JSON.stringify(body)
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`
    )
  })

/** Paths polled all day long, whose spans would drown the rest: never traced. */
export const UNTRACED_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz", "/metrics", FEED_PATH])

/** Requests untraced: those of `UNTRACED_PATHS`, and those the request sampler leaves out. */
const untraced = Layer.effect(HttpMiddleware.TracerDisabledWhen)(
  Effect.gen(function* () {
    const sampled = yield* RequestSampler
    return (request) => UNTRACED_PATHS.has(request.url.split("?", 1)[0]!) || !sampled(request)
  })
)

/**
 * The API and the fleet page served on a Node HTTP server at `host:port` (port 0: a free port the kernel picks;
 * the `HttpServer` it provides has the address). Needs the cache layer's store
 * and readiness; `/metrics` renders the metric registry of the context it is built in.
 */
export const serveApi = (options: ServerOptions) =>
  HttpRouter.serve(Layer.mergeAll(apiRoutes, pageRoutes, jsonErrors), {
    disableLogger: true,
    disableListenLog: true,
    routerConfig: { maxParamLength: MAX_PARAM_LENGTH }
  }).pipe(
    Layer.provide(untraced),
    Layer.provideMerge(
      Layer.effectContext(
        Layer.build(
          NodeHttpServer.layer(() => answerParserErrors(createServer({ requireHostHeader: false })), {
            host: options.host,
            port: options.port,
            gracefulShutdownTimeout: GRACEFUL_SHUTDOWN
          })
        ).pipe(Effect.catchTag("ServeError", (error) => Effect.fail(listenError(options, error.cause))))
      )
    )
  )
