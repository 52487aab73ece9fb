/**
 * Ready-made layers of aibrix-cache: the reference's constructors (`init`,
 * `initForMetadata`, `initForGateway`, `initForTest`, `newTestCacheWithPods`,
 * `newTestCacheWithPodsMetrics`), the discovery sources, and the wrappers that
 * add the metric refresh and the request trace to any cache layer.
 */
export { initForTest, newTestCacheWithPods, newTestCacheWithPodsMetrics, type PodMetrics } from "./test.ts"
export { kubernetesDiscovery } from "../src/discovery/KubernetesSource.ts"
export { staticDiscovery } from "../src/discovery/StaticSource.ts"
export { withMetricRefresh } from "../src/metrics/MetricRefreshLayers.ts"
export { withRequestTrace } from "../src/trace/RequestTraceLayers.ts"
export {
  init,
  initForGateway,
  initForMetadata,
  initStatic,
  type LiveServices,
  withSource,
  withTraceWhenEnabled
} from "../src/live/Live.ts"
