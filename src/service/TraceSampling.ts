/**
 * Which spans are recorded: the samplers of `OTEL_TRACES_SAMPLER`. An HTTP
 * request is decided at the door, before it has a span (`RequestSampler`): one
 * not traced takes the server's untraced path and costs nothing, which is what
 * keeps a traced API within a few percent of an untraced one. Every other span
 * is decided by a tracer put in front of the exporting one (`sampledTracer`).
 *
 * The standard samplers decide for every root span (and for a request whose
 * `traceparent` came from elsewhere, unless parent-based); a span under a
 * local parent follows it, so a trace is whole or absent. Unset, the service's
 * own default applies: a request is traced when its `traceparent` says so, else
 * one in `ratio` (1%); the background spans (failed scrapes, PromQL queries,
 * trace flushes, informer restarts) are few and always kept.
 */
import { Context, Option, Tracer } from "effect"
import type { HttpServerRequest } from "effect/http"

export const SAMPLERS = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio"
] as const
export type Sampler = (typeof SAMPLERS)[number] | "default"

/** The share of new request traces the default sampler keeps. */
export const DEFAULT_REQUEST_RATIO = 0.01

export interface Sampling {
  readonly sampler: Sampler
  /** `OTEL_TRACES_SAMPLER_ARG`: the ratio of the ratio samplers and of the default's request roots. */
  readonly ratio: number
}

/** The decision for a span that starts a trace here. */
const decideRoot = ({ sampler, ratio }: Sampling, kind: Tracer.SpanKind, random: () => number): boolean => {
  switch (sampler) {
    case "always_on":
    case "parentbased_always_on":
      return true
    case "always_off":
    case "parentbased_always_off":
      return false
    case "traceidratio":
    case "parentbased_traceidratio":
      return random() < ratio
    case "default":
      return kind !== "server" || random() < ratio
  }
}

const followsRemoteParent = (sampling: Sampling): boolean =>
  sampling.sampler === "default" || sampling.sampler.startsWith("parentbased_")

/**
 * Whether a span is recorded. `sampled` is Effect's own verdict, false under an
 * unsampled parent or below the minimum trace level. A server span is a
 * request's, decided at the door.
 */
export const isSampled = (
  sampling: Sampling,
  span: { readonly parent: Option.Option<Tracer.AnySpan>; readonly kind: Tracer.SpanKind; readonly sampled: boolean },
  random: () => number = Math.random
): boolean => {
  if (!span.sampled) return false
  if (span.kind === "server") return true
  const parent = Option.getOrUndefined(span.parent)
  const followsParent = parent !== undefined && (parent._tag === "Span" || followsRemoteParent(sampling))
  return followsParent || decideRoot(sampling, span.kind, random)
}

/** The sampled flag of a W3C `traceparent` header (`00-<trace>-<span>-<flags>`); undefined when there is none. */
export const traceparentSampled = (header: string | undefined): boolean | undefined => {
  const match = header === undefined ? null : /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-([\da-f]{2})$/.exec(header.trim())
  return match === null ? undefined : (Number.parseInt(match[1]!, 16) & 1) === 1
}

/** Whether a request is traced: the decision at the door. */
export const isRequestSampled = (
  sampling: Sampling,
  request: Pick<HttpServerRequest.HttpServerRequest, "headers">,
  random: () => number = Math.random
): boolean => {
  const parent = traceparentSampled(request.headers["traceparent"])
  return parent !== undefined && followsRemoteParent(sampling) ? parent : decideRoot(sampling, "server", random)
}

/**
 * The door of `sampling`: each request decided once. The server asks more than
 * once for the same request (before taking its untraced path, then in its
 * tracing middleware), and two draws would make the ratio its square.
 */
export const requestSampler = (
  sampling: Sampling,
  random: () => number = Math.random
): ((request: HttpServerRequest.HttpServerRequest) => boolean) => {
  const decided = new WeakMap<HttpServerRequest.HttpServerRequest, boolean>()
  return (request) => {
    let sampled = decided.get(request)
    if (sampled === undefined) {
      sampled = isRequestSampled(sampling, request, random)
      decided.set(request, sampled)
    }
    return sampled
  }
}

/** Decides which requests the server traces; every one, unless a tracing layer says otherwise. */
export const RequestSampler = Context.Reference<(request: HttpServerRequest.HttpServerRequest) => boolean>(
  "aibrix-cache/RequestSampler",
  { defaultValue: () => () => true }
)

/** `tracer`, recording only the spans `sampling` keeps. */
export const sampledTracer = (tracer: Tracer.Tracer, sampling: Sampling): Tracer.Tracer =>
  Tracer.make({
    span: (options) => tracer.span({ ...options, sampled: isSampled(sampling, options) }),
    context: tracer.context
  })
