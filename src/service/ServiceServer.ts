/**
 * The service's HTTP server: the API's routes on a Node server, with every
 * client error answered in JSON, and a graceful close (stop accepting, let the
 * responses in flight finish) when its scope closes.
 */
import { NodeHttpServer } from "@effect/platform-node"
import { type Cause, Duration, Effect, Layer, Predicate } from "effect"
import { HttpRouter, type HttpServerError, HttpServerResponse } from "effect/http"
import { HttpApiError } from "effect/http-api"
import { createServer } from "node:http"
import type { ErrorBody } from "./ServiceApi.ts"
import { apiRoutes } from "./internal/ServiceHandlers.ts"

export interface ServerOptions {
  readonly host: string
  readonly port: number
}

/** How long a closing server waits for the responses in flight. */
export const GRACEFUL_SHUTDOWN = Duration.seconds(5)

const errorResponse = (status: number, body: ErrorBody): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.jsonUnsafe(body, { status })

const isRouteNotFound = (error: unknown): error is HttpServerError.HttpServerError =>
  Predicate.isTagged(error, "HttpServerError") &&
  Predicate.hasProperty(error, "reason") &&
  Predicate.isTagged(error.reason, "RouteNotFound")

/** A request the API could not decode (path parameters, query, headers, body). */
const isBadRequest = (defect: unknown): defect is HttpApiError.HttpApiSchemaError =>
  HttpApiError.HttpApiSchemaError.is(defect) && defect.kind !== "Body" && defect.kind !== "ResponseHeaders"

const clientError = (cause: Cause.Cause<unknown>): HttpServerResponse.HttpServerResponse | undefined => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail" && isRouteNotFound(reason.error)) {
      const request = reason.error.request
      return errorResponse(404, { _tag: "NotFound", message: `no route ${request.method} ${request.url}` })
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

/**
 * Unknown routes and undecodable requests get the API's JSON error body
 * instead of an empty 404 or 400.
 */
export const jsonClientErrors = HttpRouter.middleware(
  (httpEffect) =>
    Effect.catchCause(httpEffect, (cause) => {
      const response = clientError(cause)
      return response === undefined ? Effect.failCause(cause) : Effect.succeed(response)
    }),
  { global: true }
)

/**
 * The API served on a Node HTTP server at `host:port` (port 0: a free port the kernel picks;
 * the `HttpServer` it provides has the address). Needs the cache layer's store
 * and readiness; `/metrics` renders the metric registry of the context it is built in.
 */
export const serveApi = (options: ServerOptions) =>
  HttpRouter.serve(Layer.mergeAll(apiRoutes, jsonClientErrors), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provideMerge(
      NodeHttpServer.layer(createServer, {
        host: options.host,
        port: options.port,
        gracefulShutdownTimeout: GRACEFUL_SHUTDOWN
      })
    )
  )
