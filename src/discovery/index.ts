/** Discovery sources that feed the store: Kubernetes informers and static fleet files. */
export * as DiscoveryConfig from "./DiscoveryConfig.ts"
export * as DiscoveryErrors from "./DiscoveryErrors.ts"
export * as DiscoveryFeed from "./DiscoveryFeed.ts"
export * as DiscoveryMetrics from "./DiscoveryMetrics.ts"
export * as KubeConfigLoader from "./KubeConfigLoader.ts"
export * as KubernetesSource from "./KubernetesSource.ts"
export * as StaticFleet from "./StaticFleet.ts"
export * as StaticSource from "./StaticSource.ts"
