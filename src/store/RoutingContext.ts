/**
 * What the gateway knows about one request while routing it: its model and id,
 * and the pod chosen for it once routing has chosen.
 */
import type { V1Pod } from "@kubernetes/client-node"

export class RoutingContext {
  readonly model: string
  readonly requestId: string
  #targetPod: V1Pod | undefined

  private constructor(model: string, requestId: string) {
    this.model = model
    this.requestId = requestId
  }

  static make(options: { readonly model: string; readonly requestId: string }): RoutingContext {
    return new RoutingContext(options.model, options.requestId)
  }

  /** Records the pod routing chose; returns the context for chaining. */
  setTargetPod(pod: V1Pod): this {
    this.#targetPod = pod
    return this
  }

  get targetPod(): V1Pod | undefined {
    return this.#targetPod
  }

  get hasRouted(): boolean {
    return this.#targetPod !== undefined
  }
}
