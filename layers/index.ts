/** Ready-made layers of aibrix-cache. */
export { initForTest, newTestCacheWithPods, newTestCacheWithPodsMetrics, type PodMetrics } from "./test.ts"
export { kubernetesDiscovery, kubernetesDiscoveryWith, staticDiscovery } from "./discovery.ts"
export { refreshHttpClient, withMetricRefresh, withMetricRefreshOptions } from "./metrics.ts"
export { withRequestTrace, withRequestTraceTo } from "./trace.ts"
export {
  init,
  initForGateway,
  initForMetadata,
  initFromSource,
  initStatic,
  type LiveServices,
  withSource,
  withTraceWhenEnabled
} from "./live.ts"
