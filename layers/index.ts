/** Ready-made layers of aibrix-cache. */
export { initForTest, newTestCacheWithPods, newTestCacheWithPodsMetrics, type PodMetrics } from "./test.ts"
export { kubernetesDiscovery, kubernetesDiscoveryWith, staticDiscovery } from "../src/discovery/DiscoveryLayers.ts"
export { refreshHttpClient, withMetricRefresh, withMetricRefreshOptions } from "../src/metrics/MetricRefreshLayers.ts"
export { withRequestTrace, withRequestTraceTo } from "../src/trace/RequestTraceLayers.ts"
export { withRequestLifetime, withRequestLifetimeOf } from "../src/cache/RequestLifetime.ts"
export { type ReplicaSyncOptions, withReplicaSync, withReplicaSyncTo } from "../src/replicas/ReplicaSyncLayers.ts"
export {
  init,
  initForGateway,
  initForMetadata,
  initFromSource,
  initStatic,
  type LiveServices,
  withReplicaSyncWhenEnabled,
  withSource,
  withTraceWhenEnabled
} from "../src/live/Live.ts"
