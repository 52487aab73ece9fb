/**
 * Ready-made layers of aibrix-cache: the reference's constructors (`init`,
 * `initForMetadata`, `initForGateway`, `initForTest`, `newTestCacheWithPods`,
 * `newTestCacheWithPodsMetrics`), the discovery sources, and the wrappers that
 * add the metric refresh, the requests' lifetime, the request trace and the
 * replica sync to any cache layer.
 */
export { initForTest, newTestCacheWithPods, newTestCacheWithPodsMetrics, type PodMetrics } from "./test.ts"
export { kubernetesDiscovery } from "../src/discovery/KubernetesSource.ts"
export { staticDiscovery } from "../src/discovery/StaticSource.ts"
export { withMetricRefresh } from "../src/metrics/MetricRefreshLayers.ts"
export { withRequestLifetime } from "../src/cache/RequestLifetime.ts"
export { type RequestTraceOptions, withRequestTrace } from "../src/trace/RequestTraceLayers.ts"
export { type ReplicaSyncOptions, withReplicaSync } from "../src/replicas/ReplicaSyncLayers.ts"
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
