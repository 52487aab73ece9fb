/** The typed errors with which a discovery source fails to start. */
import { Schema } from "effect"

/** No kubeconfig anywhere: `KUBECONFIG` unset, no default file, not in a cluster. */
export class KubeConfigNotFound extends Schema.TaggedError<KubeConfigNotFound>()("KubeConfigNotFound", {
  /** Where the source looked, in order. */
  searched: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `no Kubernetes configuration found; looked at: ${this.searched.join("; ")}`
  }
}

/** A kubeconfig was found but cannot be used. */
export class KubeConfigInvalid extends Schema.TaggedError<KubeConfigInvalid>()("KubeConfigInvalid", {
  /** The file, or "in-cluster". */
  source: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid Kubernetes configuration (${this.source}): ${this.reason}`
  }
}

/** One resource whose informer had not listed when the initial sync timed out. */
export const UnsyncedResource = Schema.Struct({
  resource: Schema.String,
  /** The last error its informer reported, if any. */
  lastError: Schema.optional(Schema.String)
})

/** The informers did not all list once within the sync timeout. */
export class DiscoverySyncTimeout extends Schema.TaggedError<DiscoverySyncTimeout>()("DiscoverySyncTimeout", {
  unsynced: Schema.Array(UnsyncedResource),
  timeout: Schema.String
}) {
  override get message(): string {
    const resources = this.unsynced.map(({ lastError, resource }) =>
      lastError === undefined ? resource : `${resource} (last error: ${lastError})`
    )
    return `Kubernetes discovery did not sync within ${this.timeout}: ${resources.join(", ")} never listed`
  }
}

/** The static fleet file cannot be read or does not describe a fleet. */
export class StaticFleetInvalid extends Schema.TaggedError<StaticFleetInvalid>()("StaticFleetInvalid", {
  path: Schema.String,
  /** One line per problem: where (line, field) and what was expected. */
  problems: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `invalid static fleet file ${this.path}:\n  ${this.problems.join("\n  ")}`
  }
}
