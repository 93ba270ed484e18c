/**
 * GET /metrics: Prometheus text format 0.0.4, for api.metrics_token (and operators); Prometheus
 * sends the token with `authorization: { credentials: <api.metrics_token> }` in its scrape config.
 */
import type { Route } from '../router.js';
import { renderMetrics, type MetricsSources } from '../../metrics/metrics.js';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function metricsRoutes(sources: MetricsSources): Route[] {
  return [{
    method: 'GET', path: '/metrics', allow: ['metrics', 'operator'],
    handler: async () => ({ contentType: PROMETHEUS_CONTENT_TYPE, body: await renderMetrics(sources) }),
  }];
}
