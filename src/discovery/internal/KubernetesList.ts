/**
 * The list half of an informer: one GET of a collection, authenticated by the
 * kubeconfig, abortable, and kept as plain JSON. Watch events arrive as plain
 * JSON too; the generated API clients would turn listed pods into class
 * instances with `Date`s instead, and take far longer over thousands of pods.
 */
import {
  HttpMethod,
  IsomorphicFetchHttpLibrary,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  RequestContext
} from "@kubernetes/client-node"
import { Schema } from "effect"

const ListBody = Schema.Struct({
  metadata: Schema.optional(
    Schema.NullOr(
      Schema.Struct({
        resourceVersion: Schema.optional(Schema.NullOr(Schema.String))
      })
    )
  ),
  items: Schema.NullOr(Schema.Array(Schema.Unknown))
})

/** An item the client's informer can key: it reads `metadata.name` without checking. */
const NamedObject = Schema.Struct({ metadata: Schema.Struct({ name: Schema.String }) })

/** `NamedObject` as a Schema guard: the definition the fast guard below must agree with. */
export const matchesNamedObject: (item: unknown) => boolean = Schema.is(NamedObject)

const isPlainObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/**
 * Whether an item matches `NamedObject`. It runs for every watch event, so it
 * is written out by hand (a property test holds it to `matchesNamedObject`).
 */
export const isNamedObject = (item: unknown): item is { readonly metadata: { readonly name: string } } =>
  isPlainObject(item) && isPlainObject(item.metadata) && typeof item.metadata.name === "string"

/** A failed request, with the HTTP status the client's informer looks for. */
export class KubernetesRequestError extends Error {
  readonly statusCode: number

  constructor(statusCode: number, message: string) {
    super(message)
    this.name = "KubernetesRequestError"
    this.statusCode = statusCode
  }
}

const decodeListBody = Schema.decodeUnknownSync(Schema.fromJsonString(ListBody))

/**
 * Lists the collection at `path` (with the label selector, if given); items
 * that are not objects are dropped, the others passed through `keep`.
 */
export const listObjects =
  <T extends KubernetesObject>(
    kubeConfig: KubeConfig,
    path: string,
    labelSelector: string | undefined,
    isObject: (item: unknown) => item is T,
    keep: ((object: T) => T) | undefined,
    signal: AbortSignal
  ) =>
  async (): Promise<KubernetesListObject<T>> => {
    const cluster = kubeConfig.getCurrentCluster()
    if (cluster === null) throw new Error("no current cluster in the kubeconfig")
    const url = new URL(cluster.server + path)
    if (labelSelector !== undefined) url.searchParams.set("labelSelector", labelSelector)
    const request = new RequestContext(url.toString(), HttpMethod.GET)
    request.setHeaderParam("Accept", "application/json")
    await kubeConfig.applySecurityAuthentication(request)
    request.setSignal(signal)
    const response = await new IsomorphicFetchHttpLibrary().send(request).toPromise()
    const text = await response.body.text()
    if (response.httpStatusCode !== 200) {
      throw new KubernetesRequestError(
        response.httpStatusCode,
        `list ${path}: HTTP ${response.httpStatusCode} ${text.slice(0, 200)}`
      )
    }
    const body = decodeListBody(text)
    const resourceVersion = body.metadata?.resourceVersion ?? undefined
    const items = (body.items ?? []).filter(isObject)
    return {
      metadata: resourceVersion === undefined ? {} : { resourceVersion },
      items: keep === undefined ? items : items.map(keep)
    }
  }
