/**
 * The live cache the service runs for each source: the source over the
 * server's store, the metric refresh, and the request trace when
 * `AIBRIX_GPU_OPTIMIZER_TRACING_FLAG` is true.
 */
import { kubernetesDiscovery } from "../discovery/KubernetesSource.ts"
import { staticDiscovery } from "../discovery/StaticSource.ts"
import { withSource, withTraceWhenEnabled } from "../live/Live.ts"
import { layerDemoFleet } from "../demo/DemoFleet.ts"
import type { LiveLayerOver } from "./Service.ts"
import type { ServiceSource } from "./ServiceSource.ts"

export const liveLayerFor = (source: ServiceSource): LiveLayerOver<unknown> => {
  switch (source._tag) {
    case "Kubernetes":
      return (cacheLayer) => withTraceWhenEnabled(withSource(kubernetesDiscovery(), cacheLayer))
    case "Demo":
      return (cacheLayer) => withTraceWhenEnabled(withSource(layerDemoFleet(), cacheLayer))
    case "Static":
      return (cacheLayer) => withTraceWhenEnabled(withSource(staticDiscovery(source.path), cacheLayer))
  }
}
