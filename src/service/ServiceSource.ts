/**
 * Where the service's fleet comes from, chosen in this order: a static file
 * (`--static` or `AIBRIX_STATIC_CONFIG`); a Kubernetes cluster, wherever
 * Kubernetes discovery's own search finds a kubeconfig (`KUBECONFIG`, the
 * default kubeconfig file, or the in-cluster environment); otherwise the
 * built-in demo fleet of simulated engines.
 */
import { Config, Effect, Option } from "effect"
import { findKubeConfig, type KubeConfigSearchOptions } from "../discovery/KubeConfigLoader.ts"

export type ServiceSource =
  | { readonly _tag: "Static"; readonly path: string; readonly from: "--static" | "AIBRIX_STATIC_CONFIG" }
  | { readonly _tag: "Kubernetes"; readonly from: "KUBECONFIG" | "in-cluster" }
  | { readonly _tag: "Kubernetes"; readonly from: "kubeconfig file"; readonly path: string }
  | { readonly _tag: "Demo"; readonly reason: "--demo" | "nothing configured" }

export interface SourceFlags {
  readonly staticFile: Option.Option<string>
  readonly demo: boolean
}

const nonEmpty = (name: string): Config.Config<Option.Option<string>> =>
  Config.option(Config.String(name)).pipe(Config.map(Option.filter((value) => value.trim() !== "")))

/** The source the flags and the environment say; `search` is for tests of the in-cluster case. */
export const chooseSource = (
  flags: SourceFlags,
  search: KubeConfigSearchOptions = {}
): Effect.Effect<ServiceSource, Config.ConfigError> =>
  Effect.gen(function* () {
    if (flags.demo) return { _tag: "Demo", reason: "--demo" } as const
    if (Option.isSome(flags.staticFile)) {
      return { _tag: "Static", path: flags.staticFile.value, from: "--static" } as const
    }
    const staticConfig = yield* nonEmpty("AIBRIX_STATIC_CONFIG")
    if (Option.isSome(staticConfig)) {
      return { _tag: "Static", path: staticConfig.value, from: "AIBRIX_STATIC_CONFIG" } as const
    }
    // Nothing found, or an environment it cannot read: the demo (a cluster the
    // search found but cannot use fails later, in discovery, saying why).
    const found = yield* Effect.option(findKubeConfig(search))
    if (Option.isNone(found)) return { _tag: "Demo", reason: "nothing configured" } as const
    const location = found.value
    switch (location._tag) {
      case "KubeConfigVariable":
        return { _tag: "Kubernetes", from: "KUBECONFIG" } as const
      case "DefaultFile":
        return { _tag: "Kubernetes", from: "kubeconfig file", path: location.path } as const
      case "InCluster":
        return { _tag: "Kubernetes", from: "in-cluster" } as const
    }
  })

/** The source in words, for the first log line. */
export const describeSource = (source: ServiceSource): string => {
  switch (source._tag) {
    case "Static":
      return `static fleet file ${source.path} (from ${source.from})`
    case "Kubernetes":
      switch (source.from) {
        case "in-cluster":
          return "Kubernetes, in-cluster"
        case "KUBECONFIG":
          return "Kubernetes, kubeconfig from KUBECONFIG"
        case "kubeconfig file":
          return `Kubernetes, kubeconfig ${source.path}`
      }
      break
    case "Demo":
      return source.reason === "--demo"
        ? "built-in demo: simulated engines on loopback (--demo)"
        : "built-in demo: simulated engines on loopback (no static file, kubeconfig or in-cluster environment found)"
  }
}
